// What must be undone if the process is stopped (Ctrl-C, SIGTERM) in the middle of work:
// leases to release, scratch folders to remove (the tree in /dev/shm among them). Work
// registers an undo step while it runs and forgets it when done; the CLI's signal handler
// (cli/interrupts.ts) runs whatever is registered, newest first, then exits.
type Cleanup = () => Promise<unknown> | unknown;

const cleanups = new Set<Cleanup>();

/**
 * Register `cleanup` to run if the process is interrupted; returns the function that forgets it.
 * @example const forget = atInterrupt(() => rm(scratch, { recursive: true, force: true })); try { … } finally { forget(); }
 */
export function atInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}

/**
 * Run every registered cleanup (newest first), each at most once, waiting at most `timeoutMs` for
 * all, and then those registered meanwhile: work still running (a cell being set up in the
 * background) may register one after the interruption began.
 */
export async function runInterruptCleanups(timeoutMs = 5_000): Promise<void> {
  const all = (async () => {
    for (let round = 0; cleanups.size > 0 && round < MAX_ROUNDS; round++) {
      const pending = [...cleanups].reverse();
      cleanups.clear();
      for (const cleanup of pending)
        await Promise.resolve()
          .then(cleanup)
          .catch(() => undefined);
    }
  })();
  await Promise.race([all, new Promise((done) => setTimeout(done, timeoutMs).unref())]);
}

/** Rounds of late registrations run (each round is what registered during the one before). */
const MAX_ROUNDS = 10;
