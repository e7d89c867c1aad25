// The size report: one self-contained HTML page (no network, no scripts) that says, at a
// glance, where the set went and why, what takes the space against the route's limit, what
// was checked (with counts), what to watch out for, and what to do next with values to copy.
// A failed run gets a page too: the step, the reason and the fix.
import { describeTarget } from '../shared/targets.ts';
import type { MeasureResult, Strategy } from '../shared/types.ts';
import { formatBytes, formatShare } from '../shared/units.ts';
import { checksOf, isRefused, type CheckLine } from './checks.ts';
import { describeFailure } from './failure.ts';
import { copyable, escapeHtml, shownBytes, shownCount, shownDuration, table } from './html.ts';
import { nextStepsOf, type NextStep } from './next-steps.ts';
import { PAGE_STYLE } from './page-style.ts';
import { routeBudget } from './route-budget.ts';
import { deliveryOf, probeOf, type DeliveryFacts, type RunManifest } from './run-facts.ts';
import { colorsBySize, renderTreemapSvg, type TreemapBox } from './treemap-svg.ts';

export type SizeReportInput =
  | {
      readonly kind: 'build';
      readonly manifest: RunManifest;
      /** The delivery record, when not inside the manifest. */
      readonly delivery?: unknown;
      /** Warnings of the run beyond the build's (Measure's: an index left out). */
      readonly warnings?: readonly string[];
      /** The layer zips on disk relative to the page, in manifest order (see report-page-file.ts). */
      readonly layerFiles?: readonly (string | null)[];
      /** The set's name (`web-api`). */
      readonly name?: string;
    }
  | { readonly kind: 'measure'; readonly result: MeasureResult }
  | {
      readonly kind: 'failed';
      /** The failure record (`report.json` of a failed run). */
      readonly failure: Readonly<Record<string, unknown>>;
      /** The user's requirements file, to name it instead of a step's temporary copy. */
      readonly requirementsPath?: string;
    };

const WIDE = { width: 1000, height: 380, name: 'wide' } as const;
const TALL = { width: 360, height: 460, name: 'tall' } as const;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>${PAGE_STYLE}</style></head><body>
${body}
</body></html>
`;
}

function budgetMeter(
  strategy: Strategy | 'none',
  used: number,
  usedField: string,
  fileCount: number | null,
): string {
  const budget = routeBudget(strategy);
  if (budget.limitBytes === null) {
    const files = fileCount === null ? '' : ` in ${shownCount(fileCount, 'verification.filesChecked')} files`;
    return `<p data-testid="budget">${shownBytes(used, usedField)}${files}. <strong>No size limit</strong> (${escapeHtml(budget.counts)}); each file is a network read at import, so the file count is what costs.</p>`;
  }
  const share = (100 * used) / budget.limitBytes;
  const over = used > budget.limitBytes;
  return (
    `<div class="meter${over ? ' over' : ''}" role="img" aria-label="${escapeHtml(`${formatBytes(used)} of ${formatBytes(budget.limitBytes)}`)}"><div style="width:${Math.min(100, share).toFixed(1)}%;min-width:3px"></div></div>` +
    `<p data-testid="budget">${shownBytes(used, usedField)} of the route's limit of <span class="num" data-bytes="${budget.limitBytes}">${formatBytes(budget.limitBytes)}</span> (${escapeHtml(budget.counts)}): ${formatShare(used, budget.limitBytes)}${over ? ' — <strong class="bad">over the limit</strong>' : ''}.</p>`
  );
}

function routeCard(strategy: Strategy | 'none', reason: string, meter: string): string {
  return `<section class="card" aria-labelledby="route-heading"><h2 id="route-heading" class="route-name" style="margin:0">Route: <span data-testid="strategy">${escapeHtml(strategy)}</span></h2><p>${escapeHtml(reason)}</p>${meter}</section>`;
}

