// Reads a zip's End Of Central Directory record (zip64 included) and its central directory
// from bytes already in memory, with strict bounds checks. It lets the index client size a
// wheel and find its METADATA from one Range request for the file's tail (sometimes one more
// for a big directory) instead of downloading the whole wheel, and refuses corrupt or
// bomb-like archives before anything reads their contents.
import { UnsafeArchiveError } from '../shared/errors.ts';

/** One central directory entry, with zip64 sizes and offsets already applied. */
export interface ZipEntry {
  readonly name: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Absolute offset of the entry's local file header. */
  readonly localHeaderOffset: number;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly crc32: number;
  readonly externalAttributes: number;
  /** Made on Unix with the symlink file type in its mode bits. */
  readonly isSymlink: boolean;
  readonly generalPurposeFlags: number;
}

/** Where the central directory is, from the end record. */
export interface CentralDirectoryLocation {
  /** Absolute offset of the first central directory header. */
  readonly offset: number;
  readonly size: number;
  readonly entryCount: number;
}

/** Limits that refuse zip bombs from their directory alone, before inflating a byte. */
export interface ZipLimits {
  /** @default 200_000 */
  readonly maxEntries: number;
  /** @default 2 GiB */
  readonly maxEntryUncompressedBytes: number;
  /** @default 4 GiB */
  readonly maxTotalUncompressedBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200_000,
  maxEntryUncompressedBytes: 2 * 1024 ** 3,
  maxTotalUncompressedBytes: 4 * 1024 ** 3,
};

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
/** Fixed part of a local file header; its name and extra field follow. */
export const LOCAL_HEADER_SIZE = 30;
/** The most a zip's tail can hold after the central directory: the end record and a 64 KiB comment. */
export const MAX_END_RECORD_SPAN = EOCD_SIZE + 0xffff + ZIP64_LOCATOR_SIZE + ZIP64_EOCD_MIN_SIZE;

function corrupt(origin: string, what: string): UnsafeArchiveError {
  return new UnsafeArchiveError(`${origin}: the zip's ${what}.`, {
    hint: 'The archive is corrupt, truncated or crafted; download it again, and if it persists report it to whoever publishes it.',
  });
}

function readUint64(buffer: Buffer, at: number, origin: string): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw corrupt(origin, 'zip64 field is larger than any real file');
  return Number(value);
}

/**
 * Finds the central directory from the last bytes of a zip.
 * @param tail the last `tail.length` bytes of the file (at least the end record; 64 KiB + 98 holds every possible one)
 * @param fileSize the whole file's size in bytes
 * @param origin the file's name, for errors
 * @example locateCentralDirectory(lastBytes, 58814, 'requests-2.28.1-py3-none-any.whl') // { offset, size, entryCount }
 */
