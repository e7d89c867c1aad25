// `lambda-deps cache dir` and `cache clean` through the CLI, on a cache a real default-path build
// (of a pyproject.toml, so Measure's project folder is there too) filled: every folder the build
// made is one clean knows, clean removes all of them and nothing of the user's, and the next
// build fills the cache again.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_FOLDERS } from '../../../functions/cli/commands/cache.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
let work = '';

function cli(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return execFileAsync('bin/lambda-deps', [...args], { env, maxBuffer: 64 * 1024 * 1024, timeout: 280_000 });
}

function build(cacheDir: string) {
  const [first, ...rest] = indexes?.indexUrls ?? [];
  return cli([
    'build',
    join(work, 'project', 'pyproject.toml'),
    '--runtime',
    'python3.11',
    '--out',
    join(work, 'out'),
    '--cache-dir',
    cacheDir,
    '--json',
    ...(first ? ['--index-url', first] : []),
    ...rest.flatMap((url) => ['--extra-index-url', url]),
  ]);
}

describe('lambda-deps cache', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-cache-command-'));
    await mkdir(join(work, 'project'));
    await writeFile(
      join(work, 'project', 'pyproject.toml'),
      '[project]\nname = "cached"\nversion = "1"\ndependencies = ["six"]\n',
    );
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('prints the folder it would use, from XDG_CACHE_HOME as build and measure do', async () => {
    // Act
    const { stdout } = await cli(['cache', 'dir'], { ...process.env, XDG_CACHE_HOME: join(work, 'xdg') });

    // Assess
    expect(stdout.trim()).toBe(join(work, 'xdg', 'lambda-deps'));
  });

  it.skipIf(indexes === null)(
    `knows every folder a build makes, removes them all and nothing else${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare: a build's cache, and a file of the user's in the folder named as the cache
      const cacheDir = join(work, 'cache');
      await build(cacheDir);
      const made = await readdir(cacheDir);
      await writeFile(join(cacheDir, 'notes.txt'), 'mine');

      // Act
      const cleaned = await cli(['cache', 'clean', '--cache-dir', cacheDir]);
      const after = await readdir(cacheDir);
      await build(cacheDir);

      // Assess
      expect(made.length).toBeGreaterThanOrEqual(8);
      expect(made.filter((name) => !CACHE_FOLDERS.includes(name))).toEqual([]);
      expect(made).toContain('measure-inputs');
      expect(cleaned.stdout).toMatch(new RegExp(`removed ${made.length} cache folders \\(`));
      expect(cleaned.stderr).toMatch(/left in place, not lambda-deps's: notes\.txt/);
      expect(after).toEqual(['notes.txt']);
      expect(await readFile(join(cacheDir, 'notes.txt'), 'utf8')).toBe('mine');
      expect((await readdir(cacheDir)).length).toBeGreaterThan(1);
    },
    300_000,
  );
});
