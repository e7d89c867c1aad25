// The one zip reader of the build side: opens a zip on disk without loading it, reads its
// central directory (index/zip-directory.ts does the parsing), refuses bomb-shaped archives from
// their declared sizes and compression ratios before a byte is inflated, and streams each entry
// through the one inflate-and-CRC routine, which stops at the first byte past the declared
// size. Memory stays bounded by a chunk, whatever the archive claims.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { crc32, createInflateRaw, inflateRaw, inflateRawSync } from 'node:zlib';
import { eachSettled } from '../shared/each-settled.ts';
import { UnsafeArchiveError } from '../shared/errors.ts';
import {
  LOCAL_HEADER_SIZE,
  locateCentralDirectory,
  localDataOffset,
  MAX_END_RECORD_SPAN,
  readCentralDirectory,
  type ZipEntry,
  type ZipLimits,
} from '../index/zip-directory.ts';

export type { ZipEntry, ZipLimits } from '../index/zip-directory.ts';

/** Whether an entry's Unix mode (the high half of its external attributes) has an execute bit. */
export function isExecutableEntry(entry: ZipEntry): boolean {
  return ((entry.externalAttributes >>> 16) & 0o111) !== 0;
}

/**
 * Why an entry name is unsafe to write, or null. Names are `/`-separated, relative, with no
 * `..`, `.` or empty parts (a trailing `/` marks a directory), no backslashes, no NUL.
 */
export function unsafeEntryName(name: string): string | null {
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'is an absolute Windows path';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.includes('\0')) return 'contains a NUL byte';
  const parts = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (parts.some((part) => part === '..')) return 'climbs out of the archive with ".."';
  if (parts.some((part) => part === '' || part === '.')) return 'has an empty or "." path segment';
  return null;
}

/** Compression-ratio limits: what a real archive never reaches and every cheap bomb must. */
export interface RatioLimits {
  /** An entry bigger than `ratioFloorBytes` may unpack to at most this many times its compressed size. @default 200 */
  readonly maxEntryRatio: number;
  /** The whole archive, once over `ratioFloorBytes`, may unpack to at most this many times the file. @default 100 */
  readonly maxTotalRatio: number;
  /** Below this many unpacked bytes ratios do not matter (a 4 MiB file of zeros harms nobody). @default 16 MiB */
  readonly ratioFloorBytes: number;
}

export const DEFAULT_RATIO_LIMITS: RatioLimits = {
  maxEntryRatio: 200,
  maxTotalRatio: 100,
  ratioFloorBytes: 16 * 1024 ** 2,
};

/** Who an error is about: the archive's name and, for wheels, the package. */
export interface ZipOrigin {
  readonly name: string;
  readonly packageName?: string;
}

/** A zip opened for reading: its entries and where each one's data starts. */
export interface OpenZip {
  readonly origin: ZipOrigin;
  readonly size: number;
  readonly entries: readonly ZipEntry[];
  /** Absolute offset of the entry's compressed data (local header checked). */
  dataOffset(entry: ZipEntry): number;
  /** Offset of the first central directory header (no entry data reaches it). */
  readonly directoryOffset: number;
  /** Where the archive's bytes are read from. */
  readonly source: ZipSource;
  close(): Promise<void>;
}

/**
 * The archive's bytes: a file read span by span, or the whole archive already in memory (a
 * wheel read once to check its sha256, then unpacked from those very bytes). What `read` returns
 * may share memory with the archive: copy it before keeping it.
 */
export interface ZipSource {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer>;
  /** `length` bytes from `start`, in chunks of about `chunkBytes`. */
  stream(start: number, length: number, chunkBytes: number): Readable;
  close(): Promise<void>;
}

/** A file as a ZipSource; `regular` (a regular file, never a pipe or a device) allows blocking reads. */
function fileSource(handle: FileHandle, size: number, regular: boolean): ZipSource {
  return {
    size,
    read: (position, length) => readAt(handle, position, length, regular),
    stream: (start, length, chunkBytes) =>
      handle.createReadStream({
        start,
        end: start + length - 1,
        autoClose: false,
        highWaterMark: chunkBytes,
      }),
    close: () => handle.close(),
  };
}

function bytesSource(bytes: Buffer): ZipSource {
  const span = (position: number, length: number): Buffer =>
    bytes.subarray(Math.min(position, bytes.length), Math.min(position + length, bytes.length));
  return {
    size: bytes.length,
    read: async (position, length) => span(position, length),
    stream: (start, length, chunkBytes) =>
      Readable.from(
        (function* chunks() {
          // Copies: a consumer may keep a chunk, which must not keep the whole archive alive.
          for (let done = 0; done < length; done += chunkBytes)
            yield Buffer.from(span(start + done, Math.min(chunkBytes, length - done)));
        })(),
        { objectMode: false },
      ),
    close: async () => undefined,
  };
}

