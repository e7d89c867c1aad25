// A private index's secrets on the default build path: the password written in the index URL and
// a token the CLI expands from `${VAR}` into the URL's path reach the index, yet neither is kept
// in the store (the stored input bundle included) nor in any report, manifest, event or output.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyWheel, startLoopbackIndex } from '../../support/loopback-index.ts';
import type { LoopbackIndex } from '../../support/loopback-index.ts';
import { runCli, type CliRun } from '../../support/run-cli.ts';

const USER = 'alice';
const PASSWORD = `password-${randomBytes(8).toString('hex')}`;
const TOKEN = `token-${randomBytes(8).toString('hex')}`;

const run = (args: readonly string[], env: Record<string, string>): Promise<CliRun> =>
  runCli(args, { env, timeoutMs: 180_000 });

/** The files below a folder whose bytes hold the text. */
async function filesHolding(folder: string, text: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const hits: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path)).toString('latin1').includes(text)) hits.push(path.slice(folder.length));
  }
  return hits;
}

describe('bin/lambda-deps build (default path) with a private index', () => {
  let server: LoopbackIndex;
  let root = '';

  beforeAll(async () => {
    const wheel = await makeTinyWheel('secretpkg', '1.0');
    // The token is a path prefix of the index: /<token>/simple/… redirects to the pages.
    server = await startLoopbackIndex({
      wheels: [wheel],
      auth: { username: USER, password: PASSWORD },
      route: (request, response) => {
        const prefix = `/${TOKEN}`;
        if (request.url?.startsWith(`${prefix}/`)) {
          response.writeHead(302, { location: request.url.slice(prefix.length) }).end();
          return true;
        }
        return false;
      },
    });
    root = await mkdtemp(join(tmpdir(), 'lambda-deps-index-secrets-'));
  });

  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('reaches the index but keeps its password and expanded token out of the store and every output', async () => {
    // Prepare
    const requirements = join(root, 'requirements.txt');
    const host = server.origin.replace('http://', '');
    await writeFile(
      requirements,
      `--index-url http://${USER}:${PASSWORD}@${host}/\${LD_TEST_INDEX_TOKEN}/simple/\nsecretpkg==1.0\n`,
    );
    const out = join(root, 'out');

    // Act
    const built = await run(
      [
        'build',
        requirements,
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--out',
        out,
        '--json',
        '--cache-dir',
        join(root, 'cache'),
      ],
      {
        LD_TEST_INDEX_TOKEN: TOKEN,
        PIP_CONFIG_FILE: '/dev/null',
        NETRC: join(root, 'no-netrc'),
      },
    );

    // Assess
    expect(built.code, built.output).toBe(0);
    expect(server.requests.some((request) => request.path.startsWith(`/${TOKEN}/simple/secretpkg/`))).toBe(
      true,
    );
    const stored = await readdir(join(out, 'store', 'requirements'), { recursive: true });
    expect(stored.some((name) => name.endsWith('.bundle.json'))).toBe(true);
    expect(await filesHolding(out, PASSWORD)).toEqual([]);
    expect(await filesHolding(out, TOKEN)).toEqual([]);
    expect(built.output).not.toContain(PASSWORD);
    expect(built.output).not.toContain(TOKEN);
  }, 240_000);

  it('names the index without its expanded token when the index refuses the password', async () => {
    // Prepare
    const requirements = join(root, 'refused.txt');
    const host = server.origin.replace('http://', '');
    await writeFile(
      requirements,
      `--index-url http://${USER}:wrong-${PASSWORD}@${host}/\${LD_TEST_INDEX_TOKEN}/simple/\nsecretpkg==1.0\n`,
    );
    const out = join(root, 'refused-out');

    // Act
    const refused = await run(
      ['build', requirements, '--runtime', 'python3.11', '--arch', 'x86_64', '--out', out],
      { LD_TEST_INDEX_TOKEN: TOKEN, PIP_CONFIG_FILE: '/dev/null', NETRC: join(root, 'no-netrc') },
    );

    // Assess
    expect(refused.code, refused.output).not.toBe(0);
    expect(refused.output).toMatch(/401/);
    expect(refused.output).toContain(`${USER}:****@${host}/****/simple/`);
    expect(await filesHolding(out, TOKEN)).toEqual([]);
    expect(await filesHolding(out, PASSWORD)).toEqual([]);
  }, 240_000);
});
