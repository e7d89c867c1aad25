// The dependency image layout: deterministic digests, and the shapes of its index, manifest
// and config as the OCI image spec defines them.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  REF_NAME_ANNOTATION,
  blobPath,
  createDependencyImageLayout,
  readLayoutImage,
  sha256Digest,
} from '../../../functions/core/deliver/oci/image-layout.ts';
import { customTarget, lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { extractTreeTar } from '../../../functions/core/pack/tree-archive.ts';

let workDir = '';
let tree = '';

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-layout-'));
  tree = join(workDir, 'site-packages');
  await mkdir(join(tree, 'requests'), { recursive: true });
  await writeFile(join(tree, 'requests', '__init__.py'), '__version__ = "2.31.0"\n');
  await mkdir(join(tree, 'requests-2.31.0.dist-info'));
  await writeFile(join(tree, 'requests-2.31.0.dist-info', 'METADATA'), 'Name: requests\nVersion: 2.31.0\n');
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('createDependencyImageLayout', () => {
  it('gives the same digests for the same tree, in two different folders', async () => {
    // Prepare
    const target = lambdaTarget('python3.12', 'arm64');

    // Act
    const first = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'a'),
      target,
      installPrefix: '/var/task',
    });
    const second = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'b'),
      target,
      installPrefix: '/var/task',
    });

    // Assess
    expect(second.manifestDigest).toBe(first.manifestDigest);
    expect(second.layerDigest).toBe(first.layerDigest);
    expect(second.configDigest).toBe(first.configDigest);
    expect(await readFile(join(workDir, 'b', 'index.json'))).toEqual(
      await readFile(join(workDir, 'a', 'index.json')),
    );
  });

  it('gives other digests for another tree or another install prefix', async () => {
    // Prepare
    const target = lambdaTarget('python3.12', 'x86_64');
    const base = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'c'),
      target,
      installPrefix: '/var/task',
    });
    const changedTree = join(workDir, 'changed');
    await mkdir(join(changedTree, 'requests'), { recursive: true });
    await writeFile(join(changedTree, 'requests', '__init__.py'), '__version__ = "2.32.0"\n');

    // Act
    const otherTree = await createDependencyImageLayout({
      treeDir: changedTree,
      outDir: join(workDir, 'd'),
      target,
      installPrefix: '/var/task',
    });
    const otherPrefix = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'e'),
      target,
      installPrefix: '/opt/python',
    });

    // Assess
    expect(otherTree.layerDigest).not.toBe(base.layerDigest);
    expect(otherPrefix.layerDigest).not.toBe(base.layerDigest);
    expect(otherPrefix.manifestDigest).not.toBe(base.manifestDigest);
  });

  it('writes oci-layout, an index naming one linux manifest, and blobs named by their digests', async () => {
    // Prepare
    const target = lambdaTarget('python3.11', 'x86_64');
    const outDir = join(workDir, 'shape');

    // Act
    const layout = await createDependencyImageLayout({
      treeDir: tree,
      outDir,
      target,
      installPrefix: '/var/task',
      referenceName: 'deps',
    });

    // Assess
    expect(JSON.parse(await readFile(join(outDir, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(await readFile(join(outDir, 'index.json'), 'utf8')) as Record<string, unknown>;
    expect(index).toMatchObject({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: layout.manifestDigest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { [REF_NAME_ANNOTATION]: 'deps' },
        },
      ],
    });
    for (const digest of [layout.manifestDigest, layout.configDigest, layout.layerDigest]) {
      expect(sha256Digest(await readFile(blobPath(outDir, digest)))).toBe(digest);
    }
    const image = await readLayoutImage(outDir, 'deps');
    expect(image.manifest).toEqual({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: layout.configDigest, size: image.configBytes.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: layout.layerDigest, size: layout.layerSize }],
    });
  });

  it('writes a config with the target architecture, the layer diff_id, no timestamps, and PYTHONPATH only off /var/task', async () => {
    // Prepare
    const arm = lambdaTarget('python3.13', 'arm64');
    const custom = customTarget({ python: '3.11', glibc: '2.34', arch: 'x86_64' });

    // Act
    const onTaskRoot = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'f'),
      target: arm,
      installPrefix: '/var/task',
    });
    const onOpt = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'g'),
      target: custom,
      installPrefix: '/opt/python/',
    });

    // Assess
    const armConfig = (await readLayoutImage(onTaskRoot.layoutDir)).config;
    expect(armConfig).toMatchObject({
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [onTaskRoot.diffId] },
    });
    expect(armConfig.config?.Env).toBeUndefined();
    expect(JSON.stringify(armConfig)).not.toMatch(/"created"/);
    const customConfig = (await readLayoutImage(onOpt.layoutDir)).config;
    expect(customConfig.architecture).toBe('amd64');
    expect(customConfig.config?.Env).toEqual(['PYTHONPATH=/opt/python']);
    expect(customConfig.history?.[0]?.created_by).toMatch(
      /python3\.11 x86_64 \(glibc 2\.34\) under \/opt\/python$/,
    );
  });

  it('puts the tree under the install prefix inside the layer', async () => {
    // Prepare
    const layout = await createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'h'),
      target: lambdaTarget('python3.12', 'x86_64'),
      installPrefix: '/var/task',
    });
    const unpacked = join(workDir, 'h-unpacked');

    // Act
    await extractTreeTar(blobPath(layout.layoutDir, layout.layerDigest), unpacked);

    // Assess
    expect(await readFile(join(unpacked, 'var', 'task', 'requests', '__init__.py'), 'utf8')).toBe(
      '__version__ = "2.31.0"\n',
    );
  });

  it('refuses an install prefix that is not an absolute folder', async () => {
    // Prepare
    const target = lambdaTarget('python3.12', 'x86_64');

    // Act
    const relative = createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'i'),
      target,
      installPrefix: 'var/task',
    });
    const climbing = createDependencyImageLayout({
      treeDir: tree,
      outDir: join(workDir, 'j'),
      target,
      installPrefix: '/var/../etc',
    });

    // Assess
    await expect(relative).rejects.toThrow(InputError);
    await expect(climbing).rejects.toThrow(/not an absolute folder inside the image/);
  });
});
