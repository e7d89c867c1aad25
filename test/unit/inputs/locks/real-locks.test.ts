// Real-shaped lock files (test/fixtures/locks/, see its README) built for python3.11 x86_64 with
// the real wheels of this machine's indexes: every format builds exactly its pins; a pylock.toml
// written by pip 26's own `pip lock` builds exactly its pins; export round-trips through pip 26
// (`--require-hashes` picks the same files) and through pylock.toml (the lock hash is kept).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePylock } from '../../../../functions/core/inputs/locks/pylock.ts';
import { writeRequirements } from '../../../../functions/cli/commands/export.ts';
import { measureRequirements } from '../../../../functions/core/measure/measure.ts';
import { lockHash } from '../../../../functions/core/resolve/lock.ts';
import { lambdaTarget } from '../../../../functions/core/shared/targets.ts';
import type { BuildManifest, Lock } from '../../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../../support/pip-indexes.ts';
import { EXPECTED, UV_DEV_GROUP_PINS } from './expected-pins.ts';

const execFileAsync = promisify(execFile);
const FIXTURES = resolve('test/fixtures/locks');
const indexes = localIndexes();
const target = lambdaTarget('python3.11', 'x86_64');

function indexArgs(): string[] {
  if (!indexes) return [];
  const [first, ...rest] = indexes.indexUrls;
  return [
    ...(first ? ['--index-url', first] : []),
    ...rest.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
}

function cliIndexOptions() {
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  return { ...(indexUrl ? { indexUrl } : {}), extraIndexUrls, findLinks: indexes?.findLinks ?? [] };
}

const pins = (lock: Lock): string[] => lock.packages.map((entry) => `${entry.name}==${entry.version}`).sort();

async function buildWithCli(input: string, out: string, extra: string[] = []): Promise<BuildManifest> {
  const { stdout } = await execFileAsync(
    'bin/lambda-deps',
    [
      'build',
      input,
      '--runtime',
      'python3.11',
      '--arch',
      'x86_64',
      '--no-pipeline',
      '--json',
      '--out',
      out,
      '--cache-dir',
      join(out, '..', 'cache'),
      ...indexArgs(),
      ...extra,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
  );
  return JSON.parse(stdout) as BuildManifest;
}

describe.skipIf(indexes === null)(
  `real-shaped locks for python3.11${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
  () => {
    let workDir = '';
    beforeAll(async () => {
      workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-locks-'));
    });
    afterAll(async () => {
      await rm(workDir, { recursive: true, force: true });
    });

    for (const [format, expected] of Object.entries(EXPECTED)) {
      it(`builds exactly the pins of a real-shaped ${format}`, { timeout: 240_000 }, async () => {
        // Act
        const manifest = await buildWithCli(join(FIXTURES, expected.path), join(workDir, format));

        // Assess
        expect(pins(manifest.lock)).toEqual([...expected.pins].sort());
        expect(manifest.verification.ok).toBe(true);
        const fixture = await readFile(join(FIXTURES, expected.path), 'utf8');
        for (const entry of manifest.lock.packages) expect(fixture).toContain(entry.sha256);
      });
    }

    it('reads the uv.lock beside a pyproject.toml, with its dev group', { timeout: 120_000 }, async () => {
      // Act
      const { lock } = await measureRequirements({
        requirementsPath: join(FIXTURES, 'uv/pyproject.toml'),
        target,
        cacheDir: join(workDir, 'cache'),
        cliIndexOptions: cliIndexOptions(),
        groups: ['dev'],
      });

      // Assess
      expect(pins(lock)).toEqual([...(EXPECTED['uv.lock']?.pins ?? []), ...UV_DEV_GROUP_PINS].sort());
      expect(pins(lock)).not.toContain('colorama==0.4.6');
    });

    it(
      'uses the lock’s own index, not pip’s configuration, when the command line names none',
      { timeout: 120_000 },
      async () => {
        // Prepare: the lock names the on-disk index itself; pip's configuration is pointed nowhere.
        const index = indexes?.indexUrls.find((url) => url.startsWith('file:')) as string;
        const text = (await readFile(join(FIXTURES, 'uv/uv.lock'), 'utf8'))
          .replaceAll('https://pypi.org/simple', index)
          .replace(/url = "https:\/\/files\.pythonhosted\.org[^"]*\/([^"/]+)"/g, 'filename = "$1"');
        const folder = join(workDir, 'own-index');
        await mkdir(folder, { recursive: true });
        await writeFile(join(folder, 'uv.lock'), text);

        // Act
        const { lock, result } = await measureRequirements({
          requirementsPath: join(folder, 'uv.lock'),
          target,
          cacheDir: join(workDir, 'cache'),
          environment: { PIP_CONFIG_FILE: '/nonexistent', PIP_INDEX_URL: 'http://127.0.0.1:9/simple' },
        });

        // Assess
        expect(pins(lock)).toEqual([...(EXPECTED['uv.lock']?.pins ?? [])].sort());
        expect(lock.packages.every((entry) => entry.url.startsWith('file:'))).toBe(true);
        expect(result.warnings ?? []).toEqual([]);
      },
    );

    it('keeps the lock hash through pylock.toml → lock → pylock.toml', { timeout: 120_000 }, async () => {
      // Prepare
      const measure = (path: string) =>
        measureRequirements({
          requirementsPath: path,
          target,
          cacheDir: join(workDir, 'cache'),
          cliIndexOptions: cliIndexOptions(),
        });
      const first = await measure(join(FIXTURES, 'pylock/pylock.toml'));
      const exported = join(workDir, 'exported', 'pylock.toml');
      await mkdir(join(workDir, 'exported'), { recursive: true });
      await writeFile(exported, writePylock(first.lock));

      // Act: read back with no index options, so the exported file's own URLs are used.
      const second = await measureRequirements({
        requirementsPath: exported,
        target,
        cacheDir: join(workDir, 'cache'),
      });

      // Assess
      expect(lockHash(second.lock)).toBe(first.lockHash);
      expect(writePylock(second.lock)).toBe(writePylock(first.lock));
    });

    it(
      'exports from the command line what writeRequirements and writePylock write',
      { timeout: 120_000 },
      async () => {
        // Prepare
        const input = join(FIXTURES, 'pipenv/Pipfile.lock');
        const { lock } = await measureRequirements({
          requirementsPath: input,
          target,
          cacheDir: join(workDir, 'cache'),
          cliIndexOptions: cliIndexOptions(),
        });
        const run = (format: string) =>
          execFileAsync(
            'bin/lambda-deps',
            [
              'export',
              input,
              '--format',
              format,
              '--runtime',
              'python3.11',
              '--cache-dir',
              join(workDir, 'cache'),
              ...indexArgs(),
            ],
            { timeout: 60_000 },
          );

        // Act
        const [requirements, pylock] = await Promise.all([run('requirements'), run('pylock')]);

        // Assess
        expect(requirements.stdout).toBe(writeRequirements(lock));
        expect(pylock.stdout).toBe(writePylock(lock));
        expect(requirements.stderr).toContain('checked against the lock');
      },
    );

    describe('with pip 26', () => {
      const pipDir = resolve('.work/pip-26.2.1');
      const pip = join(pipDir, 'bin', 'pip');
      let pipReady: string | null = null;

      beforeAll(async () => {
        try {
          if (!existsSync(pip)) {
            await execFileAsync('python3.11', ['-m', 'venv', pipDir], { timeout: 120_000 });
            await execFileAsync(
              join(pipDir, 'bin', 'python'),
              ['-m', 'pip', 'install', '-q', 'pip==26.2.1', ...indexArgs()],
              { timeout: 240_000 },
            );
          }
          const { stdout } = await execFileAsync(pip, ['--version']);
          if (!stdout.startsWith('pip 26.2.1')) pipReady = `the venv has ${stdout.trim()}, not pip 26.2.1`;
        } catch (error) {
          pipReady = `pip 26.2.1 could not be installed from the indexes pip is configured with (${(error as Error).message.split('\n')[0]})`;
        }
      }, 300_000);

      it(
        'builds exactly the pins of a pylock.toml written by `pip lock`',
        { timeout: 300_000 },
        async (context) => {
          if (pipReady) context.skip(pipReady);
          // Prepare
          const folder = join(workDir, 'pip-lock');
          await mkdir(folder, { recursive: true });
          await writeFile(join(folder, 'requirements.txt'), 'requests==2.34.2\npydantic==2.13.5\n');
          await execFileAsync(
            pip,
            ['lock', '-r', 'requirements.txt', '-o', 'pylock.toml', '--only-binary', ':all:', ...indexArgs()],
            {
              cwd: folder,
              timeout: 240_000,
              env: { ...process.env, PIP_CONFIG_FILE: '/dev/null' },
            },
          );
          const written = parseToml(await readFile(join(folder, 'pylock.toml'), 'utf8')) as {
            'created-by': string;
            packages: { name: string; version: string }[];
          };

          // Act
          const manifest = await buildWithCli(join(folder, 'pylock.toml'), join(folder, 'out'));

          // Assess
          expect(written['created-by']).toBe('pip');
          expect(pins(manifest.lock)).toEqual(
            written.packages.map((entry) => `${entry.name}==${entry.version}`).sort(),
          );
          expect(manifest.verification.ok).toBe(true);
        },
      );

      it(
        'installs, with --require-hashes, exactly the files the exported requirements name',
        { timeout: 300_000 },
        async (context) => {
          if (pipReady) context.skip(pipReady);
          // Prepare
          const { lock } = await measureRequirements({
            requirementsPath: join(FIXTURES, 'poetry/poetry.lock'),
            target,
            cacheDir: join(workDir, 'cache'),
            cliIndexOptions: cliIndexOptions(),
          });
          const folder = join(workDir, 'export-requirements');
          await mkdir(folder, { recursive: true });
          await writeFile(join(folder, 'requirements.txt'), writeRequirements(lock));

          // Act
          await execFileAsync(
            pip,
            [
              'install',
              '--dry-run',
              '--ignore-installed',
              '--report',
              'report.json',
              '--require-hashes',
              '--only-binary',
              ':all:',
              '-r',
              'requirements.txt',
              ...indexArgs(),
            ],
            { cwd: folder, timeout: 240_000, env: { ...process.env, PIP_CONFIG_FILE: '/dev/null' } },
          );

          // Assess
          const report = JSON.parse(await readFile(join(folder, 'report.json'), 'utf8')) as {
            install: {
              download_info: { url: string; archive_info: { hashes?: { sha256?: string }; hash?: string } };
            }[];
          };
          const chosen = report.install
            .map(
              (item) =>
                `${item.download_info.url.split('/').pop()}#${item.download_info.archive_info.hashes?.sha256 ?? item.download_info.archive_info.hash?.replace('sha256=', '')}`,
            )
            .sort();
          expect(chosen).toEqual(lock.packages.map((entry) => `${entry.filename}#${entry.sha256}`).sort());
        },
      );
    });
  },
);
