// The local probe's layers, unpacked once per layer zip. Lambda extracts a function's layers in
// order into one /opt; the probe does the same in a scratch folder, and inflating the seed set's
// four layers took it about 2 s of every run, though a package added changes only one of them.
// So each layer unpacked from its zip is kept in the run's cache, keyed by the zip's sha256, as
// its files back to back in one file (files.bin: one file is what ext4 writes fast) with a list
// of each file's path, size, mode and sha256 (entry.json). A later probe writes a kept layer's
// files from there instead of inflating the zip, in the same order, later layers over earlier.
//
// The cache folder is untrusted. An entry is used only while its files.bin is the very file the
// entry was written with: same device, inode, size, mtime and ctime (file-identity.ts). A copy
// restored from elsewhere (a CI cache) is a new inode with a new ctime and is never used; a file
// changed in place moves its mtime or ctime. Paths are checked as the zip's own are. Since the
// bytes are the ones hashed when the entry was made, their digests stand for hashing them again
// (the RECORD checks of a reused probe import). A layer inflated now is hashed as it is written,
// so its digests are known at once too, and keeping it later reads its files but hashes nothing.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { z } from 'zod';
import { extractZip, openZip, unsafeEntryName } from '../../core/pack/zip-reader.ts';
import { readCacheFile, writeCacheFile } from '../../core/shared/cache-file.ts';
import { fileIdentity } from '../../core/shared/file-identity.ts';
import { sha256Hex, sha256OfFile } from '../../core/shared/hash.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES } from '../../core/shared/types.ts';
import { writeAllAt } from '../../core/shared/write-at.ts';

const FORMAT = 1;
const ENTRY_FILE = 'entry.json';
const PACK_FILE = 'files.bin';
/** More files than any layer Lambda accepts holds; a longer list is not one of ours. */
const MAX_FILES = 200_000;
const MAX_ENTRY_BYTES = 64 * 1024 ** 2;
/** Bytes read or written at once: a big shared library never sits in memory whole. */
const CHUNK_BYTES = 4 * 1024 ** 2;
const WRITE_CONCURRENCY = 8;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const entrySchema = z.strictObject({
  format: z.literal(FORMAT),
  zipSha256: hex64,
  pack: z.string(),
  files: z
    .array(
      z.strictObject({
        path: z.string().min(1).max(4096),
        size: z.number().int().nonnegative().max(LAMBDA_UNZIPPED_LIMIT_BYTES),
        executable: z.boolean(),
        sha256: hex64,
      }),
    )
    .max(MAX_FILES),
});
type KeptLayer = z.infer<typeof entrySchema>;
type KeptFile = KeptLayer['files'][number];

/** The layers as unpacked into /opt, and how to keep the ones inflated now for the next probe. */
export interface UnpackedLayers {
  /** sha256 (hex) of each file written (from a kept layer, or inflated now), by its path in /opt. */
  readonly digests: ReadonlyMap<string, string>;
  /** How many layers came from the cache, of how many. */
  readonly reused: number;
  /** Keep each layer inflated now whose files no later layer replaced (errors are dropped). */
  keep(): Promise<void>;
}

/** A layer zip on disk, and the store object it was copied from when the store can name one. */
export interface LayerZip {
  readonly path: string;
  /** The store's key and that object's identity when copied (ObjectStore `identity`). */
  readonly source: { readonly key: string; readonly identity: string } | null;
}

/** A layer inflated from its zip this time: its files, in the zip's order. */
interface InflatedLayer {
  readonly index: number;
  readonly zipSha256: string;
  /** Its files in the zip's order, each with the size, mode and sha256 it was written with. */
  readonly files: readonly KeptFile[];
}

/**
 * Unpack the layer zips, in order, into `opt` (later layers replace earlier layers' files, as
 * Lambda's extraction does). With `cacheDir`, layers kept by earlier probes are written from
 * there; without it every zip is inflated and nothing is kept.
 */