function unsafe(origin: ZipOrigin, entry: string | null, message: string, hint: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`${origin.name}${entry === null ? '' : `: entry "${entry}"`}: ${message}`, {
    hint,
    ...(origin.packageName ? { packageName: origin.packageName } : {}),
  });
}

/**
 * Reads up to this size block: the central directory and the windows of local headers. Opening the
 * seed set's 15 wheels took 49-63 ms with a promise per read (each waits a turn of the event loop
 * behind the build's other work), 27-37 ms blocking. Bigger reads (whole entries) stay promises.
 */
const BLOCKING_READ_BYTES = 1024 ** 2;

async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  regular: boolean,
): Promise<Buffer> {
  // Unfilled: only the bytes read are ever returned.
  const buffer = Buffer.allocUnsafe(length);
  const bytesRead =
    regular && length <= BLOCKING_READ_BYTES
      ? readSync(handle.fd, buffer, 0, length, position)
      : (await handle.read(buffer, 0, length, position)).bytesRead;
  return buffer.subarray(0, bytesRead);
}

/** How much of the archive one read of local headers takes in (they are read in offset order). */
const HEADER_WINDOW_BYTES = 256 * 1024;

/**
 * Reads small spans in increasing offset order through one window, so checking thousands of
 * local headers costs a few reads instead of one system call each.
 */
function windowedReader(source: ZipSource): (position: number, length: number) => Promise<Buffer> {
  let windowStart = 0;
  let window: Buffer = Buffer.alloc(0);
  return async (position, length) => {
    const inside = position >= windowStart && position + length <= windowStart + window.length;
    if (!inside) {
      window = await source.read(position, Math.max(length, HEADER_WINDOW_BYTES));
      windowStart = position;
    }
    const from = position - windowStart;
    return window.subarray(from, Math.min(from + length, window.length));
  };
}

/**
 * Refuse an archive whose declared sizes look like a bomb: an entry or the whole unpacking to
 * far more than its compressed bytes. Runs on the directory alone, before anything is inflated.
 */
export function guardCompressionRatio(
  origin: ZipOrigin,
  entries: readonly ZipEntry[],
  fileSize: number,
  limits: Partial<RatioLimits> = {},
): void {
  const { maxEntryRatio, maxTotalRatio, ratioFloorBytes } = { ...DEFAULT_RATIO_LIMITS, ...limits };
  const hint =
    'Real archives never compress this well; this one is a zip bomb (or crafted to look like one). Do not use it.';
  let total = 0;
  for (const entry of entries) {
    total += entry.uncompressedSize;
    if (
      entry.uncompressedSize > ratioFloorBytes &&
      entry.uncompressedSize > maxEntryRatio * Math.max(1, entry.compressedSize)
    )
      throw unsafe(
        origin,
        entry.name,
        `declares ${entry.uncompressedSize} bytes from ${entry.compressedSize} compressed (over ${maxEntryRatio}:1).`,
        hint,
      );
  }
  if (total > ratioFloorBytes && total > maxTotalRatio * Math.max(1, fileSize))
    throw unsafe(
      origin,
      null,
      `declares ${total} unpacked bytes from a ${fileSize}-byte file (over ${maxTotalRatio}:1).`,
      hint,
    );
}

/** Data offsets of every entry, refusing overlaps, truncated or disagreeing local headers. */
async function locateData(
  source: ZipSource,
  origin: ZipOrigin,
  entries: readonly ZipEntry[],
  directoryOffset: number,
): Promise<Map<ZipEntry, number>> {
  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const offsets = new Map<ZipEntry, number>();
  const readHeader = windowedReader(source);
  let previousEnd = 0;
  for (const entry of byOffset) {
    if (entry.localHeaderOffset < previousEnd)
      throw unsafe(
        origin,
        entry.name,
        'overlaps another entry.',
        'Overlapping entries are a zip bomb technique; do not use this archive.',
      );
    const nameBytes = Buffer.byteLength(entry.name);
    const header = await readHeader(entry.localHeaderOffset, LOCAL_HEADER_SIZE + nameBytes);
    const relative = localDataOffset(header, entry, origin.name);
    if (relative === null || header.length < LOCAL_HEADER_SIZE)
      throw unsafe(
        origin,
        entry.name,
        'has a truncated local header.',
        'The archive is truncated; download it again.',
      );
    const localName = header
      .subarray(LOCAL_HEADER_SIZE, LOCAL_HEADER_SIZE + header.readUInt16LE(26))
      .toString('utf8');
    if (localName !== entry.name)
      throw unsafe(
        origin,
        entry.name,
        `has the name "${localName}" in its local header.`,
        'The local and central headers disagree: a crafted or corrupt archive. Do not use it.',
      );
    const start = entry.localHeaderOffset + relative;
    if (start + entry.compressedSize > directoryOffset)
      throw unsafe(
        origin,
        entry.name,
        'runs into the central directory.',
        'The archive is corrupt or crafted.',
      );
    offsets.set(entry, start);
    previousEnd = start + entry.compressedSize;
  }
  return offsets;
}

