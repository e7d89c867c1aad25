// Lock files through the default `build` path (the local pipeline), as a user runs it:
// `bin/lambda-deps build LOCK` with no --no-pipeline. Each real-shaped fixture
// (test/fixtures/locks/) builds exactly its pins; a pyproject.toml or Pipfile travels to Measure
// with the lock beside it, and a lock with the pyproject.toml beside it, so the pipeline reads the
// project as `measure` here does (its groups too).
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAdapters } from '../../../functions/adapters/local/local-adapters.ts';
import { LOCAL_BUCKET, runPipelineLocally } from '../../../functions/cli/local-pipeline.ts';
import type { BuildManifest, Lock } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { EXPECTED, UV_DEV_GROUP_PINS } from '../../unit/inputs/locks/expected-pins.ts';

const execFileAsync = promisify(execFile);
const FIXTURES = resolve('test/fixtures/locks');
const indexes = localIndexes();
const WHY = indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`;
let workDir = '';

const pins = (lock: Lock): string[] => lock.packages.map((entry) => `${entry.name}==${entry.version}`).sort();

function indexArgs(): string[] {
  const [first, ...rest] = indexes?.indexUrls ?? [];
  return [
    ...(first ? ['--index-url', first] : []),
    ...rest.flatMap((url) => ['--extra-index-url', url]),
    ...(indexes?.findLinks ?? []).flatMap((location) => ['--find-links', location]),
  ];
}

/** `lambda-deps build INPUT` on the default path; the manifest it left under --out. */
async function buildThroughPipeline(
  input: string,
  name: string,
  extra: string[] = [],
): Promise<BuildManifest> {
  const out = join(workDir, name);
  await execFileAsync(
    'bin/lambda-deps',
    [
      'build',
      input,
      '--runtime',
      'python3.11',
      '--arch',
      'x86_64',
      '--out',
      out,
      '--cache-dir',
      join(workDir, 'cache'),
      '--json',
      ...indexArgs(),
      ...extra,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 280_000 },
  );
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BuildManifest & {
    execution?: { states: { name: string }[] };
  };
  // The run went through the state machine (Measure, Build …), not the in-process build.
  expect(manifest.execution?.states.map((state) => state.name)).toContain('Measure');
  return manifest;
}

describe.skipIf(indexes === null)(`lock files through the default build path${WHY}`, () => {
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-lock-pipeline-'));
  });
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  for (const [format, expected] of Object.entries(EXPECTED)) {
    it(`builds exactly the pins of a real-shaped ${format}`, { timeout: 300_000 }, async () => {
      // Act
      const manifest = await buildThroughPipeline(join(FIXTURES, expected.path), format);

      // Assess
      expect(pins(manifest.lock)).toEqual([...expected.pins].sort());
      const fixture = await readFile(join(FIXTURES, expected.path), 'utf8');
      for (const entry of manifest.lock.packages) expect(fixture).toContain(entry.sha256);
      expect(manifest.verification.ok).toBe(true);
    });
  }

  it(
    'sends a pyproject.toml with the uv.lock beside it, and honours --group',
    { timeout: 300_000 },
    async () => {
      // Act
      const manifest = await buildThroughPipeline(join(FIXTURES, 'uv/pyproject.toml'), 'uv-project', [
        '--group',
        'dev',
      ]);

      // Assess: the lock's pins, with its dev group, and nothing resolved afresh.
      expect(pins(manifest.lock)).toEqual(
        [...(EXPECTED['uv.lock']?.pins ?? []), ...UV_DEV_GROUP_PINS].sort(),
      );
      const lock = await readFile(join(FIXTURES, 'uv/uv.lock'), 'utf8');
      for (const entry of manifest.lock.packages) expect(lock).toContain(entry.sha256);
    },
  );

  // Poetry before lock-version 2.1 writes no groups: only the pyproject.toml says what is installed.
  for (const named of ['pyproject.toml', 'poetry.lock']) {
    it(
      `reads a Poetry project whose lock lists no groups, naming ${named}`,
      { timeout: 300_000 },
      async () => {
        // Prepare
        const project = join(workDir, `poetry-2.0-${named}`);
        await mkdir(project);
        await copyFile(join(FIXTURES, 'poetry/pyproject.toml'), join(project, 'pyproject.toml'));
        const lock = await readFile(join(FIXTURES, 'poetry/poetry.lock'), 'utf8');
        await writeFile(
          join(project, 'poetry.lock'),
          lock.replace(/^groups = .*\n/gm, '').replace('lock-version = "2.1"', 'lock-version = "2.0"'),
        );

        // Act
        const manifest = await buildThroughPipeline(join(project, named), `poetry-2.0-${named}-out`);

        // Assess: the main group only, as the pyproject's roots give it.
        expect(pins(manifest.lock)).toEqual([...(EXPECTED['poetry.lock']?.pins ?? [])].sort());
      },
    );
  }

  it(
    'reads an uploaded poetry.lock with the pyproject.toml uploaded beside it',
    { timeout: 300_000 },
    async () => {
      // Prepare: both files under one folder of the bucket, the lock without groups (Poetry < 2.1),
      // so only the pyproject beside it says what the project installs.
      const outDir = join(workDir, 'upload');
      const store = localAdapters({ outDir }).store;
      const lock = await readFile(join(FIXTURES, 'poetry/poetry.lock'), 'utf8');
      await store.putBytes(
        'requirements/poetry-upload/pyproject.toml',
        await readFile(join(FIXTURES, 'poetry/pyproject.toml'), 'utf8'),
        'text/plain',
      );
      await store.putBytes(
        'requirements/poetry-upload/poetry.lock',
        lock.replace(/^groups = .*\n/gm, '').replace('lock-version = "2.1"', 'lock-version = "2.0"'),
        'text/plain',
      );
      const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];

      // Act: the event EventBridge sends for the lock's upload.
      const run = await runPipelineLocally({
        outDir,
        runtime: 'python3.11',
        arch: 'x86_64',
        ...(indexUrl ? { indexUrl } : {}),
        extraIndexUrls,
        findLinks: indexes?.findLinks ?? [],
        cacheDir: join(workDir, 'cache'),
        event: {
          version: '0',
          source: 'aws.s3',
          'detail-type': 'Object Created',
          detail: {
            bucket: { name: LOCAL_BUCKET },
            object: { key: 'requirements/poetry-upload/poetry.lock', etag: 'e1' },
            reason: 'PutObject',
          },
        },
      });

      // Assess
      expect(run.status, JSON.stringify(run.report)).toBe('SUCCEEDED');
      expect(pins(run.manifest?.lock ?? ({ packages: [] } as unknown as Lock))).toEqual(
        [...(EXPECTED['poetry.lock']?.pins ?? [])].sort(),
      );
    },
  );

  it('sends a Pipfile with the Pipfile.lock beside it', { timeout: 300_000 }, async () => {
    // Act
    const manifest = await buildThroughPipeline(join(FIXTURES, 'pipenv/Pipfile'), 'pipfile-project');

    // Assess
    expect(pins(manifest.lock)).toEqual([...(EXPECTED['Pipfile.lock']?.pins ?? [])].sort());
  });

  it(
    "names the user's poetry.lock, not a temporary copy, when Measure refuses it",
    { timeout: 300_000 },
    async () => {
      // Prepare: a package entry without its version.
      const project = join(workDir, 'broken-poetry');
      await mkdir(project, { recursive: true });
      const lock = join(project, 'poetry.lock');
      await writeFile(
        lock,
        '[[package]]\nname = "six"\nfiles = []\n\n[metadata]\nlock-version = "2.0"\npython-versions = ">=3.9"\ncontent-hash = "0"\n',
      );

      // Act
      const failed = await execFileAsync(
        'bin/lambda-deps',
        [
          'build',
          lock,
          '--runtime',
          'python3.11',
          '--arch',
          'x86_64',
          '--out',
          join(project, 'out'),
          ...indexArgs(),
        ],
        { maxBuffer: 16 * 1024 * 1024, timeout: 280_000, env: { ...process.env, NO_COLOR: '1' } },
      ).then(
        () => null,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );

      // Assess
      expect(failed?.code).toBe(2);
      const said = `${failed?.stdout ?? ''}${failed?.stderr ?? ''}`;
      expect(said).toContain(lock);
      expect(said).not.toMatch(/lambda-deps-measure-/);
      const report = await readFile(join(project, 'out', 'report.json'), 'utf8');
      expect(report).not.toMatch(/lambda-deps-measure-/);
    },
  );
});
