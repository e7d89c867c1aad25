// What the parts of the index client share: the transport, the cache folder, limits, the event
// sink, the rule for which file: URLs may be read and the optional watch on what it reads; plus
// small helpers (memoised promises, atomic cache writes).
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { writeCacheFile } from '../shared/cache-file.ts';
import { InputError } from '../shared/errors.ts';
import type { RecordCheck } from './cache-records.ts';
import type { IndexEvent } from './events.ts';
import type { Transport } from './transport.ts';
import type { ZipLimits } from './zip-directory.ts';

/**
 * Told of everything an answer of the client rests on, so a caller can tell later whether asking
 * again could answer differently (measure's resolution cache). Every local read goes through one
 * of `read`/`readRecord` first, at the lowest level where a path is opened, listed or stat'ed,
 * and every network request through `request`.
 */
export interface SourceWatch {
  /** Before a local file or folder (an index page, a find-links folder, a wheel) is read, listed or stat'ed. */
  read(path: string): Promise<void>;
  /** Before one of the client's own records in the cache folder is read. */
  readRecord(path: string): Promise<void>;
  /** After the client wrote one of its own records (its identity changed by the client itself). */
  wroteRecord(path: string): Promise<void>;
  /** Before any request over the network (whose answer may change without a trace here). */
  request(url: string): void;
}

export interface IndexContext {
  readonly cacheDir: string;
  readonly transport: Transport;
  readonly emit: (event: IndexEvent) => void;
  /** Largest index page or metadata file kept in memory. */
  readonly maxPageBytes: number;
  readonly zipLimits: Partial<ZipLimits> | undefined;
  /** The local path a file: URL names. */
  localPath(url: string): string;
  readonly watch?: SourceWatch | undefined;
}

/**
 * The file: URL rule. A file: URL reaches the client only from a file:// index page, a find-links
 * folder or page named locally, or a lock the lock reader accepted (remote pages linking to
 * file: URLs are refused when listed), so here it is only turned into a path; what may be read
 * there (regular files, no pseudo-filesystems) is decided by local-files.ts.
 */
export function fileUrlPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new InputError(`${url} is not a usable file: URL.`, {
      hint: 'Write file: URLs as file:///absolute/path/to/file.whl.',
      cause: error,
    });
  }
}

/** One promise per key; a failure is forgotten, so the next caller tries again. */
export function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const existing = map.get(key);
  if (existing) return existing;
  const created = make();
  map.set(key, created);
  created.catch(() => map.delete(key));
  return created;
}

/** {@link writeCacheFile} for one of the client's own records, told to the watch. */
export async function writeCacheRecord(
  context: Pick<IndexContext, 'watch'>,
  path: string,
  data: string,
): Promise<void> {
  await writeCacheFile(path, data);
  await context.watch?.wroteRecord(path);
}

/** Which on-disk record a {@link readCacheRecord} call reads, as its warning event names it. */
export type CacheRecordKind = 'size' | 'metadata' | 'verification';

/**
 * A cache record checked for its shape (and `accept`, for what a shape cannot say, such as
 * "the size the index listed"), or null when it is missing. A record that is unreadable, not JSON
 * or fails the check is deleted and reported as a `cache-discarded` event, so the caller reads the
 * value again from its source: the cache is this machine's disk, not a source of truth.
 * @example const sizes = await readCacheRecord(context, path, 'size', checkWheelSize);
 */
export async function readCacheRecord<T>(
  context: Pick<IndexContext, 'emit' | 'watch'>,
  path: string,
  kind: CacheRecordKind,
  check: RecordCheck<T>,
  accept: (record: T) => string | null = () => null,
): Promise<T | null> {
  let text: string;
  await context.watch?.readRecord(path);
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return discard(context, path, kind, `it cannot be read (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return discard(context, path, kind, 'it is not JSON');
  }
  const checked = check(parsed);
  if (typeof checked === 'string') return discard(context, path, kind, checked);
  const refused = accept(checked);
  return refused === null ? checked : discard(context, path, kind, refused);
}

async function discard(
  context: Pick<IndexContext, 'emit'>,
  path: string,
  kind: CacheRecordKind,
  reason: string,
): Promise<null> {
  await rm(path, { force: true });
  context.emit({ type: 'cache-discarded', kind, path, reason });
  return null;
}
