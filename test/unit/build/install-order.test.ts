// The installs run four at a time in the order installSet hands them out: the biggest wheel
// first, so that it is not the install's tail alone on one core. The results still come back in
// the lock's order (the manifest and the layers list packages as the lock does).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largestFirst } from '../../../functions/core/build/install-set.ts';

let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-install-order-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fileOf(name: string, bytes: number): Promise<string> {
  const path = join(work, name);
  await writeFile(path, Buffer.alloc(bytes));
  return path;
}

describe('largestFirst', () => {
  it('hands out the biggest file first, equal sizes in the given order', async () => {
    const paths = [
      await fileOf('six.whl', 10),
      await fileOf('scipy.whl', 5_000),
      await fileOf('idna.whl', 10),
      await fileOf('numpy.whl', 3_000),
    ];
    expect(await largestFirst(paths)).toEqual([1, 3, 0, 2]);
  });

  it('puts a file it cannot stat last, so the install reports it rather than the ordering', async () => {
    const paths = [join(work, 'missing.whl'), await fileOf('attrs.whl', 20)];
    expect(await largestFirst(paths)).toEqual([1, 0]);
  });
});
