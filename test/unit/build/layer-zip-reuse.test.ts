// A layer holding the same entries as one an earlier build wrote and checked is copied from the
// cache (layer-zip-cache.ts) instead of being written and inflated again: the zip is the same
// bytes, and the tree check still passes against the tree built now. A kept zip that is not the
// very file the cache wrote (changed in place, or a cache folder copied from elsewhere) is
// written anew; a kept entry whose digests lie makes the build refuse, never ship.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import type * as DeterministicZip from '../../../functions/core/pack/deterministic-zip.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock } from '../../../functions/core/shared/types.ts';
import { writeTinyWheel } from './tiny-wheels.ts';

const zipsWritten = vi.hoisted(() => ({ count: 0 }));

vi.mock('../../../functions/core/pack/deterministic-zip.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof DeterministicZip>();
  return {
    ...actual,
    writeDeterministicZip(...args: Parameters<typeof actual.writeDeterministicZip>) {
      zipsWritten.count++;
      return actual.writeDeterministicZip(...args);
    },
  };
});

let work = '';
let lock: Lock;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-layer-zips-'));
  const one = await writeTinyWheel(work, 'one', '1.0', { 'one/__init__.py': 'ONE = 1\n' });
  const two = await writeTinyWheel(work, 'two', '1.0', { 'two/__init__.py': 'TWO = 2\n' });
  lock = { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [one.locked, two.locked] };
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  zipsWritten.count = 0;
});

/** A build into a new folder; the build cache is dropped first, so the set is packed again. */
async function build(cacheDir: string, name: string) {
  await rm(join(cacheDir, 'builds'), { recursive: true, force: true });
  const outDir = join(work, name);
  const manifest = await buildDependencySet({
    lock,
    index: { download: async (file) => fileURLToPath(file.url) },
    outDir,
    cacheDir,
    policy: { forceStrategy: 'layers' },
    pythonExecutable: '/nonexistent/python3.11',
  });
  const zips = manifest.layers.map((layer) => join(outDir, layer.file));
  return { manifest, zips, bytes: await Promise.all(zips.map((zip) => readFile(zip))) };
}

const keptZips = async (cacheDir: string): Promise<string[]> =>
  (await readdir(join(cacheDir, 'layer-zips')).catch(() => [])).filter((name) => /^[0-9a-f]{64}$/.test(name));

describe('layer zips kept between builds', () => {
  it('copies a kept zip of the same entries instead of writing it, byte for byte the same', async () => {
    const cacheDir = join(work, 'cache-same');
    const first = await build(cacheDir, 'out-first');
    expect(zipsWritten.count).toBe(first.zips.length);

    const again = await build(cacheDir, 'out-again');

    expect(zipsWritten.count).toBe(first.zips.length);
    expect(again.bytes).toEqual(first.bytes);
    expect(again.manifest.layers.map((layer) => layer.sha256)).toEqual(
      first.manifest.layers.map((layer) => layer.sha256),
    );
  });

  it('writes the zip again when the kept one was changed in place', async () => {
    const cacheDir = join(work, 'cache-changed');
    const first = await build(cacheDir, 'out-changed-first');
    const [kept] = await keptZips(cacheDir);
    const keptZip = join(cacheDir, 'layer-zips', kept ?? '', 'layer.zip');
    await writeFile(keptZip, Buffer.alloc((await readFile(keptZip)).length));

    const again = await build(cacheDir, 'out-changed-again');

    expect(zipsWritten.count).toBe(2 * first.zips.length);
    expect(again.bytes).toEqual(first.bytes);
  });

  it('writes the zips again from a cache folder copied from elsewhere', async () => {
    const cacheDir = join(work, 'cache-origin');
    const first = await build(cacheDir, 'out-origin');
    const copied = join(work, 'cache-copied');
    await cp(cacheDir, copied, { recursive: true });

    const again = await build(copied, 'out-copied');

    expect(zipsWritten.count).toBe(2 * first.zips.length);
    expect(again.bytes).toEqual(first.bytes);
  });

  it('refuses the build when a kept entry records digests the tree does not have', async () => {
    const cacheDir = join(work, 'cache-lying');
    await build(cacheDir, 'out-lying-first');
    for (const kept of await keptZips(cacheDir)) {
      const entryFile = join(cacheDir, 'layer-zips', kept, 'entry.json');
      const entry = JSON.parse(await readFile(entryFile, 'utf8')) as { digests: [string, string][] };
      entry.digests = entry.digests.map(([path]) => [path, '0'.repeat(64)]);
      await writeFile(entryFile, JSON.stringify(entry));
    }

    const building = build(cacheDir, 'out-lying');

    await expect(building).rejects.toThrow(/differs from the verified tree/);
  });

  it('neither copies nor keeps zips without the cache (--no-cache)', async () => {
    const cacheDir = join(work, 'cache-off');
    await rm(cacheDir, { recursive: true, force: true });
    const outDir = join(work, 'out-off');

    await buildDependencySet({
      lock,
      index: { download: async (file) => fileURLToPath(file.url) },
      outDir,
      cacheDir,
      policy: { forceStrategy: 'layers', cache: false },
      pythonExecutable: '/nonexistent/python3.11',
    });

    expect(await keptZips(cacheDir)).toEqual([]);
  });
});