function checkCards(checks: readonly CheckLine[]): string {
  const cards = checks.map((check) => {
    const counts = check.counts
      .map(
        (count) =>
          `<span>${count.unit === 'ms' ? shownDuration(count.value, count.field) : shownCount(count.value, count.field)} ${escapeHtml(count.label)}</span>`,
      )
      .join('');
    const mark = { ok: '✓ ok', failed: '✗ failed', skipped: '– not run' }[check.status];
    return `<div class="check ${check.status}" data-check="${check.id}" data-status="${check.status}"><h3>${escapeHtml(check.title)} <span class="status ${check.status}">${mark}</span></h3><p>${escapeHtml(check.text)}</p>${check.note ? `<p class="note">${escapeHtml(check.note)}</p>` : ''}${counts ? `<div class="counts">${counts}</div>` : ''}</div>`;
  });
  return `<section><h2>What was checked</h2><div class="checks">${cards.join('')}</div></section>`;
}

function warningList(warnings: readonly string[]): string {
  if (warnings.length === 0) return '';
  return `<section><h2>Warnings</h2><ul class="warnings" data-testid="warnings">${warnings.map((warning) => `<li>${escapeHtml(warning)}</li>`).join('')}</ul></section>`;
}

function nextStepList(steps: readonly NextStep[], extra = ''): string {
  if (steps.length === 0 && !extra) return '';
  const items = steps.map(
    (step) => `<li><div>${escapeHtml(step.title)}</div>${copyable(step.value, step.id)}</li>`,
  );
  return `<section><h2>What to do next</h2>${extra}<ol class="steps">${items.join('')}</ol></section>`;
}

function spaceSection(boxes: readonly TreemapBox[], budgetBytes: number | null): string {
  const describe = (box: TreemapBox): string =>
    `${box.name} ${box.version}: ${formatBytes(box.bytes)}${budgetBytes ? `, ${formatShare(box.bytes, budgetBytes)} of ${formatBytes(budgetBytes)}` : ''}${box.note ? `, ${box.note}` : ''}`;
  const colors = colorsBySize(boxes);
  const legend = [...boxes]
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 10)
    .map(
      (box) =>
        `<li><span class="swatch" style="background:${colors.get(box.name) ?? '#ccc'}"></span>${escapeHtml(box.name)} ${shownBytes(box.bytes, box.field)}</li>`,
    );
  return (
    `<section><h2>What takes the space</h2><p class="muted">Unzipped bytes by package; inside the biggest, their biggest folders. Each tile links to its row in the package table.</p>` +
    renderTreemapSvg(boxes, WIDE, describe) +
    renderTreemapSvg(boxes, TALL, describe) +
    `<ul class="legend" aria-label="The biggest packages">${legend.join('')}</ul></section>`
  );
}

function header(title: string, subtitle: string): string {
  return `<header><p class="muted" style="margin:0">lambda-deps report</p><h1>${title}</h1><p class="muted">${subtitle}</p></header>`;
}

function packageBoxes(
  manifest: RunManifest,
  layerName: (file: string | null) => string | null,
): TreemapBox[] {
  const breakdown = manifest.packages ?? [];
  if (breakdown.length > 0)
    return breakdown.map((entry, index) => {
      const layer = layerName(entry.layer);
      return {
        name: entry.name,
        version: entry.version,
        bytes: entry.slimmedBytes,
        field: `packages.${index}.slimmedBytes`,
        folders: entry.folders,
        note: layer ? `in layer ${layer}` : null,
      };
    });
  return manifest.lock.packages.map((entry, index) => ({
    name: entry.name,
    version: entry.version,
    bytes: entry.unzippedSize,
    field: `lock.packages.${index}.unzippedSize`,
    folders: [],
    note: null,
  }));
}

function packageTable(boxes: readonly TreemapBox[], budgetBytes: number | null, withLayer: boolean): string {
  const sorted = [...boxes].sort((a, b) => b.bytes - a.bytes);
  const rows = sorted.map((box) => [
    escapeHtml(box.name),
    escapeHtml(box.version),
    shownBytes(box.bytes, box.field),
    ...(budgetBytes ? [formatShare(box.bytes, budgetBytes)] : []),
    ...(withLayer ? [escapeHtml(box.note?.replace(/^in layer /, '') ?? '')] : []),
  ]);
  const headers = [
    'package',
    'version',
    'unzipped',
    ...(budgetBytes ? [`of ${formatBytes(budgetBytes)}`] : []),
    ...(withLayer ? ['layer'] : []),
  ];
  return `<section><h2>Packages</h2>${table(
    headers,
    rows,
    'packages',
    sorted.map((box) => `package-${box.name}`),
  )}</section>`;
}

