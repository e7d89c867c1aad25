// The user's path for sdist-only packages: a find-links folder holding only sdists (a pure
// setuptools project and a C extension using old glibc symbols), real wheels from pip's configured
// indexes, and `lambda-deps measure` / `build --no-pipeline` delivering layers that import them.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/index.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { OLD_GLIBC_EXTENSION, PURE_PROJECTS, writeSdist } from './sdist-projects.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', '..', 'bin', 'lambda-deps');
const noIndexes = localIndexes() === null;
const noPython311 = 'reason' in (await findTargetInterpreter(lambdaTarget('python3.11', 'x86_64')));
let work = '';

async function lambdaDepsWith(
  env: NodeJS.ProcessEnv,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cli, args, { env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const lambdaDeps = (...args: string[]): ReturnType<typeof lambdaDepsWith> =>
  lambdaDepsWith(process.env, args);

/** This environment without pip's configuration: only the command line names an index. */
function withoutPipConfig(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PIP_CONFIG_FILE: '/dev/null' };
  for (const key of Object.keys(env))
    if (/^PIP_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|NO_INDEX)$/.test(key)) delete env[key];
  return env;
}

const targetArgs = (): string[] => [
  join(work, 'requirements.txt'),
  '--runtime',
  'python3.11',
  '--arch',
  'x86_64',
  '-f',
  join(work, 'sdists'),
  '--cache-dir',
  join(work, 'cache'),
];

