// What a build reports while it runs (phases, packages, cache hits, warnings, live counts), the
// small context every build step shares to report them and time its phase, and the one-line
// form of the live events that a build run by the local build runner writes to its stderr for
// the terminal that started it.
export type BuildPhase = 'download' | 'install' | 'verify' | 'smokeImport' | 'pack';

/** How far the running phase has got. Every field is a running total, never a delta. */
export interface BuildCounts {
  /** Files written into the tree, and their bytes (install). */
  readonly files?: number;
  readonly bytes?: number;
  /** Packages done, of how many (download, install). */
  readonly packages?: number;
  readonly ofPackages?: number;
  /** Modules imported (or attempted), of how many (smoke import). */
  readonly modules?: number;
  readonly ofModules?: number;
}

/** The live part of a build's events: what a terminal's progress line is drawn from. */
export type BuildProgressEvent =
  | {
      readonly type: 'phase';
      readonly phase: BuildPhase;
      readonly status: 'start' | 'done';
      readonly durationMs?: number;
    }
  | { readonly type: 'progress'; readonly phase: BuildPhase; readonly counts: BuildCounts };

/** Progress, for the terminal and the pipeline's logs. */
export type BuildEvent =
  | BuildProgressEvent
  | {
      readonly type: 'package';
      readonly name: string;
      readonly step: 'downloaded' | 'installed';
      /** The per-wheel cache entry its files were copied from, instead of installing the wheel again (installed-tree-cache.ts). */
      readonly reusedFrom?: string;
    }
  | { readonly type: 'cache-hit'; readonly key: string; readonly from: string }
  | { readonly type: 'warning'; readonly message: string };

export interface BuildContext {
  readonly emit: (event: BuildEvent) => void;
  /** Records a warning for the manifest and reports it. */
  readonly warn: (message: string) => void;
  /** Runs one phase, reporting its start and end and recording its duration. */
  readonly phase: <T>(name: BuildPhase, run: () => Promise<T>) => Promise<T>;
  /**
   * The running totals of a phase. Called as often as a file is written; reported at most
   * once per PROGRESS_INTERVAL_MS per phase (the last totals are reported before the phase ends).
   */
  readonly count: (phase: BuildPhase, counts: BuildCounts) => void;
  readonly warnings: string[];
  readonly timings: Record<string, number>;
}

/** Live counts go out no more often than this: a terminal redraws a few times a second at most. */
export const PROGRESS_INTERVAL_MS = 100;

/** A leading-edge throttle per phase with no timer: nothing is left running when a build ends. */
function createCounter(emit: (event: BuildEvent) => void, now: () => number) {
  const last = new Map<BuildPhase, number>();
  const pending = new Map<BuildPhase, BuildCounts>();
  return {
    count(phase: BuildPhase, counts: BuildCounts): void {
      const time = now();
      if (time - (last.get(phase) ?? -Infinity) < PROGRESS_INTERVAL_MS) {
        pending.set(phase, counts);
        return;
      }
      last.set(phase, time);
      pending.delete(phase);
      emit({ type: 'progress', phase, counts });
    },
    flush(phase: BuildPhase): void {
      const counts = pending.get(phase);
      pending.delete(phase);
      if (counts) emit({ type: 'progress', phase, counts });
    },
  };
}

export function createBuildContext(
  onEvent: ((event: BuildEvent) => void) | undefined,
  now: () => number = () => performance.now(),
): BuildContext {
  const emit = onEvent ?? (() => undefined);
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  const counter = createCounter(emit, now);
  return {
    emit,
    warnings,
    timings,
    count: counter.count,
    warn: (message) => {
      warnings.push(message);
      emit({ type: 'warning', message });
    },
    phase: async (name, run) => {
      emit({ type: 'phase', phase: name, status: 'start' });
      const start = performance.now();
      const result = await run();
      timings[name] = Math.round(performance.now() - start);
      counter.flush(name);
      emit({ type: 'phase', phase: name, status: 'done', durationMs: timings[name] });
      return result;
    },
  };
}

/**
 * Set (to `1`) by the local pipeline for its build: the local probe reads the same cache, so the
 * build keeps its layers unpacked there (BuildDependencySetOptions.keepUnpackedLayers).
 */
export const KEEP_UNPACKED_LAYERS_VARIABLE = 'LAMBDA_DEPS_KEEP_UNPACKED_LAYERS';

/**
 * Set (to `1`) by `lambda-deps store build` for the build it runs in its own process: its out/
 * is read by nothing but the upload that hands it to the store, so the outputs are hard links to
 * the build cache's files, not copies (BuildDependencySetOptions.linkOutputs). Never for a --out
 * a user opens.
 */
export const LINK_OUTPUTS_VARIABLE = 'LAMBDA_DEPS_LINK_OUTPUTS';

/** Set (to `1`) by the local build runner's caller when a terminal wants the build's live counts. */
export const PROGRESS_LINES_VARIABLE = 'LAMBDA_DEPS_PROGRESS_LINES';

/** Marks a progress line on the build's stderr, so that it is never taken for a message. */
export const PROGRESS_LINE_PREFIX = '@@lambda-deps build-progress ';

/** The line (newline included) a build writes for a live event, or null for the other events. */
export function progressLineOf(event: BuildEvent): string | null {
  if (event.type !== 'phase' && event.type !== 'progress') return null;
  return `${PROGRESS_LINE_PREFIX}${JSON.stringify(event)}\n`;
}

const PHASES: readonly string[] = ['download', 'install', 'verify', 'smokeImport', 'pack'];
const COUNT_FIELDS = ['files', 'bytes', 'packages', 'ofPackages', 'modules', 'ofModules'] as const;

function countsOf(value: unknown): BuildCounts | null {
  if (typeof value !== 'object' || value === null) return null;
  const counts: Record<string, number> = {};
  for (const field of COUNT_FIELDS) {
    const count = (value as Record<string, unknown>)[field];
    if (count === undefined) continue;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return null;
    counts[field] = count;
  }
  return counts;
}

/** The live event a progress line carries; null for any other line (or a malformed one). */
export function parseProgressLine(line: string): BuildProgressEvent | null {
  if (!line.startsWith(PROGRESS_LINE_PREFIX)) return null;
  let data: unknown;
  try {
    data = JSON.parse(line.slice(PROGRESS_LINE_PREFIX.length));
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { type, phase, status, counts } = data as Record<string, unknown>;
  if (typeof phase !== 'string' || !PHASES.includes(phase)) return null;
  const buildPhase = phase as BuildPhase;
  if (type === 'phase' && (status === 'start' || status === 'done'))
    return { type, phase: buildPhase, status };
  const parsed = type === 'progress' ? countsOf(counts) : null;
  return parsed ? { type: 'progress', phase: buildPhase, counts: parsed } : null;
}
