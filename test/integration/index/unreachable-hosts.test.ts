// A lock (or an index) naming a host this machine cannot resolve: the failure is a typed
// IndexUnreachableError naming the package, the file and the host, with what to do, both from the
// index client and from `bin/lambda-deps build` on a real-shaped uv.lock. Hosts end in `.invalid`,
// which RFC 6761 reserves so that they never resolve, whatever the network.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import { IndexUnreachableError } from '../../../functions/core/shared/errors.ts';
import type { DistributionFile } from '../../../functions/core/shared/types.ts';

const execFileAsync = promisify(execFile);
const BIN = resolve('bin/lambda-deps');
const UV_LOCK = resolve('test/fixtures/locks/uv/uv.lock');

function lockedFile(url: string): DistributionFile {
  return {
    filename: url.slice(url.lastIndexOf('/') + 1),
    url,
    sha256: '117bac03a25ede5df5440e855b32d556049ca169ead221505badf432fed4b101',
    requiresPython: null,
    yanked: false,
    size: 5302,
    metadataUrl: null,
    metadataSha256: null,
    source: 'lock',
  };
}

describe('a host that does not resolve', () => {
  let workDir = '';

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-unreachable-'));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  function lockIndex(): ReturnType<typeof createPackageIndex> {
    return createPackageIndex({
      indexUrl: 'https://pypi.invalid/simple',
      extraIndexUrls: [],
      findLinks: [],
      pre: true,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
      retries: 0,
    });
  }

  it('fails a locked file’s download with an IndexUnreachableError naming the file, the host and the way out', async () => {
    // Prepare
    const index = lockIndex();
    const file = lockedFile(
      'https://files.pythonhosted.invalid/packages/3e/30/annotated_doc-0.0.5-py3-none-any.whl',
    );

    // Act
    const errors = await Promise.all(
      [index.download(file), index.measureWheel(file)].map((attempt) =>
        (attempt as Promise<unknown>).then(
          () => null,
          (error: unknown) => error,
        ),
      ),
    );
    await index.close();

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(IndexUnreachableError);
      const { message, hint, packageName } = error as IndexUnreachableError;
      expect(message).toMatch(/annotated_doc-0\.0\.5-py3-none-any\.whl/);
      expect(message).toMatch(/files\.pythonhosted\.invalid cannot be reached/);
      expect(packageName).toBe('annotated-doc');
      expect(hint).toMatch(/--index-url/);
      expect(hint).toMatch(/--find-links/);
      expect(hint).toMatch(/lock again/);
    }
  });

  it('fails a listing from a lock’s only source with an IndexUnreachableError naming the package and the host', async () => {
    // Prepare
    const index = lockIndex();

    // Act
    const error = await index.listFiles('six').then(
      () => null,
      (caught: unknown) => caught,
    );
    await index.close();

    // Assess
    expect(error).toBeInstanceOf(IndexUnreachableError);
    expect((error as Error).message).toMatch(/pypi\.invalid cannot be reached/);
    expect((error as IndexUnreachableError).packageName).toBe('six');
    expect((error as IndexUnreachableError).hint).toMatch(/--index-url/);
  });

  it('makes `lambda-deps build uv.lock` say which file, which host and what to do, exit 1, when the lock’s host does not resolve', async () => {
    // Prepare: the real-shaped uv.lock, its hosts moved to ones that never resolve.
    const lock = join(workDir, 'uv.lock');
    const text = await readFile(UV_LOCK, 'utf8');
    await writeFile(
      lock,
      text.replaceAll('pythonhosted.org', 'pythonhosted.invalid').replaceAll('pypi.org', 'pypi.invalid'),
    );
    await writeFile(
      join(workDir, 'pyproject.toml'),
      await readFile(resolve('test/fixtures/locks/uv/pyproject.toml')),
    );

    // Act
    const run = await execFileAsync(
      BIN,
      [
        'build',
        lock,
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--out',
        join(workDir, 'out'),
        '--no-pipeline',
        '--no-cache',
      ],
      { env: { ...process.env, HOME: join(workDir, 'home'), NO_COLOR: '1' }, timeout: 120_000 },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );

    // Assess
    expect(run.code).toBe(1);
    // Which file comes first depends on concurrency; each names its package, then its file, then the host.
    expect(run.stderr).toMatch(
      /[a-z0-9-]+: [\w.]+-[\w.]+-[\w.]+-[\w.]+-[\w.]+\.whl: files\.pythonhosted\.invalid cannot be reached/,
    );
    expect(run.stderr).toMatch(/--index-url/);
    expect(run.stderr).not.toMatch(/^Error: getaddrinfo/m);
  }, 150_000);
});
