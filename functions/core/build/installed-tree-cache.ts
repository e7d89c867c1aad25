// The per-wheel cache of installed trees (`<cache>/installed/<key>/`): what installWheel wrote
// for one wheel, so a lock that changes one package does not inflate and check the others
// again. The key is the wheel's sha256 and every other input of installWheel's output; an
// entry holds the kept files back to back in one file (INSTALLED_BLOB_FILE) and a description
// (INSTALLED_ENTRY_FILE) from which the same InstalledPackage is rebuilt. One file, not a tree,
// because creating thousands of small files on the cache's disk costs more than the install
// saves: copying the seed set's unpacked wheels (6,210 files, 245 MB) to ext4 took 2.2 s here,
// writing the same bytes as one file 0.4 s.
//
// Entries are untrusted input. Every read checks the description against a schema and the
// inputs it was made for, its paths (relative, no `..`), its wheel sources against the wheel's
// own directory, and every file's size and sha256, opening nothing through a symlink, before it
// claims a path or writes a byte; a bad entry is removed, reported, and the wheel installed
// afresh. The wheel itself is still sha256-checked against the lock on every install: the
// layer packer copies raw bytes out of it, and the entry vouches only for that exact wheel.
// Hashing the blob is skipped only while it is the very file this cache wrote: the description
// records the blob's file identity (file-identity.ts), which a copied or restored folder, or a
// blob changed in place, does not have; its generated files are still read and checked. In the
// same way the description's own checks (schema, paths, wheel sources) are skipped while it and
// the wheel are the very files they were when those checks last passed (checked-record.ts).
// (Someone who can rewrite an entry together with its description could equally rewrite a
// whole cached build in builds/; that is outside what these checks defend against.)
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { z } from 'zod';
import { evictLeastRecentlyUsed, touchEntry } from '../shared/cache-eviction.ts';
import { eachSettled } from '../shared/each-settled.ts';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import { CHECKED_FILE, checkedBefore, rememberChecked } from '../shared/checked-record.ts';
import { fileIdentity, identityOfStats } from '../shared/file-identity.ts';
import { sha256Hex } from '../shared/hash.ts';
import { eventLoopSlicer } from '../shared/event-loop-slicer.ts';
import { writeAllAt } from '../shared/write-at.ts';
import { canonicalizeName } from '../shared/names.ts';
import { openZip, unsafeEntryName } from '../pack/zip-reader.ts';
import { sharedBlobCopier, type BlobCopier, type RangeCopy, type RangeCopyResult } from './blob-copier.ts';
import { NO_SLIM_POLICY, slimPolicyKey } from './slim-policy.ts';
import {
  acceptExisting,
  checkLockedHash,
  claimPaths,
  DEFAULT_WHEEL_LIMITS,
  hexOfRecordDigest,
  installWheel,
  installedPathOf,
  installWheelWithDigests,
  writeExclusive,
  type FreshInstall,
  type InstalledFile,
  type InstalledPackage,
  type InstallWheelOptions,
} from './wheel-installer.ts';

/** Bumped whenever installWheel would produce other files or another InstalledPackage for the same inputs. */
export const INSTALLED_TREE_FORMAT = 1;
/** The description of an entry (JSON). */
export const INSTALLED_ENTRY_FILE = 'entry.json';
/** The kept files' bytes, back to back in the description's order. */
export const INSTALLED_BLOB_FILE = 'files.bin';

export interface InstalledTreeCache {
  /** `<cacheDir>/installed` */
  readonly dir: string;
  /** Hears why an entry was discarded or could not be stored (the build's warnings). */
  readonly warn: (message: string) => void;
  /** Bytes of one package kept in memory between the check and the write; the rest is read again. @default HELD_BYTES */
  readonly heldBytes?: number;
  /**
   * Takes the writing of a new entry, to be awaited later (before the tree is removed), so that
   * a first build does not wait for its cache; without it each install waits for its own entry.
   * The tree's files must stay as installed until then (symbol stripping rewrites them).
   */
  readonly defer?: (write: Promise<void>) => void;
  /** Copies reused files out of the blobs, off the main thread. @default one copier shared by every cache of the process */
  readonly copier?: BlobCopier;
}

export interface CachedInstall {
  readonly installed: InstalledPackage;
  /** The entry the files were copied from, or null when the wheel was installed (and its entry stored). */
  readonly reusedFrom: string | null;
}

/**
 * Bytes of installed wheels the cache keeps (their blobs and descriptions): the least recently
 * used entries go first once a build is done, the newest always stays.
 */