describe.skipIf(noIndexes || noPython311)(
  `lambda-deps with sdist-only packages${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : noPython311 ? ' (skipped: no python3.11 interpreter here)' : ''}`,
  () => {
    beforeAll(async () => {
      // Prepare: sdists with PKG-INFO 2.2 (reliable per PEP 643) and one real wheel (six).
      work = await mkdtemp(join(tmpdir(), 'lambda-deps-sdist-cli-'));
      const sdists = join(work, 'sdists');
      await mkdir(sdists);
      await writeSdist(PURE_PROJECTS[0] as (typeof PURE_PROJECTS)[0], join(work, 'made-pure'), '2.2').then(
        (path) => run('cp', [path, sdists]),
      );
      await writeSdist(OLD_GLIBC_EXTENSION, join(work, 'made-ext'), '2.2').then((path) =>
        run('cp', [path, sdists]),
      );
      await writeFile(join(work, 'requirements.txt'), 'st-pure\noldsym-ext\nsix\n');
    });
    afterAll(() => rm(work, { recursive: true, force: true }));

    it('refuses sdist-only packages under --only-binary :all:, naming each and what to do', async () => {
      // Act
      const result = await lambdaDeps('measure', ...targetArgs(), '--only-binary', ':all:');

      // Assess
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /st-pure 1\.0 has only a source distribution \(st_pure-1\.0\.tar\.gz\), and --only-binary forbids building st-pure from source; drop st-pure from --only-binary/,
      );
      expect(result.stderr).toMatch(/oldsym-ext 1\.0 has only a source distribution/);
    });

    it('measures the set, saying the sdists are sized only once built', async () => {
      const result = await lambdaDeps('measure', ...targetArgs());

      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(
        /st-pure 1\.0 has only an sdist \(st_pure-1\.0\.tar\.gz\): it is built at build time, and its sizes are unknown/,
      );
    });

    it('builds the sdists into layers whose modules import in the smoke test', async () => {
      // Act
      const out = join(work, 'out');
      const result = await lambdaDeps('build', ...targetArgs(), '--out', out, '--no-pipeline');

      // Assess
      expect(result.code, result.stderr).toBe(0);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BuildManifest & {
        probe?: { ok?: boolean };
      };
      expect(manifest.smokeImport).toMatchObject({ ran: true, ok: true, modules: 3, failures: [] });
      if (manifest.probe) expect(manifest.probe.ok).not.toBe(false);
      expect(manifest.lock.packages.filter((locked) => locked.tag === 'sdist').map((p) => p.name)).toEqual([
        'oldsym-ext',
        'st-pure',
      ]);
      expect(manifest.builtFromSdist).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'st-pure',
            wheel: 'st_pure-1.0-py3-none-any.whl',
            backend: 'setuptools.build_meta',
            glibcNeeded: null,
          }),
          expect.objectContaining({
            name: 'oldsym-ext',
            wheel: 'oldsym_ext-1.0-cp311-cp311-linux_x86_64.whl',
            glibcNeeded: expect.stringMatching(/^2\.\d+/),
          }),
        ]),
      );
      // The build ran in the smoke import's cell wherever that cell is fully isolated here.
      const isolation = manifest.smokeImport.isolation;
      const cellIsolated = Boolean(isolation?.network && isolation.filesystem && isolation.environment);
      expect(manifest.builtFromSdist?.map((built) => built.sandboxed)).toEqual([cellIsolated, cellIsolated]);
      const { stdout } = await run('unzip', ['-l', join(out, manifest.layers[0]?.file ?? 'missing')]);
      expect(stdout).toMatch(/python\/(st_pure\/__init__\.py|oldsym_ext\.cpython-311-x86_64-linux-gnu\.so)/);
    }, 300_000);

    it('delivers the same through the default (local pipeline) path', async () => {
      // Act: after the test above, the cache holds both built wheels.
      const out = join(work, 'out-pipeline');
      const result = await lambdaDeps('build', ...targetArgs(), '--out', out);

      // Assess
      expect(result.code, result.stderr).toBe(0);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BuildManifest;
      expect(manifest.smokeImport).toMatchObject({ ran: true, ok: true, modules: 3 });
      expect(manifest.builtFromSdist?.map((built) => built.name).sort()).toEqual(['oldsym-ext', 'st-pure']);
    }, 300_000);

    it('gets the build backend from an index named only on the command line, and records it in the manifest', async () => {
      // Prepare: pip's configuration is gone, so the build can only use the indexes the set came from.
      const indexes = localIndexes();
      const [first, ...extra] = indexes?.indexUrls ?? [];
      const requirements = join(work, 'requirements-pure.txt');
      await writeFile(requirements, 'st-pure\n');
      const out = join(work, 'out-cli-index');

      // Act
      const result = await lambdaDepsWith(withoutPipConfig(), [
        'build',
        requirements,
        ...['--runtime', 'python3.11', '--arch', 'x86_64', '--out', out],
        ...['--cache-dir', join(work, 'cache-cli-index'), '-f', join(work, 'sdists')],
        ...(first ? ['-i', first] : ['--no-index']),
        ...extra.flatMap((url) => ['--extra-index-url', url]),
        ...(indexes?.findLinks ?? []).flatMap((folder) => ['-f', folder]),
      ]);

      // Assess
      expect(result.code, result.stderr).toBe(0);
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BuildManifest;
      expect(manifest.builtFromSdist).toEqual([
        expect.objectContaining({ name: 'st-pure', backend: 'setuptools.build_meta' }),
      ]);
      const recorded = manifest.builtFromSdist?.[0]?.buildIndexes;
      expect(recorded?.indexUrls).toEqual(indexes?.indexUrls);
      expect([...(recorded?.findLinks ?? [])].sort()).toEqual(
        [join(work, 'sdists'), ...(indexes?.findLinks ?? [])].sort(),
      );
    }, 300_000);

    it("resolves an sdist with PKG-INFO 2.1 by its backend's metadata, pulling in what only pyproject.toml names", async () => {
      // Prepare: PKG-INFO 2.1 names no dependencies (PEP 643: unreliable); pyproject.toml names six.
      const folder = join(work, 'old-pkg-info');
      await writeSdist(
        {
          name: 'st-old',
          version: '1.0',
          module: 'st_old',
          files: {
            'pyproject.toml':
              '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "st-old"\nversion = "1.0"\ndependencies = ["six"]\n',
            'st_old/__init__.py': 'VALUE = 1\n',
          },
        },
        folder,
        '2.1',
      );
      const requirements = join(work, 'requirements-old.txt');
      await writeFile(requirements, 'st-old\n');
      const lockPath = join(work, 'old.lock.json');

      // Act
      const result = await lambdaDeps(
        'measure',
        requirements,
        ...['--runtime', 'python3.11', '--arch', 'x86_64', '-f', folder],
        ...['--cache-dir', join(work, 'cache'), '--lock-out', lockPath],
      );

      // Assess
      expect(result.code, result.stderr).toBe(0);
      const lock = JSON.parse(await readFile(lockPath, 'utf8')) as {
        packages: { name: string; requiredBy: string[] }[];
      };
      expect(lock.packages.map((locked) => locked.name)).toEqual(['six', 'st-old']);
      expect(lock.packages.find((locked) => locked.name === 'six')?.requiredBy).toEqual(['st-old']);
    }, 300_000);
  },
);
