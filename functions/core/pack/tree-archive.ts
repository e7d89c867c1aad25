// Deterministic tar archives of an installed tree (for image layers and the EFS sync), and a
// safe extractor for them. The same tree always gives the same bytes: entries sorted, mtime 0,
// uid/gid 0, modes normalized; so the archive's sha256 can name it. Extraction refuses
// anything that could write outside the destination (absolute paths, `..`, links escaping,
// writing through a link), device files, and archives over the size limits.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { UnsafeArchiveError } from '../shared/errors.ts';
import { sha256OfFile } from '../shared/hash.ts';
import { ParallelGzip } from './parallel-gzip.ts';

/** zlib's default level (Z_DEFAULT_COMPRESSION stands for it). */
const DEFAULT_GZIP_LEVEL = 6;

/** How file modes are written: `normalized` keeps only "executable or not" (0755/0644); `fixed` makes every file 0644. */
export type TreeTarMode = 'normalized' | 'fixed';

export interface WriteTreeTarOptions {
  /** Folder inside the archive to put the tree under (`var/task`, `/opt/python`); its parents are written as directories. */
  readonly prefix?: string;
  /** gzip the archive (image layers); the result then also carries the uncompressed tar's digest. */
  readonly gzip?: boolean;
  /** zlib level 1–9 when gzip is on. Default 6. */
  readonly gzipLevel?: number;
  /** Default `normalized`. */
  readonly mode?: TreeTarMode;
  /**
   * Hash every file's bytes as they go into the archive: the result then carries
   * `entryDigests`, which is what the archive unpacks to without reading it back.
   */
  readonly digestEntries?: boolean;
}

export interface TreeTarResult {
  /** `sha256:` + hex of the file written. */
  readonly sha256: string;
  /** Bytes of the file written. */
  readonly size: number;
  /** `sha256:` + hex of the uncompressed tar, when gzip is on (an OCI layer's diff_id). */
  readonly diffId?: string;
  /** Bytes of the uncompressed tar. */
  readonly tarSize: number;
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  /**
   * With `digestEntries`: each file's sha256 (hex) by its path in the tree (without `prefix`), and
   * each symlink as `symlink -> <target>`; folders are not listed.
   */
  readonly entryDigests?: ReadonlyMap<string, string>;
  /** With `digestEntries`: the regular files in the archive's order, by path in the tree (without `prefix`). */
  readonly entryFiles?: readonly ArchivedFile[];
}

/** A regular file as archived: its path in the tree, size, whether executable, and sha256 (hex). */
export interface ArchivedFile {
  readonly path: string;
  readonly size: number;
  readonly executable: boolean;
  readonly sha256: string;
}

/** Counts and hashes the bytes that pass through; `onDigest` hears the hex digest once they end. */
class DigestingStream extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onDigest?: (sha256: string) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.onDigest?.(this.hash.digest('hex'));
    done();
  }
}

interface TreeEntry {
  readonly path: string;
  readonly name: string;
  readonly kind: 'file' | 'directory' | 'symlink';
  readonly size: number;
  readonly executable: boolean;
  readonly linkTarget?: string;
}

const EPOCH = new Date(0);

function normalizePrefix(prefix: string | undefined): string {
  const parts = (prefix ?? '').split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new UnsafeArchiveError(`Archive prefix "${prefix}" contains "..".`, {
      hint: 'Give the folder the tree goes to inside the image, such as /var/task.',
    });
  }
  return parts.join('/');
}

/** Every entry of the tree, depth-first, children sorted by name, so parents precede children. */
async function listTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const rootReal = resolve(root);
  async function visit(folder: string, archiveFolder: string): Promise<void> {
    const names = (await readdir(folder)).sort();
    for (const name of names) {
      const path = join(folder, name);
      const archiveName = archiveFolder ? `${archiveFolder}/${name}` : name;
      const info = await lstat(path);
      if (info.isDirectory()) {
        entries.push({ path, name: archiveName, kind: 'directory', size: 0, executable: true });
        await visit(path, archiveName);
      } else if (info.isFile()) {
        entries.push({
          path,
          name: archiveName,
          kind: 'file',
          size: info.size,
          executable: (info.mode & 0o111) !== 0,
        });
      } else if (info.isSymbolicLink()) {
        const target = await readlink(path);
        const landing = resolve(dirname(path), target);
        if (isAbsolute(target) || !isInside(rootReal, landing)) {
          throw new UnsafeArchiveError(`Symlink ${archiveName} -> ${target} points outside the tree.`, {
            hint: 'Replace the link with the file it points to, or remove it from the tree.',
          });
        }
        entries.push({
          path,
          name: archiveName,
          kind: 'symlink',
          size: 0,
          executable: false,
          linkTarget: target,
        });
      } else {
        throw new UnsafeArchiveError(`${archiveName} is neither a file, a folder nor a symlink.`, {
          hint: 'Device files, sockets and pipes cannot go into a dependency tree.',
        });
      }
    }
  }
  await visit(rootReal, '');
  return entries;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function fileMode(entry: TreeEntry, mode: TreeTarMode): number {
  if (entry.kind === 'directory') return 0o755;
  if (entry.kind === 'symlink') return 0o777;
  return mode === 'normalized' && entry.executable ? 0o755 : 0o644;
}

