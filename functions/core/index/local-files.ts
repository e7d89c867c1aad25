// Reading files that file: URLs name (file:// index pages, find-links folders, wheels): only
// regular files, never anything under a system folder such as /etc, /proc or /dev (after
// following links), a distribution only from a file whose real name is that distribution's
// filename (so a wheel-named link to a secret is refused before a byte is hashed), never a FIFO
// or device (opened non-blocking and checked on the open handle, so a swap after the check does
// not help), and never more bytes than the file had when opened, so `file:///dev/zero` or a
// growing file cannot make a hash or a read run forever.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { InputError, UnsafeArchiveError } from '../shared/errors.ts';

/** Random access to a wheel's bytes: a local file, or ranges of a remote one. */
export interface ByteSource {
  readonly size: number;
  read(start: number, end: number): Promise<Buffer>;
}

/** Where the host keeps its configuration, secrets and pseudo-files; no distribution lives there. */
const SYSTEM_FOLDERS = ['/etc', '/proc', '/sys', '/dev', '/run', '/boot', '/root', '/var/run', '/var/log'];
const PSEUDO_FILESYSTEMS = new Set(['/proc', '/sys', '/dev']);

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** The system folder a real path lies under, if any; the user's own home (root's is /root) is theirs. */
function systemFolderOf(real: string): string | undefined {
  const home = homedir();
  if (home !== '/' && within(real, home)) return undefined;
  return SYSTEM_FOLDERS.find((root) => within(real, root));
}

function refuse(path: string, why: string): InputError {
  return new InputError(`${path} ${why}; lambda-deps reads only regular files from file: locations.`, {
    hint: 'Point the index, find-links folder or lock at a folder of real wheel files.',
  });
}

/**
 * The real path behind `path`, refused when it lies under a system folder or, for a distribution,
 * when its own name is not `filename`.
 */
async function checkedRealPath(path: string, filename?: string): Promise<string> {
  const real = await realpath(path);
  const folder = systemFolderOf(real);
  if (folder && PSEUDO_FILESYSTEMS.has(folder))
    throw refuse(path, `resolves to ${real}, a system pseudo-file`);
  if (folder) throw refuse(path, `resolves to ${real}, under a system folder (${folder})`);
  if (filename !== undefined && basename(real) !== filename) {
    throw refuse(path, `resolves to ${real}, not a file named ${filename}`);
  }
  return real;
}

/**
 * Opens a regular file for reading; InputError for anything else. `filename`, for a distribution,
 * is the name its real path must end in.
 */
export async function openRegularFile(
  path: string,
  filename?: string,
): Promise<{ handle: FileHandle; size: number; mtimeMs: number }> {
  const real = await checkedRealPath(path, filename);
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  const info = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!info.isFile()) {
    await handle.close();
    throw refuse(path, 'is not a regular file');
  }
  return { handle, size: info.size, mtimeMs: info.mtimeMs };
}

/**
 * The whole of a small regular file, refused when larger than `maxBytes` (or, given `filename`,
 * when its real name is not that).
 * @example await readRegularFile('/srv/simple/six/index.html', 64 * 1024 * 1024)
 */
export async function readRegularFile(path: string, maxBytes: number, filename?: string): Promise<Buffer> {
  const { handle, size } = await openRegularFile(path, filename);
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

/** sha256 of the distribution file `filename` at `path`, reading exactly the size it had when opened. */
export async function hashRegularFile(
  path: string,
  filename: string,
): Promise<{ sha256: string; size: number }> {
  const { handle, size } = await openRegularFile(path, filename);
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

/** Random access to the local distribution file `filename` (a wheel) at `path`. */
export async function localSource(path: string, filename: string): Promise<ByteSource> {
  const { handle, size } = await openRegularFile(path, filename);
  await handle.close();
  return {
    size,
    async read(start, end) {
      const { handle: reader } = await openRegularFile(path, filename);
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
