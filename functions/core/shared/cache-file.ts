// Files of the caches (<cache dir>/…): written whole under a temporary name and renamed into
// place, so a reader sees an old entry or a new one, never half of one; read only as regular
// files (never through a link, never blocking on a FIFO) and never past a bound, since anyone
// may have put anything there. Not atomic-write.ts: its counted steps are what a build
// publishes, and whether a cache entry was written must not change that count.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write `data` to `path` (its folder made first) by temporary file + rename; errors are thrown. */
export async function writeCacheFile(path: string, data: string | Buffer): Promise<void> {
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

/**
 * The text of a regular file of at most `maxBytes`; null when it is missing, a link, not a
 * regular file, bigger, or unreadable.
 */
export async function readCacheFile(path: string, maxBytes: number): Promise<string | null> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;
  const handle = await open(path, flags).catch(() => null);
  if (!handle) return null;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > maxBytes) return null;
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } catch {
    return null;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
