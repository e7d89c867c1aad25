// Layers kept unpacked, keyed by their zip's sha256: a layer's files back to back in one file
// (files.bin: one file is what ext4 writes fast) with a list of each file's path, size, mode and
// sha256 in the zip's order (entry.json). The local probe writes a kept layer's files into its
// /opt instead of inflating the zip again, and when a build's smoke import stands for every
// module it needs no files at all: the list and the RECORD files read out of the pack are enough
// (adapters/local/unpacked-layers.ts). So a build keeps each layer it packs with only its
// dist-info files in the pack (`packed: false` for the others): copying the seed set's 192 MB
// into packs took a second of the build's main thread while the smoke import needed the CPU,
// for a probe that then reads a few RECORD files. A probe that must unpack such a layer
// inflates its zip, and keeps it whole.
//
// The cache folder is untrusted. An entry is used only while its files.bin is the very file the
// entry was written with: same device, inode, size, mtime and ctime (file-identity.ts). A copy
// restored from elsewhere (a CI cache) is a new inode with a new ctime and is never used; a file
// changed in place moves its mtime or ctime. Paths are checked as a zip's own are. Since the
// bytes are the ones hashed as the entry was made, their digests stand for hashing them again.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { z } from 'zod';
import { evictLeastRecentlyUsed, touchEntry } from '../shared/cache-eviction.ts';
import { readCacheFile } from '../shared/cache-file.ts';
import { eventLoopSlicer } from '../shared/event-loop-slicer.ts';
import { CHECKED_FILE, checkedBefore, rememberChecked } from '../shared/checked-record.ts';
import { fileIdentity, whileUnchanged } from '../shared/file-identity.ts';
import { sha256Hex } from '../shared/hash.ts';
import { LAMBDA_IMAGE_LIMIT_BYTES } from '../shared/types.ts';
import { writeAllAtSync } from '../shared/write-at.ts';
import { unsafeEntryName } from './zip-reader.ts';

const FORMAT = 2;
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
        // (An image's layer may hold a file past the 250 MB layers get: torch's 434 MB library.)
        size: z.number().int().nonnegative().max(LAMBDA_IMAGE_LIMIT_BYTES),
        executable: z.boolean(),
        sha256: hex64,
        /** False: only listed (its bytes are not in the pack). */
        packed: z.boolean().optional(),
      }),
    )
    .max(MAX_FILES),
});
export type KeptLayer = z.infer<typeof entrySchema>;
export type KeptFile = KeptLayer['files'][number];

/** Where the kept layers of a run's cache live. */
export function keptLayersRoot(cacheDir: string): string {
  return join(cacheDir, 'unpacked-layers');
}

/** Bytes of kept layers the cache keeps (their packs): the ones used last, the newest always. */
export const KEPT_LAYER_BYTES = 2 * 1024 ** 3;

/** Bound the kept layers below `root` to `bytes`, least recently used first. */
export async function evictKeptLayers(root: string, bytes: number = KEPT_LAYER_BYTES): Promise<void> {
  await evictLeastRecentlyUsed(root, { bytes, sizedFiles: [PACK_FILE] });
}

/**
 * The kept layer of that zip, when its entry parses, its paths are safe and its pack is unchanged.
 * An entry that passed those checks as the very files it still is (checked-record.ts) is only
 * parsed: the schema and paths of a probe's four kept lists took 18 ms of its reuse check.
 */
export async function readKeptLayer(root: string, zipSha256: string): Promise<KeptLayer | null> {
  const folder = join(root, zipSha256);
  const read = await whileUnchanged(join(folder, ENTRY_FILE), () =>
    readCacheFile(join(folder, ENTRY_FILE), MAX_ENTRY_BYTES),
  );
  if (read.value === null) return null;
  const pack = await fileIdentity(join(folder, PACK_FILE));
  const identities = { entry: read.identity, pack };
  const vouched = await checkedBefore(join(folder, CHECKED_FILE), identities);
  const parsed = vouched ? parsedEntry(read.value) : checkedEntry(read.value, zipSha256);
  if (parsed === null || parsed.zipSha256 !== zipSha256 || pack !== parsed.pack) return null;
  if (!vouched) await rememberChecked(join(folder, CHECKED_FILE), identities);
  // Used now: eviction keeps it longest.
  await touchEntry(folder);
  return parsed;
}