/** The name a person knows a layer by: its published name, else its id, for a manifest layer file. */
function layerNamer(
  manifest: RunManifest,
  delivery: DeliveryFacts | null,
): (file: string | null) => string | null {
  return (file) => {
    if (!file) return null;
    const index = manifest.layers.findIndex((layer) => layer.file === file);
    const layer = manifest.layers[index];
    if (!layer) return file;
    const published = delivery?.layers?.find((entry) => entry.file === file) ?? delivery?.layers?.[index];
    return published?.layerName ?? layer.id ?? layer.file;
  };
}

function artifactSection(
  manifest: RunManifest,
  delivery: DeliveryFacts | null,
  layerFiles: readonly (string | null)[],
): string {
  if (manifest.layers.length > 0) {
    const name = layerNamer(manifest, delivery);
    const rows = manifest.layers.map((layer, index) => [
      escapeHtml(name(layer.file) ?? ''),
      layerFiles[index]
        ? `<code data-layer-file>${escapeHtml(layerFiles[index])}</code>`
        : '<span class="muted">not on this machine</span>',
      shownBytes(layer.size, `layers.${index}.size`),
      shownBytes(layer.unzippedSize, `layers.${index}.unzippedSize`),
      escapeHtml(layer.packages.join(', ')),
    ]);
    return `<section><h2>Layers</h2>${table(['layer', 'file', 'zipped', 'unzipped', 'packages'], rows, 'layers')}</section>`;
  }
  if (manifest.efs)
    return `<section><h2>EFS tree</h2><p>Archive <code>${escapeHtml(manifest.efs.tree)}</code>, unpacked under the access point; its <code>${escapeHtml(manifest.efs.pythonPath)}</code> folder goes on PYTHONPATH${delivery?.pythonPath ? ` (<code>${escapeHtml(delivery.pythonPath)}</code>)` : ''}.</p></section>`;
  if (manifest.image)
    return `<section><h2>Image</h2><p>OCI layout <code>${escapeHtml(manifest.image.layout)}</code>, digest <code>${escapeHtml(manifest.image.digest)}</code>.</p></section>`;
  return '';
}

function problemSection(manifest: RunManifest): string {
  const problems = manifest.verification.problems.map((problem) => [
    escapeHtml(problem.package ?? ''),
    escapeHtml(problem.file ?? ''),
    escapeHtml(problem.message),
    escapeHtml(problem.hint ?? ''),
  ]);
  const failures = manifest.smokeImport.failures.map((failure) => [
    escapeHtml(failure.package),
    escapeHtml(failure.module),
    escapeHtml(failure.error),
  ]);
  const probeFailures = (probeOf(manifest)?.modules ?? [])
    .filter((entry) => !entry.ok)
    .map((entry) => [escapeHtml(entry.module), escapeHtml(entry.error ?? 'failed')]);
  return (
    (probeFailures.length > 0
      ? `<section><h2>Imports that failed on the runtime</h2>${table(['module', 'error'], probeFailures, 'probe-failures')}</section>`
      : '') +
    (problems.length > 0
      ? `<section><h2>Problems found</h2>${table(['package', 'file', 'problem', 'fix'], problems, 'problems')}</section>`
      : '') +
    (failures.length > 0
      ? `<section><h2>Imports that failed</h2>${table(['package', 'module', 'error'], failures, 'import-failures')}</section>`
      : '')
  );
}

