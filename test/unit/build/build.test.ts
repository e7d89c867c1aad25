import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet, fileSha256, type BuildEvent } from '../../../functions/core/build/build.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, LockedPackage, PackageIndex } from '../../../functions/core/shared/types.ts';
import {
  locateCentralDirectory,
  localDataOffset,
  readCentralDirectory,
} from '../../../functions/core/index/zip-directory.ts';
import { writeFixtureWheels, type FixtureWheels } from './wheel-fixtures.ts';
import { hasPython311 } from '../../support/python-on-path.ts';

const execFileAsync = promisify(execFile);

let work: string;
let wheels: FixtureWheels;

/** The index the build downloads through: locked file:// URLs are already on disk. */
const fileIndex: Pick<PackageIndex, 'download'> = {
  download: async (file) => fileURLToPath(file.url),
};

function lockOf(packages: LockedPackage[]): Lock {
  return { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-build-'));
  await mkdir(join(work, 'wheels'));
  wheels = await writeFixtureWheels(join(work, 'wheels'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Entry names, timestamps and modes as Python's zipfile reads them, plus testzip's verdict. */
async function inspectZip(
  path: string,
): Promise<{ names: string[]; dates: string[]; modes: string[]; bad: string | null }> {
  const script = [
    'import json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'print(json.dumps({"names": z.namelist(), "dates": sorted({"%04d-%02d-%02d %02d:%02d:%02d" % i.date_time for i in z.infolist()}),',
    '  "modes": sorted({oct(i.external_attr >> 16) for i in z.infolist()}), "bad": z.testzip()}))',
  ].join('\n');
  const { stdout } = await execFileAsync('python3', ['-c', script, path]);
  return JSON.parse(stdout) as { names: string[]; dates: string[]; modes: string[]; bad: string | null };
}

function compressedBytes(zip: Buffer, name: string): Buffer {
  const location = locateCentralDirectory(zip, zip.length);
  const entries = readCentralDirectory(
    zip.subarray(location.offset, location.offset + location.size),
    location,
  );
  const entry = entries.find((candidate) => candidate.name === name);
  if (!entry) throw new Error(`${name} is not in the zip`);
  const start =
    entry.localHeaderOffset + (localDataOffset(zip.subarray(entry.localHeaderOffset), entry) ?? 0);
  return zip.subarray(start, start + entry.compressedSize);
}

describe('buildDependencySet', () => {
  it('writes byte-identical layer zips for the same lock and policy (sorted, 1980 timestamps, fixed modes)', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked('demo-1.0-py3-none-any.whl')]);

    // Act
    const first = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-1'),
      policy: { forceStrategy: 'layers' },
      cacheDir: join(work, 'cache-1'),
    });
    const second = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-2'),
      policy: { forceStrategy: 'layers' },
      cacheDir: join(work, 'cache-2'),
    });

    // Assess
    expect(first.layers).toHaveLength(1);
    const layer = first.layers[0]?.file ?? '';
    expect(await fileSha256(join(work, 'out-1', layer))).toBe(await fileSha256(join(work, 'out-2', layer)));
    expect(second.layers[0]?.sha256).toBe(first.layers[0]?.sha256);
    const zip = await inspectZip(join(work, 'out-1', layer));
    expect(zip.bad).toBeNull();
    expect(zip.names).toEqual([...zip.names].sort());
    expect(zip.names).toContain('python/demo/__init__.py');
    expect(zip.names).toContain('bin/demo');
    expect(zip.dates).toEqual(['1980-01-01 00:00:00']);
    expect(zip.modes).toEqual(['0o100644', '0o100755', '0o40755']);
    expect(first.verification.ok).toBe(true);
  });

  it('copies unchanged entries as the raw compressed bytes of the wheel', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked('demo-1.0-py3-none-any.whl')]);
    const manifest = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-raw'),
      policy: { forceStrategy: 'layers' },
      cacheDir: join(work, 'cache-raw'),
    });

    // Act
    const layerZip = await readFile(join(work, 'out-raw', manifest.layers[0]?.file ?? ''));
    const wheel = await readFile(wheels.path('demo-1.0-py3-none-any.whl'));

    // Assess
    expect(
      compressedBytes(layerZip, 'python/demo/core.py').equals(compressedBytes(wheel, 'demo/core.py')),
    ).toBe(true);
  });

  it('serves an unchanged lock and policy from the cache without building again', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked('demo-1.0-py3-none-any.whl')]);
    const cacheDir = join(work, 'cache-hit');
    const first = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-hit-1'),
      policy: {},
      cacheDir,
    });
    const events: BuildEvent[] = [];
    let downloads = 0;

    // Act
    const started = performance.now();
    const again = await buildDependencySet({
      lock,
      index: { download: async (file) => (downloads++, fileURLToPath(file.url)) },
      outDir: join(work, 'out-hit-2'),
      policy: {},
      cacheDir,
      onEvent: (event) => events.push(event),
    });
    const elapsed = performance.now() - started;

    // Assess
    expect(events.map((event) => event.type)).toEqual(['cache-hit']);
    expect(downloads).toBe(0);
    expect(again).toEqual(first);
    expect(await fileSha256(join(work, 'out-hit-2', again.layers[0]?.file ?? ''))).toBe(
      first.layers[0]?.sha256,
    );
    expect(elapsed).toBeLessThan(1000);
  });

  it('publishes nothing and caches nothing when verification fails (a Mach-O file)', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked('macho.whl')]);
    const cacheDir = join(work, 'cache-macho');

    // Act
    const manifest = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-macho'),
      policy: {},
      cacheDir,
    });

    // Assess
    expect(manifest.verification.ok).toBe(false);
    expect(manifest.verification.problems.some((problem) => /Mach-O|macOS/i.test(problem.message))).toBe(
      true,
    );
    expect(manifest.layers).toEqual([]);
    expect(manifest.reason).toMatch(/^not published/);
    expect(existsSync(join(work, 'out-macho', 'layers'))).toBe(false);
    expect(existsSync(join(work, 'out-macho', 'manifest.json'))).toBe(true);
    expect((await readdir(join(cacheDir, 'builds'))).filter((name) => !name.startsWith('.'))).toEqual([]);
  });

  it.skipIf(!hasPython311())(
    `precompiles hash-checked .pyc for the target when asked, deterministically${hasPython311() ? '' : ' (skipped: no python3.11 on PATH)'}`,
    async () => {
      // Prepare
      const lock = lockOf([await wheels.locked('demo-1.0-py3-none-any.whl')]);
      const policy = { forceStrategy: 'layers', precompile: true } as const;

      // Act
      const first = await buildDependencySet({
        lock,
        index: fileIndex,
        outDir: join(work, 'out-pyc-1'),
        policy,
        cacheDir: join(work, 'cache-pyc-1'),
      });
      const second = await buildDependencySet({
        lock,
        index: fileIndex,
        outDir: join(work, 'out-pyc-2'),
        policy,
        cacheDir: join(work, 'cache-pyc-2'),
      });
      const plain = await buildDependencySet({
        lock,
        index: fileIndex,
        outDir: join(work, 'out-pyc-0'),
        policy: { forceStrategy: 'layers' },
        cacheDir: join(work, 'cache-pyc-0'),
      });

      // Assess
      const zip = await inspectZip(join(work, 'out-pyc-1', first.layers[0]?.file ?? ''));
      expect(zip.names).toContain('python/demo/__pycache__/core.cpython-311.pyc');
      expect(first.sizes.slimmed).toBeGreaterThan(plain.sizes.slimmed);
      expect(
        first.warnings?.some((warning) => /precompiled .pyc.*bytes before.*bytes after/.test(warning)),
      ).toBe(true);
      expect(second.layers[0]?.sha256).toBe(first.layers[0]?.sha256);
    },
  );

  it('routes to an EFS tree tar or an OCI image layout when asked', async () => {
    // Prepare
    const lock = lockOf([await wheels.locked('demo-1.0-py3-none-any.whl')]);

    // Act
    const efs = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-efs'),
      policy: { forceStrategy: 'efs' },
      cacheDir: join(work, 'cache-efs'),
    });
    const image = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-image'),
      policy: { forceStrategy: 'image' },
      cacheDir: join(work, 'cache-image'),
    });

    // Assess
    expect(efs.efs).toEqual({ tree: 'efs/site-packages.tar', pythonPath: 'site-packages' });
    const { stdout } = await execFileAsync('tar', ['-tf', join(work, 'out-efs', 'efs', 'site-packages.tar')]);
    expect(stdout.split('\n')).toContain('site-packages/demo/__init__.py');
    expect(image.image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const index = JSON.parse(await readFile(join(work, 'out-image', 'image', 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((manifest) => manifest.digest)).toContain(image.image?.digest);
    expect(efs.layers).toEqual([]);
  });

  it('builds a locked sdist through the sdist builder, refusing one that is not a real sdist', async () => {
    // Prepare
    const lock = lockOf([
      { ...(await wheels.locked('demo-1.0-py3-none-any.whl')), filename: 'demo-1.0.tar.gz' },
    ]);

    // Act
    const build = buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'out-sdist'),
      policy: {},
      cacheDir: join(work, 'cache-sdist'),
    });

    // Assess
    await expect(build).rejects.toThrow(/demo-1\.0\.tar\.gz|demo 1\.0/);
  });
});
