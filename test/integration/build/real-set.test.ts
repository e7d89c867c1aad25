import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import type { BuildManifest, Lock, PackageIndex } from '../../../functions/core/shared/types.ts';
import { LAMBDA_MAX_LAYERS, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../../../functions/core/shared/types.ts';
import { indexFlags, localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { lockFromPip, pipPlatformArguments } from './pip-report-lock.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
const SET = ['boto3', 'numpy', 'pandas', 'requests', 'scipy'];

const fileIndex: Pick<PackageIndex, 'download'> = { download: async (file) => fileURLToPath(file.url) };

/** Bytes of every file below a folder (what `du -sb` counts for files). */
async function treeBytes(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  let total = 0;
  for (const entry of entries)
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

describe.skipIf(indexes === null)(
  `building ${SET.join(' ')} for python3.11 x86_64 (skipped when: ${NO_LOCAL_INDEXES_REASON})`,
  () => {
    let work: string;
    let lock: Lock;
    let manifest: BuildManifest;
    let pipTargetBytes: number;

    beforeAll(async () => {
      if (!indexes) return;
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-real-set-'));
      lock = await lockFromPip(SET, indexes, work);
      // The anchor: AWS's documented recipe, pip --target with --platform (compiles .pyc, as pip does).
      const pipTarget = execFileAsync(
        'python3',
        [
          '-m',
          'pip',
          'install',
          '--quiet',
          '--target',
          join(work, 'pip-target'),
          ...pipPlatformArguments('3.11'),
          ...indexFlags(indexes),
          ...SET,
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      ).then(() => treeBytes(join(work, 'pip-target')));
      const build = buildDependencySet({
        lock,
        index: fileIndex,
        outDir: join(work, 'out'),
        policy: {},
        cacheDir: join(work, 'cache'),
      });
      [pipTargetBytes, manifest] = await Promise.all([pipTarget, build]);
    }, 240_000);

    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('is over the 250 MB limit with pip --target, as the seed article says', () => {
      // Assess
      expect(pipTargetBytes).toBeGreaterThan(LAMBDA_UNZIPPED_LIMIT_BYTES);
      console.info(
        `pip --target: ${pipTargetBytes} bytes; lambda-deps layers: ${manifest.layers.reduce((sum, layer) => sum + layer.unzippedSize, 0)} bytes`,
      );
    });

    it('is delivered as at most 5 layers under 250 MB unzipped', () => {
      // Assess
      expect(manifest.strategy).toBe('layers');
      expect(manifest.layers.length).toBeGreaterThan(0);
      expect(manifest.layers.length).toBeLessThanOrEqual(LAMBDA_MAX_LAYERS);
      const unzipped = manifest.layers.reduce((sum, layer) => sum + layer.unzippedSize, 0);
      expect(unzipped).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES);
      expect(new Set(manifest.layers.flatMap((layer) => layer.packages))).toEqual(
        new Set(lock.packages.map((entry) => entry.name)),
      );
      expect(manifest.slimming.rules.find((rule) => rule.rule === 'test-suites')?.bytes).toBeGreaterThan(
        10_000_000,
      );
    });

    it('verifies clean and every top-level module imports in an isolated interpreter', () => {
      // Assess
      expect(manifest.verification).toMatchObject({ ok: true, problems: [] });
      expect(manifest.smokeImport.ran, manifest.smokeImport.reason).toBe(true);
      expect(manifest.smokeImport.failures).toEqual([]);
      expect(manifest.smokeImport.ok).toBe(true);
      expect(manifest.smokeImport.isolation).toMatchObject({
        network: true,
        filesystem: true,
        environment: true,
      });
      expect(manifest.smokeImport.modules).toBeGreaterThanOrEqual(lock.packages.length);
    });

    it('writes zips whose contents unzip to exactly the sizes the manifest gives', async () => {
      // Prepare
      const layer = manifest.layers.find((candidate) => candidate.packages.includes('numpy'));
      if (!layer) throw new Error('numpy has no layer');
      const script =
        'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(sum(i.file_size for i in z.infolist()))';

      // Act
      const { stdout } = await execFileAsync('python3', ['-c', script, join(work, 'out', layer.file)]);

      // Assess
      expect(Number(stdout.trim())).toBe(layer.unzippedSize);
    });
  },
);
