// One positional write of a whole chunk: the per-wheel installed-tree cache and the probe's kept
// layers both fill files at offsets they computed, and a short write is an error there, not
// something to retry (a regular file on a healthy disk takes the whole chunk).
import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Write all of `chunk` at `position`; throws on a short write. */
export async function writeAllAt(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  const { bytesWritten } = await handle.write(chunk, 0, chunk.length, position);
  if (bytesWritten !== chunk.length)
    throw new Error(`short write (${bytesWritten} of ${chunk.length} bytes)`);
}

/** {@link writeAllAt}, blocking, on a file descriptor (for loops over many small files). */
export function writeAllAtSync(fd: number, chunk: Buffer, position: number): void {
  const bytesWritten = writeSync(fd, chunk, 0, chunk.length, position);
  if (bytesWritten !== chunk.length)
    throw new Error(`short write (${bytesWritten} of ${chunk.length} bytes)`);
}
