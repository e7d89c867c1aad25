// A wheel read lazily, as pip's lazy_wheel does: its size from the index or a HEAD request, then
// the tail by HTTP Range (which usually holds the central directory and METADATA), then single
// entries as needed. A server that ignores Range gets the file downloaded once, verified, and
// read locally from then on.
import { basename } from 'node:path';
import { IndexUnreachableError, IntegrityError, UnsafeArchiveError } from '../shared/errors.ts';
import type { DistributionFile } from '../shared/types.ts';
import { inflateBuffer } from '../pack/zip-reader.ts';
import { memo } from './context.ts';
import type { IndexContext } from './context.ts';
import type { DownloadCache } from './download-cache.ts';
import { localSource } from './local-files.ts';
import type { ByteSource } from './local-files.ts';
import { projectOfFilename } from './simple-pages.ts';
import { header, readBody, TransientError } from './transport.ts';
import {
  localDataOffset,
  locateCentralDirectory,
  LOCAL_HEADER_SIZE,
  readCentralDirectory,
} from './zip-directory.ts';
import type { ZipEntry } from './zip-directory.ts';

/** First Range request size: holds the whole directory and METADATA of most wheels in one round trip. */
const TAIL_BYTES = 256 * 1024;

/** A wheel's central directory plus the tail bytes already fetched (often holding METADATA too). */
export interface WheelDirectory {
  readonly size: number;
  readonly entries: readonly ZipEntry[];
  readonly directoryOffset: number;
  readonly tail: Buffer;
  readonly tailStart: number;
  readonly source: ByteSource;
}

export interface WheelReader {
  wheelDirectory(file: DistributionFile): Promise<WheelDirectory>;
  readEntry(file: DistributionFile, wheel: WheelDirectory, entry: ZipEntry): Promise<Buffer>;
}

type OpenedWheel = { source: ByteSource; tail: Buffer; tailStart: number };

/**
 * Reads wheels' directories and entries, locally or by Range. Kept as one closure (about 150
 * lines) on purpose: its inner functions share the per-client memo of opened wheels and the set
 * of origins that ignore Range (learned once, then a whole download is used); split out, each
 * would take both as arguments. The inflate-and-CRC step is pack/zip-reader.ts's.
 * @example const wheels = createWheelReader(context, downloads); await wheels.wheelDirectory(file);
 */
