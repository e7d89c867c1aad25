// Where Measure reads a project upload (pyproject.toml, a lock, and the companion beside it):
// a folder of the cache named by the files' names and bytes, kept between runs. A new scratch
// folder each run put a new path into the resolution cache's key (a requirement records the
// file it came from), so an unchanged project was resolved again on every run. The folder is
// untrusted like the rest of the cache: a file is reused only while it holds exactly the bytes
// uploaded, anything else in the folder is removed, and a folder that is not a real one is made
// again.
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { evictLeastRecentlyUsed, touchEntry } from '../core/shared/cache-eviction.ts';
import { readCacheFile, writeCacheFile } from '../core/shared/cache-file.ts';
import { canonicalJson } from '../core/shared/canonical-json.ts';
import { InputError } from '../core/shared/errors.ts';
import { sha256Hex } from '../core/shared/hash.ts';

/** Project folders kept (newest first by modification time). */
const KEPT_FOLDERS = 64;

/** The cache's folder holding `files` (file name → text) and nothing else; made or repaired as needed. */
export async function projectFolder(cacheDir: string, files: ReadonlyMap<string, string>): Promise<string> {
  for (const name of files.keys())
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new InputError(`"${name}" cannot be the name of an uploaded project file.`, {
        hint: 'Upload pyproject.toml or a lock file under its usual name.',
      });
  const root = join(cacheDir, 'measure-inputs');
  const folder = join(root, sha256Hex(canonicalJson([...files].sort(([a], [b]) => (a < b ? -1 : 1)))));
  const info = await lstat(folder).catch(() => null);
  if (info && !info.isDirectory()) await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  for (const name of await readdir(folder))
    if (!files.has(name)) await rm(join(folder, name), { recursive: true, force: true });
  for (const [name, text] of files) {
    const path = join(folder, name);
    // Written only when it does not already hold the very text (a rerun of the same project writes nothing).
    if ((await readCacheFile(path, Buffer.byteLength(text))) !== text) await writeCacheFile(path, text);
  }
  await touchEntry(folder);
  await evictLeastRecentlyUsed(root, { entries: KEPT_FOLDERS });
  return folder;
}
