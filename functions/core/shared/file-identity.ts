// A file's identity on this machine: what changes whenever its bytes could have. A new file (an
// atomic replace) is a new inode; a write in place moves the size, mtime or ctime, and ctime
// cannot be set back by any user-space call. Two equal identities of one path mean the same bytes.
import { lstat } from 'node:fs/promises';

/** `dev:ino:size:mtimeNs:ctimeNs` of a regular file (symlinks are not followed); null otherwise. */
export async function fileIdentity(path: string): Promise<string | null> {
  const info = await lstat(path, { bigint: true }).catch(() => null);
  if (!info?.isFile()) return null;
  return [info.dev, info.ino, info.size, info.mtimeNs, info.ctimeNs].join(':');
}