export function locateCentralDirectory(
  tail: Buffer,
  fileSize: number,
  origin = 'archive',
): CentralDirectoryLocation {
  if (tail.length > fileSize)
    throw new RangeError(`tail (${tail.length} bytes) is longer than the file (${fileSize})`);
  const tailStart = fileSize - tail.length;
  let eocd = -1;
  // Search backwards; accept a signature only when its comment ends exactly at the file's end,
  // so bytes inside a comment cannot pass for the record.
  for (let at = tail.length - EOCD_SIZE; at >= 0 && at >= tail.length - EOCD_SIZE - 0xffff; at--) {
    if (
      tail.readUInt32LE(at) === EOCD_SIGNATURE &&
      at + EOCD_SIZE + tail.readUInt16LE(at + 20) === tail.length
    ) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    throw corrupt(
      origin,
      tail.length < Math.min(fileSize, EOCD_SIZE + 0xffff)
        ? `end record is not within the last ${tail.length} bytes`
        : 'end of central directory record is missing (not a zip, or truncated)',
    );
  }
  const disk = tail.readUInt16LE(eocd + 4);
  const directoryDisk = tail.readUInt16LE(eocd + 6);
  let entriesOnDisk = tail.readUInt16LE(eocd + 8);
  let entryCount = tail.readUInt16LE(eocd + 10);
  let size = tail.readUInt32LE(eocd + 12);
  let offset = tail.readUInt32LE(eocd + 16);
  let directoryEnd = tailStart + eocd;

  const locatorAt = eocd - ZIP64_LOCATOR_SIZE;
  const hasLocator = locatorAt >= 0 && tail.readUInt32LE(locatorAt) === ZIP64_LOCATOR_SIGNATURE;
  const needsZip64 = entryCount === 0xffff || size === 0xffffffff || offset === 0xffffffff;
  if (needsZip64 && !hasLocator) throw corrupt(origin, 'end record asks for zip64 but has no zip64 locator');
  if (hasLocator) {
    if (tail.readUInt32LE(locatorAt + 4) !== 0 || tail.readUInt32LE(locatorAt + 16) > 1) {
      throw corrupt(origin, 'zip64 locator names another disk (multi-disk archives are not supported)');
    }
    const recordOffset = readUint64(tail, locatorAt + 8, origin);
    const recordAt = recordOffset - tailStart;
    if (recordAt < 0 || recordAt + ZIP64_EOCD_MIN_SIZE > locatorAt) {
      throw corrupt(origin, 'zip64 end record is not where its locator says');
    }
    if (tail.readUInt32LE(recordAt) !== ZIP64_EOCD_SIGNATURE)
      throw corrupt(origin, 'zip64 end record is damaged');
    const recordSize = readUint64(tail, recordAt + 4, origin);
    if (recordAt + 12 + recordSize !== locatorAt)
      throw corrupt(origin, 'zip64 end record has an inconsistent size');
    if (tail.readUInt32LE(recordAt + 16) !== 0 || tail.readUInt32LE(recordAt + 20) !== 0) {
      throw corrupt(origin, 'zip64 end record names another disk (multi-disk archives are not supported)');
    }
    entriesOnDisk = readUint64(tail, recordAt + 24, origin);
    entryCount = readUint64(tail, recordAt + 32, origin);
    size = readUint64(tail, recordAt + 40, origin);
    offset = readUint64(tail, recordAt + 48, origin);
    directoryEnd = recordOffset;
  } else if (disk !== 0 || directoryDisk !== 0) {
    throw corrupt(origin, 'end record names another disk (multi-disk archives are not supported)');
  }
  if (entriesOnDisk !== entryCount)
    throw corrupt(origin, 'end record disagrees with itself about the entry count');
  if (offset + size !== directoryEnd) {
    throw corrupt(
      origin,
      `central directory (offset ${offset}, ${size} bytes) does not end where the end record starts (${directoryEnd})`,
    );
  }
  if (entryCount * CENTRAL_HEADER_SIZE > size) {
    throw corrupt(origin, `central directory of ${size} bytes cannot hold ${entryCount} entries`);
  }
  return { offset, size, entryCount };
}

function decodeName(raw: Buffer, utf8Flag: boolean, origin: string): string {
  if (!utf8Flag && raw.every((byte) => byte < 0x80)) return raw.toString('latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    // Without the UTF-8 flag the spec says CP437; wheels are UTF-8 in practice, and a name that
    // is neither cannot be written to disk safely anyway.
    throw corrupt(
      origin,
      `central directory has an entry name that is not valid UTF-8 (${raw.toString('hex')})`,
    );
  }
}

/**
 * Parses every central directory entry.
 * @param directory the central directory's bytes exactly (`location.size` of them)
 * @param location what {@link locateCentralDirectory} returned
 * @param origin the file's name, for errors
 * @param limits zip bomb limits; defaults to {@link DEFAULT_ZIP_LIMITS}
 * @example readCentralDirectory(tail.subarray(location.offset - tailStart), location, filename)
 */