export async function unpackLayers(
  zips: readonly LayerZip[],
  opt: string,
  cacheDir: string | null,
): Promise<UnpackedLayers> {
  const root = cacheDir ? join(cacheDir, 'unpacked-layers') : null;
  const lastWriter = new Map<string, number>();
  const digests = new Map<string, string>();
  const inflated: InflatedLayer[] = [];
  let reused = 0;
  for (const [index, zip] of zips.entries()) {
    const layer = await unpackLayer(zip, opt, root, lastWriter);
    for (const file of layer.files) {
      lastWriter.set(file.path, index);
      digests.set(join(opt, file.path), file.sha256);
    }
    if (layer.kept) reused++;
    else if (layer.zipSha256) inflated.push({ index, zipSha256: layer.zipSha256, files: layer.files });
  }
  return {
    digests,
    reused,
    keep: async () => {
      if (!root) return;
      for (const layer of inflated) {
        const replaced = layer.files.some(({ path }) => lastWriter.get(path) !== layer.index);
        if (!replaced) await keepLayer(root, layer, opt).catch(() => null);
      }
    },
  };
}

/**
 * One layer into `opt`, over what earlier layers wrote (`written`): from its kept copy when the
 * cache has one, else inflated from the zip and hashed on the way. Its files in the zip's order.
 */
async function unpackLayer(
  { path: zip, source }: LayerZip,
  opt: string,
  root: string | null,
  written: ReadonlyMap<string, number>,
): Promise<{ files: readonly KeptFile[]; zipSha256: string | null; kept: boolean }> {
  const zipSha256 = root ? await zipDigest(root, zip, source) : null;
  const kept = root && zipSha256 ? await readKeptLayer(root, zipSha256) : null;
  if (root && zipSha256 && kept) {
    await writeKeptLayer(join(root, zipSha256), kept, opt, written);
    return { files: kept.files, zipSha256, kept: true };
  }
  const files = new Map<string, KeptFile>();
  await extractZip(zip, opt, {
    replaceExisting: true,
    onFile: ({ name, size, executable, sha256 }) => files.set(name, { path: name, size, executable, sha256 }),
  });
  const inZipOrder = (await fileNamesOf(zip)).flatMap((path) => files.get(path) ?? []);
  return { files: inZipOrder, zipSha256, kept: false };
}

/**
 * The sha256 of a layer zip, remembered by the identity of the store object it was copied from
 * (an object whose identity is unchanged holds the same bytes: file-identity.ts), else hashed.
 */
async function zipDigest(root: string, zip: string, source: LayerZip['source']): Promise<string> {
  const memo = source ? join(root, 'objects', sha256Hex(JSON.stringify(source))) : null;
  const known = memo ? ((await readCacheFile(memo, 64)) ?? '') : '';
  if (/^[0-9a-f]{64}$/.test(known)) return known;
  const digest = await sha256OfFile(zip);
  if (memo) await writeCacheFile(memo, digest).catch(() => undefined);
  return digest;
}

/** The file entries of a zip (its folders are made as their files are written). */
async function fileNamesOf(zip: string): Promise<string[]> {
  const archive = await openZip(zip, { name: zip });
  try {
    return archive.entries.filter((entry) => !entry.name.endsWith('/')).map((entry) => entry.name);
  } finally {
    await archive.close();
  }
}

/** The kept layer of that zip, when its entry parses, its paths are safe and its pack is unchanged. */
async function readKeptLayer(root: string, zipSha256: string): Promise<KeptLayer | null> {
  const folder = join(root, zipSha256);
  const text = await readCacheFile(join(folder, ENTRY_FILE), MAX_ENTRY_BYTES);
  if (text === null) return null;
  let parsed: KeptLayer;
  try {
    parsed = entrySchema.parse(JSON.parse(text));
  } catch {
    return null; // cut short, garbled, or of another shape
  }
  if (parsed.zipSha256 !== zipSha256 || !safePaths(parsed.files)) return null;
  if ((await fileIdentity(join(folder, PACK_FILE))) !== parsed.pack) return null;
  // The identity holds the pack's size (dev:ino:size:…): the files must account for all of it.
  const packBytes = Number(parsed.pack.split(':')[2]);
  return parsed.files.reduce((sum, file) => sum + file.size, 0) === packBytes ? parsed : null;
}

