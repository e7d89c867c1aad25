// A cache entry's note that its files passed every check while they had certain identities
// (file-identity.ts): the same identities again mean the same bytes, so the checks would pass
// again and are skipped. A copied, restored or edited file has another identity and is checked
// in full. The note is best effort: without it the next read checks everything.
import { readCacheFile, writeCacheFile } from './cache-file.ts';

/** The note's file in an entry folder. */
export const CHECKED_FILE = 'checked.json';
const MAX_NOTE_BYTES = 4096;

function noteOf(identities: Readonly<Record<string, string>>): string {
  return JSON.stringify(identities);
}

/** Whether the note at `path` was written for exactly these identities (none unknown). */
export async function checkedBefore(
  path: string,
  identities: Readonly<Record<string, string | null>>,
): Promise<boolean> {
  if (Object.values(identities).some((identity) => identity === null)) return false;
  return (await readCacheFile(path, MAX_NOTE_BYTES)) === noteOf(identities as Record<string, string>);
}

/** Note at `path` that the checks passed with these identities (nothing when one is unknown; errors dropped). */
export async function rememberChecked(
  path: string,
  identities: Readonly<Record<string, string | null>>,
): Promise<void> {
  if (Object.values(identities).some((identity) => identity === null)) return;
  await writeCacheFile(path, noteOf(identities as Record<string, string>)).catch(() => undefined);
}
