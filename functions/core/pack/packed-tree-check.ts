// One tree, one truth: layer zips are written from the wheels' raw bytes (fast), not from the
// installed tree that was verified and smoke-imported. This check closes the gap: every file of
// the unzipped layers must be a file of the tree with the same sha256, and every file of the
// tree must be in a layer. Anything else is an error naming the files, and nothing ships.
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { eachSettled } from '../shared/each-settled.ts';
import { IntegrityError } from '../shared/errors.ts';
import { sha256OfFile } from '../shared/hash.ts';
import { inflateEntry, openZip, type ZipEntry } from './zip-reader.ts';

/** Files hashed at once: their reads overlap the hashing of the ones already read. */
const HASH_CONCURRENCY = 8;

/** sha256 of every file below `root` by `/`-separated path, leaving out the top-level folders in `exclude`. */
export async function treeDigests(
  root: string,
  exclude: readonly string[] = [],
): Promise<Map<string, string>> {
  const paths: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join('/');
    if (!exclude.some((folder) => path.startsWith(`${folder}/`))) paths.push(path);
  }
  const found = new Map<string, string>();
  await eachSettled(paths, HASH_CONCURRENCY, async (path) => {
    found.set(path, await sha256OfFile(join(root, path)));
  });
  // In the tree's own order, whichever read finished first.
  return new Map(paths.map((path) => [path, found.get(path) ?? '']));
}

/** sha256 of every file in the zips (a path in two zips must carry the same bytes in both). */
export async function zipDigests(
  zips: readonly string[],
): Promise<{ digests: Map<string, string>; clashes: string[] }> {
  const digests = new Map<string, string>();
  const clashes: string[] = [];
  for (const path of zips) {
    const zip = await openZip(path, { name: path });
    const ofThisZip = new Map<ZipEntry, string>();
    try {
      const files = zip.entries.filter((entry) => !entry.name.endsWith('/'));
      await eachSettled(files, HASH_CONCURRENCY, async (entry) => {
        const hash = createHash('sha256');
        await inflateEntry(zip, entry, (chunk) => void hash.update(chunk));
        ofThisZip.set(entry, hash.digest('hex'));
      });
    } finally {
      await zip.close();
    }
    for (const [entry, digest] of ofThisZip) {
      const known = digests.get(entry.name);
      if (known !== undefined && known !== digest) clashes.push(entry.name);
      digests.set(entry.name, digest);
    }
  }
  return { digests, clashes };
}

export type LayerDigests = Awaited<ReturnType<typeof zipDigests>>;

/**
 * Throw unless the layers unzip to exactly the tree (files and bytes). The zips' digests may be
 * taken early (a zip never changes once written), so that work overlaps the smoke import; the
 * tree is read now, after everything that ran against it.
 * @example await checkLayersMatchTree('/dev/shm/tree', await zipDigests(['out/layers/layer-numpy.zip']), ['runtime-provided']);
 */
export async function checkLayersMatchTree(
  treeDir: string,
  layers: LayerDigests,
  exclude: readonly string[] = [],
): Promise<void> {
  const tree = await treeDigests(treeDir, exclude);
  const { digests: packed, clashes } = layers;
  const differ = [...packed]
    .filter(([path, digest]) => tree.has(path) && tree.get(path) !== digest)
    .map(([path]) => path);
  const extra = [...packed.keys()].filter((path) => !tree.has(path));
  const missing = [...tree.keys()].filter((path) => !packed.has(path));
  const problems = [
    ...clashes.map((path) => `${path} differs between layers`),
    ...differ.map((path) => `${path} differs from the verified tree`),
    ...extra.map((path) => `${path} is in a layer but not in the verified tree`),
    ...missing.map((path) => `${path} is in the verified tree but in no layer`),
  ];
  if (problems.length > 0)
    throw new IntegrityError(
      `The layers are not the tree that was verified and imported: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}.`,
      {
        hint: 'This is a bug in lambda-deps (or two packages installing one path); nothing was published. Report it with the lock.',
      },
    );
}