/** An entry's text that passed every check before, as it was then. */
function parsedEntry(text: string): KeptLayer | null {
  try {
    return JSON.parse(text) as KeptLayer;
  } catch {
    return null;
  }
}

/** The entry's text as a kept layer when it is one: its shape, its paths, and a pack its files fill. */
function checkedEntry(text: string, zipSha256: string): KeptLayer | null {
  let parsed: KeptLayer;
  try {
    parsed = entrySchema.parse(JSON.parse(text));
  } catch {
    return null; // cut short, garbled, or of another shape
  }
  if (parsed.zipSha256 !== zipSha256 || !safePaths(parsed.files)) return null;
  // The identity holds the pack's size (dev:ino:size:…): the packed files must account for all of it.
  const packBytes = Number(parsed.pack.split(':')[2]);
  return parsed.files.reduce((sum, file) => sum + packedSize(file), 0) === packBytes ? parsed : null;
}

/** Whether every file of the layer is in its pack (it can be written out from there). */
export function isWholeLayer(layer: KeptLayer): boolean {
  return layer.files.every((file) => file.packed !== false);
}

function packedSize(file: { readonly size: number; readonly packed?: boolean | undefined }): number {
  return file.packed === false ? 0 : file.size;
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

/** Where each file of a kept layer starts in its pack (a file not packed takes no room). */
function offsetsOf(files: readonly { size: number; packed?: boolean | undefined }[]): number[] {
  let offset = 0;
  return files.map((file) => {
    const start = offset;
    offset += packedSize(file);
    return start;
  });
}

/**
 * Some files of a kept layer read out of its pack (RECORD files, for a probe that unpacks
 * nothing), by path. The pack is checked unchanged again once they are read.
 */
export async function readKeptFiles(
  root: string,
  layer: KeptLayer,
  paths: ReadonlySet<string>,
): Promise<Map<string, Buffer>> {
  const offsets = offsetsOf(layer.files);
  const packPath = join(root, layer.zipSha256, PACK_FILE);
  const pack = await open(packPath, 'r');
  const found = new Map<string, Buffer>();
  try {
    for (const [index, file] of layer.files.entries()) {
      if (!paths.has(file.path) || file.packed === false) continue;
      const bytes = Buffer.alloc(file.size);
      const { bytesRead } = await pack.read(bytes, 0, file.size, offsets[index] ?? 0);
      if (bytesRead !== file.size) throw new Error(`the kept layer's pack ended inside ${file.path}`);
      found.set(file.path, bytes);
    }
  } finally {
    await pack.close();
  }
  if ((await fileIdentity(packPath)) !== layer.pack) throw new Error('the kept layer changed while read');
  return found;
}

/** Write a kept layer's files into `opt` from its pack, replacing what earlier layers put there. */
export async function writeKeptLayer(
  root: string,
  layer: KeptLayer,
  opt: string,
  written: ReadonlyMap<string, number>,
): Promise<void> {
  if (!isWholeLayer(layer)) throw new Error(`the kept layer ${layer.zipSha256} lists files it does not hold`);
  const pack = await open(join(root, layer.zipSha256, PACK_FILE), 'r');
  try {
    const limit = pLimit(WRITE_CONCURRENCY);
    const folders = new Map<string, Promise<unknown>>();
    const offsets = offsetsOf(layer.files);
    const writes = layer.files.map((file, index) => {
      const target = join(opt, ...file.path.split('/'));
      const made = folders.get(dirname(target)) ?? mkdir(dirname(target), { recursive: true });
      folders.set(dirname(target), made);
      return limit(async () => {
        await made;
        // An earlier layer's file is removed first, so a link there is never written through.
        if (written.has(file.path)) await rm(target, { force: true });
        await copyRange(pack, offsets[index] ?? 0, file.size, target, file.executable ? 0o755 : 0o644);
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

/** A kept layer being written: its pack in a staging folder until `commit` renames it into place. */
export interface KeptLayerWriter {
  /**
   * Write `chunk` at `offset` bytes into the file at `index` (in the list it was opened with),
   * blocking: the caller loops over many small files between event-loop turns (event-loop-slicer.ts).
   */
  writeSync(index: number, offset: number, chunk: Buffer): void;
  /** Record the files with their sha256 (hex, by path) and rename the layer into place. */
  commit(digests: ReadonlyMap<string, string>): Promise<void>;
  /** Throw the staging folder away. */
  abandon(): Promise<void>;
}

/**
 * Start keeping the layer of the zip with `zipSha256`, whose files (in its order) are `files`:
 * each is written at the offset its predecessors' sizes give, so several are written at once.
 */
async function openKeptLayerWriter(
  root: string,
  zipSha256: string,
  files: readonly Omit<KeptFile, 'sha256'>[],
): Promise<KeptLayerWriter> {
  const staging = join(root, `.staging-${randomUUID()}`);
  await mkdir(staging, { recursive: true });
  const packPath = join(staging, PACK_FILE);
  const pack = await open(packPath, 'wx', 0o644);
  const offsets = offsetsOf(files);
  let closed = false;
  const close = async () => {
    if (!closed) await pack.close();
    closed = true;
  };
  return {
    writeSync: (index, offset, chunk) => {
      const file = files[index];
      if (!file || offset + chunk.length > file.size)
        throw new Error(`${file?.path ?? `file ${index}`} is longer than its zip entry says`);
      writeAllAtSync(pack.fd, chunk, (offsets[index] ?? 0) + offset);
    },
    commit: async (digests) => {
      try {
        await close();
        const identity = await fileIdentity(packPath);
        const kept = files.map((file) => ({ ...file, sha256: digests.get(file.path) ?? '' }));
        const entry: KeptLayer = { format: FORMAT, zipSha256, pack: identity ?? '', files: kept };
        entrySchema.parse(entry);
        await writeFile(join(staging, ENTRY_FILE), JSON.stringify(entry));
        await rm(join(root, zipSha256), { recursive: true, force: true });
        await rename(staging, join(root, zipSha256));
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      await evictKeptLayers(root);
    },
    abandon: async () => {
      await close().catch(() => undefined);
      await rm(staging, { recursive: true, force: true });
    },
  };
}

/**
 * Keep a layer whose files sit below `opt` under their zip paths, with the digests they were
 * checked by: read back from /opt the probe just inflated into (no later layer replaced them;
 * nothing but the extractor wrote them, since the cell cannot write there or is opened only
 * once they are kept). With `hashed`, each file is hashed as it is copied and nothing is kept
 * unless all match: how a build keeps its layers from its tree while the tree check is still
 * to come (build.ts). `known` (the build's tree ledger) spares the hashing of a file whose
 * digest it still vouches for once the file has been read: a file rewritten before or while it
 * was read is no longer the file it recorded, and is hashed. With `only`, just the files it
 * picks go into the pack; the others are listed as not packed.
 */
export async function keepLayerFrom(
  root: string,
  layer: { readonly zipSha256: string; readonly files: readonly KeptFile[] },
  opt: string,
  options: {
    readonly hashed?: boolean;
    readonly known?: (path: string) => string | null;
    readonly only?: (path: string) => boolean;
    /** The file a layer path is read from: `opt/<path>` unless said (an image's layer places the tree under var/task). */
    readonly sourceOf?: (path: string) => string;
  } = {},
): Promise<void> {
  const existing = await readKeptLayer(root, layer.zipSha256);
  // Kept already, by a build or a probe: a whole layer is never replaced by a partial one.
  if (existing && (isWholeLayer(existing) || options.only)) return;
  const { only } = options;
  const files = layer.files.map((file) => ({ ...file, packed: only ? only(file.path) : true }));
  const writer = await openKeptLayerWriter(root, layer.zipSha256, files);
  try {
    // Blocking reads and writes between event-loop turns: a promise per call for thousands of
    // small files queued behind the build's other work on libuv's pool.
    const pause = eventLoopSlicer();
    for (const [index, file] of files.entries()) {
      if (!file.packed) continue;
      await pause();
      const path = options.sourceOf?.(file.path) ?? join(opt, ...file.path.split('/'));
      const bytes = readFileSync(path);
      if (bytes.length !== file.size) throw new Error(`${file.path} is not the size it was written with`);
      const vouched = options.known?.(path) === file.sha256;
      if (options.hashed && !vouched && sha256Hex(bytes) !== file.sha256)
        throw new Error(`${file.path} has other bytes`);
      if (bytes.length > 0) writer.writeSync(index, 0, bytes);
    }
  } catch (error) {
    await writer.abandon();
    throw error;
  }
  await writer.commit(new Map(files.map((file) => [file.path, file.sha256])));
}