/**
 * Open a zip: directory read and checked against `limits` (counts, declared sizes, ratios).
 * @example
 *   const zip = await openZip('numpy.whl', { name: 'numpy-2.2.6-….whl', packageName: 'numpy' });
 *   try { for (const entry of zip.entries) await inflateEntry(zip, entry, (chunk) => hash.update(chunk)); }
 *   finally { await zip.close(); }
 */
export async function openZip(
  path: string,
  origin: ZipOrigin,
  limits: Partial<ZipLimits & RatioLimits> = {},
): Promise<OpenZip> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    return await openZipSource(fileSource(handle, info.size, info.isFile()), origin, limits);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * {@link openZip} on an archive already in memory: nothing is read from a file again, so what
 * is unpacked is exactly the bytes that were checked.
 */
export function openZipBytes(
  bytes: Buffer,
  origin: ZipOrigin,
  limits: Partial<ZipLimits & RatioLimits> = {},
): Promise<OpenZip> {
  return openZipSource(bytesSource(bytes), origin, limits);
}

async function openZipSource(
  source: ZipSource,
  origin: ZipOrigin,
  limits: Partial<ZipLimits & RatioLimits>,
): Promise<OpenZip> {
  const { size } = source;
  try {
    const tailStart = Math.max(0, size - MAX_END_RECORD_SPAN);
    const location = locateCentralDirectory(
      await source.read(tailStart, size - tailStart),
      size,
      origin.name,
    );
    const directory = await source.read(location.offset, location.size);
    const entries = readCentralDirectory(directory, location, origin.name, limits);
    guardCompressionRatio(origin, entries, size, limits);
    const offsets = await locateData(source, origin, entries, location.offset);
    return {
      origin,
      size,
      entries,
      source,
      directoryOffset: location.offset,
      dataOffset: (entry) => offsets.get(entry) ?? 0,
      close: () => source.close(),
    };
  } catch (error) {
    if (error instanceof UnsafeArchiveError && origin.packageName && !error.packageName)
      throw new UnsafeArchiveError(error.message, {
        hint: error.hint,
        packageName: origin.packageName,
        cause: error,
      });
    throw error;
  }
}

/**
 * Entries up to this size are read and inflated in one piece (no stream per entry); those above
 * SYNC_INFLATE_BYTES on libuv's thread pool, so two cores are busy when several are in flight.
 * Bigger entries stream.
 */
const WHOLE_ENTRY_BYTES = 4 * 1024 ** 2;
/**
 * A bigger entry is read and inflated this much at a time: zlib's default 16 KiB made a 25 MB
 * shared library 1,500 callbacks, each a hash update and a write.
 */
const STREAM_CHUNK_BYTES = 1024 ** 2;

const inflateRawWhole = promisify(inflateRaw);
/** zlib's smallest output chunk. */
const ZLIB_MIN_CHUNK_BYTES = 64;

/** Entries up to this many compressed bytes are inflated synchronously (well under a millisecond). */
const SYNC_INFLATE_BYTES = 64 * 1024;

const LIES = 'The archive lies about its sizes (a zip bomb or corruption); do not use it.';

function doesNotInflate(origin: ZipOrigin, entry: ZipEntry, error: unknown): UnsafeArchiveError {
  return new UnsafeArchiveError(
    `${origin.name}: entry "${entry.name}" does not inflate (${(error as Error).message}).`,
    {
      hint: 'The archive is corrupt or unpacks to more than it declares (a zip bomb); do not use it.',
      ...(origin.packageName ? { packageName: origin.packageName } : {}),
      cause: error,
    },
  );
}

function tooBig(origin: ZipOrigin, entry: ZipEntry): UnsafeArchiveError {
  return unsafe(
    origin,
    entry.name,
    `unpacks to more than the ${entry.uncompressedSize} bytes the directory says.`,
    LIES,
  );
}

