// A file's identity on this machine: what changes whenever its bytes could have. A new file (an
// atomic replace) is a new inode; a write in place moves the size, mtime or ctime, and ctime
// cannot be set back by any user-space call. Two equal identities of one path mean the same bytes.
import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';

/** `dev:ino:size:mtimeNs:ctimeNs` of a regular file (symlinks are not followed); null otherwise. */
export async function fileIdentity(path: string): Promise<string | null> {
  const info = await lstat(path, { bigint: true }).catch(() => null);
  return info?.isFile() ? identityOfStats(info) : null;
}

/** {@link fileIdentity}, blocking (for loops over thousands of files). */
export function fileIdentitySync(path: string): string | null {
  const info = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return info?.isFile() ? identityOfStats(info) : null;
}

/** `dev:ino:size:mtimeNs:ctimeNs` of stats already taken (of a file, a folder or a link itself). */
export function identityOfStats(info: BigIntStats): string {
  return [info.dev, info.ino, info.size, info.mtimeNs, info.ctimeNs].join(':');
}

/**
 * `work` on the file at `path`, with the file's identity when it was the same file before and
 * after (so what `work` read was that file's bytes); null when it changed meanwhile or is not a
 * regular file.
 */
export async function whileUnchanged<T>(
  path: string,
  work: () => Promise<T>,
): Promise<{ value: T; identity: string | null }> {
  const before = await fileIdentity(path);
  const value = await work();
  const identity = before !== null && (await fileIdentity(path)) === before ? before : null;
  return { value, identity };
}

/**
 * {@link whileUnchanged}, blocking: for a read that must not queue in libuv's pool behind long
 * copies (a few megabytes from the page cache take milliseconds on this thread).
 */
export function whileUnchangedSync<T>(path: string, work: () => T): { value: T; identity: string | null } {
  const before = fileIdentitySync(path);
  const value = work();
  const identity = before !== null && fileIdentitySync(path) === before ? before : null;
  return { value, identity };
}
