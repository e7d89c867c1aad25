// Bounds for the cache folders whose entries are big (a cached build holds every layer zip of a
// set; an installed wheel, all its files): without them the cache grew by the size of each new
// set and each upgraded wheel, forever. An entry is a folder named by a 64-hex key; its
// modification time says when it was last written or used (callers touch it on every use), and
// the least recently used go first. Anything else in the folder (a build's scratch, a partial
// entry) is not an entry and is left alone. Errors are dropped: a cache that cannot shrink still
// works.
import { lstat, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

export interface EvictionBounds {
  /** Entries kept at most. */
  readonly entries?: number;
  /** Bytes kept at most (of `sizedFiles`): the newest entries that fit, and always the newest one. */
  readonly bytes?: number;
  /** The files of an entry whose sizes make its size (a missing one counts 0). @default none */
  readonly sizedFiles?: readonly string[];
}

/** The bytes of an entry's `files` (links not followed; a missing file is 0). */
async function entryBytes(entry: string, files: readonly string[]): Promise<number> {
  const sizes = await Promise.all(
    files.map((file) =>
      lstat(join(entry, file)).then(
        (info) => info.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** Mark an entry as used now (its folder's modification time), so eviction keeps it longest. */
export async function touchEntry(entry: string): Promise<void> {
  const now = new Date();
  await utimes(entry, now, now).catch(() => undefined);
}

/** Remove the least recently used entries of `root` beyond `bounds`; the names removed. */
export async function evictLeastRecentlyUsed(root: string, bounds: EvictionBounds): Promise<string[]> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((name) =>
    /^[0-9a-f]{64}$/.test(name),
  );
  const dated = await Promise.all(
    names.map(async (name) => ({ name, at: (await stat(join(root, name)).catch(() => null))?.mtimeMs ?? 0 })),
  );
  dated.sort((a, b) => b.at - a.at || (a.name < b.name ? -1 : 1));
  const removed: string[] = [];
  let bytes = 0;
  for (const [index, { name }] of dated.entries()) {
    const overCount = bounds.entries !== undefined && index >= bounds.entries;
    if (bounds.bytes !== undefined) bytes += await entryBytes(join(root, name), bounds.sizedFiles ?? []);
    const overBytes = bounds.bytes !== undefined && index > 0 && bytes > bounds.bytes;
    if (!overCount && !overBytes) continue;
    await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}
