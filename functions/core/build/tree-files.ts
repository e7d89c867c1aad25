// Where a build keeps its installed tree: the folder names inside it, and the RAM-backed
// scratch folder (/dev/shm) when it has room. (Listing, caching and delivering the finished
// files live in build-cache.ts and pack/output-folder.ts.)
import { statfs } from 'node:fs/promises';
import { sha256OfFile } from '../shared/hash.ts';
import type { Lock } from '../shared/types.ts';

/** The folder under the tree that is on sys.path (and the prefix inside layer zips). */
export const SITE_DIR = 'python';
/** Runtime-provided packages go here when excluded: smoke import sees them, packing does not. */
export const RUNTIME_DIR = 'runtime-provided';

/**
 * A RAM-backed folder (/dev/shm) for the installed tree when it has room for twice the set:
 * the tree holds thousands of small files that only live for the build, and creating them is
 * what a disk does slowest. null (use the cache's disk) when there is no such folder or room.
 */
export async function fastScratchDir(lock: Lock): Promise<string | null> {
  const needed = lock.packages.reduce((sum, entry) => sum + Math.max(entry.unzippedSize, entry.size * 4), 0);
  return ramScratchWithRoom(needed * 2);
}

/** /dev/shm when it has `bytes` free, else null. */
export async function ramScratchWithRoom(bytes: number): Promise<string | null> {
  const candidate = '/dev/shm';
  const info = await statfs(candidate).catch(() => null);
  return info && info.bavail * info.bsize > bytes ? candidate : null;
}

/** sha256 (hex) of a file, for tests and the CLI. */
export const fileSha256 = sha256OfFile;
