// Copies ranges of a cached entry's blob into new files of the tree on a worker thread. A build
// that reuses the seed set's entries writes 3,600 files (190 MB) from them; done with blocking
// calls on the main thread, that copy was a quarter of the build step's busy time while the
// machine's other core idled. On the worker, the main thread checks the next entries, claims
// paths and feeds the smoke import in the meantime.
//
// The worker's code is a string evaluated by the worker (eval: true), not a module: the same
// code then runs from the TypeScript sources, the CLI bundle and the published library, with no
// worker file to find beside whichever of them is running. It takes node's built-in modules through
// process.getBuiltinModule (node 20.16 and later), else `require`: which of the two exists there
// depends on the node and on the loader that runs the parent.
import { Worker } from 'node:worker_threads';

/** One new file: `size` bytes of the blob from `offset`, created exclusively (EEXIST if something is there). */
export interface RangeCopy {
  readonly target: string;
  readonly mode: number;
  readonly offset: number;
  readonly size: number;
}

/** A copy that was written, with the new file's identity (file-identity.ts), or why it was not. */
export type RangeCopyResult =
  { readonly identity: string } | { readonly code: string | undefined; readonly message: string };

/** Blob bytes are copied through one buffer of this size. */
const COPY_CHUNK_BYTES = 4 * 1024 ** 2;

// Each copy: the folder made (once per folder and batch), the file created with `wx` (as
// installWheel writes), the range copied, the identity taken from the open file before it is
// closed; a file that fails after it was created is removed again. The worker's identityOfStats
// is file-identity.ts's, written again here (the eval'd code imports nothing of ours).
const WORKER_SOURCE = `
const builtin = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule : require;
const { parentPort } = builtin('node:worker_threads');
const fs = builtin('node:fs');
const path = builtin('node:path');
const buffer = Buffer.allocUnsafe(${COPY_CHUNK_BYTES});
function identityOfStats(info) {
  return [info.dev, info.ino, info.size, info.mtimeNs, info.ctimeNs].join(':');
}
function copyOne(blob, copy, made) {
  const folder = path.dirname(copy.target);
  if (!made.has(folder)) {
    fs.mkdirSync(folder, { recursive: true });
    made.add(folder);
  }
  const out = fs.openSync(copy.target, 'wx', copy.mode);
  try {
    for (let done = 0; done < copy.size; ) {
      const read = fs.readSync(blob, buffer, 0, Math.min(buffer.length, copy.size - done), copy.offset + done);
      if (read === 0) throw new Error('the blob ends ' + (copy.size - done) + ' bytes early');
      for (let written = 0; written < read; ) written += fs.writeSync(out, buffer, written, read - written);
      done += read;
    }
    const info = fs.fstatSync(out, { bigint: true });
    fs.closeSync(out);
    return { identity: identityOfStats(info) };
  } catch (error) {
    fs.closeSync(out);
    fs.rmSync(copy.target, { force: true });
    throw error;
  }
}
function identityOf(file) {
  try {
    const info = fs.lstatSync(file, { bigint: true });
    return info.isFile() ? identityOfStats(info) : null;
  } catch {
    return null;
  }
}
parentPort.on('message', ({ id, blob, copies, identities }) => {
  if (identities) return parentPort.postMessage({ id, results: identities.map(identityOf) });
  const made = new Set();
  const results = copies.map((copy) => {
    try {
      return copyOne(blob, copy, made);
    } catch (error) {
      return { code: error && error.code, message: String(error && error.message) };
    }
  });
  parentPort.postMessage({ id, results });
});
`;

/** A batch posted to a worker: its bytes still to copy, and how it ends (answered, or the worker gone). */
interface PendingBatch {
  readonly bytes: number;
  readonly answer: (results: unknown[]) => void;
  readonly fail: (why: string) => void;
}

/** One worker and the batches posted to it, oldest first (it copies them in that order). */
class CopyWorker {
  readonly #pending = new Map<number, PendingBatch>();
  readonly #worker = new Worker(WORKER_SOURCE, { eval: true });
  #next = 0;
  /** Bytes of the batches not yet copied: where the next batch goes. */
  pendingBytes = 0;

