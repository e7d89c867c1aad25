// Bounded concurrency that never leaves work running behind a failure: callers close the file
// handles the work reads from only after every started item has settled.
import pLimit from 'p-limit';

/**
 * Run `work` on every item, `concurrency` at a time; after the first failure start no more, wait
 * for the running ones (a zip is closed only when no read is left), then throw that failure.
 */
export async function eachSettled<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const limit = pLimit(concurrency);
  let failed = false;
  const outcomes = await Promise.allSettled(
    items.map((item) =>
      limit(async () => {
        if (failed) return;
        try {
          await work(item);
        } catch (error) {
          failed = true;
          throw error;
        }
      }),
    ),
  );
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}