/** A small entry in one buffer; zlib stops one byte past the declared size. */
async function inflateWhole(zip: OpenZip, entry: ZipEntry): Promise<Buffer> {
  const compressed = await zip.source.read(zip.dataOffset(entry), entry.compressedSize);
  // (A stored entry's bytes may be a view of the whole archive, which they must not keep alive.)
  if (entry.method === 0) return Buffer.from(compressed);
  // Output chunks as big as the entry (plus the byte that shows its end): zlib's 16 KiB default
  // made every bigger entry several buffers concatenated, a second copy of each file.
  const options = {
    maxOutputLength: Math.max(1, entry.uncompressedSize),
    chunkSize: Math.max(ZLIB_MIN_CHUNK_BYTES, entry.uncompressedSize + 1),
  };
  try {
    // A stream's set-up costs more than inflating a few kilobytes on this thread.
    if (compressed.length <= SYNC_INFLATE_BYTES) return inflateRawSync(compressed, options);
    return await inflateRawWhole(compressed, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooBig(zip.origin, entry);
    throw doesNotInflate(zip.origin, entry, error);
  }
}

/** A big entry chunk by chunk; returns its size and CRC-32. */
async function inflateStreaming(
  zip: OpenZip,
  entry: ZipEntry,
  visit: (chunk: Buffer) => void | Promise<void>,
): Promise<{ size: number; crc: number }> {
  const start = zip.dataOffset(entry);
  const raw = zip.source.stream(start, entry.compressedSize, STREAM_CHUNK_BYTES);
  let source: Readable = raw;
  if (entry.method === 8) {
    const inflater = createInflateRaw({ chunkSize: STREAM_CHUNK_BYTES });
    raw.on('error', (error) => inflater.destroy(error));
    source = raw.pipe(inflater);
  }
  let size = 0;
  let crc = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      // One byte over the declared size is enough to stop: nothing more is inflated.
      if (size > entry.uncompressedSize) throw tooBig(zip.origin, entry);
      crc = crc32(chunk, crc);
      await visit(chunk);
    }
  } catch (error) {
    raw.destroy();
    if (error instanceof UnsafeArchiveError) throw error;
    throw doesNotInflate(zip.origin, entry, error);
  }
  return { size, crc };
}

function assertKnownMethod(origin: ZipOrigin, entry: ZipEntry): void {
  if (entry.method !== 0 && entry.method !== 8)
    throw unsafe(
      origin,
      entry.name,
      `uses compression method ${entry.method}.`,
      'Only stored (0) and deflate (8) are read.',
    );
}

/** The check every inflated entry passes: its declared size and CRC-32. */
function assertInflatedAsDeclared(origin: ZipOrigin, entry: ZipEntry, size: number, crc: number): void {
  if (size !== entry.uncompressedSize)
    throw unsafe(
      origin,
      entry.name,
      `unpacks to ${size} bytes, the directory says ${entry.uncompressedSize}.`,
      LIES,
    );
  if (crc >>> 0 !== entry.crc32 >>> 0)
    throw unsafe(origin, entry.name, 'fails its CRC-32 check.', 'The archive is corrupt; download it again.');
}

/**
 * The one inflate-and-CRC routine: gives an entry's bytes to `visit` (small entries in one
 * chunk, big ones streamed), and throws when it inflates past its declared size, short of it,
 * or fails its CRC-32.
 */
export async function inflateEntry(
  zip: OpenZip,
  entry: ZipEntry,
  visit: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  const { origin } = zip;
  assertKnownMethod(origin, entry);
  let size = 0;
  let crc = 0;
  if (
    entry.compressedSize > 0 &&
    Math.max(entry.compressedSize, entry.uncompressedSize) <= WHOLE_ENTRY_BYTES
  ) {
    const data = await inflateWhole(zip, entry);
    if (data.length > entry.uncompressedSize) throw tooBig(origin, entry);
    size = data.length;
    crc = crc32(data);
    if (size === entry.uncompressedSize && crc >>> 0 === entry.crc32 >>> 0) await visit(data);
  } else if (entry.compressedSize > 0) {
    ({ size, crc } = await inflateStreaming(zip, entry, visit));
  }
  assertInflatedAsDeclared(origin, entry, size, crc);
}

/**
 * The same routine for compressed bytes already in memory (an entry a Range request fetched):
 * inflated no further than one byte past the declared size, then checked as inflateEntry checks.
 * @example const metadata = inflateBuffer({ name: 'numpy-2.2.6-….whl' }, entry, bytes.subarray(start, end));
 */