export function createWheelReader(context: IndexContext, downloads: DownloadCache): WheelReader {
  const { transport } = context;
  const noRangeOrigins = new Set<string>();
  const directories = new Map<string, Promise<WheelDirectory>>();

  /** Length of a remote file, from the index (PEP 700) or a HEAD request; null when the server will not say. */
  async function remoteSize(file: DistributionFile): Promise<number | null> {
    if (file.size !== null) return file.size;
    return transport.send(file.url, file.source, { method: 'HEAD' }, async (response) => {
      await response.body.dump();
      if (response.statusCode !== 200) return null;
      if (header(response, 'accept-ranges') === 'none') noRangeOrigins.add(new URL(response.url).origin);
      const length = Number(header(response, 'content-length') ?? NaN);
      return Number.isSafeInteger(length) && length >= 0 ? length : null;
    });
  }

  function checkContentRange(
    file: DistributionFile,
    response: Parameters<typeof readBody>[0],
    size: number,
    start: number,
    end: number,
  ): void {
    const range = `bytes=${start}-${end - 1}`;
    const contentRange = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response, 'content-range') ?? '');
    if (!contentRange || Number(contentRange[1]) !== start || Number(contentRange[2]) !== end - 1) {
      throw new TransientError(
        `${response.url} answered range ${header(response, 'content-range')} to ${range}`,
      );
    }
    if (contentRange[3] !== '*' && Number(contentRange[3]) !== size) {
      throw new IntegrityError(
        `${file.filename}: ${response.url} is ${contentRange[3]} bytes, but ${file.source} says ${size}.`,
        {
          packageName: projectOfFilename(file.filename),
          hint: 'The file changed after the index listed it; retry, and if it persists report it to the index.',
        },
      );
    }
  }

  async function readRange(file: DistributionFile, size: number, start: number, end: number) {
    const range = `bytes=${start}-${end - 1}`;
    return transport.send(
      file.url,
      file.source,
      { headers: { range } },
      async (response): Promise<Buffer | { downloaded: string }> => {
        if (response.statusCode === 200 && !(start === 0 && end === size)) {
          // The server ignores Range and sends the whole file: keep it (verified) as the download.
          noRangeOrigins.add(new URL(response.url).origin);
          context.emit({ type: 'range-unsupported', origin: new URL(response.url).origin });
          return { downloaded: await downloads.saveToCache(file, response) };
        }
        if (response.statusCode !== 206 && response.statusCode !== 200) {
          await response.body.dump();
          throw new IndexUnreachableError(
            `${response.url} answered HTTP ${response.statusCode} to a Range request.`,
            {
              packageName: projectOfFilename(file.filename),
              hint: `The index ${file.source} lists a file it does not serve whole; try again later or report it.`,
            },
          );
        }
        if (response.statusCode === 206) checkContentRange(file, response, size, start, end);
        // Never more than asked for: the bound is the range itself.
        const body = await readBody(response, end - start);
        if (body.length !== end - start)
          throw new TransientError(`${response.url} sent ${body.length} bytes for ${range}`);
        return body;
      },
    );
  }

  async function openLocal(path: string, filename: string): Promise<OpenedWheel> {
    await context.watch?.read(path);
    const source = await localSource(path, filename);
    const tailStart = Math.max(0, source.size - TAIL_BYTES);
    return { source, tail: await source.read(tailStart, source.size), tailStart };
  }

  async function openWheel(file: DistributionFile): Promise<OpenedWheel> {
    if (file.url.startsWith('file:')) return openLocal(context.localPath(file.url), file.filename);
    // What the download cache names its copy of the file.
    const cachedName = basename(file.filename);
    const origin = new URL(file.url).origin;
    const size = noRangeOrigins.has(origin) ? null : await remoteSize(file);
    if (size === null || noRangeOrigins.has(origin))
      return openLocal(await downloads.download(file), cachedName);
    const tailStart = Math.max(0, size - TAIL_BYTES);
    // A wheel no bigger than the tail is fetched whole and verified, so download() is free later.
    if (tailStart === 0 && file.sha256) return openLocal(await downloads.download(file), cachedName);
    const tail = await readRange(file, size, tailStart, size);
    if (!Buffer.isBuffer(tail)) return openLocal(tail.downloaded, cachedName);
    let downloaded: Promise<ByteSource> | null = null;
    const source: ByteSource = {
      size,
      async read(start, end) {
        if (downloaded) return (await downloaded).read(start, end);
        const bytes = await readRange(file, size, start, end);
        if (Buffer.isBuffer(bytes)) return bytes;
        downloaded = localSource(bytes.downloaded, cachedName);
        return (await downloaded).read(start, end);
      },
    };
    return { source, tail, tailStart };
  }

  function wheelDirectory(file: DistributionFile): Promise<WheelDirectory> {
    return memo(directories, file.sha256 ?? file.url, async () => {
      const { source, tail, tailStart } = await openWheel(file);
      const location = locateCentralDirectory(tail, source.size, file.filename);
      const directory =
        location.offset >= tailStart
          ? tail.subarray(location.offset - tailStart, location.offset - tailStart + location.size)
          : Buffer.concat([
              await source.read(location.offset, tailStart),
              tail.subarray(0, location.offset + location.size - tailStart),
            ]);
      const entries = readCentralDirectory(directory, location, file.filename, context.zipLimits);
      return { size: source.size, entries, directoryOffset: location.offset, tail, tailStart, source };
    });
  }

  async function readEntry(file: DistributionFile, wheel: WheelDirectory, entry: ZipEntry): Promise<Buffer> {
    const nameBytes = Buffer.byteLength(entry.name);
    const guessEnd = Math.min(
      wheel.directoryOffset,
      entry.localHeaderOffset + LOCAL_HEADER_SIZE + nameBytes + entry.compressedSize + 1024,
    );
    const slice = async (start: number, end: number): Promise<Buffer> =>
      start >= wheel.tailStart && end <= wheel.tailStart + wheel.tail.length
        ? wheel.tail.subarray(start - wheel.tailStart, end - wheel.tailStart)
        : wheel.source.read(start, end);
    let bytes = await slice(entry.localHeaderOffset, guessEnd);
    const dataOffset = localDataOffset(bytes, entry, file.filename);
    if (dataOffset === null)
      throw new UnsafeArchiveError(`${file.filename}: the local header of "${entry.name}" is cut off.`);
    const dataEnd = dataOffset + entry.compressedSize;
    if (entry.localHeaderOffset + dataEnd > wheel.directoryOffset) {
      throw new UnsafeArchiveError(`${file.filename}: "${entry.name}" runs into the central directory.`);
    }
    if (dataEnd > bytes.length)
      bytes = await slice(entry.localHeaderOffset, entry.localHeaderOffset + dataEnd);
    const origin = { name: file.filename, packageName: projectOfFilename(file.filename) ?? file.filename };
    return inflateBuffer(origin, entry, bytes.subarray(dataOffset, dataEnd));
  }

  return { wheelDirectory, readEntry };
}
