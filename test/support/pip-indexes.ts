// The real on-disk package indexes of this machine, found the way pip finds them
// (`pip config list` plus PIP_* variables), never by a hard-coded path. Tests that need
// real wheels call `localIndexes()` and skip, saying why, when there are none.
import { execFileSync } from 'node:child_process';

export interface LocalIndexes {
  readonly indexUrls: string[];
  readonly findLinks: string[];
}

let cached: LocalIndexes | null | undefined;

function pipConfigLines(): string[] {
  try {
    return execFileSync('python3', ['-m', 'pip', 'config', 'list'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).split('\n');
  } catch {
    return [];
  }
}

/** The file:// indexes and find-links folders pip is configured with here, or null when there are none. */
export function localIndexes(): LocalIndexes | null {
  if (cached !== undefined) return cached;
  const indexUrls: string[] = [];
  const findLinks: string[] = [];
  for (const line of pipConfigLines()) {
    const match = /^[^=]*\.(index-url|extra-index-url|find-links)='(.*)'$/.exec(line.trim());
    if (!match) continue;
    const values = (match[2] ?? '').split(/\s+/).filter(Boolean);
    if (match[1] === 'find-links') findLinks.push(...values);
    else indexUrls.push(...values);
  }
  const unique = (values: string[]): string[] => [...new Set(values)];
  cached =
    indexUrls.length + findLinks.length > 0
      ? { indexUrls: unique(indexUrls), findLinks: unique(findLinks) }
      : null;
  return cached;
}

export const NO_LOCAL_INDEXES_REASON =
  'no package index is configured for pip on this machine (pip config list names none), so there are no real wheels to test against';

/**
 * The indexes as the flags both lambda-deps and pip take (`--index-url`, `--extra-index-url`,
 * `--find-links`), so a benchmark gives both tools the same sources.
 */
export function indexFlags(indexes: LocalIndexes): string[] {
  const [first, ...extra] = indexes.indexUrls;
  return [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
}