function slimmingSection(manifest: RunManifest): string {
  const rows = manifest.slimming.rules.map((rule, index) => [
    escapeHtml(rule.rule),
    shownCount(rule.files, `slimming.rules.${index}.files`),
    shownBytes(rule.bytes, `slimming.rules.${index}.bytes`),
  ]);
  const sizes = `Wheels ${shownBytes(manifest.sizes.wheels, 'sizes.wheels')} compressed, ${shownBytes(manifest.sizes.installed, 'sizes.installed')} installed, ${shownBytes(manifest.sizes.slimmed, 'sizes.slimmed')} after slimming.`;
  return `<section><h2>Sizes and slimming</h2><p>${sizes} Slimming removed ${shownCount(manifest.slimming.removedFiles, 'slimming.removedFiles')} files, ${shownBytes(manifest.slimming.removedBytes, 'slimming.removedBytes')}.</p>${rows.length > 0 ? table(['rule', 'files', 'bytes'], rows, 'slimming') : ''}</section>`;
}

function stateTable(states: readonly Readonly<Record<string, unknown>>[], fieldPrefix: string): string {
  if (states.length === 0) return '';
  const rows = states.map((state, index) => [
    escapeHtml(String(state.name ?? '')),
    escapeHtml(String(state.status ?? '')),
    typeof state.durationMs === 'number'
      ? shownDuration(state.durationMs, `${fieldPrefix}.${index}.durationMs`)
      : '',
  ]);
  return `<section><h2>Pipeline</h2>${table(['state', 'status', 'time'], rows, 'states')}</section>`;
}

function timingSection(manifest: RunManifest): string {
  const rows = Object.entries(manifest.timings).map(([step, ms]) => [
    escapeHtml(step),
    shownDuration(ms, `timings.${step}`),
  ]);
  return rows.length > 0
    ? `<section><h2>Build timings</h2>${table(['step', 'time'], rows, 'timings')}</section>`
    : '';
}

/** Build warnings, the run's own, and a skipped smoke import, each once. */
function warningsOf(manifest: RunManifest, extra: readonly string[]): string[] {
  const skipped = manifest.smokeImport.ran
    ? []
    : [
        `The smoke import was skipped: ${manifest.smokeImport.reason ?? 'no interpreter for the target here'}.`,
      ];
  return [...new Set([...extra, ...(manifest.warnings ?? []), ...skipped])];
}

function renderBuildPage(input: Extract<SizeReportInput, { kind: 'build' }>): string {
  const { manifest } = input;
  const delivery = deliveryOf(manifest, input.delivery);
  const layerFiles = input.layerFiles ?? manifest.layers.map((layer) => layer.file);
  const budget = routeBudget(manifest.strategy);
  const boxes = packageBoxes(manifest, layerNamer(manifest, delivery));
  const refused = isRefused(manifest);
  const outcome = refused ? 'refused, nothing published' : delivery !== null ? 'delivered' : 'built';
  const title = `${input.name ? `${escapeHtml(input.name)}: ` : ''}${outcome} as ${escapeHtml(manifest.strategy)}`;
  const subtitle = `${escapeHtml(describeTarget(manifest.target))} · lock <code data-testid="lock-hash">${escapeHtml(manifest.lockHash.slice(0, 16))}</code> · ${shownCount(manifest.lock.packages.length, 'lock.packages.length')} packages`;
  const fileCount = manifest.verification.filesChecked ?? null;
  return page(
    'lambda-deps report',
    header(title, subtitle) +
      routeCard(
        manifest.strategy,
        manifest.reason,
        budgetMeter(manifest.strategy, manifest.sizes.slimmed, 'sizes.slimmed', fileCount),
      ) +
      spaceSection(boxes, budget.limitBytes) +
      checkCards(checksOf(manifest)) +
      problemSection(manifest) +
      warningList(warningsOf(manifest, input.warnings ?? [])) +
      (refused ? '' : nextStepList(nextStepsOf({ manifest, delivery, layerFiles }))) +
      artifactSection(manifest, delivery, layerFiles) +
      slimmingSection(manifest) +
      // A share of the limit says something only for layers; an image is far from its 10 GiB.
      packageTable(
        boxes,
        manifest.strategy === 'layers' ? budget.limitBytes : null,
        manifest.layers.length > 0,
      ) +
      stateTable(
        (manifest.execution?.states ?? []) as readonly Record<string, unknown>[],
        'execution.states',
      ) +
      timingSection(manifest),
  );
}