export const KEPT_INSTALLED_BYTES = 4 * 1024 ** 3;

/** Bound the entries below `dir` (the cache's installed/ folder) to `bytes`, least recently used first. */
export async function evictInstalledTrees(dir: string, bytes: number = KEPT_INSTALLED_BYTES): Promise<void> {
  await evictLeastRecentlyUsed(dir, { bytes, sizedFiles: [INSTALLED_BLOB_FILE, INSTALLED_ENTRY_FILE] });
}

/** Entries are read and copied in chunks of this size, so memory stays bounded whatever a file's size. */
const CHUNK_BYTES = 4 * 1024 ** 2;
/** Bytes of one package kept in memory between the check and the write, as a fresh install holds them (HELD_FOR_WRITE_BYTES). */
const HELD_BYTES = 96 * 1024 ** 2;
/** Generated files (RECORD, INSTALLER, scripts) are held in memory; no real one comes near this. */
const MAX_GENERATED_BYTES = 64 * 1024 ** 2;
const MAX_DESCRIPTION_BYTES = 256 * 1024 ** 2;

const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const fileSchema = z.strictObject({
  path: z.string().min(1),
  size: byteCount,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  executable: z.boolean(),
  source: z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('wheel'),
      method: z.union([z.literal(0), z.literal(8)]),
      crc32: z.number().int().min(0).max(0xffff_ffff),
      dataOffset: byteCount,
      compressedSize: byteCount,
    }),
    z.strictObject({ kind: z.literal('generated') }),
  ]),
});
const descriptionSchema = z.strictObject({
  format: z.literal(INSTALLED_TREE_FORMAT),
  inputs: z.unknown(),
  distInfo: z.string().regex(/^[^/\\]+\.dist-info$/),
  installedBytes: byteCount,
  removed: z.array(z.strictObject({ rule: z.string().min(1), files: byteCount, bytes: byteCount })),
  topLevel: z.array(
    z
      .string()
      .min(1)
      .regex(/^[^/]*$/),
  ),
  files: z.array(fileSchema),
  /** The blob's file identity once written (entries written before it was recorded have none). */
  blob: z.string().optional(),
});
type Description = z.output<typeof descriptionSchema>;
type CachedFile = Description['files'][number];

/** Why an entry cannot be used; anything else thrown while reusing one is the wheel's or the tree's error. */
class BadEntry extends Error {}

/**
 * Everything installWheel's output depends on, besides the installer's own code (that is
 * INSTALLED_TREE_FORMAT). Only the slim rules reach installWheel (precompiling, stripping and
 * leaving out runtime-provided packages are later steps), so switching those keeps the entries.
 * The limits decide whether a wheel installs at all: a looser run's entry must not serve a stricter one.
 */
function keyInputs(options: InstallWheelOptions) {
  const { locked } = options;
  return {
    format: INSTALLED_TREE_FORMAT,
    wheel: {
      sha256: locked.sha256.toLowerCase(),
      filename: locked.filename,
      name: locked.name,
      version: locked.version,
    },
    siteDir: options.siteDir ?? 'python',
    interpreter: options.interpreter,
    slim: slimPolicyKey({ ...NO_SLIM_POLICY, rules: options.slim.rules }),
    limits: { ...DEFAULT_WHEEL_LIMITS, ...options.limits },
  };
}

/** The name of the entry an install with these options reads and writes. */
export function installedTreeKey(options: InstallWheelOptions): string {
  return sha256Hex(JSON.stringify(keyInputs(options)));
}

/**
 * installWheel through the cache: the same InstalledPackage, the same files in `treeDir` and the
 * same claims, copied from the entry for this wheel and these options when a good one exists;
 * else installed from the wheel and stored. Without a tree to write there is nothing to reuse.
 * @example const { installed, reusedFrom } = await installWheelCached(options, { dir: '.cache/installed', warn });
 */
