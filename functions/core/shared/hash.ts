// The one sha256 helper: of bytes in memory and of files, streamed so a file of any size costs
// a chunk of memory. Everything that names content by its digest uses these.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

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
