// A JSON file several local executions (threads or processes) update at once: each update
// holds an exclusive lock file and replaces the file by rename, so no reader ever sees half
// of it and no update is lost. A read takes no lock: the file is only ever replaced whole.
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../core/shared/atomic-write.ts';

const STALE_LOCK_MS = 60_000;

async function acquire(lockPath: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A holder that died leaves its lock behind; one older than any update is stale.
      const info = await stat(lockPath).catch(() => null);
      if (info && Date.now() - info.mtimeMs > STALE_LOCK_MS) await rm(lockPath, { force: true });
      await new Promise((done) => setTimeout(done, Math.min(5 + attempt * 5, 100)));
    }
  }
}

/** Reads the file (or `initial` when absent), applies `change`, writes it back; returns change's result. */
export async function updateJsonFile<T, R>(
  path: string,
  initial: () => T,
  change: (value: T) => R | Promise<R>,
): Promise<R> {
  await mkdir(dirname(path), { recursive: true });
  const lockPath = `${path}.lock`;
  await acquire(lockPath);
  try {
    const text = await readFile(path, 'utf8').catch(() => null);
    const value = text === null ? initial() : (JSON.parse(text) as T);
    // The change may publish files first (a layer's zip); the JSON, the pointer, is written last.
    const result = await change(value);
    await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
    return result;
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** The file as the last update left it (or `initial` when absent), without locking or writing. */
export async function readJsonFile<T>(path: string, initial: () => T): Promise<T> {
  const text = await readFile(path, 'utf8').catch(() => null);
  return text === null ? initial() : (JSON.parse(text) as T);
}
