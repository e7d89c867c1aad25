// "Do this once per key, whoever asks": two executions of the same lock may reach the same
// step at once (the build, the layer publishing). The first takes a lease by exclusive create
// in the object store and does the work; the others wait for the work's result object and use
// it. A lease names its holder's pid, host and an expiry the holder keeps pushing forward while
// it works, so a holder that died is recognised within seconds: at once when it ran on this
// host and its pid is gone, else when the expiry passes. Ctrl-C releases the lease.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TransientError } from '../pipeline-errors.ts';
import { atInterrupt } from '../core/shared/interrupt-cleanup.ts';
import type { LeasingObjectStore } from './ports.ts';

export interface LeaseOptions {
  /** The lease object (`artifacts/<lockHash>/.build-lease`). */
  readonly leaseKey: string;
  /** The object whose presence means the work is done (`artifacts/<lockHash>/manifest.json`). */
  readonly doneKey: string;
  readonly pollMs?: number;
  /** A lease without an expiry (written by an older version) older than this is a dead holder's. @default 1 hour */
  readonly staleMs?: number;
  /** How far ahead a holder sets its expiry; it renews it every third of this. @default 30 s */
  readonly ttlMs?: number;
  /** Give up waiting for another holder after this long (a TransientError: retry later). @default no limit */
  readonly waitMs?: number;
}

/** What a lease object holds. */
export interface LeaseRecord {
  readonly holder: string;
  readonly pid: number;
  readonly host: string;
  /** When it was taken (ms since the epoch). */
  readonly at: number;
  /** After this (ms since the epoch) the lease is a dead holder's. */
  readonly expiresAt?: number;
}

const DEFAULT_TTL_MS = 30_000;

/**
 * This machine as a lease names it: the host name plus the kernel's boot id, so two sandboxes
 * that share a host name (and reuse pids) never take each other's pids for their own.
 */
const THIS_HOST = (() => {
  try {
    return `${hostname()}/${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}`;
  } catch {
    return null;
  }
})();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is the lease a dead holder's? Unreadable leases count as stale once they are old enough to be sure. */
export function leaseIsStale(record: Partial<LeaseRecord> | null, now: number, staleMs: number): boolean {
  if (!record || typeof record.at !== 'number') return true;
  if (
    THIS_HOST !== null &&
    record.host === THIS_HOST &&
    typeof record.pid === 'number' &&
    record.pid !== process.pid
  )
    if (!processIsAlive(record.pid)) return true;
  if (typeof record.expiresAt === 'number') return now > record.expiresAt;
  return now - record.at > staleMs;
}

function parseLease(bytes: Buffer | null): Partial<LeaseRecord> | null {
  if (!bytes) return null;
  try {
    return JSON.parse(bytes.toString('utf8')) as Partial<LeaseRecord>;
  } catch {
    return null;
  }
}

/** Hold the lease: renew its expiry while `work` runs, release it after (and on Ctrl-C). */
async function holdWhile(
  store: LeasingObjectStore,
  options: LeaseOptions,
  record: LeaseRecord,
  work: () => Promise<void>,
): Promise<void> {
  const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
  const release = (): Promise<void> => store.delete(options.leaseKey);
  const forget = atInterrupt(release);
  const renewal = setInterval(() => {
    const renewed = { ...record, expiresAt: Date.now() + ttl };
    void store.putBytes(options.leaseKey, JSON.stringify(renewed)).catch(() => undefined);
  }, ttl / 3);
  renewal.unref();
  try {
    await work();
  } finally {
    clearInterval(renewal);
    forget();
    await release();
  }
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
  const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
  for (;;) {
    if (await store.exists(options.doneKey)) return 'reused';
    const now = Date.now();
    const record: LeaseRecord = {
      holder: randomUUID(),
      pid: process.pid,
      host: THIS_HOST ?? hostname(),
      at: now,
      expiresAt: now + ttl,
    };
    if (await store.putIfAbsent(options.leaseKey, JSON.stringify(record))) {
      let reused = false;
      await holdWhile(store, options, record, async () => {
        // The work may have been finished between the check and the lease.
        if (await store.exists(options.doneKey)) reused = true;
        else await work();
      });
      return reused ? 'reused' : 'ran';
    }
    const held = await store.getBytes(options.leaseKey).catch(() => null);
    // A lease that vanished between the create and the read was just released: try again at once.
    if (held && leaseIsStale(parseLease(held), Date.now(), options.staleMs ?? 60 * 60 * 1000)) {
      await store.delete(options.leaseKey);
      continue;
    }
    if (options.waitMs !== undefined && Date.now() - started > options.waitMs) {
      throw new TransientError(`${options.leaseKey} is still held by another execution.`, {
        hint: 'The state machine retries this step; the other execution finishes the work meanwhile.',
      });
    }
    await new Promise((done) => setTimeout(done, options.pollMs ?? 200));
  }
}
