// The progress display shared by local pipeline runs and `submit` (which follows an
// execution in AWS): one line per state as it ends, with its duration (on a terminal, the
// running state ticks with its elapsed time and build phase, and, for a local build, the
// files and bytes installed and the modules imported so far), and the final block: what was
// checked, the warnings and what to do next, the same lines the report page shows.
import type { BuildCounts, BuildPhase, BuildProgressEvent } from '../core/build/build-events.ts';
import { checksOf, isRefused, type CheckLine } from '../core/report/checks.ts';
import { describeFailure } from '../core/report/failure.ts';
import { nextStepsOf, type NextStepManifest } from '../core/report/next-steps.ts';
import { deliveryOf, type RunManifest } from '../core/report/run-facts.ts';
import { formatCount } from '../core/report/html.ts';
import type { Strategy } from '../core/shared/types.ts';
import { formatBytes, formatDuration } from '../core/shared/units.ts';
import type { StateStatus } from './local-pipeline.ts';
import { colorsFor, shouldUseColor, type Colors } from './terminal-output.ts';

/** The line that says a build through the local pipeline has started (printed before it loads). */
export function startLine(requirementsPath: string | undefined): string {
  return `building ${requirementsPath ?? 'the set'} through the local pipeline …\n`;
}

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Colors decided by the stream these lines go to (picocolors' default looks at stdout only). */
function colorsOf(stream: ProgressStream): Colors {
  return colorsFor(shouldUseColor(stream));
}

function seconds(durationMs: number): string {
  return durationMs < 1000 ? `${durationMs} ms` : `${(durationMs / 1000).toFixed(1)} s`;
}

/** An `onState` callback; on a terminal it also shows the running state as it runs. */
export interface StateProgress {
  (name: string, status: StateStatus, durationMs: number): void;
  /** A line of the build log (`[build] running: …`): the running state shows the phase. */
  buildLine(line: string): void;
  /** The build's live phases and counts: the running state shows them. */
  buildProgress(event: BuildProgressEvent): void;
  /** Whether the running state is drawn (a terminal): nothing else needs the live counts. */
  readonly live: boolean;
  /** Stop ticking (the run is over). */
  stop(): void;
}

function finalLine(pc: Colors, name: string, status: StateStatus, durationMs: number): string {
  const mark =
    status === 'succeeded'
      ? pc.green('✓')
      : status === 'retrying'
        ? pc.yellow('↻')
        : status === 'caught'
          ? pc.yellow('→')
          : pc.red('✗');
  const note =
    status === 'caught' ? ' (caught: reporting the failure)' : status === 'retrying' ? ' (retrying)' : '';
  return `${mark} ${name} ${pc.dim(seconds(durationMs))}${note}\n`;
}

const PHASE_LABELS: Record<BuildPhase, string> = {
  download: 'download',
  install: 'install',
  verify: 'verify',
  smokeImport: 'smoke import',
  pack: 'pack',
};

/** `1,234 files, 56.1 MiB · 3 of 14 packages`, `9 of 14 modules`: what a phase has counted. */
export function describeCounts(counts: BuildCounts): string {
  const parts: string[] = [];
  if (counts.files !== undefined)
    parts.push(
      `${formatCount(counts.files)} ${counts.files === 1 ? 'file' : 'files'}, ${formatBytes(counts.bytes ?? 0)}`,
    );
  if (counts.modules !== undefined)
    parts.push(`${formatCount(counts.modules)} of ${formatCount(counts.ofModules ?? 0)} modules`);
  if (counts.packages !== undefined)
    parts.push(`${formatCount(counts.packages)} of ${formatCount(counts.ofPackages ?? 0)} packages`);
  return parts.join(' · ');
}

/** What the build has said so far: its running phases (in the order they started) and their counts. */
interface BuildState {
  readonly running: BuildPhase[];
  readonly counts: Map<BuildPhase, BuildCounts>;
}

function applyBuildEvent(state: BuildState, event: BuildProgressEvent): void {
  const { running, counts } = state;
  const done = event.type === 'phase' && event.status === 'done';
  if (done) {
    if (running.includes(event.phase)) running.splice(running.indexOf(event.phase), 1);
    counts.delete(event.phase);
    return;
  }
  if (!running.includes(event.phase)) running.push(event.phase);
  if (event.type === 'progress') counts.set(event.phase, event.counts);
}

/**
 * `install · 1,234 files, 56.1 MiB`: the latest-started running phase that has counts (verify,
 * smoke import and pack run at once; the one that counts says the most), else the latest one.
 */
function headlineOf(
  state: BuildState | null,
): { readonly phase: BuildPhase; readonly counted: boolean; readonly text: string } | null {
  if (!state) return null;
  const counted = state.running.filter((phase) => state.counts.has(phase));
  const phase = counted.at(-1) ?? state.running.at(-1);
  if (!phase) return null;
  const counts = state.counts.get(phase);
  const text = counts ? `${PHASE_LABELS[phase]} · ${describeCounts(counts)}` : PHASE_LABELS[phase];
  return { phase, counted: counts !== undefined, text };
}

interface RunningState {
  readonly name: string;
  readonly started: number;
  /** The buildspec phase (`[build] running: …`). */
  phase: string | null;
  /** The build's own phase and counts while the build command runs. */
  build: BuildState | null;
  /** The phases whose counts have been drawn: a phase's first counts are drawn at once. */
  readonly countsShown: Set<BuildPhase>;
  drawn: boolean;
}

/** Live counts redraw the line at most this often (the elapsed time ticks on its own). */
const MIN_REDRAW_MS = 250;

/**
 * Prints `✓ Measure 1.2 s` lines. On a terminal (`live`, default: the stream is a TTY) the
 * running state is redrawn every `tickMs` as `… Build 12.0 s · build phase`, and as the build
 * reports its counts (at most every MIN_REDRAW_MS, except that a phase's first counts are drawn
 * at once, so that even a short phase shows what it counted) as
 * `… Build 12.0 s · install · 1,234 files, 56.1 MiB · 3 of 14 packages`.
 */
export function createStateProgress(
  stream: ProgressStream,
  options: { readonly live?: boolean; readonly tickMs?: number } = {},
): StateProgress {
  const live = options.live ?? Boolean(stream.isTTY);
  const pc = colorsOf(stream);
  let running: RunningState | null = null;
  let timer: NodeJS.Timeout | null = null;
  const redraw = createRedraw(() => draw());
  const draw = (): void => {
    if (!running) return;
    const headline = headlineOf(running.build);
    if (headline?.counted) running.countsShown.add(headline.phase);
    const detail = headline?.text ?? (running.phase ? `${running.phase} phase` : null);
    const phase = detail ? pc.dim(` · ${detail}`) : '';
    stream.write(
      `\r\x1b[2K${pc.cyan('…')} ${running.name} ${pc.dim(seconds(Date.now() - running.started))}${phase}`,
    );
    running.drawn = true;
    redraw.drawn();
  };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = null;
    redraw.cancel();
    if (running?.drawn) stream.write('\r\x1b[2K');
    running = null;
  };
  const progress = (name: string, status: StateStatus, durationMs: number): void => {
    if (status === 'running') {
      if (!live) return;
      stop();
      running = { name, started: Date.now(), phase: null, build: null, countsShown: new Set(), drawn: false };
      timer = setInterval(draw, options.tickMs ?? 1000);
      timer.unref();
      return;
    }
    if (running?.name === name) stop();
    stream.write(finalLine(pc, name, status, durationMs));
  };
  return Object.assign(progress, {
    live,
    buildLine(line: string) {
      const phase = /^\[([a-z_]+)\] (?:running|finally):/.exec(line)?.[1];
      if (!running || !phase) return;
      running.phase = phase;
      // A new buildspec command: the build's counts (if it was the build) are over.
      running.build = null;
      running.countsShown.clear();
    },
    buildProgress(event: BuildProgressEvent) {
      if (!running) return;
      running.build ??= { running: [], counts: new Map() };
      applyBuildEvent(running.build, event);
      const headline = headlineOf(running.build);
      if (headline?.counted && !running.countsShown.has(headline.phase)) draw();
      else redraw.request();
    },
    stop,
  });
}

