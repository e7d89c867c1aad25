// Blocking file work in slices: a loop over thousands of small files is several times faster
// with plain blocking calls than with a promise per call (each queues on libuv's four-thread
// pool, behind whatever else the build is reading and writing), but it must not hold the event
// loop for long: the smoke import's output, other installs and the progress line wait on it.

/** How long a loop of blocking calls holds the event loop before it lets other work run. */
const SLICE_MS = 8;

/**
 * A pause to await at every step of such a loop: it yields to the event loop (setImmediate)
 * only once the current slice has run SLICE_MS, and resolves at once otherwise.
 * @example const pause = timeSlices(); for (const path of paths) { await pause(); hashSync(path); }
 */
export function timeSlices(sliceMs = SLICE_MS): () => Promise<void> | undefined {
  let sliceStart = performance.now();
  return () => {
    if (performance.now() - sliceStart <= sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        sliceStart = performance.now();
        resolve();
      }),
    );
  };
}
