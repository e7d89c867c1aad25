// The identity of any local path a resolution read: a file, a folder or a link, or the fact that
// nothing is there. It extends shared/file-identity.ts (regular files only, null otherwise, which
// its callers rely on) to folders, whose mtime and ctime move when an entry is added, removed or
// renamed, and to symlinks, whose target can change without the link changing.
import { lstat, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { identityOfStats } from '../shared/file-identity.ts';

/** What a path is now, and when it last changed. */
export interface PathIdentity {
  /**
   * `dev:ino:size:mtimeNs:ctimeNs` of the path itself (not followed), plus `->` and the target's
   * for a symlink; null when nothing is there; `unreadable:CODE` when it cannot be looked at.
   */
  readonly identity: string | null;
  /** The latest mtime or ctime among the stats taken (0 when there are none), in ns since the epoch. */
  readonly changedNs: bigint;
}

const MISSING = new Set(['ENOENT', 'ENOTDIR']);

function latest(...infos: (BigIntStats | null)[]): bigint {
  let newest = 0n;
  for (const info of infos) {
    if (!info) continue;
    if (info.mtimeNs > newest) newest = info.mtimeNs;
    if (info.ctimeNs > newest) newest = info.ctimeNs;
  }
  return newest;
}

type Looked = { info: BigIntStats } | { missing: true } | { code: string };

async function look(path: string, follow: boolean): Promise<Looked> {
  try {
    return { info: await (follow ? stat : lstat)(path, { bigint: true }) };
  } catch (error) {
    const code = String((error as NodeJS.ErrnoException).code ?? 'unknown');
    return MISSING.has(code) ? { missing: true } : { code };
  }
}

/**
 * The path's identity now. Two equal identities of one path mean the same bytes (or the same
 * folder entries); a ctime cannot be set back by any user-space call.
 * @example await pathIdentity('/srv/simple/six/index.html') // { identity: '2049:1311:406:…', changedNs: … }
 */
export async function pathIdentity(path: string): Promise<PathIdentity> {
  const own = await look(path, false);
  if ('missing' in own) return { identity: null, changedNs: 0n };
  if ('code' in own) return { identity: `unreadable:${own.code}`, changedNs: 0n };
  if (!own.info.isSymbolicLink()) return { identity: identityOfStats(own.info), changedNs: latest(own.info) };
  const target = await look(path, true);
  const behind =
    'info' in target ? identityOfStats(target.info) : 'missing' in target ? 'dangling' : target.code;
  return {
    identity: `${identityOfStats(own.info)}->${behind}`,
    changedNs: latest(own.info, 'info' in target ? target.info : null),
  };
}
