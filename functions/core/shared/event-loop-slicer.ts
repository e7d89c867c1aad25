// Blocking file work in slices. A loop over thousands of small files is several times faster
// with plain blocking calls than with a promise per call: each of those is a round trip through
// libuv's four-thread pool, queued behind whatever else the build is reading and writing. But
// such a loop must not hold the event loop for long: the smoke import's pipes, the packer and
// other installs run in the same process.

/**
 * A pause to await between pieces of synchronous work: it yields to the event loop once
 * `maxMs` have passed or `maxSteps` calls were made since the last yield.
 * @example const pause = eventLoopSlicer(); for (const path of paths) { await pause(); hashSync(path); }
 */
export function eventLoopSlicer(maxMs = 4, maxSteps = 128): () => Promise<void> {
  let since = performance.now();
  let steps = 0;
  return async () => {
    if (++steps < maxSteps && performance.now() - since < maxMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
    steps = 0;
  };
}
