// Writes zips that are byte-identical for the same input: entries sorted by name, every
// timestamp 1980-01-01 00:00, modes fixed to 0644 (files) and 0755 (scripts, directories),
// no extra fields, no comments. Entries that pass through a wheel unchanged are copied as the
// wheel's raw compressed bytes (no inflate, no deflate): the installer has already checked
// them against RECORD, so copying the bytes is both safe and the fastest way to build a layer.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { crc32, deflateRaw } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const EOCD_SIGNATURE = 0x06054b50;
/** 1980-01-01 in MS-DOS date format (year 0 = 1980, month 1, day 1); time 00:00:00 is 0. */
const DOS_DATE_1980_01_01 = (1 << 5) | 1;
const DOS_TIME_MIDNIGHT = 0;
/** Bit 11: names are UTF-8. */
const FLAG_UTF8 = 0x0800;
/** Made by Unix (3), spec version 2.0, so unzip and Lambda honour the mode bits. */
const VERSION_MADE_BY = (3 << 8) | 20;
const VERSION_NEEDED = 20;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** Without zip64 no offset or size may reach 4 GiB; layers are far below it (250 MB unzipped). */
const MAX_32 = 0xffffffff;

/** Compressed bytes taken verbatim from another zip, with the fields that describe them. */
export interface RawZipData {
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly crc32: number;
  readonly uncompressedSize: number;
  /** Exactly the compressed bytes (`compressedSize` of them). */
  readonly data: Buffer;
}

/** One entry to write: raw bytes from a wheel, or content to deflate here, or a directory. */
export type DeterministicZipEntry =
  | { readonly name: string; readonly kind: 'raw'; readonly executable: boolean; readonly raw: RawZipData }
  | {
      readonly name: string;
      readonly kind: 'content';
      readonly executable: boolean;
      readonly content: Buffer;
    }
  | { readonly name: string; readonly kind: 'directory' };

export interface DeterministicZipResult {
  /** hex sha256 of the zip file. */
  readonly sha256: string;
  /** Bytes of the zip file. */
  readonly size: number;
  /** Sum of the entries' uncompressed sizes (what Lambda counts against 250 MB). */
  readonly unzippedSize: number;
  readonly entryCount: number;
  /** Entries copied as raw compressed data. */
  readonly rawEntries: number;
}

interface PreparedEntry {
  readonly name: Buffer;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly mode: number;
  readonly data: Buffer;
}

async function prepare(entry: DeterministicZipEntry): Promise<PreparedEntry> {
  const nameText = entry.kind === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const name = Buffer.from(nameText, 'utf8');
  if (entry.kind === 'directory') {
    return {
      name,
      method: 0,
      crc32: 0,
      compressedSize: 0,
      uncompressedSize: 0,
      mode: S_IFDIR | 0o755,
      data: Buffer.alloc(0),
    };
  }
  const mode = S_IFREG | (entry.executable ? 0o755 : 0o644);
  if (entry.kind === 'raw') {
    return {
      name,
      method: entry.raw.method,
      crc32: entry.raw.crc32,
      compressedSize: entry.raw.data.length,
      uncompressedSize: entry.raw.uncompressedSize,
      mode,
      data: entry.raw.data,
    };
  }
  // Tiny files grow when deflated; storing them keeps the choice deterministic all the same.
  const deflated = entry.content.length > 64 ? await deflateRawAsync(entry.content, { level: 6 }) : null;
  const useDeflate = deflated !== null && deflated.length < entry.content.length;
  return {
    name,
    method: useDeflate ? 8 : 0,
    crc32: crc32(entry.content),
    compressedSize: useDeflate ? deflated.length : entry.content.length,
    uncompressedSize: entry.content.length,
    mode,
    data: useDeflate ? deflated : entry.content,
  };
}