  constructor(onGone: () => void) {
    this.#worker.on('message', ({ id, results }: { id: number; results: unknown[] }) => {
      const batch = this.#pending.get(id);
      this.#pending.delete(id);
      this.pendingBytes -= batch?.bytes ?? 0;
      batch?.answer(results);
      if (this.#pending.size === 0) this.#worker.unref();
    });
    const failed = (why: string): void => {
      onGone();
      for (const batch of this.#pending.values()) batch.fail(why);
      this.#pending.clear();
    };
    this.#worker.on('error', (error) => failed(`the blob copier failed: ${error.message}`));
    this.#worker.on('exit', (code) => failed(`the blob copier's worker exited (${code})`));
    this.#worker.unref();
  }

  copy(blob: number, copies: readonly RangeCopy[]): Promise<RangeCopyResult[]> {
    const bytes = copies.reduce((sum, copy) => sum + copy.size, 0);
    const failedAll = (why: string): RangeCopyResult[] =>
      copies.map(() => ({ code: undefined, message: why }));
    return this.#post<RangeCopyResult>({ blob, copies }, bytes, failedAll);
  }

  /** Each path's file identity (file-identity.ts), null when it is no regular file or the worker is gone. */
  identities(paths: readonly string[]): Promise<(string | null)[]> {
    return this.#post<string | null>({ identities: paths }, 0, () => paths.map(() => null));
  }

  #post<T>(message: object, bytes: number, failedAll: (why: string) => T[]): Promise<T[]> {
    const id = this.#next++;
    const done = new Promise<T[]>((resolve) =>
      this.#pending.set(id, {
        bytes,
        answer: (results) => resolve(results as T[]),
        fail: (why) => resolve(failedAll(why)),
      }),
    );
    this.pendingBytes += bytes;
    if (this.#pending.size === 1) this.#worker.ref();
    this.#worker.postMessage({ id, ...message });
    return done;
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}

/**
 * Worker threads that copy blob ranges, each batch on the worker with the fewest bytes still to
 * copy (started as needed, up to `workers`). They never keep the process alive while idle.
 * @example const results = await new BlobCopier().copy(blob.fd, [{ target, mode: 0o644, offset: 0, size: 10 }]);
 */
export class BlobCopier {
  readonly #workers = new Set<CopyWorker>();

  /** @param workers Copies at a time: two keep two cores busy while the main thread waits for them. */
  constructor(readonly workers = 2) {}

  /**
   * Copy each range of the open blob `blob` (a file descriptor, shared with the workers) into its
   * new file: one result per copy, in order (a worker that dies fails the copies it still had).
   */
  copy(blob: number, copies: readonly RangeCopy[]): Promise<RangeCopyResult[]> {
    if (copies.length === 0) return Promise.resolve([]);
    return this.#leastBusy().copy(blob, copies);
  }

  /**
   * The file identity of each path, taken on the workers (lstat, links not followed), in order;
   * null for a path that is no regular file. The tree ledger's check of a sealed tree: 6,210
   * lstats were 35-40 ms of a build's main thread.
   */
  async identities(paths: readonly string[]): Promise<(string | null)[]> {
    if (paths.length === 0) return [];
    const workers = this.#started();
    const share = Math.ceil(paths.length / workers.length);
    const parts = workers.map((worker, index) =>
      worker.identities(paths.slice(index * share, (index + 1) * share)),
    );
    return (await Promise.all(parts)).flat();
  }

  /** Stop the workers (call it with nothing pending; a later copy starts new ones). */
  async close(): Promise<void> {
    const workers = [...this.#workers];
    this.#workers.clear();
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  /** All the workers there may be, started as needed. */
  #started(): CopyWorker[] {
    while (this.#workers.size < this.workers) this.#start();
    return [...this.#workers];
  }

  #leastBusy(): CopyWorker {
    let best: CopyWorker | null = null;
    for (const worker of this.#workers) if (!best || worker.pendingBytes < best.pendingBytes) best = worker;
    if (best && (best.pendingBytes === 0 || this.#workers.size >= this.workers)) return best;
    return this.#start();
  }

  /** A new worker, forgotten again when it fails or exits. */
  #start(): CopyWorker {
    const started: CopyWorker = new CopyWorker(() => this.#workers.delete(started));
    this.#workers.add(started);
    return started;
  }
}

/** The copier of caches that name none: its workers start with the first use and never hold the process open. */
export const sharedBlobCopier = new BlobCopier();
