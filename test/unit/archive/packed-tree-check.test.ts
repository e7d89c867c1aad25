// The layers must unzip to exactly the tree that was verified and smoke-imported: the check
// hashes every unzipped file against the tree and names every difference; and a real build of
// two distributions sharing a path (same bytes) passes it end to end. A build that is asked keeps its
// layers' files unpacked for the local probe (core/pack/kept-layers.ts), as the zips unzip them.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import {
  isWholeLayer,
  keptLayersRoot,
  readKeptFiles,
  readKeptLayer,
  writeKeptLayer,
} from '../../../functions/core/pack/kept-layers.ts';
import { checkLayersMatchTree, zipDigests } from '../../../functions/core/pack/packed-tree-check.ts';
import { IntegrityError } from '../../../functions/core/shared/errors.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { writeTinyWheel } from '../build/tiny-wheels.ts';
import { writeTree } from './write-tree.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-packed-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const tree = (files: Record<string, string>): Promise<string> => writeTree(work, files);

async function zip(files: Record<string, string>): Promise<string> {
  const path = join(await mkdtemp(join(work, 'zip-')), 'layer.zip');
  await writeDeterministicZip(
    path,
    Object.entries(files).map(([name, content]) => ({
      name,
      kind: 'content' as const,
      executable: false,
      content: Buffer.from(content),
    })),
  );
  return path;
}

describe('checkLayersMatchTree', () => {
  it('passes when the unzipped layers are the tree, file for file and byte for byte', async () => {
    // Prepare
    const root = await tree({
      'python/a/__init__.py': 'A = 1\n',
      'python/b.py': '',
      'runtime-provided/python/x.py': '',
    });
    const layers = [await zip({ 'python/a/__init__.py': 'A = 1\n' }), await zip({ 'python/b.py': '' })];

    // Act
    const checking = checkLayersMatchTree(root, await zipDigests(layers), ['runtime-provided']);

    // Assess
    await expect(checking).resolves.toBeUndefined();
  });

  it('names a file whose bytes differ, one missing from the layers and one the tree lacks', async () => {
    // Prepare
    const root = await tree({ 'python/shared2/__init__.py': 'WHO = "one"\n', 'python/only-tree.py': '' });
    const layers = [await zip({ 'python/shared2/__init__.py': 'WHO = "two"\n', 'python/only-zip.py': '' })];

    // Act
    const checking = checkLayersMatchTree(root, await zipDigests(layers));

    // Assess
    await expect(checking).rejects.toThrow(IntegrityError);
    await expect(checking).rejects.toThrow(/python\/shared2\/__init__\.py differs from the verified tree/);
    await expect(checking).rejects.toThrow(/python\/only-zip\.py is in a layer but not in the verified tree/);
    await expect(checking).rejects.toThrow(/python\/only-tree\.py is in the verified tree but in no layer/);
  });

  it('passes in a real build of two distributions that share one path with the same bytes', async () => {
    // Prepare
    const one = await writeTinyWheel(work, 'one', '1.0', { 'ns/__init__.py': '', 'ns/one.py': 'ONE = 1\n' });
    const two = await writeTinyWheel(work, 'two', '1.0', { 'ns/__init__.py': '', 'ns/two.py': 'TWO = 2\n' });
    const outDir = join(work, 'out');

    // Act
    const manifest = await buildDependencySet({
      lock: {
        lockVersion: 1,
        target: lambdaTarget('python3.11', 'x86_64'),
        packages: [one.locked, two.locked],
      },
      index: { download: async (file) => fileURLToPath(file.url) },
      outDir,
      cacheDir: join(work, 'cache'),
      policy: { forceStrategy: 'layers' },
      pythonExecutable: '/nonexistent/python3.11',
    });

    // Assess
    const { digests } = await zipDigests(manifest.layers.map((layer) => join(outDir, layer.file)));
    expect([...digests.keys()].filter((path) => path.startsWith('python/ns/')).sort()).toEqual([
      'python/ns/__init__.py',
      'python/ns/one.py',
      'python/ns/two.py',
    ]);
    expect(await readdir(join(outDir, 'layers'))).not.toHaveLength(0);
  });

  it('keeps the layers for the probe, listed with their dist-info bytes, only when asked', async () => {
    // Prepare
    const one = await writeTinyWheel(work, 'kept', '1.0', { 'kept/__init__.py': 'KEPT = 1\n' });
    const build = (name: string, keepUnpackedLayers: boolean) =>
      buildDependencySet({
        lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [one.locked] },
        index: { download: async (file) => fileURLToPath(file.url) },
        outDir: join(work, `out-${name}`),
        cacheDir: join(work, `cache-${name}`),
        policy: { forceStrategy: 'layers' },
        pythonExecutable: '/nonexistent/python3.11',
        keepUnpackedLayers,
      });

    // Act
    const kept = await build('kept', true);
    const unkept = await build('unkept', false);

    // Assess: each layer is kept by its zip's sha256, its files listed as the zip unpacks them;
    // the pack holds the dist-info files' bytes (RECORD, what a probe reads) and nothing else,
    // so the layer cannot be written out from it.
    const root = keptLayersRoot(join(work, 'cache-kept'));
    for (const layer of kept.layers) {
      const entry = await readKeptLayer(root, layer.sha256);
      const { digests } = await zipDigests([join(work, 'out-kept', layer.file)]);
      expect(Object.fromEntries(entry!.files.map((file) => [file.path, file.sha256]))).toEqual(
        Object.fromEntries(digests),
      );
      const packed = entry!.files.filter((file) => file.packed !== false).map((file) => file.path);
      expect(packed).toContain('python/kept-1.0.dist-info/RECORD');
      expect(packed.every((path) => path.startsWith('python/kept-1.0.dist-info/'))).toBe(true);
      const record = await readKeptFiles(root, entry!, new Set(['python/kept-1.0.dist-info/RECORD']));
      expect(sha256Hex(record.get('python/kept-1.0.dist-info/RECORD')!)).toBe(
        digests.get('python/kept-1.0.dist-info/RECORD'),
      );
      expect(isWholeLayer(entry!)).toBe(false);
      const opt = await mkdtemp(join(work, 'opt-'));
      await expect(writeKeptLayer(root, entry!, opt, new Map())).rejects.toThrow(/does not hold/);
    }
    expect(kept.layers).not.toHaveLength(0);
    for (const layer of unkept.layers)
      expect(await readKeptLayer(keptLayersRoot(join(work, 'cache-unkept')), layer.sha256)).toBeNull();
  });
});
