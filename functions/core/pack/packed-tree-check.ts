// One tree, one truth: layer zips are written from the wheels' raw bytes (fast), and the EFS tar
// and image layers by other code than the one that verified and smoke-imported the tree. This
// check closes the gap for all three (a layer zip by the digests its raw copies were hashed
// with as they were installed, pack-artifacts.ts, or by inflating it): every file of the packed
// artifact must be a file of the tree with the same sha256, and every file of the tree must be
// in it. Anything else is an error naming the files, and nothing ships.
import { createReadStream } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { listTree } from '../shared/tree-listing.ts';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { blobPath, readLayoutImage } from '../deliver/oci/image-layout.ts';
import { eachSettled } from '../shared/each-settled.ts';
import { IntegrityError } from '../shared/errors.ts';
import { sha256OfFile, sha256OfFiles } from '../shared/hash.ts';
import type { TreeLedger } from '../shared/tree-ledger.ts';
import { GUNZIP_CHUNK_BYTES } from './tree-archive.ts';
import { inflateEntry, openZip, type ZipEntry } from './zip-reader.ts';

/** Files hashed at once: their reads overlap the hashing of the ones already read. */
const HASH_CONCURRENCY = 8;

/**
 * sha256 of every file below `root` by `/`-separated path, leaving out the top-level folders in
 * `exclude`; with a `ledger`, a file the build wrote and nothing changed since is not read again.
 */
export async function treeDigests(
  root: string,
  exclude: readonly string[] = [],
  ledger: TreeLedger | null = null,
): Promise<Map<string, string>> {
  const paths: string[] = [];
  // A blocking listing (6,210 files in 10 ms): the promise-based recursive one waits a slice of
  // the verifier's and packer's work for each folder, and took 0.9 s so here.
  for (const entry of listTree(root)) {
    if (entry.isDirectory) continue;
    const path = sep === '/' ? entry.path : entry.path.split(sep).join('/');
    if (!exclude.some((folder) => path.startsWith(`${folder}/`))) paths.push(path);
  }
  // Joined to the absolute root, each path is already what the ledger records (resolved).
  const absoluteRoot = resolve(root);
  const known = ledger ? (path: string) => ledger.sha256Of(path) : undefined;
  const digests = await sha256OfFiles(
    paths.map((path) => join(absoluteRoot, path)),
    known,
  );
  return new Map(paths.map((path, index) => [path, digests[index] ?? '']));
}

/** The sha256 of every file a zip unpacks to, by its name in the zip, in the zip's order. */
async function digestsOfZip(path: string): Promise<Map<string, string>> {
  const zip = await openZip(path, { name: path });
  const ofEntry = new Map<ZipEntry, string>();
  try {
    const files = zip.entries.filter((entry) => !entry.name.endsWith('/'));
    await eachSettled(files, HASH_CONCURRENCY, async (entry) => {
      const hash = createHash('sha256');
      await inflateEntry(zip, entry, (chunk) => void hash.update(chunk));
      ofEntry.set(entry, hash.digest('hex'));
    });
    return new Map(files.map((entry) => [entry.name, ofEntry.get(entry) ?? '']));
  } finally {
    await zip.close();
  }
}

/** What the layer zips unpack to: each file's sha256 and the paths two zips disagree on. */
export interface LayerDigests {
  readonly digests: Map<string, string>;
  readonly clashes: string[];
  /** Each zip's own digests, by its path as given. */
  readonly perZip?: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/**
 * sha256 of every file in the zips (a path in two zips must carry the same bytes in both);
 * `known`, zips whose digests are known without inflating them: recorded when they were checked
 * before (layer-zip-cache.ts), or those of the files they were just written from (pack-artifacts.ts).
 */
export async function zipDigests(
  zips: readonly string[],
  known: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map(),
): Promise<LayerDigests> {
  const digests = new Map<string, string>();
  const clashes: string[] = [];
  const perZip = new Map<string, ReadonlyMap<string, string>>();
  for (const path of zips) {
    const ofThisZip = known.get(path) ?? (await digestsOfZip(path));
    perZip.set(path, ofThisZip);
    for (const [name, digest] of ofThisZip) {
      const earlier = digests.get(name);
      if (earlier !== undefined && earlier !== digest) clashes.push(name);
      digests.set(name, digest);
    }
  }
  return { digests, clashes, perZip };
}

/** Where a tar's files sit: below `prefix` in the tar, below `treePrefix` in the tree ('' for its root). */
export interface TarPlacement {
  readonly prefix: string;
  readonly treePrefix: string;
}

/**
 * sha256 of every file and link in a tar (gzip or not, by its first bytes), by the tree path it
 * stands for. A link is named by its target, so it matches no file of the tree (wheels carry no
 * links); a file outside `prefix` keeps its tar path, so it matches nothing either.
 * @example await tarDigests('out/efs/site-packages.tar', { prefix: 'site-packages', treePrefix: 'python' })
 */
export async function tarDigests(path: string, placement: TarPlacement): Promise<LayerDigests> {
  const digests = new Map<string, string>();
  const clashes: string[] = [];
  const extract = tar.extract();
  const treePath = (name: string): string => {
    const clean = name.replace(/^\.?\/+/, '');
    const inside = clean.startsWith(`${placement.prefix}/`);
    const rest = clean.slice(placement.prefix.length + 1);
    if (!inside) return clean;
    return placement.treePrefix ? `${placement.treePrefix}/${rest}` : rest;
  };
  extract.on('entry', (header, stream, next) => {
    const hash = createHash('sha256');
    stream.on('data', (chunk) => void hash.update(chunk as Buffer));
    stream.on('end', () => {
      if (header.type !== 'directory') {
        const name = treePath(header.name);
        const digest = header.type === 'file' ? hash.digest('hex') : `${header.type} -> ${header.linkname}`;
        if (digests.has(name)) clashes.push(name);
        digests.set(name, digest);
      }
      next();
    });
    stream.resume();
  });
  const source = createReadStream(path);
  const head = await readHead(path);
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  await (gzip
    ? pipeline(source, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), extract)
    : pipeline(source, extract));
  return { digests, clashes };
}