/** Draws now when the last draw is MIN_REDRAW_MS old, else once when it is (never more often). */
function createRedraw(draw: () => void) {
  let last = 0;
  let pending: NodeJS.Timeout | null = null;
  const cancel = (): void => {
    if (pending) clearTimeout(pending);
    pending = null;
  };
  return {
    drawn: (): void => {
      last = Date.now();
      cancel();
    },
    cancel,
    request: (): void => {
      if (pending) return;
      const wait = last + MIN_REDRAW_MS - Date.now();
      if (wait <= 0) return draw();
      pending = setTimeout(draw, wait);
      pending.unref();
    },
  };
}

function checkLine(pc: Colors, check: CheckLine): string {
  const mark = { ok: pc.green('✓'), failed: pc.red('✗'), skipped: pc.yellow('–') }[check.status];
  const counts = check.counts.map(
    (count) =>
      `${count.unit === 'ms' ? formatDuration(count.value) : formatCount(count.value)} ${count.label}`,
  );
  const detail = check.status === 'ok' && counts.length > 0 ? counts.join(', ') : check.text;
  const note = check.note ? ` ${pc.dim(`(${check.note})`)}` : '';
  return `  ${mark} ${check.title.toLowerCase()}: ${detail}${note}\n`;
}

function printFailure(
  report: Readonly<Record<string, unknown>>,
  stream: ProgressStream,
  requirementsPath?: string,
): void {
  const pc = colorsOf(stream);
  const failure = describeFailure(report, requirementsPath ? { requirementsPath } : {});
  stream.write(`${pc.red('✗')} ${pc.bold(`${failure.step} failed`)}\n`);
  stream.write(`  ${failure.location ? `${failure.location}: ` : ''}${failure.message}\n`);
  if (failure.hint) stream.write(`  ${pc.bold('fix:')} ${failure.hint}\n`);
  if (failure.published.length > 0)
    stream.write(`  published before the failure: ${failure.published.join(', ')}\n`);
}

