// The content-addressed cache of whole builds (`<cache>/builds/<key>/`), checked, not trusted:
// each entry carries a list of its files with their sizes and sha256, and every read checks
// the files against it and the manifest against a schema. An entry that fails (edited, truncated,
// `{}`, a negative size) is discarded with a warning and the build runs again. Outputs are
// copies or reflinks of an entry (pack/output-folder.ts), never hard links into it.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { renameCounted, writeFileAtomic } from '../shared/atomic-write.ts';
import { evictLeastRecentlyUsed, touchEntry } from '../shared/cache-eviction.ts';
import { sha256OfFile } from '../shared/hash.ts';
import type { BuildManifest } from '../shared/types.ts';

/** The list of an entry's files, written last into the entry before it is published. */
export const CACHE_ENTRY_FILE = '.cache-entry.json';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const byteCount = z.number().int().nonnegative();

const entrySchema = z.object({
  format: z.literal(1),
  files: z.array(z.object({ path: z.string().min(1), size: byteCount, sha256: sha256Hex })),
});

/** What a cached manifest must hold to be served (the rest is passed through as written). */
const manifestSchema = z.looseObject({
  lockHash: z.string().min(1),
  strategy: z.enum(['layers', 'efs', 'image']),
  sizes: z.object({ wheels: byteCount, installed: byteCount, slimmed: byteCount }),
  layers: z.array(
    z.looseObject({ file: z.string().min(1), sha256: sha256Hex, size: byteCount, unzippedSize: byteCount }),
  ),
  verification: z.looseObject({ ok: z.boolean() }),
  smokeImport: z.looseObject({ ran: z.boolean(), ok: z.boolean(), modules: byteCount }),
});

/** Every file below `root`, as sorted `/`-separated relative paths. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** Why the entry cannot be served, or its manifest. */
async function checkEntry(cached: string): Promise<BuildManifest> {
  const listing = entrySchema.safeParse(
    JSON.parse(await readFile(join(cached, CACHE_ENTRY_FILE), 'utf8').catch(() => 'null')),
  );
  if (!listing.success) throw new Error(`its file list is missing or malformed`);
  const listed = new Map(listing.data.files.map((file) => [file.path, file]));
  const present = (await listFiles(cached)).filter((path) => path !== CACHE_ENTRY_FILE);
  const extra = present.filter((path) => !listed.has(path));
  const missing = [...listed.keys()].filter((path) => !present.includes(path));
  if (extra.length > 0 || missing.length > 0)
    throw new Error(`files differ from its list (${[...extra, ...missing].slice(0, 3).join(', ')})`);
  for (const file of listing.data.files) {
    const path = join(cached, ...file.path.split('/'));
    const info = await stat(path);
    if (info.size !== file.size || (await sha256OfFile(path)) !== file.sha256)
      throw new Error(`${file.path} was changed after it was cached`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(cached, 'manifest.json'), 'utf8'));
  } catch {
    throw new Error('manifest.json is not JSON');
  }
  const manifest = manifestSchema.safeParse(parsed);
  if (!manifest.success)
    throw new Error(
      `manifest.json does not hold a build manifest (${manifest.error.issues[0]?.path.join('.')})`,
    );
  for (const layer of manifest.data.layers)
    if (listed.get(layer.file)?.sha256 !== layer.sha256)
      throw new Error(`${layer.file} is not the layer its manifest names`);
  return parsed as BuildManifest;
}

/**
 * The cached build in `cached`, checked end to end; null when there is none or it is bad (then
 * it is removed and `onBadEntry` hears why, so the caller builds again).
 * @example const manifest = await readCachedBuild('.cache/builds/<key>', (message) => warn(message));
 */
export async function readCachedBuild(
  cached: string,
  onBadEntry: (message: string) => void,
): Promise<BuildManifest | null> {
  if (!(await stat(cached).catch(() => null))) return null;
  // Used now, before it is read: eviction (evictBuilds, in another run too) keeps it longest.
  await touchEntry(cached);
  try {
    return await checkEntry(cached);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    onBadEntry(`the cached build ${cached} was discarded: ${reason}; building it again.`);
    await rm(cached, { recursive: true, force: true });
    return null;
  }
}

/** Whole builds the cache keeps (each holds every layer zip of its set): the most recently used. */
export const KEPT_BUILDS = 8;

/** Bound the builds below `dir` (the cache's builds/ folder) to `entries`, least recently used first. */
export async function evictBuilds(dir: string, entries: number = KEPT_BUILDS): Promise<void> {
  await evictLeastRecentlyUsed(dir, { entries });
}

/**
 * Publish a finished build folder as the cache entry `cached` (first writer wins: the rename
 * either lands or finds another run's entry). Returns the folder to deliver from. `written` are
 * sha256 digests (hex, by path) the build took of files as it wrote them (its layer zips).
 */
export async function storeInCache(
  staging: string,
  cached: string,
  written: ReadonlyMap<string, string> = new Map(),
): Promise<string> {
  const files = [];
  for (const path of await listFiles(staging)) {
    const full = join(staging, ...path.split('/'));
    const sha256 = written.get(path) ?? (await sha256OfFile(full));
    files.push({ path, size: (await stat(full)).size, sha256 });
  }
  await writeFileAtomic(
    join(staging, CACHE_ENTRY_FILE),
    `${JSON.stringify({ format: 1, files }, null, 2)}\n`,
  );
  try {
    await renameCounted(staging, cached);
    return cached;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    // Another run published first; deliver what this run built and checked.
    return staging;
  }
}
