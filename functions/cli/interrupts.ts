// Ctrl-C and SIGTERM stop the CLI cleanly: leases released, scratch removed (/dev/shm too),
// exit code 130. A second signal while cleaning up exits at once.
import { runInterruptCleanups } from '../core/shared/interrupt-cleanup.ts';

/** The exit code of a run stopped by a signal (as shells report SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Install the SIGINT and SIGTERM handlers; returns the function that removes them.
 * @example installInterruptHandlers(); // once, at the CLI's start
 */
export function installInterruptHandlers(
  exit: (code: number) => void = (code) => process.exit(code),
  say: (text: string) => void = (text) => process.stderr.write(text),
): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return exit(INTERRUPTED_EXIT_CODE);
    stopping = true;
    say(`\n${signal}: stopping, releasing leases and removing scratch space…\n`);
    void runInterruptCleanups().finally(() => exit(INTERRUPTED_EXIT_CODE));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
