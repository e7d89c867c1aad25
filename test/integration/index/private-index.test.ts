// A private index that requires Basic auth, on loopback: reached through credentials in the URL
// and through netrc, never sending them to another host after a redirect, and a canary password
// that must appear in none of the outputs (lock, report, manifest, stdout, stderr).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import { parseNetrc } from '../../../functions/core/index/netrc.ts';
import { startLoopbackIndex, makeTinyWheel } from '../../support/loopback-index.ts';
import type { LoopbackIndex, TinyWheel } from '../../support/loopback-index.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { runCli, type CliRun } from '../../support/run-cli.ts';

const USER = 'builder';
const CANARY = `canary-${randomBytes(8).toString('hex')}`;

const run = (args: readonly string[], env: Record<string, string>): Promise<CliRun> =>
  runCli(args, { env, timeoutMs: 120_000 });

/** Every regular file below a folder, with its text. */
async function filesBelow(folder: string): Promise<{ path: string; text: string }[]> {
  const found: { path: string; text: string }[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    found.push({ path, text: (await readFile(path)).toString('latin1') });
  }
  return found;
}

/** measure (with a lock and a report), the default build and a --no-pipeline build of one file. */
async function runEveryCommand(
  requirements: string,
  common: readonly string[],
  outDir: string,
  env: Record<string, string>,
): Promise<{ measured: CliRun; pipeline: CliRun; built: CliRun }> {
  const lockAndReport = [
    '--lock-out',
    join(outDir, 'set.lock.json'),
    '--report',
    join(outDir, 'report.html'),
  ];
  const measured = await run(['measure', requirements, ...common, '--json', ...lockAndReport], env);
  const pipeline = await run(
    ['build', requirements, ...common, '--json', '--out', join(outDir, 'pipeline')],
    env,
  );
  const built = await run(
    ['build', requirements, ...common, '--no-pipeline', '--json', '--out', join(outDir, 'build')],
    env,
  );
  return { measured, pipeline, built };
}

/** What the runs printed, as outputs to grep: each one's stdout and stderr. */
function printedBy(results: readonly CliRun[]): { path: string; text: string }[] {
  return results.flatMap((result, position) => [
    { path: `run ${position} stdout`, text: result.stdout },
    { path: `run ${position} stderr`, text: result.stderr },
  ]);
}