/** The warnings the page lists: the run's (Measure's), the build's, and a skipped smoke import. */
function warningsOf(report: Readonly<Record<string, unknown>>, manifest: RunManifest | null): string[] {
  const own = Array.isArray(report.warnings) ? report.warnings.map(String) : [];
  const skipped =
    manifest && !manifest.smokeImport.ran
      ? [
          `The smoke import was skipped: ${manifest.smokeImport.reason ?? 'no interpreter for the target here'}.`,
        ]
      : [];
  return [...new Set([...own, ...(manifest?.warnings ?? []), ...skipped])];
}

/** Prints the Report step's output: where the set went, what was checked, what to do next; or why it failed. */
export function printPipelineReport(
  report: Readonly<Record<string, unknown>>,
  stream: ProgressStream,
  options: { readonly requirementsPath?: string } = {},
): void {
  if (report.status === 'FAILED') return printFailure(report, stream, options.requirementsPath);
  const pc = colorsOf(stream);
  const manifest = (report.manifest ?? null) as RunManifest | null;
  stream.write(
    `${pc.green('Delivered')} ${String(report.name)} (lock ${String(report.lockHash).slice(0, 12)}) as ${String(report.strategy)}${report.cached ? ' (cached: built before)' : ''}\n`,
  );
  if (manifest) {
    stream.write('checked\n');
    for (const check of checksOf(manifest)) stream.write(checkLine(pc, check));
  }
  const warnings = warningsOf(report, manifest);
  if (warnings.length > 0) stream.write('warnings\n');
  for (const warning of warnings) stream.write(`  ${pc.yellow(`! ${warning}`)}\n`);
  // A report without its manifest (`submit` reads the small one) still has the delivery.
  const route: NextStepManifest = manifest ?? {
    strategy: String(report.strategy) as Strategy,
    layers: [],
    efs: null,
    image: null,
  };
  const delivery = deliveryOf(route, report.delivery);
  const refused = manifest !== null && isRefused(manifest);
  const steps = refused
    ? []
    : nextStepsOf({ manifest: route, delivery, layerFiles: route.layers.map(() => null) });
  if (steps.length > 0) stream.write('next\n');
  for (const step of steps) {
    stream.write(`  ${step.title}:\n`);
    for (const line of step.value.split('\n')) stream.write(`    ${line}\n`);
  }
}
