// The size report: one self-contained HTML page (no network, no scripts needed to read it)
// with a treemap of the unzipped bytes by package and by folder inside the biggest
// packages, the 250 MB budget drawn on it, and what was decided and checked.
import { describeTarget } from '../shared/targets.ts';
import type { BuildManifest, MeasureResult, PackageBreakdown } from '../shared/types.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES } from '../shared/types.ts';
import { formatBytes, formatDuration, formatShare } from '../shared/units.ts';
import { squarify } from './treemap.ts';

export type SizeReportInput =
  | { readonly kind: 'build'; readonly manifest: BuildManifest }
  | { readonly kind: 'measure'; readonly result: MeasureResult };

const WIDTH = 960;
const HEIGHT = 480;
/** Packages whose folders are drawn inside their rectangle. */
const DETAILED_PACKAGES = 6;
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

interface PackageBox {
  readonly name: string;
  readonly version: string;
  readonly bytes: number;
  readonly folders: readonly { path: string; bytes: number }[];
  readonly layer: string | null;
}

function packageBoxes(input: SizeReportInput): PackageBox[] {
  if (input.kind === 'measure') {
    return input.result.packages.map((entry) => ({
      name: entry.name,
      version: entry.version,
      bytes: entry.unzippedSize,
      folders: [],
      layer: null,
    }));
  }
  const breakdown: readonly PackageBreakdown[] = input.manifest.packages ?? [];
  if (breakdown.length > 0) {
    return breakdown.map((entry) => ({
      name: entry.name,
      version: entry.version,
      bytes: entry.slimmedBytes,
      folders: entry.folders,
      layer: entry.layer,
    }));
  }
  return input.manifest.lock.packages.map((entry) => ({
    name: entry.name,
    version: entry.version,
    bytes: entry.unzippedSize,
    folders: [],
    layer: null,
  }));
}

