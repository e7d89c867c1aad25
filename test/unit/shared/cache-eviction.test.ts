// The bounds of the big cache folders (core/shared/cache-eviction.ts): least recently used
// entries go first, by count or by bytes, the newest is always kept, and nothing that is not an
// entry (a build's scratch, a partial entry, a file) is touched.
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evictLeastRecentlyUsed, touchEntry } from '../../../functions/core/shared/cache-eviction.ts';

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-eviction-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** An entry named by key `digit` repeated, last used `ageSeconds` ago, holding `bytes`. */
async function entry(digit: string, ageSeconds: number, bytes = 0): Promise<string> {
  const name = digit.repeat(64);
  await mkdir(join(root, name));
  await writeFile(join(root, name, 'data'), Buffer.alloc(bytes));
  const at = new Date(Date.now() - ageSeconds * 1000);
  await utimes(join(root, name), at, at);
  return name;
}

describe('evictLeastRecentlyUsed', () => {
  it('keeps the most recently used entries by count, and what is not an entry', async () => {
    // Prepare: four entries, the oldest used again just now; a scratch folder and a file
    const [a, b, c, d] = [
      await entry('a', 40),
      await entry('b', 30),
      await entry('c', 20),
      await entry('d', 10),
    ];
    await touchEntry(join(root, a));
    await mkdir(join(root, '.work-1234'));
    await writeFile(join(root, 'notes.txt'), 'x');

    // Act
    const removed = await evictLeastRecentlyUsed(root, { entries: 2 });

    // Assess
    expect(removed.sort()).toEqual([b, c].sort());
    expect((await readdir(root)).sort()).toEqual(['.work-1234', a, d, 'notes.txt'].sort());
  });

  it('keeps the newest entries that fit in the bytes, and always the newest one', async () => {
    // Prepare
    const newest = await entry('1', 1, 3000);
    const next = await entry('2', 2, 500);
    const older = await entry('3', 3, 600);

    // Act
    const fitting = await evictLeastRecentlyUsed(root, { bytes: 3600, sizedFiles: ['data'] });
    const overBudget = await evictLeastRecentlyUsed(root, { bytes: 100, sizedFiles: ['data'] });

    // Assess
    expect(fitting).toEqual([older]);
    expect(overBudget).toEqual([next]);
    expect(await readdir(root)).toEqual([newest]);
  });
});