export function readCentralDirectory(
  directory: Buffer,
  location: CentralDirectoryLocation,
  origin = 'archive',
  limits: Partial<ZipLimits> = {},
): ZipEntry[] {
  const { maxEntries, maxEntryUncompressedBytes, maxTotalUncompressedBytes } = {
    ...DEFAULT_ZIP_LIMITS,
    ...limits,
  };
  if (directory.length !== location.size) {
    throw new RangeError(
      `directory buffer holds ${directory.length} bytes, the end record says ${location.size}`,
    );
  }
  if (location.entryCount > maxEntries) {
    throw new UnsafeArchiveError(
      `${origin}: the zip has ${location.entryCount} entries, more than the limit of ${maxEntries}.`,
      {
        hint: 'This looks like a zip bomb; if the archive is genuine, raise the entry limit.',
      },
    );
  }
  const entries: ZipEntry[] = [];
  let total = 0;
  let at = 0;
  for (let index = 0; index < location.entryCount; index++) {
    if (at + CENTRAL_HEADER_SIZE > directory.length)
      throw corrupt(origin, `central directory ends inside entry ${index}`);
    if (directory.readUInt32LE(at) !== CENTRAL_HEADER_SIGNATURE) {
      throw corrupt(origin, `central directory entry ${index} has a bad signature`);
    }
    const versionMadeBy = directory.readUInt16LE(at + 4);
    const flags = directory.readUInt16LE(at + 8);
    const method = directory.readUInt16LE(at + 10);
    const crc32 = directory.readUInt32LE(at + 16);
    let compressedSize = directory.readUInt32LE(at + 20);
    let uncompressedSize = directory.readUInt32LE(at + 24);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const diskStart = directory.readUInt16LE(at + 34);
    const externalAttributes = directory.readUInt32LE(at + 38);
    let localHeaderOffset = directory.readUInt32LE(at + 42);
    const nameAt = at + CENTRAL_HEADER_SIZE;
    const extraAt = nameAt + nameLength;
    const next = extraAt + extraLength + commentLength;
    if (next > directory.length)
      throw corrupt(origin, `central directory entry ${index} runs past the directory's end`);
    const name = decodeName(directory.subarray(nameAt, extraAt), (flags & 0x800) !== 0, origin);
    if (name.length === 0) throw corrupt(origin, `central directory entry ${index} has an empty name`);

    // zip64 extended information: only the fields whose 32-bit value is saturated, in this order.
    let zip64Disk = diskStart;
    if (
      compressedSize === 0xffffffff ||
      uncompressedSize === 0xffffffff ||
      localHeaderOffset === 0xffffffff ||
      diskStart === 0xffff
    ) {
      let field = extraAt;
      let found = false;
      while (field + 4 <= extraAt + extraLength) {
        const id = directory.readUInt16LE(field);
        const length = directory.readUInt16LE(field + 2);
        const end = field + 4 + length;
        if (end > extraAt + extraLength)
          throw corrupt(origin, `entry "${name}" has an extra field running past its end`);
        if (id === 0x0001) {
          let cursor = field + 4;
          const take = (): number => {
            if (cursor + 8 > end)
              throw corrupt(origin, `entry "${name}" has a zip64 field that is too short`);
            const value = readUint64(directory, cursor, origin);
            cursor += 8;
            return value;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
          if (diskStart === 0xffff) {
            if (cursor + 4 > end)
              throw corrupt(origin, `entry "${name}" has a zip64 field that is too short`);
            zip64Disk = directory.readUInt32LE(cursor);
          }
          found = true;
          break;
        }
        field = end;
      }
      if (!found) throw corrupt(origin, `entry "${name}" needs a zip64 field and has none`);
    }
    if (zip64Disk !== 0) throw corrupt(origin, `entry "${name}" lives on another disk`);
    if (localHeaderOffset + LOCAL_HEADER_SIZE + nameLength + compressedSize > location.offset) {
      throw corrupt(origin, `entry "${name}" claims data beyond the start of the central directory`);
    }
    if (uncompressedSize > maxEntryUncompressedBytes) {
      throw new UnsafeArchiveError(
        `${origin}: entry "${name}" unpacks to ${uncompressedSize} bytes, more than the per-entry limit of ${maxEntryUncompressedBytes}.`,
        { hint: 'This looks like a zip bomb; if the archive is genuine, raise the per-entry limit.' },
      );
    }
    total += uncompressedSize;
    if (total > maxTotalUncompressedBytes) {
      throw new UnsafeArchiveError(
        `${origin}: the zip unpacks to more than the limit of ${maxTotalUncompressedBytes} bytes (entry ${index + 1} of ${location.entryCount} passes it).`,
        { hint: 'This looks like a zip bomb; if the archive is genuine, raise the total size limit.' },
      );
    }
    const isUnix = versionMadeBy >>> 8 === 3;
    entries.push({
      name,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
      method,
      crc32,
      externalAttributes,
      isSymlink: isUnix && ((externalAttributes >>> 16) & 0o170000) === 0o120000,
      generalPurposeFlags: flags,
    });
    at = next;
  }
  if (at !== directory.length) {
    throw corrupt(
      origin,
      `central directory has ${directory.length - at} bytes left after its ${location.entryCount} entries`,
    );
  }
  return entries;
}

/**
 * Where an entry's compressed data starts, from the bytes at its local header.
 * @param localHeader bytes starting at `entry.localHeaderOffset` (at least {@link LOCAL_HEADER_SIZE})
 * @returns the offset of the data relative to the local header, or null when `localHeader` is too short to tell
 */
export function localDataOffset(localHeader: Buffer, entry: ZipEntry, origin = 'archive'): number | null {
  if (localHeader.length < LOCAL_HEADER_SIZE) return null;
  if (localHeader.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) {
    throw corrupt(origin, `local header of "${entry.name}" is missing at offset ${entry.localHeaderOffset}`);
  }
  if (localHeader.readUInt16LE(8) !== entry.method) {
    throw corrupt(
      origin,
      `local header of "${entry.name}" disagrees with the central directory about compression`,
    );
  }
  return LOCAL_HEADER_SIZE + localHeader.readUInt16LE(26) + localHeader.readUInt16LE(28);
}

/** Sum of every entry's uncompressed size: what the archive occupies once unpacked. */
export function unzippedSize(entries: readonly ZipEntry[]): number {
  return entries.reduce((sum, entry) => sum + entry.uncompressedSize, 0);
}
