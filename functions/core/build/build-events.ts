// What a build reports while it runs (phases, packages, cache hits, warnings), and the small
// context every build step shares to report them and time its phase.
export type BuildPhase = 'download' | 'install' | 'verify' | 'smokeImport' | 'pack';

/** Progress, for the terminal and the pipeline's logs. */
export type BuildEvent =
  | {
      readonly type: 'phase';
      readonly phase: BuildPhase;
      readonly status: 'start' | 'done';
      readonly durationMs?: number;
    }
  | { readonly type: 'package'; readonly name: string; readonly step: 'downloaded' | 'installed' }
  | { readonly type: 'cache-hit'; readonly key: string; readonly from: string }
  | { readonly type: 'warning'; readonly message: string };

export interface BuildContext {
  readonly emit: (event: BuildEvent) => void;
  /** Records a warning for the manifest and reports it. */
  readonly warn: (message: string) => void;
  /** Runs one phase, reporting its start and end and recording its duration. */
  readonly phase: <T>(name: BuildPhase, run: () => Promise<T>) => Promise<T>;
  readonly warnings: string[];
  readonly timings: Record<string, number>;
}

export function createBuildContext(onEvent: ((event: BuildEvent) => void) | undefined): BuildContext {
  const emit = onEvent ?? (() => undefined);
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  return {
    emit,
    warnings,
    timings,
    warn: (message) => {
      warnings.push(message);
      emit({ type: 'warning', message });
    },
    phase: async (name, run) => {
      emit({ type: 'phase', phase: name, status: 'start' });
      const start = performance.now();
      const result = await run();
      timings[name] = Math.round(performance.now() - start);
      emit({ type: 'phase', phase: name, status: 'done', durationMs: timings[name] });
      return result;
    },
  };
}
