// The EFS tree tar and the image's layer tars must hold exactly the tree that was verified and
// smoke-imported, as the layer zips must: every file hashed against the tree. A tar packed from
// anything else (a tampered entry) is refused, and a build whose tar was tampered with ships
// nothing.
import { appendFile, cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import { createDependencyImageLayout } from '../../../functions/core/deliver/oci/image-layout.ts';
import {
  checkPackedMatchesTree,
  imageDigests,
  tarDigests,
  writtenImageDigests,
} from '../../../functions/core/pack/packed-tree-check.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';
import type * as TreeArchive from '../../../functions/core/pack/tree-archive.ts';
import { IntegrityError } from '../../../functions/core/shared/errors.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { writeTinyWheel } from '../build/tiny-wheels.ts';
import { writeTree } from './write-tree.ts';

/** When set, the next EFS tar the build writes gets this file's bytes changed after packing. */
const tamper = vi.hoisted(() => ({ path: null as string | null }));

vi.mock('../../../functions/core/pack/tree-archive.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof TreeArchive>();
  return {
    ...actual,
    async writeTreeTar(...args: Parameters<typeof actual.writeTreeTar>) {
      const [treeDir, outPath, options] = args;
      if (tamper.path === null) return actual.writeTreeTar(...args);
      // Pack a copy of the tree with one file edited: what a packing bug would ship.
      const copy = `${outPath}.tampered-tree`;
      await cp(treeDir, copy, { recursive: true });
      await writeFile(join(copy, tamper.path), 'TAMPERED = True\n');
      try {
        return await actual.writeTreeTar(copy, outPath, options);
      } finally {
        await rm(copy, { recursive: true, force: true });
      }
    },
  };
});

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-packed-tar-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const tree = (files: Record<string, string>): Promise<string> => writeTree(work, files);

const FILES = {
  'python/a/__init__.py': 'A = 1\n',
  'python/a/data/table.csv': 'x,y\n',
  'python/b.py': '',
  'runtime-provided/python/boto.py': '',
};

/** The OCI layout of the tree's site folder, as the image route packs it (under /var/task). */
function imageOf(root: string, name: string) {
  return createDependencyImageLayout({
    treeDir: join(root, 'python'),
    outDir: join(work, name),
    target: lambdaTarget('python3.11', 'x86_64'),
    installPrefix: '/var/task',
  });
}

/** The tree with one file's bytes changed and one file added. */
async function tamperedCopy(root: string): Promise<string> {
  const copy = await mkdtemp(join(work, 'tampered-'));
  await cp(root, copy, { recursive: true });
  await writeFile(join(copy, 'python/a/__init__.py'), 'A = 2\n');
  await writeFile(join(copy, 'python/extra.py'), '');
  return copy;
}

describe('checkPackedMatchesTree on the EFS tree tar', () => {
  it('passes when the tar is the verified tree, file for file and byte for byte', async () => {
    // Prepare
    const root = await tree(FILES);
    const tar = join(work, 'efs-ok.tar');
    await writeTreeTar(join(root, 'python'), tar, { prefix: 'site-packages' });

    // Act
    const digests = await tarDigests(tar, { prefix: 'site-packages', treePrefix: 'python' });
    const checking = checkPackedMatchesTree(root, digests, ['runtime-provided'], 'EFS tree');

    // Assess
    await expect(checking).resolves.toBeUndefined();
    expect([...digests.digests.keys()].sort()).toEqual([
      'python/a/__init__.py',
      'python/a/data/table.csv',
      'python/b.py',
    ]);
  });

  it('refuses a tar with a tampered entry and one the tree lacks, naming both', async () => {
    // Prepare
    const root = await tree(FILES);
    const tar = join(work, 'efs-tampered.tar');
    await writeTreeTar(join(await tamperedCopy(root), 'python'), tar, { prefix: 'site-packages' });

    // Act
    const digests = await tarDigests(tar, { prefix: 'site-packages', treePrefix: 'python' });
    const checking = checkPackedMatchesTree(root, digests, ['runtime-provided'], 'EFS tree');

    // Assess
    await expect(checking).rejects.toThrow(IntegrityError);
    await expect(checking).rejects.toThrow(/python\/a\/__init__\.py differs from the verified tree/);
    await expect(checking).rejects.toThrow(
      /python\/extra\.py is in the EFS tree but not in the verified tree/,
    );
  });
});

