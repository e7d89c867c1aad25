// Hostile and mistaken index locations against a loopback server: a page that trickles a byte at
// a time, pages far larger than any simple page, http pages that link to the build host's own
// files, file: URLs naming devices and pseudo-files, misspelt URLs and missing folders. Each must
// end quickly with a clear error; time and peak memory are recorded.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import type { IndexEvent, PackageIndexOptions } from '../../../functions/core/index/index-client.ts';
import { InputError, LambdaDepsError } from '../../../functions/core/shared/errors.ts';
import type { DistributionFile } from '../../../functions/core/shared/types.ts';
import { makeTinyWheel, startLoopbackIndex } from '../../support/loopback-index.ts';
import type { LoopbackIndex, TinyWheel } from '../../support/loopback-index.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const execFileAsync = promisify(execFile);

/** Runs `act`, sampling RSS every 10 ms: its outcome, the wall time and the peak RSS growth. */
async function measured<T>(
  act: () => Promise<T>,
): Promise<{ outcome: T | Error; ms: number; peakMb: number }> {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  const started = performance.now();
  let outcome: T | Error;
  try {
    outcome = await act();
  } catch (error) {
    outcome = error as Error;
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  return { outcome, ms: performance.now() - started, peakMb: (peak - baseline) / 2 ** 20 };
}

/** A promise that fails after `ms`, so a hang shows up as a failed test rather than a stuck one. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, fail) =>
      setTimeout(() => fail(new Error(`still running after ${ms} ms`)), ms).unref(),
    ),
  ]);
}

function localFile(path: string, filename: string): DistributionFile {
  return {
    filename,
    url: pathToFileURL(path).href,
    sha256: null,
    requiresPython: null,
    yanked: false,
    size: null,
    metadataUrl: null,
    metadataSha256: null,
    source: 'test',
  };
}

describe('the index client against hostile and mistaken locations', () => {
  let wheel: TinyWheel;
  let server: LoopbackIndex;
  let workDir = '';
  const dripStops: (() => void)[] = [];

  beforeAll(async () => {
    wheel = await makeTinyWheel('hostilepkg', '1.0');
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-hostile-pages-'));
    server = await startLoopbackIndex({
      wheels: [wheel],
      route: (request, response) => {
        const path = request.url ?? '';
        if (path === '/drip/hostilepkg/') {
          // One byte every 200 ms for up to 60 s: never idle long enough for an idle timeout.
          response.writeHead(200, { 'content-type': 'text/html' });
          let sent = 0;
          const timer = setInterval(() => {
            if (sent++ >= 300 || response.destroyed) {
              clearInterval(timer);
              response.end();
            } else response.write(' ');
          }, 200);
          dripStops.push(() => clearInterval(timer));
          response.once('close', () => clearInterval(timer));
          return true;
        }
        if (path.startsWith('/huge/hostilepkg/')) {
          const declared = path.endsWith('?declared');
          const total = Number(/\/huge\/hostilepkg\/(\d+)/.exec(path)?.[1] ?? 0) * 2 ** 20;
          response.writeHead(200, {
            'content-type': 'text/html',
            ...(declared ? { 'content-length': String(total) } : {}),
          });
          const chunk = Buffer.alloc(2 ** 20, '<a href="x">');
          let written = 0;
          const pump = (): void => {
            while (written < total && !response.destroyed) {
              written += chunk.length;
              if (!response.write(chunk)) return void response.once('drain', pump);
            }
            response.end();
          };
          pump();
          return true;
        }
        if (path === '/local-links/hostilepkg/') {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.end(
            `<a href="/files/${wheel.filename}">ok</a><a href="file:///tmp/hostilepkg-1.0-py3-none-any.whl">local</a>`,
          );
          return true;
        }
        if (path === '/base-local/hostilepkg/') {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.end(`<base href="file:///tmp/"><a href="${wheel.filename}">${wheel.filename}</a>`);
          return true;
        }
        return false;
      },
    });
  });

  afterAll(async () => {
    for (const stop of dripStops) stop();
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  function indexAt(path: string, extra: Partial<PackageIndexOptions> = {}) {
    return createPackageIndex({
      indexUrl: `${server.origin}${path}`,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
      retries: 0,
      ...extra,
    });
  }

  it('ends a page that trickles a byte every 200 ms at the request deadline, naming the URL', async () => {
    // Prepare: the idle timeout (2 s) never fires; only the overall deadline (1.5 s) can end it.
    const index = indexAt('/drip/', { timeoutMs: 2_000, requestDeadlineMs: 1_500 });

    // Act
    const run = await measured(() => within(10_000, index.listFiles('hostilepkg')));
    await index.close();

    // Assess
    expect(run.outcome).toBeInstanceOf(LambdaDepsError);
    expect((run.outcome as Error).message).toMatch(
      /\/drip\/hostilepkg\/ gave no complete answer within the request deadline of 1500 ms/,
    );
    // The hint names what a CLI user can set, not the API option.
    expect((run.outcome as LambdaDepsError).hint).toMatch(/LAMBDA_DEPS_REQUEST_DEADLINE_MS/);
    expect((run.outcome as LambdaDepsError).hint).not.toMatch(/requestDeadlineMs/);
    expect(run.ms).toBeLessThan(4_000);
    recordReliability({
      area: 'index bounds',
      experiment: `page trickling 1 byte per 200 ms, request deadline 1.5 s: refused after ${(run.ms / 1000).toFixed(1)} s, peak RSS +${run.peakMb.toFixed(0)} MiB`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('takes the request deadline from LAMBDA_DEPS_REQUEST_DEADLINE_MS, and refuses one that is not a number', async () => {
    // Prepare
    const index = indexAt('/drip/', {
      timeoutMs: 5_000,
      environment: { LAMBDA_DEPS_REQUEST_DEADLINE_MS: '1000' },
    });

    // Act
    const run = await measured(() => within(10_000, index.listFiles('hostilepkg')));
    await index.close();
    const invalid = (): unknown =>
      indexAt('/drip/', { environment: { LAMBDA_DEPS_REQUEST_DEADLINE_MS: '5s' } });

    // Assess
    expect((run.outcome as Error).message).toMatch(/within the request deadline of 1000 ms/);
    expect(invalid).toThrow(InputError);
    expect(invalid).toThrow(/LAMBDA_DEPS_REQUEST_DEADLINE_MS = "5s"/);
  });

  it('ends every request at the run deadline, however many there are', async () => {
    // Prepare
    const index = indexAt('/drip/', { timeoutMs: 5_000, requestDeadlineMs: 60_000, runDeadlineMs: 1_000 });

    // Act
    const run = await measured(() => within(10_000, index.listFiles('hostilepkg')));
    await index.close();

    // Assess
    expect((run.outcome as Error).message).toMatch(/within the run deadline of 1000 ms/);
    expect((run.outcome as LambdaDepsError).hint).toMatch(/LAMBDA_DEPS_RUN_DEADLINE_MS/);
    expect((run.outcome as LambdaDepsError).hint).not.toMatch(/runDeadlineMs/);
    expect(run.ms).toBeLessThan(3_000);
  });

  it.each([
    ['without Content-Length, 256 MiB streamed', '/huge/hostilepkg/256', 4 * 2 ** 20],
    ['with Content-Length, 256 MiB declared', '/huge/hostilepkg/256?declared', 4 * 2 ** 20],
    ['of 700 MiB under the default cap', '/huge/hostilepkg/700', undefined],
  ])('refuses a page %s past the size cap, with bounded memory', async (what, path, maxPageBytes) => {
    // Prepare: served as a find-links page, which is read whole like a project page.
    const index = createPackageIndex({
      indexUrl: null,
      extraIndexUrls: [],
      findLinks: [`${server.origin}${path}`],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
      retries: 0,
      ...(maxPageBytes ? { maxPageBytes } : {}),
    });

    // Act
    const run = await measured(() => within(30_000, index.listFiles('hostilepkg')));
    await index.close();

    // Assess
    expect(run.outcome).toBeInstanceOf(LambdaDepsError);
    expect((run.outcome as Error).message).toMatch(/is larger than the \d+-byte limit/);
    expect(run.peakMb).toBeLessThan(maxPageBytes ? 96 : 256);
    recordReliability({
      area: 'index bounds',
      experiment: `huge page ${what} (cap ${((maxPageBytes ?? 64 * 2 ** 20) / 2 ** 20).toFixed(0)} MiB): refused after ${(run.ms / 1000).toFixed(2)} s, peak RSS +${run.peakMb.toFixed(0)} MiB`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it.each([
    ['an absolute file:///tmp/…whl link', '/local-links/'],
    ['a <base href="file:///tmp/"> that turns relative links local', '/base-local/'],
  ])('refuses an http page with %s, naming the page', async (_what, path) => {
    // Prepare
    const index = indexAt(path);

    // Act
    const error = await index.listFiles('hostilepkg').then(
      () => null,
      (caught: unknown) => caught,
    );
    await index.close();

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/may link only to http\(s\) files/);
    expect((error as Error).message).toContain(`${server.origin}${path}hostilepkg/`);
    recordReliability({
      area: 'index file URLs',
      experiment: `file: link from an http page (${_what.replace(/[<>"]/g, '')}) refused`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('reads no device, FIFO or pseudo-file that a file: URL names, and never hashes /dev/zero forever', async () => {
    // Prepare: a find-links folder whose wheel names are links to /proc, /dev and a FIFO.
    const folder = join(workDir, 'hostile-find-links');
    await mkdir(folder, { recursive: true });
    await symlink('/proc/self/environ', join(folder, 'envpkg-1.0-py3-none-any.whl'));
    await symlink('/dev/zero', join(folder, 'zeropkg-1.0-py3-none-any.whl'));
    await execFileAsync('mkfifo', [join(folder, 'fifopkg-1.0-py3-none-any.whl')]);
    const index = createPackageIndex({
      indexUrl: null,
      extraIndexUrls: [],
      findLinks: [folder],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
    });
    const targets = [
      localFile('/dev/zero', 'zeropkg-1.0-py3-none-any.whl'),
      localFile(join(folder, 'zeropkg-1.0-py3-none-any.whl'), 'zeropkg-1.0-py3-none-any.whl'),
      localFile(join(folder, 'fifopkg-1.0-py3-none-any.whl'), 'fifopkg-1.0-py3-none-any.whl'),
      localFile(join(folder, 'envpkg-1.0-py3-none-any.whl'), 'envpkg-1.0-py3-none-any.whl'),
    ];

    // Act
    const run = await measured(async () => {
      const listed = [
        ...(await index.listFiles('envpkg')),
        ...(await index.listFiles('zeropkg')),
        ...(await index.listFiles('fifopkg')),
      ];
      const downloads = await Promise.all(
        targets.map((file) =>
          within(5_000, index.download(file)).then(
            () => null,
            (error: unknown) => error,
          ),
        ),
      );
      const measures = await Promise.all(
        listed.map((file) =>
          within(5_000, index.measureWheel(file)).then(
            () => null,
            (error: unknown) => error,
          ),
        ),
      );
      return { listed, downloads, measures };
    });
    await index.close();

    // Assess
    const outcome = run.outcome as Exclude<typeof run.outcome, Error>;
    expect(outcome.listed.map((file) => file.filename)).toEqual(['envpkg-1.0-py3-none-any.whl']);
    for (const error of [...outcome.downloads, ...outcome.measures]) {
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(/a system pseudo-file|not a regular file/);
    }
    expect(run.ms).toBeLessThan(3_000);
    recordReliability({
      area: 'index file URLs',
      experiment: `file: URLs naming /dev/zero, /proc/self/environ and a FIFO (directly and through links): ${targets.length + outcome.measures.length} reads refused in ${(run.ms / 1000).toFixed(2)} s`,
      cases: targets.length + outcome.measures.length,
      faultsInjected: 0,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('refuses a wheel-named link to a file under /etc or to a file of another name, and prints no hash of it', async () => {
    // Prepare: links named like wheels, to /etc/hostname and to a secret file outside any system root.
    const folder = join(workDir, 'linked-find-links');
    await mkdir(folder, { recursive: true });
    const secret = join(workDir, 'credentials');
    await writeFile(secret, 'aws_secret_access_key = canary\n');
    await symlink('/etc/hostname', join(folder, 'etcpkg-1.0-py3-none-any.whl'));
    await symlink(secret, join(folder, 'secretpkg-1.0-py3-none-any.whl'));
    const index = createPackageIndex({
      indexUrl: null,
      extraIndexUrls: [],
      findLinks: [folder],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
    });
    const claimed = 'a'.repeat(64);
    const targets = ['etcpkg', 'secretpkg'].map((name) => ({
      ...localFile(join(folder, `${name}-1.0-py3-none-any.whl`), `${name}-1.0-py3-none-any.whl`),
      sha256: claimed,
    }));
    const secretHash = createHash('sha256')
      .update(await readFile(secret))
      .digest('hex');

    // Act
    const errors = await Promise.all(
      [...targets.map((file) => index.download(file)), index.measureWheel(targets[1]!)].map((attempt) =>
        within<unknown>(5_000, attempt).then(
          () => null,
          (error: unknown) => error,
        ),
      ),
    );
    await index.close();

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).not.toContain(secretHash);
      expect((error as Error).message).not.toMatch(/has sha256/);
    }
    expect((errors[0] as Error).message).toMatch(/resolves to \/etc\/hostname, under a system folder/);
    expect((errors[1] as Error).message).toMatch(
      /resolves to .*credentials, not a file named secretpkg-1\.0-py3-none-any\.whl/,
    );
  });

  it('reads no PEP 658 metadata file of a file:// index that links to another file, and prints no hash of it', async () => {
    // Prepare: an index page advertising metadata whose .metadata file links to a secret.
    const root = join(workDir, 'metadata-index');
    const page = join(root, 'hostilepkg');
    await mkdir(page, { recursive: true });
    await writeFile(join(page, wheel.filename), wheel.bytes);
    const secret = join(workDir, 'metadata-secret');
    await writeFile(secret, 'Metadata-Version: 2.1\nName: hostilepkg\nVersion: 6.6.6\n');
    await symlink(secret, join(page, `${wheel.filename}.metadata`));
    const claimed = 'b'.repeat(64);
    await writeFile(
      join(page, 'index.html'),
      `<a href="${wheel.filename}#sha256=${wheel.sha256}" data-dist-info-metadata="sha256=${claimed}">${wheel.filename}</a>`,
    );
    const index = createPackageIndex({
      indexUrl: pathToFileURL(root).href,
      extraIndexUrls: [],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
    });

    // Act
    const [file] = await index.listFiles('hostilepkg');
    const metadata = await index.fetchMetadata(file!);
    await index.close();

    // Assess: the wheel's own METADATA is read, not the linked file (which says 6.6.6).
    expect(file?.metadataUrl).toMatch(/\.metadata$/);
    expect(metadata.version).toBe('1.0');
  });

  it.each([
    ['a missing slash', 'http:/127.0.0.1/simple/'],
    ['a misspelt scheme', 'htps://127.0.0.1/simple/'],
    ['a host and port without a scheme', 'localhost:8080/simple/'],
  ])('refuses an index URL with %s as an InputError naming it', (_what, url) => {
    // Act
    const attempt = (): unknown =>
      createPackageIndex({ indexUrl: url, extraIndexUrls: [], findLinks: [], pre: false, cacheDir: workDir });

    // Assess
    expect(attempt).toThrow(InputError);
    expect(attempt).toThrow(url);
  });

  it('refuses an index or find-links folder that does not exist instead of leaving it out', async () => {
    // Prepare
    const missing = join(workDir, 'wheelz');
    const index = createPackageIndex({
      indexUrl: `${server.origin}/simple/`,
      extraIndexUrls: [],
      findLinks: [missing],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
    });

    // Act
    const error = await index.listFiles('hostilepkg').then(
      () => null,
      (caught: unknown) => caught,
    );
    await index.close();

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).exitCode).toBe(2);
    expect((error as Error).message).toContain(missing);
  });

  it('still leaves out, with an event, an index whose host name does not resolve', async () => {
    // Prepare
    const events: IndexEvent[] = [];
    const index = createPackageIndex({
      indexUrl: 'https://pypi-typo.invalid/simple/',
      extraIndexUrls: [`${server.origin}/simple/`],
      findLinks: [],
      pre: false,
      cacheDir: join(workDir, 'cache'),
      netrc: null,
      retries: 0,
      onEvent: (event) => events.push(event),
    });

    // Act
    const files = await index.listFiles('hostilepkg');
    await index.close();

    // Assess
    expect(files.map((file) => file.filename)).toEqual([wheel.filename]);
    expect(events.filter((event) => event.type === 'index-skipped')).toHaveLength(1);
  });
});
