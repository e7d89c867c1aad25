// `bin/lambda-deps measure` as a user runs it: a real process, real wheels from this machine's
// on-disk indexes, its exit codes, its --json document and its lock file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockHash } from '../../../functions/core/resolve/lock.ts';
import { parseLock } from '../../../functions/core/resolve/lock-reader.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { runCli, type CliRun } from '../../support/run-cli.ts';

const indexes = localIndexes();

const run = (args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> =>
  runCli(args, { env });

function indexFlags(): string[] {
  if (!indexes) return [];
  const [first, ...extra] = indexes.indexUrls;
  return [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
}

describe('lambda-deps measure', () => {
  let workDir = '';
  let requirementsFile = '';

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-measure-cli-'));
    requirementsFile = join(workDir, 'requirements.txt');
    await writeFile(requirementsFile, '# a small native + pure set\nrequests\nbcrypt\n');
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it.skipIf(!indexes)(
    `prints exactly the documented JSON document and writes a matching lock${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare
      const lockFile = join(workDir, 'set.lock.json');

      // Act
      const result = await run([
        'measure',
        requirementsFile,
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--json',
        '--cache-dir',
        join(workDir, 'cache'),
        '--lock-out',
        lockFile,
        ...indexFlags(),
      ]);

      // Assess
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const document = JSON.parse(result.stdout) as Record<string, unknown> & {
        packages: Record<string, unknown>[];
        totals: { size: number; unzippedSize: number };
        verdict: { strategy: string };
        lockHash: string;
      };
      expect(Object.keys(document).sort()).toEqual([
        'lockHash',
        'packages',
        'problems',
        'target',
        'totals',
        'verdict',
        'warnings',
      ]);
      expect(document.packages.map((entry) => entry.name)).toEqual(
        expect.arrayContaining(['bcrypt', 'certifi', 'charset-normalizer', 'idna', 'requests', 'urllib3']),
      );
      for (const entry of document.packages) {
        expect(Object.keys(entry).sort()).toEqual([
          'filename',
          'name',
          'size',
          'tag',
          'unzippedSize',
          'version',
        ]);
      }
      expect(document.totals.unzippedSize).toBe(
        document.packages.reduce((sum, entry) => sum + Number(entry.unzippedSize), 0),
      );
      expect(document.verdict.strategy).toBe('layers');
      expect(document.problems).toEqual([]);
      const lock = parseLock(await readFile(lockFile, 'utf8'), lockFile, { localFileUrls: true });
      expect(lockHash(lock)).toBe(document.lockHash);
    },
  );

  it.skipIf(!indexes)(
    `prints a table with each package's share of the 250 MB budget and the verdict${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Act
      const result = await run([
        'measure',
        requirementsFile,
        '--runtime',
        'python3.11',
        '--cache-dir',
        join(workDir, 'cache'),
        ...indexFlags(),
      ]);

      // Assess
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/package\s+version\s+tag\s+zipped\s+unzipped\s+of 250 MiB/);
      expect(result.stdout).toMatch(/bcrypt\s+5\.0\.0\s+cp38-abi3-manylinux_2_17_x86_64/);
      expect(result.stdout).toMatch(/verdict: layers \(\d\): .* fits .* in \d of \d free layer slots/);
    },
  );

  it.skipIf(!indexes)(
    `exits 1 and lists the problem when the set cannot be satisfied${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare
      const file = join(workDir, 'native.txt');
      await writeFile(file, 'cffi\n');

      // Act
      const json = await run([
        'measure',
        file,
        '--runtime',
        'python3.12',
        '--json',
        '--cache-dir',
        join(workDir, 'cache'),
        ...indexFlags(),
      ]);
      const text = await run([
        'measure',
        file,
        '--runtime',
        'python3.12',
        '--cache-dir',
        join(workDir, 'cache'),
        ...indexFlags(),
      ]);

      // Assess
      expect(json.code).toBe(1);
      const document = JSON.parse(json.stdout) as {
        problems: { package: string; message: string }[];
        verdict: unknown;
      };
      expect(document.verdict).toBeNull();
      expect(document.problems).toEqual([
        { package: 'cffi', message: expect.stringContaining('has no wheel for CPython 3.12 (only cp311)') },
      ]);
      expect(text.code).toBe(1);
      expect(text.stderr).toContain('cffi');
      expect(text.stderr).toContain('hint:');
    },
  );

  it.skipIf(!indexes)(
    `finds the indexes named in pip's configuration when no index flag is given${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare: a pip config of our own (PIP_CONFIG_FILE), naming the machine's indexes the way pip.conf does.
      const [first, ...extra] = indexes?.indexUrls ?? [];
      const config = join(workDir, 'pip.conf');
      await writeFile(
        config,
        `[global]\nindex-url = ${first}\nextra-index-url = ${extra.join(' ')}\nfind-links = ${(indexes?.findLinks ?? []).join(' ')}\n`,
      );

      // Act
      const result = await run(
        [
          'measure',
          requirementsFile,
          '--runtime',
          'python3.11',
          '--json',
          '--cache-dir',
          join(workDir, 'cache'),
        ],
        {
          PIP_CONFIG_FILE: config,
          PIP_INDEX_URL: undefined,
          PIP_EXTRA_INDEX_URL: undefined,
        },
      );

      // Assess
      expect(result.code).toBe(0);
      expect((JSON.parse(result.stdout) as { packages: unknown[] }).packages.length).toBeGreaterThanOrEqual(
        6,
      );
    },
  );

  it.each([
    [['measure', 'requirements.txt', '--runtime', 'python3.11', '--bogus'], /unknown option '--bogus'/],
    [['measure', 'requirements.txt'], /No target given[\s\S]*hint: Pass --runtime/],
    [['measure', 'requirements.txt', '--runtime', 'python2.7'], /Unknown Lambda runtime "python2\.7"/],
    [
      ['measure', 'requirements.txt', '--runtime', 'python3.11', '--arch', 'sparc'],
      /argument 'sparc' is invalid/,
    ],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('exits 2 on bad usage: %j', async (args, message) => {
    // Act
    const result = await run(args, { PIP_CONFIG_FILE: '/dev/null' });

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('exits 2 and points at the line and column of a malformed requirement', async () => {
    // Prepare
    const file = join(workDir, 'broken.txt');
    await writeFile(file, 'requests\nnumpy>=>1\n');

    // Act
    const result = await run(['measure', file, '--runtime', 'python3.12', '--no-index'], {
      PIP_CONFIG_FILE: '/dev/null',
    });

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:2:`);
    expect(result.stderr).toContain('hint:');
  });

  it('shows examples in --help and exits 0', async () => {
    // Act
    const result = await run(['measure', '--help']);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Examples:');
    expect(result.stdout).toContain('--existing-layers');
  });
});
