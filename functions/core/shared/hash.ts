// The one sha256 helper: of bytes in memory and of files, streamed so a file of any size costs
// a chunk of memory. Everything that names content by its digest uses these.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 of bytes or text, lowercase hex. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of a file, lowercase hex, read as a stream.
 * @example await sha256OfFile('out/layers/layer-1.zip') // 'e3b0c442…'
 */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