async function readHead(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start: 0, end: 1 }) as Readable)
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** sha256 of every file of an OCI layout's image, its layers laid over one another in order. */
export async function imageDigests(layoutDir: string, placement: TarPlacement): Promise<LayerDigests> {
  const image = await readLayoutImage(layoutDir);
  const digests = new Map<string, string>();
  for (const layer of image.manifest.layers) {
    const blob = blobPath(layoutDir, layer.digest);
    if (`sha256:${await sha256OfFile(blob)}` !== layer.digest)
      return { digests, clashes: [`the layer blob ${layer.digest}`] };
    for (const [path, digest] of (await tarDigests(blob, placement)).digests) digests.set(path, digest);
  }
  return { digests, clashes: [] };
}

/**
 * imageDigests for a layout this build just wrote, without unpacking it: what its one layer
 * unpacks to is `layerFiles`, hashed as the layer was written (tree-archive.ts), and the blob
 * on disk must still be the one the manifest names, byte for byte. Unpacking torch's 210 MB
 * layer again only to hash it took 3.4 s of one core here, beside the smoke import.
 */
export async function writtenImageDigests(
  layoutDir: string,
  layerFiles: ReadonlyMap<string, string>,
): Promise<LayerDigests> {
  const image = await readLayoutImage(layoutDir);
  const [layer, ...others] = image.manifest.layers;
  if (!layer || others.length > 0)
    return { digests: new Map(), clashes: [`the image's layers (${image.manifest.layers.length}, not one)`] };
  const blob = blobPath(layoutDir, layer.digest);
  if (`sha256:${await sha256OfFile(blob)}` !== layer.digest)
    return { digests: new Map(), clashes: [`the layer blob ${layer.digest}`] };
  return { digests: new Map(layerFiles), clashes: [] };
}

/**
 * Throw unless the packed artifact holds exactly the tree (files and bytes). The zips' digests may be
 * taken early (a zip never changes once written), so that work overlaps the smoke import; the
 * tree is read now, after everything that ran against it.
 * @example await checkPackedMatchesTree('/dev/shm/tree', await zipDigests(['out/layers/layer-numpy.zip']), ['runtime-provided']);
 */
export async function checkPackedMatchesTree(
  treeDir: string,
  packedDigests: LayerDigests,
  exclude: readonly string[] = [],
  what: 'layers' | 'EFS tree' | 'image' = 'layers',
): Promise<void> {
  checkPackedMatchesDigests(await treeDigests(treeDir, exclude), packedDigests, what);
}

/**
 * Throw unless the packed artifact holds exactly the tree whose digests are `tree` (treeDigests,
 * taken when nothing could change the tree any more).
 */
export function checkPackedMatchesDigests(
  tree: ReadonlyMap<string, string>,
  packedDigests: LayerDigests,
  what: 'layers' | 'EFS tree' | 'image' = 'layers',
): void {
  const { digests: packed, clashes } = packedDigests;
  const differ = [...packed]
    .filter(([path, digest]) => tree.has(path) && tree.get(path) !== digest)
    .map(([path]) => path);
  const extra = [...packed.keys()].filter((path) => !tree.has(path));
  const missing = [...tree.keys()].filter((path) => !packed.has(path));
  const within = what === 'layers' ? 'a layer' : `the ${what}`;
  const problems = [
    ...clashes.map(
      (path) => `${path} differs between ${what === 'layers' ? 'layers' : `entries of the ${what}`}`,
    ),
    ...differ.map((path) => `${path} differs from the verified tree`),
    ...extra.map((path) => `${path} is in ${within} but not in the verified tree`),
    ...missing.map(
      (path) =>
        `${path} is in the verified tree but ${what === 'layers' ? 'in no layer' : `not in the ${what}`}`,
    ),
  ];
  if (problems.length > 0)
    throw new IntegrityError(
      `The ${what} ${what === 'layers' ? 'are' : 'is'} not the tree that was verified and imported: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}.`,
      {
        hint: 'This is a bug in lambda-deps (or two packages installing one path); nothing was published. Report it with the lock.',
      },
    );
}

/** The layer check by its first name. */
export const checkLayersMatchTree = (
  treeDir: string,
  layers: LayerDigests,
  exclude: readonly string[] = [],
): Promise<void> => checkPackedMatchesTree(treeDir, layers, exclude, 'layers');
