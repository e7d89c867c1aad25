// The one sha256 helper: of bytes in memory and of files, streamed so a file of any size costs
// a chunk of memory. Everything that names content by its digest uses these.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { eventLoopSlicer } from './event-loop-slicer.ts';

/** sha256 of bytes or text, lowercase hex. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Files up to this size are read in one piece; bigger ones stream in chunks of this size. */
const WHOLE_FILE_BYTES = 4 * 1024 ** 2;

/**
 * sha256 of a file, lowercase hex. A small file is read in one call (a stream per file costs more
 * than hashing it); a big one is streamed, so memory stays at one chunk whatever its size.
 * @example await sha256OfFile('out/layers/layer-1.zip') // 'e3b0c442…'
 */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const stats = await handle.stat();
    // (A device or a pipe reports no size: it streams, as any big file does.)
    if (stats.isFile() && stats.size <= WHOLE_FILE_BYTES)
      return hash.update(await handle.readFile()).digest('hex');
    for await (const chunk of handle.createReadStream({ highWaterMark: WHOLE_FILE_BYTES, autoClose: false }))
      hash.update(chunk as Buffer);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/**
 * sha256 of many files (lowercase hex, in the order given), each read with plain blocking reads
 * into one buffer, a few milliseconds at a time between turns of the event loop (event-loop-slicer.ts). For the
 * thousands of files of an installed tree this is several times faster than one promise per
 * file: that queues four operations per file on libuv's four-thread pool, behind whatever else
 * the build is writing, and allocates a buffer for each.
 * @example const [a, b] = await sha256OfFiles(['tree/python/six.py', 'tree/python/idna/core.py']);
 */
export async function sha256OfFiles(
  paths: readonly string[],
  /** A digest known without reading the file (tree-ledger.ts), or null to hash it. */
  known: (path: string) => string | null = () => null,
): Promise<string[]> {
  const buffer = Buffer.allocUnsafe(WHOLE_FILE_BYTES);
  const digests: string[] = [];
  const pause = eventLoopSlicer();
  for (const path of paths) {
    await pause();
    digests.push(known(path) ?? sha256OfFileWith(path, buffer));
  }
  return digests;
}

/** One file's sha256, read through `buffer` with blocking reads. */
function sha256OfFileWith(path: string, buffer: Buffer): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer))
      hash.update(buffer.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