export async function installWheelCached(
  options: InstallWheelOptions,
  cache: InstalledTreeCache,
): Promise<CachedInstall> {
  if (options.writeTree === false) return { installed: await installWheel(options), reusedFrom: null };
  const folder = join(cache.dir, installedTreeKey(options));
  const reused = await reuseEntry(folder, options, cache);
  if (reused) return { installed: reused, reusedFrom: folder };
  const fresh = await installWheelWithDigests(options);
  // The install checked the wheel's sha256 as it read it: the next build need not hash it again.
  const { wheelIdentity } = fresh.installed;
  if (wheelIdentity)
    await rememberWheelHash(options.wheelPath, options.locked, wheelMemoDir(cache), wheelIdentity);
  const storing = storeEntry(folder, options, fresh).catch((error: unknown) =>
    cache.warn(
      `the installed files of ${options.locked.filename} were not cached: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
  if (cache.defer) cache.defer(storing);
  else await storing;
  return { installed: fresh.installed, reusedFrom: null };
}

/** The package installed from the entry in `folder`, or null when there is none or it is bad (then it is removed and reported). */
async function reuseEntry(
  folder: string,
  options: InstallWheelOptions,
  cache: InstalledTreeCache,
): Promise<InstalledPackage | null> {
  let blob: FileHandle | null = null;
  // Used now: eviction (evictInstalledTrees) keeps it longest, even while another build evicts.
  await touchEntry(folder);
  try {
    const info = await lstat(folder).catch(() => null);
    if (info === null) return null;
    if (!info.isDirectory()) throw new BadEntry('it is not a folder');
    // As a fresh install does first: the entry is only good for the very wheel it was made from.
    const wheelIdentity = await checkWheelHash(options.wheelPath, options.locked, wheelMemoDir(cache));
    const { description, identity } = await readDescription(folder, options);
    const vouched = await descriptionCheckedBefore(folder, identity, wheelIdentity);
    if (!vouched) {
      checkDescription(description, options);
      await checkWheelSources(description, options);
    }
    blob = await openBlob(folder, description.files);
    const unchanged =
      description.blob !== undefined &&
      identityOfStats(await blob.stat({ bigint: true })) === description.blob;
    const checked = unchanged
      ? await checkGenerated(blob, description.files)
      : await checkBlob(blob, description.files, cache.heldBytes ?? HELD_BYTES);
    await materialize(blob, checked, description.files, options, cache.copier ?? sharedBlobCopier);
    if (!vouched) await rememberDescriptionChecked(folder, identity, wheelIdentity);
    return packageOf(description, checked.generated, options, wheelIdentity);
  } catch (error) {
    if (!(error instanceof BadEntry)) throw error;
    cache.warn(
      `the cached install ${folder} was discarded: ${error.message}; installing ${options.locked.filename} afresh.`,
    );
    await rm(folder, { recursive: true, force: true });
    return null;
  } finally {
    await blob?.close();
  }
}

/**
 * checkLockedHash, but a wheel that is still the very file hashed before (its file identity, as
 * recorded in `memoDir` after a check that passed) is not hashed again. Returns that identity
 * (null when the file did not hold still while it was hashed).
 */
async function checkWheelHash(
  wheelPath: string,
  locked: InstallWheelOptions['locked'],
  memoDir: string,
): Promise<string | null> {
  const identity = await fileIdentity(wheelPath);
  const memo = wheelMemoOf(memoDir, wheelPath);
  if (identity !== null && (await readCacheFile(memo, 4096)) === wheelMemoRecord(identity, locked))
    return identity;
  const heldStill = await checkLockedHash(wheelPath, locked);
  // Recorded only if the file held still while it was hashed.
  if (heldStill !== null && heldStill === identity)
    await rememberWheelHash(wheelPath, locked, memoDir, heldStill);
  return heldStill;
}

/** Where checkWheelHash remembers the wheels it hashed: beside the installed trees. */
function wheelMemoDir(cache: InstalledTreeCache): string {
  return join(dirname(cache.dir), 'wheel-digests');
}

function wheelMemoOf(memoDir: string, wheelPath: string): string {
  return join(memoDir, `${sha256Hex(wheelPath)}.json`);
}

function wheelMemoRecord(identity: string, locked: InstallWheelOptions['locked']): string {
  return JSON.stringify({ identity, sha256: locked.sha256.toLowerCase() });
}

/** The wheel at `wheelPath`, while its identity is `identity`, has the locked sha256 (it was just checked). */
async function rememberWheelHash(
  wheelPath: string,
  locked: InstallWheelOptions['locked'],
  memoDir: string,
  identity: string,
): Promise<void> {
  await writeCacheFile(wheelMemoOf(memoDir, wheelPath), wheelMemoRecord(identity, locked)).catch(
    () => undefined,
  );
}

/** A file of the entry, never through a symlink (O_NOFOLLOW), and only a regular file of at most `maxBytes`. */
async function openInEntry(path: string, maxBytes: number): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BadEntry(
      `${path.split(sep).pop()} cannot be opened (${code === 'ELOOP' ? 'a symlink' : code})`,
    );
  });
  const info = await handle.stat();
  if (!info.isFile() || info.size > maxBytes) {
    await handle.close();
    throw new BadEntry(`${path.split(sep).pop()} is not a regular file of at most ${maxBytes} bytes`);
  }
  return handle;
}

/**
 * The description in the entry folder `folder` as JSON, with the identity entry.json had
 * throughout the read (null when it changed meanwhile); only its inputs are checked here.
 * checkDescription does the rest.
 */
async function readDescription(
  folder: string,
  options: InstallWheelOptions,
): Promise<{ description: Description; identity: string | null }> {
  const handle = await openInEntry(join(folder, INSTALLED_ENTRY_FILE), MAX_DESCRIPTION_BYTES);
  let parsed: unknown;
  let identity: string | null = null;
  try {
    const before = identityOfStats(await handle.stat({ bigint: true }));
    parsed = JSON.parse(await handle.readFile('utf8'));
    if (identityOfStats(await handle.stat({ bigint: true })) === before) identity = before;
  } catch {
    throw new BadEntry(`${INSTALLED_ENTRY_FILE} is not JSON`);
  } finally {
    await handle.close();
  }
  const inputs = (parsed as { inputs?: unknown } | null)?.inputs;
  if (JSON.stringify(inputs) !== JSON.stringify(keyInputs(options))) {
    // (What is no description at all is reported as such.)
    checkDescription(parsed, options);
    throw new BadEntry('it was made for another wheel or other install options');
  }
  return { description: parsed as Description, identity };
}

/** The description against the schema and safe paths. */
function checkDescription(parsed: unknown, options: InstallWheelOptions): void {
  const result = descriptionSchema.safeParse(parsed);
  if (!result.success)
    throw new BadEntry(
      `${INSTALLED_ENTRY_FILE} does not describe an installed tree (${result.error.issues[0]?.path.join('.')})`,
    );
  checkPaths(result.data, options.siteDir ?? 'python');
}

/**
 * Whether the entry's description passed every check (schema, paths, wheel sources) against this
 * wheel, as its note (checked-record.ts) says: entry.json's identity and the wheel's, as they were
 * then. The same two identities again mean the same bytes on both sides, so the checks would pass
 * again: they are skipped (with the seed set's 14 entries reused, install took 220 ms instead of
 * 275 ms here). A copied, restored or edited description or wheel has another identity and is
 * checked in full.
 */
function descriptionCheckedBefore(
  folder: string,
  descriptionIdentity: string | null,
  wheelIdentity: string | null,
): Promise<boolean> {
  return checkedBefore(join(folder, CHECKED_FILE), {
    description: descriptionIdentity,
    wheel: wheelIdentity,
  });
}

/** Best effort: without the note the next reuse checks the description in full. */
function rememberDescriptionChecked(
  folder: string,
  descriptionIdentity: string | null,
  wheelIdentity: string | null,
): Promise<void> {
  return rememberChecked(join(folder, CHECKED_FILE), {
    description: descriptionIdentity,
    wheel: wheelIdentity,
  });
}

/** Paths as installWheel writes them: relative, no `..`, sorted and unique, with this package's RECORD. */
function checkPaths(description: Description, siteDir: string): void {
  let previous = '';
  for (const file of description.files) {
    const problem = unsafeEntryName(file.path) ?? (file.path.endsWith('/') ? 'is a folder' : null);
    if (problem) throw new BadEntry(`the path "${file.path}" ${problem}`);
    if (file.path <= previous) throw new BadEntry(`the paths are not sorted and unique at "${file.path}"`);
    if (file.source.kind === 'generated' && file.size > MAX_GENERATED_BYTES)
      throw new BadEntry(`the generated file ${file.path} is ${file.size} bytes`);
    previous = file.path;
  }
  const record = `${siteDir}/${description.distInfo}/RECORD`;
  if (!description.files.some((file) => file.path === record && file.source.kind === 'generated'))
    throw new BadEntry(`it has no generated ${record}`);
}

/**
 * Every file said to come from the wheel is that wheel's entry for its path, with the offset,
 * sizes, method and CRC the layer packer will copy: the packer reads the wheel, not the entry.
 */
async function checkWheelSources(description: Description, options: InstallWheelOptions): Promise<void> {
  const { locked, wheelPath } = options;
  const siteDir = options.siteDir ?? 'python';
  const zip = await openZip(
    wheelPath,
    { name: locked.filename, packageName: locked.name },
    { ...DEFAULT_WHEEL_LIMITS, ...options.limits },
  );
  try {
    const byOffset = new Map(zip.entries.map((entry) => [zip.dataOffset(entry), entry]));
    for (const file of description.files) {
      if (file.source.kind !== 'wheel') continue;
      const entry = byOffset.get(file.source.dataOffset);
      const same =
        entry !== undefined &&
        installedPathOf(entry.name, siteDir, description.distInfo) === file.path &&
        entry.compressedSize === file.source.compressedSize &&
        entry.method === file.source.method &&
        entry.crc32 === file.source.crc32 &&
        entry.uncompressedSize === file.size;
      if (!same) throw new BadEntry(`${file.path} is not the entry of ${locked.filename} it names`);
    }
  } finally {
    await zip.close();
  }
}

/** The files placed end to end: where each one's bytes start in the blob. */
function offsetsOf(files: readonly CachedFile[]): number[] {
  let offset = 0;
  return files.map((file) => {
    const start = offset;
    offset += file.size;
    return start;
  });
}

async function openBlob(folder: string, files: readonly CachedFile[]): Promise<FileHandle> {
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const handle = await openInEntry(join(folder, INSTALLED_BLOB_FILE), Number.MAX_SAFE_INTEGER);
  if ((await handle.stat()).size === total) return handle;
  await handle.close();
  throw new BadEntry(`${INSTALLED_BLOB_FILE} is not the ${total} bytes its description lists`);
}

/** Visit `size` bytes of `handle` from `offset`, a chunk at a time (the chunk is reused: copy what you keep). */
async function readRange(
  handle: FileHandle,
  offset: number,
  size: number,
  visit: (chunk: Buffer, at: number) => Promise<void> | void,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(size, CHUNK_BYTES));
  for (let done = 0; done < size;) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - done), offset + done);
    if (bytesRead === 0) throw new Error(`the file ends ${size - done} bytes early`);
    await visit(buffer.subarray(0, bytesRead), done);
    done += bytesRead;
  }
}

/** The blob in big sequential reads (one system call per chunk, not per file); each chunk is a new buffer, so pieces of it can be kept. */
async function* blobChunks(blob: FileHandle, total: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < total;) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, total - at));
    const { bytesRead } = await blob.read(buffer, 0, buffer.length, at);
    if (bytesRead === 0) throw new BadEntry(`${INSTALLED_BLOB_FILE} ends early`);
    yield buffer.subarray(0, bytesRead);
    at += bytesRead;
  }
}

/** The chunks cut at the files' boundaries: each file with its bytes, as views into the chunks. */
async function* filePieces(
  chunks: AsyncIterable<Buffer>,
  files: readonly CachedFile[],
): AsyncGenerator<{ file: CachedFile; pieces: Buffer[] }> {
  let index = 0;
  let got = 0;
  let pieces: Buffer[] = [];
  const complete = (): CachedFile | undefined => {
    const file = files[index];
    return file && got === file.size ? file : undefined;
  };
  for await (let chunk of chunks) {
    for (;;) {
      for (let file = complete(); file; file = complete()) {
        yield { file, pieces };
        [index, got, pieces] = [index + 1, 0, []];
      }
      const file = files[index];
      if (chunk.length === 0 || !file) break;
      const piece = chunk.subarray(0, file.size - got);
      pieces.push(piece);
      got += piece.length;
      chunk = chunk.subarray(piece.length);
    }
  }
  for (let file = complete(); file; file = complete()) {
    yield { file, pieces };
    [index, got, pieces] = [index + 1, 0, []];
  }
}

interface CheckedBlob {
  /** The generated files' contents (the InstalledPackage carries them). */
  readonly generated: Map<string, Buffer>;
  /** Checked bytes of files written from memory. */
  readonly held: Map<string, Buffer[]>;
}

/** A checked file's bytes when the check kept them (in pieces: a file crossing a chunk boundary is not joined). */
function bytesInMemory(checked: CheckedBlob, path: string): Buffer[] | undefined {
  const generated = checked.generated.get(path);
  return generated ? [generated] : checked.held.get(path);
}

/** Every file's bytes hashed against the description, before any is claimed or written. */
async function checkBlob(
  blob: FileHandle,
  files: readonly CachedFile[],
  budget: number,
): Promise<CheckedBlob> {
  const checked: CheckedBlob = { generated: new Map(), held: new Map() };
  const total = files.reduce((sum, file) => sum + file.size, 0);
  let heldBytes = 0;
  for await (const { file, pieces } of filePieces(blobChunks(blob, total), files)) {
    const hash = createHash('sha256');
    for (const piece of pieces) hash.update(piece);
    if (hash.digest('hex') !== file.sha256)
      throw new BadEntry(`${file.path} was changed after it was cached`);
    // A copy: the package keeps it for the whole build, and a view would keep its whole chunk alive.
    if (file.source.kind === 'generated') checked.generated.set(file.path, Buffer.concat(pieces));
    else if (heldBytes + file.size <= budget) {
      checked.held.set(file.path, pieces);
      heldBytes += file.size;
    }
  }
  return checked;
}

/**
 * The generated files' bytes (RECORD, INSTALLER, scripts), hashed against the description, from
 * a blob whose identity says the rest is as this cache wrote it (the wheel's files are then
 * copied to the tree straight from it).
 */
async function checkGenerated(blob: FileHandle, files: readonly CachedFile[]): Promise<CheckedBlob> {
  const checked: CheckedBlob = { generated: new Map(), held: new Map() };
  const offsets = offsetsOf(files);
  for (const [index, file] of files.entries()) {
    if (file.source.kind !== 'generated') continue;
    if (file.size > MAX_GENERATED_BYTES) throw new BadEntry(`${file.path} is too big for a generated file`);
    const bytes = Buffer.alloc(file.size);
    const { bytesRead } = await blob.read(bytes, 0, file.size, offsets[index] ?? 0);
    if (bytesRead !== file.size || sha256Hex(bytes) !== file.sha256)
      throw new BadEntry(`${file.path} was changed after it was cached`);
    checked.generated.set(file.path, bytes);
  }
  return checked;
}

/** The InstalledPackage a fresh install of the same wheel returned, rebuilt from a checked description. */
function packageOf(
  description: Description,
  generated: ReadonlyMap<string, Buffer>,
  options: InstallWheelOptions,
  wheelIdentity: string | null,
): InstalledPackage {
  const files: InstalledFile[] = description.files.map(({ path, size, executable, source, sha256 }) => ({
    path,
    size,
    executable,
    source:
      source.kind === 'wheel'
        ? { ...source, sha256 }
        : { kind: 'generated', content: generated.get(path) ?? Buffer.alloc(0) },
  }));
  return {
    name: canonicalizeName(options.locked.name),
    version: options.locked.version,
    wheelPath: options.wheelPath,
    wheelSha256: options.locked.sha256.toLowerCase(),
    ...(wheelIdentity ? { wheelIdentity } : {}),
    distInfo: description.distInfo,
    files,
    installedBytes: description.installedBytes,
    slimmedBytes: files.reduce((sum, file) => sum + file.size, 0),
    removed: description.removed,
    topLevel: description.topLevel,
  };
}

/**
 * Claim the paths exactly as a fresh install does (a clash with another distribution is refused
 * before anything is written), then write the checked files into the tree: those in memory with
 * blocking calls between event-loop turns (event-loop-slicer.ts), the rest copied from the blob
 * by the cache's BlobCopier on its worker thread, in batches posted as they fill.
 */
async function materialize(
  blob: FileHandle,
  checked: CheckedBlob,
  files: readonly CachedFile[],
  options: InstallWheelOptions,
  copier: BlobCopier,
): Promise<void> {
  const { filename: wheel, name: packageName } = options.locked;
  const root = resolve(options.treeDir);
  const digests = new Map(
    files.map((file) => [file.path, `sha256=${Buffer.from(file.sha256, 'hex').toString('base64url')}`]),
  );
  const skip = options.claims
    ? claimPaths(options.claims, root, files, digests, wheel, packageName)
    : new Set<string>();
  const offsets = offsetsOf(files);
  const copying: Promise<void>[] = [];
  let batch: { file: CachedFile; copy: RangeCopy }[] = [];
  const post = (): void => {
    const posted = batch;
    batch = [];
    const results = copier.copy(
      blob.fd,
      posted.map(({ copy }) => copy),
    );
    copying.push(results.then((each) => settleCopies(posted, each, options)));
  };
  const made = new Set<string>();
  const pause = eventLoopSlicer();
  let settled: PromiseSettledResult<void>[] = [];
  try {
    for (const [index, file] of files.entries()) {
      if (skip.has(file.path)) continue;
      const target = resolve(root, ...file.path.split('/'));
      if (!target.startsWith(root + sep))
        throw new Error(`${wheel}: ${file.path} would be written outside the tree`);
      const mode = file.executable ? 0o755 : 0o644;
      const pieces = bytesInMemory(checked, file.path);
      if (pieces) {
        await pause();
        await writeFromMemory(target, mode, pieces, made, file, options);
        continue;
      }
      batch.push({ file, copy: { target, mode, offset: offsets[index] ?? 0, size: file.size } });
      if (batch.length >= COPY_BATCH_FILES) post();
    }
    if (batch.length > 0) post();
  } finally {
    // Every batch posted ends before the blob is closed, also when a file written here failed
    // first: the workers read the blob by its descriptor, which a later open could reuse.
    settled = await Promise.allSettled(copying);
  }
  const failed = settled.find((each) => each.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Files per batch posted to the copier: the main thread hears of written files (progress) batch by batch. */
const COPY_BATCH_FILES = 256;

/** One of the entry's files whose bytes the check kept, written on this thread. */
async function writeFromMemory(
  target: string,
  mode: number,
  pieces: readonly Buffer[],
  made: Set<string>,
  file: CachedFile,
  options: InstallWheelOptions,
): Promise<void> {
  const { filename: wheel, name: packageName } = options.locked;
  if (!made.has(dirname(target))) {
    mkdirSync(dirname(target), { recursive: true });
    made.add(dirname(target));
  }
  let wrote = false;
  const write = async () => {
    writeNewFileSync(target, mode, pieces);
    wrote = true;
  };
  await writeExclusive(target, write, async () => file.sha256, `${wheel}: ${file.path}`, packageName);
  // The bytes written are the checked entry's (its blob hashed, or still the very file this cache wrote).
  if (wrote) options.ledger?.record(target, file.sha256);
  options.onFileWritten?.(file.size);
}

/** What the copier did with a batch: each written file recorded; one already there accepted only with the same bytes. */
async function settleCopies(
  posted: readonly { file: CachedFile; copy: RangeCopy }[],
  results: readonly RangeCopyResult[],
  options: InstallWheelOptions,
): Promise<void> {
  const { filename: wheel, name: packageName } = options.locked;
  for (const [index, { file, copy }] of posted.entries()) {
    const result = results[index] ?? { code: undefined, message: 'the copier returned no result' };
    if ('identity' in result) options.ledger?.recordWritten(copy.target, result.identity, file.sha256);
    else if (result.code === 'EEXIST')
      await acceptExisting(copy.target, file.sha256, `${wheel}: ${file.path}`, packageName);
    else
      throw Object.assign(new Error(`${wheel}: ${file.path} could not be written: ${result.message}`), {
        code: result.code,
      });
    options.onFileWritten?.(file.size);
  }
}

/** A new file at `target` (exclusive create, as installWheel writes) holding `pieces`; removed again if that fails. */
function writeNewFileSync(target: string, mode: number, pieces: readonly Buffer[]): void {
  const out = openSync(target, 'wx', mode);
  try {
    for (const piece of pieces)
      for (let done = 0; done < piece.length;) done += writeSync(out, piece, done, piece.length - done);
  } catch (error) {
    closeSync(out);
    rmSync(target, { force: true });
    throw error;
  }
  closeSync(out);
}

/** The description's file list of a fresh install, or null when a digest is not a sha256 (nothing is stored then). */
function describeFiles(fresh: FreshInstall): CachedFile[] | null {
  const files: CachedFile[] = [];
  for (const { path, size, executable, source } of fresh.installed.files) {
    const digest = fresh.digests.get(path) ?? '';
    if (!digest.startsWith('sha256=')) return null;
    const sha256 = hexOfRecordDigest(digest);
    if (source.kind === 'wheel' && source.method !== 0 && source.method !== 8) return null;
    // The content digest is the file's own (sha256 above), not a part of where its bytes sit.
    const described: CachedFile['source'] =
      source.kind === 'generated'
        ? { kind: 'generated' }
        : {
            kind: 'wheel',
            method: source.method as 0 | 8,
            crc32: source.crc32,
            dataOffset: source.dataOffset,
            compressedSize: source.compressedSize,
          };
    files.push({ path, size, sha256, executable, source: described });
  }
  return files;
}

/**
 * Copy one tree file into the blob. The install wrote it moments ago, except a path another
 * distribution claimed with the same bytes, which may still be being written: that one is
 * hashed on the way and, when it is not (yet) those bytes, the entry is not stored this time.
 * @returns false when such a shared file did not match
 */
async function copyIn(treeFile: string, blob: FileHandle, offset: number, file: CachedFile, shared: boolean) {
  const hash = createHash('sha256');
  let source: FileHandle | null = null;
  try {
    source = await open(treeFile, 'r');
    await readRange(source, 0, file.size, async (chunk, at) => {
      if (shared) hash.update(chunk);
      await writeAllAt(blob, chunk, offset + at);
    });
  } catch (error) {
    if (shared) return false;
    throw error;
  } finally {
    await source?.close();
  }
  return !shared || hash.digest('hex') === file.sha256;
}

/** Runs of consecutive files whose bytes are in memory, each at most a chunk (and IOV_MAX buffers): one write each. */
function inMemoryRuns(
  files: readonly CachedFile[],
  offsets: readonly number[],
  contents: ReadonlyMap<string, Buffer>,
): { offset: number; buffers: Buffer[]; bytes: number }[] {
  const runs: { offset: number; buffers: Buffer[]; bytes: number }[] = [];
  let run: (typeof runs)[number] | null = null;
  files.forEach((file, index) => {
    const content = contents.get(file.path);
    if (!content) run = null;
    else {
      if (!run || run.bytes + content.length > CHUNK_BYTES || run.buffers.length >= 1024)
        runs.push((run = { offset: offsets[index] ?? 0, buffers: [], bytes: 0 }));
      run.buffers.push(content);
      run.bytes += content.length;
    }
  });
  return runs;
}

/**
 * The kept files back to back into `path`: what the install wrote from memory (generated files
 * and the entries its check kept) from there, in a few large writes (thousands of small ones
 * cost more than the bytes), the rest read back from the tree.
 */
async function writeBlob(path: string, files: readonly CachedFile[], fresh: FreshInstall, treeDir: string) {
  const contents = new Map(fresh.written);
  for (const file of fresh.installed.files)
    if (file.source.kind === 'generated') contents.set(file.path, file.source.content);
  const offsets = offsetsOf(files);
  const blob = await open(path, 'wx', 0o644);
  let complete = true;
  try {
    await eachSettled(inMemoryRuns(files, offsets, contents), 4, async ({ offset, buffers, bytes }) => {
      const { bytesWritten } = await blob.writev(buffers, offset);
      if (bytesWritten !== bytes) throw new Error(`short write (${bytesWritten} of ${bytes} bytes)`);
    });
    const fromTree = files.flatMap((file, index) =>
      contents.has(file.path) ? [] : [{ file, offset: offsets[index] ?? 0 }],
    );
    await eachSettled(fromTree, 8, async ({ file, offset }) => {
      const treeFile = join(treeDir, ...file.path.split('/'));
      if (!(await copyIn(treeFile, blob, offset, file, fresh.skipped.has(file.path)))) complete = false;
    });
  } finally {
    await blob.close();
  }
  return complete;
}

/**
 * Store a fresh install as the entry `folder`: written in full beside it, then renamed into
 * place (first writer wins). Not fsynced: a torn entry after a crash fails its checks on read.
 */
async function storeEntry(folder: string, options: InstallWheelOptions, fresh: FreshInstall): Promise<void> {
  const files = describeFiles(fresh);
  if (files === null) return;
  await mkdir(dirname(folder), { recursive: true });
  const partial = join(dirname(folder), `.partial-${randomUUID().slice(0, 8)}`);
  await mkdir(partial);
  try {
    if (!(await writeBlob(join(partial, INSTALLED_BLOB_FILE), files, fresh, options.treeDir))) return;
    const { distInfo, installedBytes, removed, topLevel } = fresh.installed;
    // (Renaming the folder into place below leaves the blob's own identity as it is now.)
    const blob = await fileIdentity(join(partial, INSTALLED_BLOB_FILE));
    const description = {
      format: INSTALLED_TREE_FORMAT,
      inputs: keyInputs(options),
      distInfo,
      installedBytes,
      removed,
      topLevel,
      files,
      ...(blob ? { blob } : {}),
    };
    await writeFile(join(partial, INSTALLED_ENTRY_FILE), JSON.stringify(description));
    // Made from the install's own reading of this very wheel: as good as a full check of it.
    const written = await fileIdentity(join(partial, INSTALLED_ENTRY_FILE));
    await rememberDescriptionChecked(partial, written, fresh.installed.wheelIdentity ?? null);
    await rename(partial, folder).catch((error: NodeJS.ErrnoException) => {
      // Another run stored the same entry first; theirs is as good as this one.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}
