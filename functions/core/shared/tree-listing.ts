// A whole tree's listing, blocking: a build's readers list the installed tree (6,210 entries in
// a build that adds one package to the seed set) while the copies and the checks hold libuv's
// pool. Paths below the root are sliced off each entry's folder, not computed by relative(),
// which took as long as the listing itself.
import { readdirSync } from 'node:fs';
import { resolve, sep } from 'node:path';

/** A file or folder below a listed root. */
export interface ListedEntry {
  /** Relative to the root, with the platform's separator. */
  readonly path: string;
  readonly isDirectory: boolean;
}

/** Every file and folder below `root` (throws as readdirSync does, e.g. when it is missing). */
export function listTree(root: string): ListedEntry[] {
  const base = resolve(root);
  const prefix = `${base}${sep}`;
  return readdirSync(base, { recursive: true, withFileTypes: true }).map((entry) => {
    const folder = entry.parentPath;
    const below = folder === base ? '' : folder.startsWith(prefix) ? folder.slice(prefix.length) : null;
    if (below === null) throw new Error(`${folder} was listed below ${base} but is not inside it`);
    return {
      path: below === '' ? entry.name : `${below}${sep}${entry.name}`,
      isDirectory: entry.isDirectory(),
    };
  });
}

/**
 * Whether a `/`-separated path has no empty, `.` or `..` part, so joining it to a root as it is
 * gives what resolve() does (a part merely starting with a dot is sent to resolve() too).
 * Plain string tests: a regular expression with lookaheads cost a RECORD check a quarter of its time.
 */
function isPlainRelative(path: string): boolean {
  return (
    path !== '' &&
    !path.startsWith('/') &&
    !path.endsWith('/') &&
    !path.startsWith('.') &&
    !path.includes('/.') &&
    !path.includes('//')
  );
}

/**
 * `resolve(root, path)` for many paths below one root: a plain relative path (most of a
 * RECORD's thousands of lines) is joined to the resolved root by hand, anything else resolved.
 */
export function resolverBelow(root: string): (path: string) => string {
  const base = resolve(root);
  const prefix = base.endsWith('/') ? base : `${base}/`;
  return (path) => (sep === '/' && isPlainRelative(path) ? `${prefix}${path}` : resolve(base, path));
}