describe('checkPackedMatchesTree on the image layers', () => {
  it('passes when the image layer is the verified tree', async () => {
    // Prepare
    const root = await tree(FILES);
    const layout = await imageOf(root, 'image-ok');

    // Act
    const digests = await imageDigests(layout.layoutDir, { prefix: 'var/task', treePrefix: 'python' });

    // Assess
    await expect(
      checkPackedMatchesTree(root, digests, ['runtime-provided'], 'image'),
    ).resolves.toBeUndefined();
  });

  it('refuses an image whose layer holds a tampered entry', async () => {
    // Prepare
    const root = await tree(FILES);
    const layout = await imageOf(await tamperedCopy(root), 'image-tampered');

    // Act
    const digests = await imageDigests(layout.layoutDir, { prefix: 'var/task', treePrefix: 'python' });
    const checking = checkPackedMatchesTree(root, digests, ['runtime-provided'], 'image');

    // Assess
    await expect(checking).rejects.toThrow(/python\/a\/__init__\.py differs from the verified tree/);
  });
});

describe('writtenImageDigests: the layer as it was written, without unpacking it', () => {
  it('is what unpacking the layer gives, file for file', async () => {
    // Prepare
    const root = await tree({ ...FILES, 'python/big.bin': 'x'.repeat(5 * 1024 * 1024) });
    const layout = await imageOf(root, 'image-written');

    // Act
    const written = await writtenImageDigests(layout.layoutDir, layout.layerFiles);
    const unpacked = await imageDigests(layout.layoutDir, { prefix: 'var/task', treePrefix: '' });

    // Assess
    expect(written.clashes).toEqual([]);
    expect(new Map([...written.digests].sort())).toEqual(new Map([...unpacked.digests].sort()));
    expect(written.digests.has('big.bin')).toBe(true);
  });

  it('refuses a layer blob changed on disk after it was written', async () => {
    // Prepare
    const root = await tree(FILES);
    const layout = await imageOf(root, 'image-changed');
    const blob = join(layout.layoutDir, 'blobs', 'sha256', layout.layerDigest.slice('sha256:'.length));
    await appendFile(blob, 'trailing bytes');

    // Act
    const written = await writtenImageDigests(layout.layoutDir, layout.layerFiles);

    // Assess
    expect(written.clashes).toEqual([`the layer blob ${layout.layerDigest}`]);
  });
});

describe('buildDependencySet with a tampered EFS tar or image layer', () => {
  // The image's digests are taken from the bytes as they were packed, not by unpacking it again:
  // a layer packed from anything but the tree is refused all the same.
  it.each(['efs', 'image'] as const)('refuses the build and ships no %s artifact', async (strategy) => {
    // Prepare
    const name = `tampered${strategy}`;
    const wheel = await writeTinyWheel(work, name, '1.0', { [`${name}/__init__.py`]: 'OK = 1\n' });
    const outDir = join(work, `out-${strategy}-tampered`);
    tamper.path = `${name}/__init__.py`;

    // Act
    const building = buildDependencySet({
      lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [wheel.locked] },
      index: { download: async (file) => fileURLToPath(file.url) },
      outDir,
      cacheDir: join(work, `cache-${strategy}-tampered`),
      policy: { forceStrategy: strategy },
      pythonExecutable: '/nonexistent/python3.11',
    });

    // Assess
    try {
      await expect(building).rejects.toThrow(
        new RegExp(`${name}/__init__\\.py differs from the verified tree`),
      );
      expect(await readdir(outDir).catch(() => [])).not.toContain(strategy);
    } finally {
      tamper.path = null;
    }
  });

  it('builds the same set when nothing is tampered with', async () => {
    // Prepare
    const wheel = await writeTinyWheel(work, 'efsz', '1.0', { 'efsz/__init__.py': 'OK = 1\n' });
    const outDir = join(work, 'out-efs-ok');

    // Act
    const manifest = await buildDependencySet({
      lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [wheel.locked] },
      index: { download: async (file) => fileURLToPath(file.url) },
      outDir,
      cacheDir: join(work, 'cache-efs-ok'),
      policy: { forceStrategy: 'efs' },
      pythonExecutable: '/nonexistent/python3.11',
    });

    // Assess
    expect(manifest.efs?.tree).toBe('efs/site-packages.tar');
    expect(await readdir(join(outDir, 'efs'))).toContain('site-packages.tar');
  });

  it('builds an image of the same set, its layer checked against the tree', async () => {
    // Prepare
    const wheel = await writeTinyWheel(work, 'imagey', '1.0', { 'imagey/__init__.py': 'OK = 1\n' });
    const outDir = join(work, 'out-image');

    // Act
    const manifest = await buildDependencySet({
      lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [wheel.locked] },
      index: { download: async (file) => fileURLToPath(file.url) },
      outDir,
      cacheDir: join(work, 'cache-image'),
      policy: { forceStrategy: 'image' },
      pythonExecutable: '/nonexistent/python3.11',
    });

    // Assess
    expect(manifest.image?.layout).toBe('image');
    const digests = await imageDigests(join(outDir, 'image'), { prefix: 'var/task', treePrefix: 'python' });
    expect([...digests.digests.keys()]).toContain('python/imagey/__init__.py');
  });
});