type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

/**
 * Files up to this size are read (packing) or written (unpacking) in one blocking call, as one
 * buffer. Streamed, each file was an open, reads or writes and a close queued in libuv's pool one
 * after another: torch's 12,248 files kept the tar (and its gzip) waiting on those round trips
 * for half of its 12 s.
 */
const WHOLE_FILE_BYTES = 4 * 1024 * 1024;

/** Unpacked bytes per chunk of a gzip layer: zlib's 16 KiB made every file of torch's many pieces. */
export const GUNZIP_CHUNK_BYTES = 256 * 1024;

async function writeEntry(
  pack: tar.Pack,
  header: EntryHeader,
  source?: string,
  onDigest?: (sha256: string) => void,
): Promise<void> {
  await new Promise<void>((done, fail) => {
    const written = (error?: Error | null) => (error ? fail(error) : done());
    if (source !== undefined && (header.size ?? 0) <= WHOLE_FILE_BYTES) {
      let content: Buffer;
      try {
        content = readFileSync(source);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      onDigest?.(createHash('sha256').update(content).digest('hex'));
      pack.entry(header, content, written);
      return;
    }
    const sink = pack.entry(header, written);
    if (source === undefined) return;
    const read = createReadStream(source);
    if (!onDigest) return void pipeline(read, sink as unknown as Writable).catch(fail);
    // (Its digest is handed over as the file's bytes end, before tar-stream calls `written`.)
    pipeline(read, new DigestingStream(onDigest), sink as unknown as Writable).catch(fail);
  });
}

/**
 * Write `treeDir` as a deterministic tar (optionally gzip) at `outPath`.
 *
 * @example
 *   const layer = await writeTreeTar('/tmp/site-packages', '/tmp/layer.tar.gz', { prefix: 'var/task', gzip: true });
 *   // layer.sha256 is the blob digest, layer.diffId goes into the image config's rootfs.diff_ids
 */
export async function writeTreeTar(
  treeDir: string,
  outPath: string,
  options: WriteTreeTarOptions = {},
): Promise<TreeTarResult> {
  const prefix = normalizePrefix(options.prefix);
  const mode = options.mode ?? 'normalized';
  const entries = await listTree(treeDir);
  const pack = tar.pack();
  const tarDigest = new DigestingStream();
  const fileDigest = new DigestingStream();
  const stages: (Readable | Writable | Transform)[] = [pack as unknown as Readable, tarDigest];
  if (options.gzip) {
    // On every core (parallel-gzip.ts): zlib's own stream deflated torch's 709 MB on one.
    stages.push(new ParallelGzip({ level: options.gzipLevel ?? DEFAULT_GZIP_LEVEL }));
    stages.push(fileDigest);
  }
  stages.push(createWriteStream(outPath));
  const written = pipeline(stages as [Readable, ...Writable[]]);
  const base = { uid: 0, gid: 0, uname: '', gname: '', mtime: EPOCH };
  let counts = { files: 0, directories: 0, symlinks: 0 };
  const entryDigests = options.digestEntries ? new Map<string, string>() : null;
  const entryFiles: ArchivedFile[] = [];
  try {
    if (prefix) {
      const parts = prefix.split('/');
      for (let depth = 1; depth <= parts.length; depth++) {
        await writeEntry(pack, {
          ...base,
          name: `${parts.slice(0, depth).join('/')}/`,
          type: 'directory',
          mode: 0o755,
        });
      }
    }
    for (const entry of entries) {
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      const header: EntryHeader = { ...base, name, mode: fileMode(entry, mode) };
      if (entry.kind === 'directory') {
        await writeEntry(pack, { ...header, name: `${name}/`, type: 'directory' });
        counts = { ...counts, directories: counts.directories + 1 };
      } else if (entry.kind === 'symlink') {
        await writeEntry(pack, { ...header, type: 'symlink', linkname: entry.linkTarget ?? '' });
        entryDigests?.set(entry.name, `symlink -> ${entry.linkTarget ?? ''}`);
        counts = { ...counts, symlinks: counts.symlinks + 1 };
      } else {
        const onDigest = entryDigests
          ? (sha256: string) => {
              entryDigests.set(entry.name, sha256);
              const executable = fileMode(entry, mode) === 0o755;
              entryFiles.push({ path: entry.name, size: entry.size, executable, sha256 });
            }
          : undefined;
        await writeEntry(pack, { ...header, type: 'file', size: entry.size }, entry.path, onDigest);
        counts = { ...counts, files: counts.files + 1 };
      }
    }
    pack.finalize();
  } catch (error) {
    pack.destroy(error instanceof Error ? error : new Error(String(error)));
    await written.catch(() => undefined);
    throw error;
  }
  await written;
  const tarHex = `sha256:${tarDigest.hash.digest('hex')}`;
  const digested = { ...counts, ...(entryDigests ? { entryDigests, entryFiles } : {}) };
  if (!options.gzip) return { sha256: tarHex, size: tarDigest.bytes, tarSize: tarDigest.bytes, ...digested };
  return {
    sha256: `sha256:${fileDigest.hash.digest('hex')}`,
    size: fileDigest.bytes,
    diffId: tarHex,
    tarSize: tarDigest.bytes,
    ...digested,
  };
}

/** Bounds on what an archive may unpack to. */
export interface ExtractLimits {
  /** Sum of all file sizes. Default 10 GiB (Lambda's image limit). */
  readonly maxTotalBytes?: number;
  /** Largest single file. Default 4 GiB. */
  readonly maxEntryBytes?: number;
  /** Number of entries. Default 1,000,000. */
  readonly maxEntries?: number;
  /** fsync every file and folder written, so a crash after return never loses data. Default false. */
  readonly fsync?: boolean;
}

export interface ExtractResult {
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
}

const DEFAULT_LIMITS = {
  maxTotalBytes: 10 * 1024 ** 3,
  maxEntryBytes: 4 * 1024 ** 3,
  maxEntries: 1_000_000,
};

/** A tar entry name made relative and clean, or an UnsafeArchiveError naming it. */
function safeEntryPath(archive: string, name: string): string {
  const unsafe = (why: string): UnsafeArchiveError =>
    new UnsafeArchiveError(`${archive}: entry "${name}" ${why}.`, {
      hint: 'The archive was not made by lambda-deps or was tampered with; rebuild it.',
    });
  if (name.includes('\0')) throw unsafe('contains a NUL byte');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\'))
    throw unsafe('is an absolute path');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw unsafe('climbs out of the destination with ".."');
  return parts.join('/');
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeFileExclusive(
  source: AsyncIterable<unknown>,
  path: string,
  mode: number,
  options: { fsync: boolean; size: number },
): Promise<void> {
  const { fsync } = options;
  // A small file (most of them) is gathered and written in one blocking call: an open, a write
  // per 16 KiB and a close, each queued in libuv's pool one file after another, kept torch's
  // 12,248-file layer unpacking for most of its 7 s (in RAM).
  if (!fsync && options.size <= WHOLE_FILE_BYTES) {
    const chunks: Buffer[] = [];
    for await (const chunk of source) chunks.push(chunk as Buffer);
    writeFileSync(path, Buffer.concat(chunks), { flag: 'wx', mode });
    return;
  }
  const handle = await open(path, 'wx', mode);
  try {
    // tar-stream entries are streamx streams; node's pipeline() never settles on an empty one.
    for await (const chunk of source) await handle.write(chunk as Buffer);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Unpack a tar or tar.gz (detected by its first bytes) into `destDir`, refusing anything unsafe.
 *
 * @example
 *   await extractTreeTar('/tmp/tree.tar', '/mnt/deps/my-set/.staging-abc', { maxTotalBytes: 2 * 1024 ** 3, fsync: true });
 */
export async function extractTreeTar(
  tarPath: string,
  destDir: string,
  limits: ExtractLimits = {},
): Promise<ExtractResult> {
  const maxTotalBytes = limits.maxTotalBytes ?? DEFAULT_LIMITS.maxTotalBytes;
  const maxEntryBytes = limits.maxEntryBytes ?? DEFAULT_LIMITS.maxEntryBytes;
  const maxEntries = limits.maxEntries ?? DEFAULT_LIMITS.maxEntries;
  const fsync = limits.fsync ?? false;
  const destination = resolve(destDir);
  await mkdir(destination, { recursive: true });

  const head = await open(tarPath, 'r');
  const magic = Buffer.alloc(2);
  try {
    await head.read(magic, 0, 2, 0);
  } finally {
    await head.close();
  }
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  const extract = tar.extract();
  const source: Readable = createReadStream(tarPath);
  const feeding = gzipped
    ? pipeline(source, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), extract as unknown as Writable)
    : pipeline(source, extract as unknown as Writable);
  feeding.catch(() => undefined);

  const links = new Set<string>();
  const directories = new Set<string>(['']);
  const result = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  let entries = 0;
  const unsafe = (name: string, why: string, hint?: string): UnsafeArchiveError =>
    new UnsafeArchiveError(`${tarPath}: entry "${name}" ${why}.`, {
      hint: hint ?? 'The archive was not made by lambda-deps or was tampered with; rebuild it.',
    });

  try {
    for await (const entry of extract) {
      const header = entry.header;
      const relativeName = safeEntryPath(tarPath, header.name);
      entries++;
      if (entries > maxEntries) {
        throw unsafe(
          header.name,
          `is past the limit of ${maxEntries} entries`,
          'Raise maxEntries if the tree is that big.',
        );
      }
      // Writing through a link extracted earlier could land anywhere the link points.
      const parts = relativeName.split('/');
      for (let depth = 1; depth <= parts.length; depth++) {
        if (links.has(parts.slice(0, depth).join('/'))) {
          throw unsafe(header.name, 'would be written through a symlink extracted before it');
        }
      }
      const target = join(destination, ...parts);
      if (relativeName !== '' && !isInside(destination, target))
        throw unsafe(header.name, 'lands outside the destination');
      const type = header.type ?? 'file';
      if (type === 'directory') {
        if (relativeName !== '') await mkdir(target, { recursive: true, mode: 0o755 });
        directories.add(relativeName);
        result.directories++;
        entry.resume();
        continue;
      }
      if (relativeName === '') throw unsafe(header.name, 'has an empty name');
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      for (let depth = 1; depth < parts.length; depth++) directories.add(parts.slice(0, depth).join('/'));
      if (type === 'file' || type === 'contiguous-file') {
        const size = header.size ?? 0;
        if (size > maxEntryBytes) {
          throw unsafe(
            header.name,
            `is ${size} bytes, over the per-file limit of ${maxEntryBytes}`,
            'Raise maxEntryBytes if the file is expected.',
          );
        }
        if (result.bytes + size > maxTotalBytes) {
          throw unsafe(
            header.name,
            `takes the archive over the total limit of ${maxTotalBytes} bytes`,
            'Raise maxTotalBytes if the tree is expected to be that big.',
          );
        }
        const mode = ((header.mode ?? 0o644) & 0o111) !== 0 ? 0o755 : 0o644;
        try {
          await writeFileExclusive(entry, target, mode, { fsync, size });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
            throw unsafe(header.name, 'appears twice (or collides with another entry)');
          }
          throw error;
        }
        result.bytes += size;
        result.files++;
      } else if (type === 'symlink') {
        const linkTarget = header.linkname ?? '';
        const landing = resolve(dirname(target), linkTarget);
        if (linkTarget === '' || isAbsolute(linkTarget) || !isInside(destination, landing)) {
          throw unsafe(header.name, `is a symlink to "${linkTarget}", outside the destination`);
        }
        try {
          await symlink(linkTarget, target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
            throw unsafe(header.name, 'appears twice (or collides with another entry)');
          }
          throw error;
        }
        links.add(relativeName);
        result.symlinks++;
        entry.resume();
      } else if (type === 'link') {
        throw unsafe(
          header.name,
          `is a hard link to "${header.linkname ?? ''}"; lambda-deps archives never contain hard links`,
        );
      } else {
        throw unsafe(header.name, `is a ${type}; only files, folders and symlinks may be unpacked`);
      }
    }
    await feeding;
  } catch (error) {
    extract.destroy();
    source.destroy();
    if (error instanceof UnsafeArchiveError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (
      code === 'Z_DATA_ERROR' ||
      code === 'Z_BUF_ERROR' ||
      /tar|header|Unexpected end/i.test(String(error))
    ) {
      throw new UnsafeArchiveError(`${tarPath} is not a readable tar archive: ${String(error)}.`, {
        hint: 'The archive is truncated or corrupt; rebuild or download it again.',
        cause: error,
      });
    }
    throw error;
  }
  if (fsync) {
    // Deepest folders first, so each folder's entry is durable before its parent's.
    const folders = [...directories].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const folder of folders) await fsyncPath(folder === '' ? destination : join(destination, folder));
  }
  return result;
}

/** sha256 (hex, no prefix) of a file, streamed. */
export const sha256File = sha256OfFile;