/** The treemap, scaled so the whole drawing is max(total, budget): the budget is the dashed frame. */
function renderTreemap(boxes: readonly PackageBox[], budget: number): string {
  const total = boxes.reduce((sum, box) => sum + box.bytes, 0);
  const canvas = Math.max(total, budget);
  // The used area is a full-height strip whose width is the used share of the canvas.
  const usedWidth = canvas > 0 ? (WIDTH * total) / canvas : 0;
  const budgetWidth = canvas > 0 ? (WIDTH * budget) / canvas : WIDTH;
  const rects = squarify(
    boxes.map((box, index) => ({
      value: box.bytes,
      data: { box, color: PALETTE[index % PALETTE.length] ?? '#888' },
    })),
    { x: 0, y: 0, width: usedWidth, height: HEIGHT },
  );
  const detailed = new Set(
    [...boxes]
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, DETAILED_PACKAGES)
      .map((box) => box.name),
  );
  const parts: string[] = [];
  for (const rect of rects) {
    const { box, color } = rect.data;
    const title = `${box.name} ${box.version}: ${formatBytes(box.bytes)}${box.layer ? ` (${box.layer})` : ''}`;
    parts.push(
      `<g class="package" data-package="${escapeHtml(box.name)}" data-bytes="${box.bytes}"><title>${escapeHtml(title)}</title>` +
        `<rect x="${rect.x.toFixed(2)}" y="${rect.y.toFixed(2)}" width="${rect.width.toFixed(2)}" height="${rect.height.toFixed(2)}" fill="${color}" stroke="#fff" stroke-width="2"/>`,
    );
    if (detailed.has(box.name) && box.folders.length > 0) {
      const inner = {
        x: rect.x + 3,
        y: rect.y + 18,
        width: Math.max(0, rect.width - 6),
        height: Math.max(0, rect.height - 21),
      };
      const folderBytes = box.folders.reduce((sum, folder) => sum + folder.bytes, 0);
      const items = box.folders.map((folder) => ({ value: folder.bytes, data: folder }));
      if (box.bytes > folderBytes)
        items.push({
          value: box.bytes - folderBytes,
          data: { path: '(other files)', bytes: box.bytes - folderBytes },
        });
      for (const cell of squarify(items, inner)) {
        parts.push(
          `<g class="folder"><title>${escapeHtml(`${cell.data.path}: ${formatBytes(cell.data.bytes)}`)}</title>` +
            `<rect x="${cell.x.toFixed(2)}" y="${cell.y.toFixed(2)}" width="${cell.width.toFixed(2)}" height="${cell.height.toFixed(2)}" fill="#ffffff" fill-opacity="0.18" stroke="#ffffff" stroke-opacity="0.6"/>` +
            (cell.width > 70 && cell.height > 14
              ? `<text x="${(cell.x + 3).toFixed(2)}" y="${(cell.y + 12).toFixed(2)}" class="folder-label">${escapeHtml(cell.data.path.split('/').pop() ?? cell.data.path)}</text>`
              : '') +
            `</g>`,
        );
      }
    }
    if (rect.width > 60 && rect.height > 16) {
      parts.push(
        `<text x="${(rect.x + 4).toFixed(2)}" y="${(rect.y + 14).toFixed(2)}" class="label">${escapeHtml(box.name)} ${escapeHtml(formatBytes(box.bytes))}</text>`,
      );
    }
    parts.push('</g>');
  }
  const over = total > budget;
  parts.push(
    `<rect class="budget" x="1" y="1" width="${(budgetWidth - 2).toFixed(2)}" height="${HEIGHT - 2}" fill="none" stroke="${over ? '#c00' : '#222'}" stroke-width="3" stroke-dasharray="10 6"/>`,
    `<text x="${(budgetWidth - 6).toFixed(2)}" y="${HEIGHT - 8}" text-anchor="end" class="budget-label">250 MiB budget (262,144,000 bytes)${over ? ' — exceeded' : ''}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="Treemap of unzipped bytes by package">${parts.join('')}</svg>`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], id: string): string {
  const head = headers.map((header) => `<th>${escapeHtml(header)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('');
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function figure(id: string, label: string, bytes: number): string {
  return `<div class="figure"><div class="figure-label">${escapeHtml(label)}</div><div class="figure-value" data-testid="${id}" data-bytes="${bytes}">${formatBytes(bytes)}</div></div>`;
}

function buildSections(manifest: BuildManifest): string {
  const sections: string[] = [];
  sections.push(
    `<section><h2>Sizes</h2><div class="figures">${figure('size-wheels', 'Wheels (compressed)', manifest.sizes.wheels)}${figure('size-installed', 'Installed', manifest.sizes.installed)}${figure('size-slimmed', 'After slimming', manifest.sizes.slimmed)}</div></section>`,
  );
  const rules = manifest.slimming.rules.map((rule) => [
    escapeHtml(rule.rule),
    String(rule.files),
    `<span data-bytes="${rule.bytes}">${formatBytes(rule.bytes)}</span>`,
  ]);
  sections.push(
    `<section><h2>What slimming removed</h2><p>${manifest.slimming.removedFiles} files, <span data-testid="slim-removed" data-bytes="${manifest.slimming.removedBytes}">${formatBytes(manifest.slimming.removedBytes)}</span>.</p>${table(['rule', 'files', 'bytes'], rules, 'slimming')}</section>`,
  );
  if (manifest.layers.length > 0) {
    const rows = manifest.layers.map((layer) => [
      escapeHtml(layer.file),
      `<span data-bytes="${layer.size}">${formatBytes(layer.size)}</span>`,
      `<span data-bytes="${layer.unzippedSize}">${formatBytes(layer.unzippedSize)}</span>`,
      escapeHtml(layer.packages.join(', ')),
    ]);
    sections.push(
      `<section><h2>Layers</h2>${table(['layer', 'zipped', 'unzipped', 'packages'], rows, 'layers')}</section>`,
    );
  }
  if (manifest.efs)
    sections.push(
      `<section><h2>EFS</h2><p>Tree <code>${escapeHtml(manifest.efs.tree)}</code>; set <code>PYTHONPATH=${escapeHtml(manifest.efs.pythonPath)}</code>.</p></section>`,
    );
  if (manifest.image)
    sections.push(
      `<section><h2>Image</h2><p>Layout <code>${escapeHtml(manifest.image.layout)}</code>, digest <code>${escapeHtml(manifest.image.digest)}</code>.</p></section>`,
    );
  const problems = manifest.verification.problems.map((problem) => [
    escapeHtml(problem.package ?? ''),
    escapeHtml(problem.file ?? ''),
    escapeHtml(problem.message),
    escapeHtml(problem.hint ?? ''),
  ]);
  sections.push(
    `<section><h2>Verification</h2><p class="${manifest.verification.ok ? 'ok' : 'bad'}" data-testid="verification">${manifest.verification.ok ? 'Every binary fits the target.' : `${manifest.verification.problems.length} problem(s): nothing was published.`}</p>${problems.length > 0 ? table(['package', 'file', 'problem', 'fix'], problems, 'problems') : ''}</section>`,
  );
  const smoke = manifest.smokeImport;
  const smokeText = !smoke.ran
    ? `Skipped: ${escapeHtml(smoke.reason ?? 'no interpreter for the target')}.`
    : smoke.ok
      ? `All ${smoke.modules} top-level modules imported.`
      : `${smoke.failures.length} of ${smoke.modules} modules failed to import.`;
  const failures = smoke.failures.map((failure) => [
    escapeHtml(failure.module),
    escapeHtml(failure.package),
    escapeHtml(failure.error),
  ]);
  sections.push(
    `<section><h2>Smoke import</h2><p class="${smoke.ran && smoke.ok ? 'ok' : smoke.ran ? 'bad' : 'skipped'}" data-testid="smoke-import">${smokeText}</p>${failures.length > 0 ? table(['module', 'package', 'error'], failures, 'import-failures') : ''}</section>`,
  );
  const states = manifest.execution?.states ?? [];
  if (states.length > 0) {
    sections.push(
      `<section><h2>Pipeline</h2>${table(
        ['state', 'duration'],
        states.map((state) => [escapeHtml(state.name), formatDuration(state.durationMs)]),
        'states',
      )}</section>`,
    );
  }
  const timings = Object.entries(manifest.timings).map(([step, ms]) => [
    escapeHtml(step),
    formatDuration(ms),
  ]);
  if (timings.length > 0)
    sections.push(`<section><h2>Timings</h2>${table(['step', 'time'], timings, 'timings')}</section>`);
  return sections.join('');
}

function measureSections(result: MeasureResult): string {
  const problems = result.problems.map((problem) => [
    escapeHtml(problem.package),
    escapeHtml(problem.message),
  ]);
  return (
    `<section><h2>Sizes</h2><div class="figures">${figure('size-wheels', 'Wheels (compressed)', result.totals.size)}${figure('size-unzipped', 'Unzipped', result.totals.unzippedSize)}</div></section>` +
    (problems.length > 0
      ? `<section><h2>Problems</h2>${table(['package', 'problem'], problems, 'problems')}</section>`
      : '')
  );
}

/** Render the report page. Every number on it is also in a `data-bytes` attribute, so tests can compare it to the manifest. */
export function renderSizeReport(input: SizeReportInput): string {
  const target = input.kind === 'build' ? input.manifest.target : input.result.target;
  const boxes = packageBoxes(input);
  const total = boxes.reduce((sum, box) => sum + box.bytes, 0);
  const strategy =
    input.kind === 'build' ? input.manifest.strategy : (input.result.verdict?.strategy ?? 'none');
  const reason =
    input.kind === 'build'
      ? input.manifest.reason
      : (input.result.verdict?.reason ?? 'The set could not be resolved.');
  const lockHash = input.kind === 'build' ? input.manifest.lockHash : input.result.lockHash;
  const packageRows = [...boxes]
    .sort((a, b) => b.bytes - a.bytes)
    .map((box) => [
      escapeHtml(box.name),
      escapeHtml(box.version),
      `<span data-bytes="${box.bytes}">${formatBytes(box.bytes)}</span>`,
      formatShare(box.bytes, LAMBDA_UNZIPPED_LIMIT_BYTES),
      escapeHtml(box.layer ?? ''),
    ]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lambda-deps size report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.route{background:#f4f6f8;border-left:4px solid #4e79a7;padding:10px 14px;margin:14px 0}
.figures{display:flex;gap:18px}.figure{background:#f4f6f8;padding:10px 14px;border-radius:6px}
.figure-label{color:#555;font-size:12px}.figure-value{font-size:20px;font-weight:600}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e3e3;vertical-align:top}
svg text.label{font-size:12px;fill:#fff;font-weight:600}svg text.folder-label{font-size:10px;fill:#fff}
svg text.budget-label{font-size:12px;fill:#222;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:4px}
.ok{color:#1a7f37}.bad{color:#c00}.skipped{color:#9a6700}code{background:#f4f6f8;padding:1px 4px;border-radius:3px}
</style></head><body>
<h1>lambda-deps size report</h1>
<div>${escapeHtml(describeTarget(target))}${lockHash ? ` · lock <code data-testid="lock-hash">${escapeHtml(lockHash.slice(0, 16))}</code>` : ''}</div>
<div class="route"><strong>Route: <span data-testid="strategy">${escapeHtml(strategy)}</span></strong> — ${escapeHtml(reason)}</div>
<section><h2>Unzipped bytes by package</h2>
<p>Total <span data-testid="total-bytes" data-bytes="${total}">${formatBytes(total)}</span> of the 250 MiB budget (${formatShare(total, LAMBDA_UNZIPPED_LIMIT_BYTES)}). Inside the ${DETAILED_PACKAGES} biggest packages, their biggest folders.</p>
${renderTreemap(boxes, LAMBDA_UNZIPPED_LIMIT_BYTES)}
</section>
${input.kind === 'build' ? buildSections(input.manifest) : measureSections(input.result)}
<section><h2>Packages</h2>${table(['package', 'version', 'bytes', 'of 250 MiB', 'layer'], packageRows, 'packages')}</section>
</body></html>
`;
}