/** The local file header and the name, in one buffer (every byte written: allocUnsafe is safe). */
function localHeader(entry: PreparedEntry): Buffer {
  const header = Buffer.allocUnsafe(30 + entry.name.length);
  header.writeUInt32LE(LOCAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(VERSION_NEEDED, 4);
  header.writeUInt16LE(FLAG_UTF8, 6);
  header.writeUInt16LE(entry.method, 8);
  header.writeUInt16LE(DOS_TIME_MIDNIGHT, 10);
  header.writeUInt16LE(DOS_DATE_1980_01_01, 12);
  header.writeUInt32LE(entry.crc32 >>> 0, 14);
  header.writeUInt32LE(entry.compressedSize, 18);
  header.writeUInt32LE(entry.uncompressedSize, 22);
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(0, 28);
  entry.name.copy(header, 30);
  return header;
}

/** The central directory header and the name, in one buffer (every byte written). */
function centralHeader(entry: PreparedEntry, offset: number): Buffer {
  const header = Buffer.allocUnsafe(46 + entry.name.length);
  header.writeUInt32LE(CENTRAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(VERSION_MADE_BY, 4);
  header.writeUInt16LE(VERSION_NEEDED, 6);
  header.writeUInt16LE(FLAG_UTF8, 8);
  header.writeUInt16LE(entry.method, 10);
  header.writeUInt16LE(DOS_TIME_MIDNIGHT, 12);
  header.writeUInt16LE(DOS_DATE_1980_01_01, 14);
  header.writeUInt32LE(entry.crc32 >>> 0, 16);
  header.writeUInt32LE(entry.compressedSize, 20);
  header.writeUInt32LE(entry.uncompressedSize, 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(0, 30);
  header.writeUInt16LE(0, 32);
  header.writeUInt16LE(0, 34);
  header.writeUInt16LE(0, 36);
  // MS-DOS directory attribute in the low byte keeps Windows tools happy; Unix mode in the high half.
  header.writeUInt32LE((((entry.mode << 16) >>> 0) | (entry.mode & S_IFDIR ? 0x10 : 0)) >>> 0, 38);
  header.writeUInt32LE(offset, 42);
  entry.name.copy(header, 46);
  return header;
}

/**
 * Write `entries` as a deterministic zip at `path` (sorted by name; duplicates refused).
 * @example
 *   await writeDeterministicZip('/out/layer-numpy.zip', [
 *     { name: 'python/numpy/__init__.py', kind: 'raw', executable: false, raw },
 *     { name: 'bin/f2py', kind: 'content', executable: true, content: script },
 *   ]);
 */
export async function writeDeterministicZip(
  path: string,
  entries: readonly DeterministicZipEntry[],
): Promise<DeterministicZipResult> {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let index = 1; index < sorted.length; index++) {
    if (sorted[index]?.name === sorted[index - 1]?.name) {
      throw new Error(`writeDeterministicZip: entry "${sorted[index]?.name}" is given twice`);
    }
  }
  const prepared = await Promise.all(sorted.map(prepare));
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  // Chunks gather until a writev's worth; the hash takes them then, as they go out. (An await
  // and a hash update per header and name cost more than the writes for a layer of small files.)
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    for (const chunk of pending) hash.update(chunk);
    await handle.writev(pending);
    pending = [];
    pendingBytes = 0;
  };
  const emit = (chunk: Buffer): boolean => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    offset += chunk.length;
    // writev takes at most IOV_MAX (1024) buffers per call on Linux.
    return pending.length >= 1000 || pendingBytes >= 8 * 1024 * 1024;
  };
  try {
    const offsets: number[] = [];
    let unzippedSize = 0;
    for (const entry of prepared) {
      if (offset > MAX_32)
        throw new Error(`writeDeterministicZip: ${path} would pass 4 GiB (zip64 is not written)`);
      offsets.push(offset);
      let full = emit(localHeader(entry));
      if (entry.data.length > 0) full = emit(entry.data);
      if (full) await flush();
      unzippedSize += entry.uncompressedSize;
    }
    const directoryStart = offset;
    for (const [index, entry] of prepared.entries())
      if (emit(centralHeader(entry, offsets[index] ?? 0))) await flush();
    const directorySize = offset - directoryStart;
    if (offset > MAX_32 || prepared.length > 0xffff) {
      throw new Error(`writeDeterministicZip: ${path} needs zip64 (too big or too many entries)`);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(EOCD_SIGNATURE, 0);
    end.writeUInt16LE(prepared.length, 8);
    end.writeUInt16LE(prepared.length, 10);
    end.writeUInt32LE(directorySize, 12);
    end.writeUInt32LE(directoryStart, 16);
    emit(end);
    await flush();
    return {
      sha256: hash.digest('hex'),
      size: offset,
      unzippedSize,
      entryCount: prepared.length,
      rawEntries: sorted.filter((entry) => entry.kind === 'raw').length,
    };
  } finally {
    await handle.close();
  }
}

/** Every parent folder of the given entry names (`a/b/c.py` → `a/`, `a/b/`), for directory entries. */
export function parentDirectories(names: Iterable<string>): string[] {
  const directories = new Set<string>();
  for (const name of names) {
    const parts = name.split('/');
    for (let length = 1; length < parts.length; length++)
      directories.add(`${parts.slice(0, length).join('/')}/`);
  }
  return [...directories].sort();
}
