// Reading files that file: URLs name (file:// index pages, find-links folders, wheels): only
// regular files, never anything under /proc, /dev or /sys (after following links), never a FIFO
// or device (opened non-blocking and checked on the open handle, so a swap after the check does
// not help), and never more bytes than the file had when opened, so `file:///dev/zero` or a
// growing file cannot make a hash or a read run forever.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { InputError, UnsafeArchiveError } from '../shared/errors.ts';

/** Random access to a wheel's bytes: a local file, or ranges of a remote one. */
export interface ByteSource {
  readonly size: number;
  read(start: number, end: number): Promise<Buffer>;
}

const PSEUDO_FILESYSTEMS = ['/proc', '/dev', '/sys'];

function insidePseudoFilesystem(path: string): boolean {
  return PSEUDO_FILESYSTEMS.some((root) => path === root || path.startsWith(`${root}/`));
}

function refuse(path: string, why: string): InputError {
  return new InputError(`${path} ${why}; lambda-deps reads only regular files from file: locations.`, {
    hint: 'Point the index, find-links folder or lock at a folder of real wheel files.',
  });
}

/** Opens a regular file for reading; InputError for anything else. */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  const real = await realpath(path);
  if (insidePseudoFilesystem(real)) throw refuse(path, `resolves to ${real}, a system pseudo-file`);
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  const info = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!info.isFile()) {
    await handle.close();
    throw refuse(path, 'is not a regular file');
  }
  return { handle, size: info.size };
}

/**
 * The whole of a small regular file, refused when larger than `maxBytes`.
 * @example await readRegularFile('/srv/simple/six/index.html', 64 * 1024 * 1024)
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  const { handle, size } = await openRegularFile(path);
  try {
    if (size > maxBytes) {
      throw new InputError(`${path} is ${size} bytes, more than the ${maxBytes}-byte limit for a page.`, {
        hint: 'Raise maxPageBytes if the page is genuine, or check that the location is an index page.',
      });
    }
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** sha256 of a regular file, reading exactly the size it had when opened. */
export async function hashRegularFile(path: string): Promise<{ sha256: string; size: number }> {
  const { handle, size } = await openRegularFile(path);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(1024 * 1024);
    let position = 0;
    while (position < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) throw new UnsafeArchiveError(`${path} shrank while being read.`);
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

/** Random access to a regular local file (a wheel). */
export async function localSource(path: string): Promise<ByteSource> {
  const { handle, size } = await openRegularFile(path);
  await handle.close();
  return {
    size,
    async read(start, end) {
      const { handle: reader } = await openRegularFile(path);
      try {
        const buffer = Buffer.alloc(end - start);
        const { bytesRead } = await reader.read(buffer, 0, buffer.length, start);
        if (bytesRead !== buffer.length) throw new UnsafeArchiveError(`${path} changed while being read.`);
        return buffer;
      } finally {
        await reader.close();
      }
    },
  };
}