function renderMeasurePage(result: MeasureResult): string {
  const strategy = result.verdict?.strategy ?? 'none';
  const budget = routeBudget(strategy);
  const boxes: TreemapBox[] = result.packages.map((entry, index) => ({
    name: entry.name,
    version: entry.version,
    bytes: entry.unzippedSize,
    field: `packages.${index}.unzippedSize`,
    folders: [],
    note: null,
  }));
  const problems = result.problems.map((problem) => [
    escapeHtml(problem.package),
    escapeHtml(problem.message),
  ]);
  return page(
    'lambda-deps measure report',
    header(
      `measured for ${escapeHtml(describeTarget(result.target))}`,
      result.lockHash
        ? `lock <code data-testid="lock-hash">${escapeHtml(result.lockHash.slice(0, 16))}</code>`
        : 'not resolved',
    ) +
      routeCard(
        strategy,
        result.verdict?.reason ?? 'The set could not be resolved.',
        budgetMeter(strategy, result.totals.unzippedSize, 'totals.unzippedSize', null),
      ) +
      `<p>Wheels ${shownBytes(result.totals.size, 'totals.size')} compressed, ${shownBytes(result.totals.unzippedSize, 'totals.unzippedSize')} unzipped (measured, nothing built).</p>` +
      (boxes.length > 0 ? spaceSection(boxes, budget.limitBytes) : '') +
      warningList(result.warnings ?? []) +
      (problems.length > 0
        ? `<section><h2>Problems</h2>${table(['package', 'problem'], problems, 'problems')}</section>`
        : '') +
      (boxes.length > 0 ? packageTable(boxes, budget.limitBytes, false) : ''),
  );
}

function renderFailurePage(failure: Readonly<Record<string, unknown>>, requirementsPath?: string): string {
  const facts = describeFailure(failure, requirementsPath ? { requirementsPath } : {});
  const name = typeof failure.name === 'string' ? failure.name : 'the set';
  const execution = failure.execution as { states?: readonly Record<string, unknown>[] } | undefined;
  const where = facts.location
    ? `<p>In <code data-testid="failure-location">${escapeHtml(facts.location)}</code></p>`
    : '';
  const fix = facts.hint
    ? `<h3 style="margin-top:10px">Fix</h3><p data-testid="failure-hint">${escapeHtml(facts.hint)}</p>`
    : '<p class="muted">No fix is known for this error; the message above says what went wrong.</p>';
  const published =
    facts.published.length > 0
      ? `<p>Published before the failure (not switched in): ${facts.published.map((arn) => `<code>${escapeHtml(arn)}</code>`).join(', ')}</p>`
      : '';
  return page(
    'lambda-deps report: failed',
    header(
      `${escapeHtml(name)}: failed at ${escapeHtml(facts.step)}`,
      // The error type is for logs (`States.TaskFailed`, `ResolutionError`); the card below says what happened.
      'Nothing was delivered.',
    ) +
      `<section class="card failed" aria-labelledby="failure-heading"><h2 id="failure-heading" style="margin:0"><span data-testid="failed-step">${escapeHtml(facts.step)}</span> failed</h2>${where}<p data-testid="failure-message">${escapeHtml(facts.message)}</p>${fix}${published}</section>` +
      nextStepList(
        [],
        `<p>${facts.hint ? 'Make the fix above' : 'Correct what the message names'}${facts.location ? ` at <code>${escapeHtml(facts.location)}</code>` : ''}, then run the same command again.</p>`,
      ) +
      stateTable(execution?.states ?? [], 'execution.states'),
  );
}

/** Render the report page. Every number on it carries its raw value (and manifest field) in data attributes. */
export function renderSizeReport(input: SizeReportInput): string {
  if (input.kind === 'failed') return renderFailurePage(input.failure, input.requirementsPath);
  if (input.kind === 'measure') return renderMeasurePage(input.result);
  return renderBuildPage(input);
}
