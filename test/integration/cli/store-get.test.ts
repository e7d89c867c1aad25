// `lambda-deps store get` as the buildspec types it: one process fetches the lock and the
// delivery policy (KEY FILE pairs); a key without a file is refused before anything is fetched.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
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
