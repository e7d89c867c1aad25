// File helpers of the build: listing a tree, linking a finished build into the output folder,
// the RAM-backed scratch folder for the installed tree, and sha256 of a file.
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, open, readdir, rm, statfs } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Lock } from '../shared/types.ts';

/** The folder under the tree that is on sys.path (and the prefix inside layer zips). */
export const SITE_DIR = 'python';
/** Runtime-provided packages go here when excluded: smoke import sees them, packing does not. */
export const RUNTIME_DIR = 'runtime-provided';

/** Every file below `root`, as `/`-separated relative paths. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** Hard-link (or copy across devices) every file of `from` into `to`. */
export async function linkTree(from: string, to: string): Promise<void> {
  for (const path of await listFiles(from)) {
    const source = join(from, ...path.split('/'));
    const target = join(to, ...path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    await rm(target, { force: true });
    await link(source, target).catch(() => copyFile(source, target));
  }
}

/** Remove artifacts of an earlier build from the output folder (never anything else). */
export async function clearArtifacts(outDir: string): Promise<void> {
  for (const name of ['layers', 'efs', 'image'])
    await rm(join(outDir, name), { recursive: true, force: true });
  await rm(join(outDir, 'manifest.json'), { force: true });
}

/**
 * A RAM-backed folder (/dev/shm) for the installed tree when it has room for twice the set:
 * the tree holds thousands of small files that only live for the build, and creating them is
 * what a disk does slowest. null (use the cache's disk) when there is no such folder or room.
 */
export async function fastScratchDir(lock: Lock): Promise<string | null> {
  const candidate = '/dev/shm';
  const info = await statfs(candidate).catch(() => null);
  if (!info) return null;
  const needed =
    lock.packages.reduce((sum, entry) => sum + Math.max(entry.unzippedSize, entry.size * 4), 0) * 2;
  return info.bavail * info.bsize > needed ? candidate : null;
}

/** sha256 (hex) of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}
