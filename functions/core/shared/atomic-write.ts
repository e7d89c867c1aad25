// Crash-consistent file publishing: every published file is written in full beside its final
// name, flushed, then renamed over it, so a reader sees the old bytes or the new, never half.
// Every write, copy and rename that publishes goes through here and is counted, so a test can
// make the Nth one fail (failure injection by count) and check that the next run recovers.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The failure a test asked for at a given step. */
export class InjectedFailure extends Error {
  constructor(
    readonly step: number,
    readonly operation: string,
  ) {
    super(`injected failure at publishing step ${step} (${operation})`);
    this.name = 'InjectedFailure';
  }
}

let failAt: number | null = null;
let steps = 0;

/**
 * For tests: make the `step`th counted operation from now fail (1-based), or stop injecting (null).
 * Resets the count either way.
 */
export function injectFailureAt(step: number | null): void {
  failAt = step;
  steps = 0;
}

/** Counted operations since the last {@link injectFailureAt} (how many steps a run has). */
export function publishingSteps(): number {
  return steps;
}

function countStep(operation: string): void {
  steps++;
  if (failAt !== null && steps === failAt) throw new InjectedFailure(steps, operation);
}

function temporaryBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomUUID().slice(0, 8)}.partial`);
}

/**
 * Write `data` to `path` atomically: a temporary file beside it, fsync, rename.
 * @example await writeFileAtomic('out/layers/versions.json', JSON.stringify(versions));
 */
export async function writeFileAtomic(
  path: string,
  data: Buffer | string,
  options: { readonly mode?: number } = {},
): Promise<void> {
  const partial = temporaryBeside(path);
  try {
    countStep(`write ${basename(path)}`);
    const handle = await open(partial, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameCounted(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Copy `from` to `path` atomically; a reflink where the file system can (no bytes copied, and
 * never a hard link: editing the copy must not change the source).
 */
export async function copyFileAtomic(from: string, path: string): Promise<void> {
  const partial = temporaryBeside(path);
  try {
    countStep(`copy ${basename(path)}`);
    await copyFile(from, partial, constants.COPYFILE_FICLONE);
    await renameCounted(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * A new name for `from`'s bytes at `path` (a hard link), published as copyFileAtomic publishes a
 * copy; a copy where the two are on different filesystems. For files nothing writes in place.
 */
export async function linkFileAtomic(from: string, path: string): Promise<void> {
  const partial = temporaryBeside(path);
  try {
    countStep(`link ${basename(path)}`);
    await link(from, partial).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'ENOTSUP') throw error;
      await copyFile(from, partial, constants.COPYFILE_FICLONE);
    });
    await renameCounted(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** `rename`, counted (it is the step that publishes). */
export async function renameCounted(from: string, to: string): Promise<void> {
  countStep(`rename ${basename(to)}`);
  await rename(from, to);
}
