// `lambda-deps store get` as the buildspec types it: one process fetches the lock and the
// delivery policy (KEY FILE pairs); a key without a file is refused before anything is fetched.
// `store build` (the whole Build step; buildspec.test.ts runs it through the buildspec) refuses
// unsafe keys before it fetches anything, and after a build that failed puts nothing but the
// exports it could read.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { runCli } from '../../support/run-cli.ts';

let work = '';
let env: Record<string, string> = {};
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-store-get-'));
  const store = new FolderObjectStore(join(work, 'store'));
  await store.putBytes('locks/abc.json', '{"lock": true}');
  await store.putBytes('artifacts/k/policy.json', '{"policy": true}');
  env = { LAMBDA_DEPS_STORE: pathToFileURL(join(work, 'store')).href };
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('store get', () => {
  it('fetches every KEY FILE pair in one process', async () => {
    // Act
    const run = await runCli(
      [
        'store',
        'get',
        'locks/abc.json',
        join(work, 'lock.json'),
        'artifacts/k/policy.json',
        join(work, 'policy.json'),
      ],
      { env, timeoutMs: 60_000 },
    );

    // Assess
    expect(run.code).toBe(0);
    expect(await readFile(join(work, 'lock.json'), 'utf8')).toBe('{"lock": true}');
    expect(await readFile(join(work, 'policy.json'), 'utf8')).toBe('{"policy": true}');
  });

  it('refuses a key without a file, exit 2, and fetches nothing', async () => {
    // Act
    const run = await runCli(
      ['store', 'get', 'locks/abc.json', join(work, 'odd-lock.json'), 'artifacts/k/policy.json'],
      { env, timeoutMs: 60_000 },
    );

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/KEY FILE pairs; "artifacts\/k\/policy\.json" has no file/);
    await expect(stat(join(work, 'odd-lock.json'))).rejects.toThrow();
  });
});

describe('store build', () => {
  it.each([
    ['a prefix without its closing slash', 'locks/abc.json', 'artifacts/k', /must end in \//],
    ['a lock key that climbs out', '../locks/abc.json', 'artifacts/k/', /not a safe relative key/],
    ['a prefix that climbs out', 'locks/abc.json', 'artifacts/../../k/', /not a safe relative key/],
  ])('refuses %s, exit 2, before fetching anything', async (_case, lockKey, prefix, message) => {
    // Prepare
    const cwd = await mkdtemp(join(work, 'step-'));

    // Act
    const run = await runCli(
      ['store', 'build', lockKey, prefix, '--cache-dir', join(cwd, 'cache'), '--exports', 'exports.txt'],
      { env, cwd, timeoutMs: 60_000 },
    );

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('builds nothing from a lock that is not one: exit 2, empty exports, nothing put', async () => {
    // Prepare: the store's "lock" is the fixture's {"lock": true}.
    const cwd = await mkdtemp(join(work, 'step-'));

    // Act
    const run = await runCli(
      [
        'store',
        'build',
        'locks/abc.json',
        'artifacts/k/',
        '--cache-dir',
        join(cwd, 'cache'),
        '--exports',
        'exports.txt',
      ],
      { env, cwd, timeoutMs: 60_000 },
    );

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/lock\.json/);
    expect(await readFile(join(cwd, 'exports.txt'), 'utf8')).toBe('\n\n');
    expect(await readdir(join(work, 'store', 'artifacts', 'k'))).toEqual(['policy.json']);
  });
});
