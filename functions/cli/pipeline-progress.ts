// The progress display shared by local pipeline runs and `submit` (which follows an
// execution in AWS): one line per state as it ends, with its duration (on a terminal, the
// running state ticks with its elapsed time and build phase), and the final block: what was
// checked, the warnings and what to do next, the same lines the report page shows.
import { checksOf, isRefused, type CheckLine } from '../core/report/checks.ts';
import { describeFailure } from '../core/report/failure.ts';
import { nextStepsOf, type NextStepManifest } from '../core/report/next-steps.ts';
import { deliveryOf, type RunManifest } from '../core/report/run-facts.ts';
import { formatCount } from '../core/report/html.ts';
import type { Strategy } from '../core/shared/types.ts';
import { formatDuration } from '../core/shared/units.ts';
import type { StateStatus } from './local-pipeline.ts';
import { colorsFor, shouldUseColor, type Colors } from './terminal-output.ts';

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

/**
 * Prints `✓ Measure 1.2 s` lines. On a terminal (`live`, default: the stream is a TTY) the
 * running state is redrawn every `tickMs` as `… Build 12.0 s · build phase`.
 */
export function createStateProgress(
  stream: ProgressStream,
  options: { readonly live?: boolean; readonly tickMs?: number } = {},
): StateProgress {
  const live = options.live ?? Boolean(stream.isTTY);
  const pc = colorsOf(stream);
  let running: { name: string; started: number; phase: string | null; drawn: boolean } | null = null;
  let timer: NodeJS.Timeout | null = null;
  const draw = (): void => {
    if (!running) return;
    const phase = running.phase ? pc.dim(` · ${running.phase} phase`) : '';
    stream.write(
      `\r\x1b[2K${pc.cyan('…')} ${running.name} ${pc.dim(seconds(Date.now() - running.started))}${phase}`,
    );
    running.drawn = true;
  };
  const stop = (): void => {
    if (timer) clearInterval(timer);
    timer = null;
    if (running?.drawn) stream.write('\r\x1b[2K');
    running = null;
  };
  const progress = (name: string, status: StateStatus, durationMs: number): void => {
    if (status === 'running') {
      if (!live) return;
      stop();
      running = { name, started: Date.now(), phase: null, drawn: false };
      timer = setInterval(draw, options.tickMs ?? 1000);
      timer.unref();
      return;
    }
    if (running?.name === name) stop();
    stream.write(finalLine(pc, name, status, durationMs));
  };
  return Object.assign(progress, {
    buildLine(line: string) {
      const phase = /^\[([a-z_]+)\] (?:running|finally):/.exec(line)?.[1];
      if (running && phase) running.phase = phase;
    },
    stop,
  });
}

function checkLine(pc: Colors, check: CheckLine): string {
  const mark = { ok: pc.green('✓'), failed: pc.red('✗'), skipped: pc.yellow('–') }[check.status];
  const counts = check.counts.map(
    (count) =>
      `${count.unit === 'ms' ? formatDuration(count.value) : formatCount(count.value)} ${count.label}`,
  );
  const detail = check.status === 'ok' && counts.length > 0 ? counts.join(', ') : check.text;
  return `  ${mark} ${check.title.toLowerCase()}: ${detail}\n`;
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