describe('a private index that requires Basic auth', () => {
  let wheel: TinyWheel;
  let server: LoopbackIndex;
  let workDir = '';

  beforeAll(async () => {
    wheel = await makeTinyWheel('canarypkg', '1.0');
    server = await startLoopbackIndex({ wheels: [wheel], auth: { username: USER, password: CANARY } });
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-private-index-'));
  });

  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('lists, reads and downloads through credentials written in the index URL', async () => {
    // Prepare
    const indexUrl = `${server.origin.replace('http://', `http://${USER}:${CANARY}@`)}/simple/`;
    const index = createPackageIndex({
      indexUrl,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache-url'),
      netrc: null,
      retries: 0,
    });
    const seenBefore = server.requests.length;

    // Act
    const files = await index.listFiles('canarypkg');
    const metadata = await index.fetchMetadata(files[0]!);
    const path = await index.download(files[0]!);
    await index.close();

    // Assess
    expect(files.map((file) => file.filename)).toEqual([wheel.filename]);
    expect(metadata.version).toBe('1.0');
    expect(await readFile(path)).toEqual(wheel.bytes);
    expect(JSON.stringify(files)).not.toContain(CANARY);
    const seen = server.requests.slice(seenBefore);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((request) => request.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('lists and downloads through a netrc entry for the host', async () => {
    // Prepare
    const netrcFile = join(workDir, 'netrc');
    await writeFile(netrcFile, `# private index\nmachine 127.0.0.1\n  login ${USER}\n  password ${CANARY}\n`);
    const index = createPackageIndex({
      indexUrl: `${server.origin}/simple/`,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache-netrc'),
      environment: { NETRC: netrcFile },
      retries: 0,
    });

    // Act
    const files = await index.listFiles('canarypkg');
    const path = await index.download(files[0]!);
    await index.close();

    // Assess
    expect(await readFile(path)).toEqual(wheel.bytes);
  });

  it('answers 401 with an error naming the index but not the password', async () => {
    // Prepare
    const index = createPackageIndex({
      indexUrl: `${server.origin.replace('http://', `http://${USER}:wrong-${CANARY}@`)}/simple/`,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache-wrong'),
      netrc: parseNetrc(''),
      retries: 0,
    });

    // Act
    const error = await index.listFiles('canarypkg').then(
      () => null,
      (caught: unknown) => caught as Error & { hint?: string },
    );
    await index.close();

    // Assess
    expect(error?.message).toMatch(/HTTP 401/);
    expect(error?.message).toContain(`${USER}:****@127.0.0.1`);
    expect(`${error?.message} ${error?.hint}`).not.toContain(CANARY);
  });

  it('sends no credentials to another host a redirect leads to', async () => {
    // Prepare: the private index sends downloads to a second, open server (another origin).
    const mirror = await startLoopbackIndex({ wheels: [wheel] });
    const redirecting = await startLoopbackIndex({
      wheels: [wheel],
      auth: { username: USER, password: CANARY },
      route: (request, response) => {
        if (!request.url?.startsWith('/files/')) return false;
        response.writeHead(302, { location: `${mirror.origin}${request.url}` }).end();
        return true;
      },
    });
    const index = createPackageIndex({
      indexUrl: `${redirecting.origin.replace('http://', `http://${USER}:${CANARY}@`)}/simple/`,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache-redirect'),
      netrc: null,
      retries: 0,
    });

    // Act
    const files = await index.listFiles('canarypkg');
    const path = await index.download(files[0]!);
    await index.close();
    await redirecting.close();
    await mirror.close();

    // Assess
    expect(await readFile(path)).toEqual(wheel.bytes);
    expect(mirror.requests.length).toBeGreaterThan(0);
    expect(mirror.requests.every((request) => request.authorization === null)).toBe(true);
    recordReliability({
      area: 'index credentials',
      experiment:
        'private loopback index (Basic auth checked, 401 otherwise) via URL credentials, via netrc, and after a redirect to another origin (credentials dropped)',
      cases: 4,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('writes the canary password into no lock, report, manifest, event, stdout or stderr', async () => {
    // Prepare
    const requirements = join(workDir, 'requirements.txt');
    const indexUrl = `${server.origin.replace('http://', `http://${USER}:${CANARY}@`)}/simple/`;
    await writeFile(requirements, `-i ${indexUrl}\ncanarypkg==1.0\n`);
    const outDir = join(workDir, 'out');
    await mkdir(outDir, { recursive: true });
    const env = { PIP_CONFIG_FILE: '/dev/null', NETRC: join(workDir, 'no-netrc') };
    const common = ['--runtime', 'python3.11', '--arch', 'x86_64', '--cache-dir', join(workDir, 'cli-cache')];

    // Act
    const { measured, pipeline, built } = await runEveryCommand(requirements, common, outDir, env);
    const failed = await run(['measure', requirements.replace('requirements', 'missing'), ...common], env);
    await writeFile(requirements, `-i ${indexUrl.replace(CANARY, `${CANARY}x`)}\ncanarypkg==1.0\n`);
    const refused = await run(['measure', requirements, ...common, '--json'], env);

    // Assess
    expect(measured.code, measured.stderr).toBe(0);
    expect(built.code, built.stderr).toBe(0);
    expect(pipeline.code, pipeline.stderr).toBe(0);
    expect(refused.code).not.toBe(0);
    const outputs = [
      ...printedBy([measured, pipeline, built, failed, refused]),
      // The store too: its input bundle (store/requirements/) holds the file without the password.
      ...(await filesBelow(outDir)),
    ];
    const hits = outputs.filter((output) => output.text.includes(CANARY));
    expect(outputs.length).toBeGreaterThan(8);
    expect(hits.map((hit) => hit.path)).toEqual([]);
    expect(refused.stderr + refused.stdout).toMatch(/401/);
    recordReliability({
      area: 'secret canary',
      experiment: `canary index password grepped in ${outputs.length} outputs (lock, reports, manifests, events.jsonl, build trees, stdout, stderr): hits ${hits.length}`,
      cases: outputs.length,
      faultsInjected: 1,
      runs: 5,
      lost: hits.length === 0 ? 'nothing' : `${hits.length} outputs held the password`,
    });
  }, 240_000);

  it('writes a netrc password into no output file, cache file, stdout or stderr', async () => {
    // Prepare: the index URL carries no credentials; only the netrc names them.
    const requirements = join(workDir, 'netrc-requirements.txt');
    await writeFile(requirements, `-i ${server.origin}/simple/\ncanarypkg==1.0\n`);
    const netrcFile = join(workDir, 'cli-netrc');
    await writeFile(netrcFile, `machine 127.0.0.1\n  login ${USER}\n  password ${CANARY}\n`);
    const outDir = join(workDir, 'out-netrc');
    const cacheDir = join(workDir, 'cli-cache-netrc');
    await mkdir(outDir, { recursive: true });
    const env = { PIP_CONFIG_FILE: '/dev/null', NETRC: netrcFile };
    const common = ['--runtime', 'python3.11', '--arch', 'x86_64', '--cache-dir', cacheDir];
    const seenBefore = server.requests.length;

    // Act
    const { measured, pipeline, built } = await runEveryCommand(requirements, common, outDir, env);
    await writeFile(netrcFile, `machine 127.0.0.1\n  login ${USER}\n  password ${CANARY}x\n`);
    const refused = await run(
      ['measure', requirements, ...common.slice(0, -1), `${cacheDir}-refused`, '--json'],
      env,
    );

    // Assess
    expect(measured.code, measured.stderr).toBe(0);
    expect(pipeline.code, pipeline.stderr).toBe(0);
    expect(built.code, built.stderr).toBe(0);
    expect(refused.code).not.toBe(0);
    const authorized = server.requests.slice(seenBefore).filter((request) => request.authorization !== null);
    expect(authorized.length).toBeGreaterThan(0);
    // Nothing is left out here: the requirements file holds no password, so the store may not either.
    const outputs = [
      ...printedBy([measured, pipeline, built, refused]),
      ...(await filesBelow(outDir)),
      ...(await filesBelow(cacheDir)),
      ...(await filesBelow(`${cacheDir}-refused`).catch(() => [])),
    ];
    const hits = outputs.filter((output) => output.text.includes(CANARY));
    expect(outputs.filter((output) => output.path.includes('/store/requirements/')).length).toBeGreaterThan(
      0,
    );
    expect(outputs.length).toBeGreaterThan(10);
    expect(hits.map((hit) => hit.path)).toEqual([]);
    recordReliability({
      area: 'secret canary',
      experiment: `netrc canary password grepped in ${outputs.length} outputs (lock, reports, manifests, store, cache, stdout, stderr): hits ${hits.length}`,
      cases: outputs.length,
      faultsInjected: 1,
      runs: 4,
      lost: hits.length === 0 ? 'nothing' : `${hits.length} outputs held the password`,
    });
  }, 240_000);
});