export function inflateBuffer(origin: ZipOrigin, entry: ZipEntry, compressed: Buffer): Buffer {
  assertKnownMethod(origin, entry);
  let data = compressed;
  if (entry.method === 8) {
    try {
      data = inflateRawSync(compressed, { maxOutputLength: Math.max(1, entry.uncompressedSize + 1) });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooBig(origin, entry);
      throw doesNotInflate(origin, entry, error);
    }
  }
  if (data.length > entry.uncompressedSize) throw tooBig(origin, entry);
  assertInflatedAsDeclared(origin, entry, data.length, crc32(data));
  return data;
}

/** An entry's whole content (for small files: metadata, scripts, symlink targets). */
export async function readEntry(zip: OpenZip, entry: ZipEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await inflateEntry(zip, entry, (chunk) => {
    chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

/**
 * Stream one entry into a new file at `target` (exclusive create: an existing file is never
 * overwritten, the error says EEXIST). The file is removed again when the entry fails its checks.
 */
export async function writeEntryTo(
  zip: OpenZip,
  entry: ZipEntry,
  target: string,
  mode = 0o644,
  /** Sees each chunk as it is written (a digest taken on the way). */
  onChunk?: (chunk: Buffer) => void,
): Promise<void> {
  const handle = await open(target, 'wx', mode);
  try {
    await inflateEntry(zip, entry, async (chunk) => {
      onChunk?.(chunk);
      await handle.write(chunk);
    });
  } catch (error) {
    await handle.close();
    await rm(target, { force: true });
    throw error;
  }
  await handle.close();
}

/** A file extractZip wrote (its size is the entry's, which the inflated bytes were checked against). */
export interface ExtractedFile {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
  readonly executable: boolean;
}

/** Entries written at once by the extractor (names are unique, so they never race on a file). */
const EXTRACT_CONCURRENCY = 16;

/**
 * The one safe zip extractor: unpack regular files into `destination`, refusing (before writing)
 * bombs by declared sizes and ratios, names that escape, links and duplicates; memory bounded.
 * @example await extractZip('layer.zip', '/tmp/unpacked');
 */
export async function extractZip(
  path: string,
  destination: string,
  options: {
    readonly limits?: Partial<ZipLimits & RatioLimits>;
    /** Replace files already in `destination` (removed first, so a link there is never written through). */
    readonly replaceExisting?: boolean;
    /** Told of each file as written, with its sha256 (hex): no second read to hash it. */
    readonly onFile?: (file: ExtractedFile) => void;
  } = {},
): Promise<{ files: number; bytes: number }> {
  const zip = await openZip(path, { name: path }, options.limits);
  try {
    const seen = new Set<string>();
    for (const entry of zip.entries) {
      const problem = unsafeEntryName(entry.name);
      if (problem)
        throw unsafe(
          zip.origin,
          entry.name,
          `${problem}.`,
          'Extracting it would write outside the folder; do not use this archive.',
        );
      if (entry.isSymlink)
        throw unsafe(
          zip.origin,
          entry.name,
          'is a symbolic link.',
          'Links are not unpacked: one could point outside the folder.',
        );
      if (seen.has(entry.name))
        throw unsafe(
          zip.origin,
          entry.name,
          'appears twice.',
          'Which copy wins is undefined; rebuild the archive.',
        );
      seen.add(entry.name);
    }
    let files = 0;
    let bytes = 0;
    const folders = new Map<string, Promise<unknown>>();
    const folderOf = (target: string): Promise<unknown> => {
      const folder = dirname(target);
      let made = folders.get(folder);
      if (!made) folders.set(folder, (made = mkdir(folder, { recursive: true })));
      return made;
    };
    const fileEntries = zip.entries.filter((entry) => !entry.name.endsWith('/'));
    await eachSettled(fileEntries, EXTRACT_CONCURRENCY, async (entry) => {
      const target = join(destination, ...entry.name.split('/'));
      await folderOf(target);
      const executable = isExecutableEntry(entry);
      const mode = executable ? 0o755 : 0o644;
      const write = async (): Promise<void> => {
        const hash = options.onFile ? createHash('sha256') : null;
        await writeEntryTo(zip, entry, target, mode, hash ? (chunk) => void hash.update(chunk) : undefined);
        if (hash)
          options.onFile?.({
            name: entry.name,
            sha256: hash.digest('hex'),
            size: entry.uncompressedSize,
            executable,
          });
      };
      try {
        await write();
      } catch (error) {
        // An earlier layer's file: removed first, so a link there is never written through.
        if (!options.replaceExisting || (error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        await rm(target, { force: true });
        await write();
      }
      files++;
      bytes += entry.uncompressedSize;
    });
    return { files, bytes };
  } finally {
    await zip.close();
  }
}
