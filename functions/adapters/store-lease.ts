// "Do this once per key, whoever asks": two executions of the same lock may reach the same
// step at once (the build, the layer publishing). The first takes a lease by exclusive create
// in the object store and does the work; the others wait for the work's result object and use
// it. A lease left by a holder that died expires.
import { randomUUID } from 'node:crypto';
import { TransientError } from '../pipeline-errors.ts';
import type { LeasingObjectStore } from './ports.ts';

export interface LeaseOptions {
  /** The lease object (`artifacts/<lockHash>/.build-lease`). */
  readonly leaseKey: string;
  /** The object whose presence means the work is done (`artifacts/<lockHash>/manifest.json`). */
  readonly doneKey: string;
  readonly pollMs?: number;
  /** A lease older than this is a dead holder's. @default 1 hour */
  readonly staleMs?: number;
  /** Give up waiting for another holder after this long (a TransientError: retry later). @default no limit */
  readonly waitMs?: number;
}

/**
 * Runs `work` unless another caller did or is doing it; `work` must write `doneKey`.
 *
 * @example
 * await runOnce(store, { leaseKey: keys.buildLease(hash), doneKey: keys.manifest(hash) }, build);
 */
export async function runOnce(
  store: LeasingObjectStore,
  options: LeaseOptions,
  work: () => Promise<void>,
): Promise<'ran' | 'reused'> {
  const started = Date.now();
  for (;;) {
    if (await store.exists(options.doneKey)) return 'reused';
    const lease = JSON.stringify({ holder: randomUUID(), pid: process.pid, at: Date.now() });
    if (await store.putIfAbsent(options.leaseKey, lease)) {
      try {
        // The work may have been finished between the check and the lease.
        if (await store.exists(options.doneKey)) return 'reused';
        await work();
        return 'ran';
      } finally {
        await store.delete(options.leaseKey);
      }
    }
    const held = await store.getBytes(options.leaseKey).catch(() => null);
    if (held) {
      const at = Number((JSON.parse(held.toString('utf8')) as { at?: number }).at ?? 0);
      if (Date.now() - at > (options.staleMs ?? 60 * 60 * 1000)) await store.delete(options.leaseKey);
    }
    if (options.waitMs !== undefined && Date.now() - started > options.waitMs) {
      throw new TransientError(`${options.leaseKey} is still held by another execution.`, {
        hint: 'The state machine retries this step; the other execution finishes the work meanwhile.',
      });
    }
    await new Promise((done) => setTimeout(done, options.pollMs ?? 200));
  }
}
