// What the parts of the index client share: the transport, the cache folder, limits, the event
// sink and the rule for which file: URLs may be read; plus small helpers (memoised promises,
// atomic cache writes).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../shared/errors.ts';
import type { IndexEvent } from './events.ts';
import type { Transport } from './transport.ts';
import type { ZipLimits } from './zip-directory.ts';

export interface IndexContext {
  readonly cacheDir: string;
  readonly transport: Transport;
  readonly emit: (event: IndexEvent) => void;
  /** Largest index page or metadata file kept in memory. */
  readonly maxPageBytes: number;
  readonly zipLimits: Partial<ZipLimits> | undefined;
  /** The local path a file: URL names. */
  localPath(url: string): string;
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

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function writeFileAtomically(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** A cache record, or null when it is missing or unreadable (it is then rebuilt). */
export async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}