/** Every path as safe as a zip entry's must be, each named once. */
function safePaths(files: readonly KeptFile[]): boolean {
  const seen = new Set<string>();
  for (const { path } of files) {
    if (path.endsWith('/') || unsafeEntryName(path) !== null || seen.has(path)) return false;
    seen.add(path);
  }
  return true;
}

/** Write a kept layer's files into `opt` from its pack, replacing what earlier layers put there. */
async function writeKeptLayer(
  folder: string,
  layer: KeptLayer,
  opt: string,
  written: ReadonlyMap<string, number>,
): Promise<void> {
  const pack = await open(join(folder, PACK_FILE), 'r');
  try {
    const limit = pLimit(WRITE_CONCURRENCY);
    const folders = new Map<string, Promise<unknown>>();
    let offset = 0;
    const writes = layer.files.map((file) => {
      const start = offset;
      offset += file.size;
      const target = join(opt, ...file.path.split('/'));
      const made = folders.get(dirname(target)) ?? mkdir(dirname(target), { recursive: true });
      folders.set(dirname(target), made);
      return limit(async () => {
        await made;
        // An earlier layer's file is removed first, so a link there is never written through.
        if (written.has(file.path)) await rm(target, { force: true });
        await copyRange(pack, start, file.size, target, file.executable ? 0o755 : 0o644);
      });
    });
    await Promise.all(writes);
  } finally {
    await pack.close();
  }
}

/** `size` bytes of `source` from `start` into a new file `target`, a chunk at a time. */
async function copyRange(source: FileHandle, start: number, size: number, target: string, mode: number) {
  const out = await open(target, 'wx', mode);
  try {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(size, 1)));
    for (let done = 0; done < size;) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, size - done), start + done);
      if (bytesRead === 0) throw new Error(`the kept layer's pack ended before ${target} was complete`);
      await out.write(buffer, 0, bytesRead);
      done += bytesRead;
    }
  } finally {
    await out.close();
  }
}

/**
 * Keep a layer inflated this time: its files, read back from `opt` (no later layer replaced
 * them; nothing but the extractor wrote them, since the cell cannot write there or is opened
 * only once they are kept), with the digests taken as they were inflated, written to a new
 * folder, then renamed into place (a reader sees all or none).
 */
async function keepLayer(root: string, layer: InflatedLayer, opt: string): Promise<KeptFile[] | null> {
  const staging = join(root, `.staging-${randomUUID()}`);
  await mkdir(staging, { recursive: true });
  try {
    const files = await writePack(join(staging, PACK_FILE), layer, opt);
    const pack = await fileIdentity(join(staging, PACK_FILE));
    if (!pack) return null;
    const entry: KeptLayer = { format: FORMAT, zipSha256: layer.zipSha256, pack, files };
    await writeFile(join(staging, ENTRY_FILE), JSON.stringify(entry));
    await rm(join(root, layer.zipSha256), { recursive: true, force: true });
    await rename(staging, join(root, layer.zipSha256));
    return files;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The layer's files back to back into `packPath`, each at the offset its predecessors' sizes
 * give (so several are copied at once); what entry.json records of each.
 */
async function writePack(packPath: string, layer: InflatedLayer, opt: string): Promise<KeptFile[]> {
  const pack = await open(packPath, 'wx', 0o644);
  const limit = pLimit(WRITE_CONCURRENCY);
  try {
    let offset = 0;
    const copies = layer.files.map((file) => {
      const at = offset;
      offset += file.size;
      return limit(async () => {
        const bytes = await readFile(join(opt, ...file.path.split('/')));
        if (bytes.length !== file.size) throw new Error(`${file.path} is not the size it was written with`);
        await writeAllAt(pack, bytes, at);
      });
    });
    await Promise.all(copies);
  } finally {
    await pack.close();
  }
  return [...layer.files];
}
