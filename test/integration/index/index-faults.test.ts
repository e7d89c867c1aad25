// The index client under faults: injected 5xx, slow responses, timeouts, truncated bodies,
// corrupted wheels and hashes that disagree. Each either recovers to the exact same answer
// as a fault-free run, or fails with a typed error that names what and where: never a wrong size.
import { cp, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IndexUnreachableError,
  InputError,
  IntegrityError,
  UnsafeArchiveError,
} from '../../../functions/core/shared/errors.ts';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import type { IndexEvent, PackageIndexOptions } from '../../../functions/core/index/index-client.ts';
import { locateCentralDirectory } from '../../../functions/core/index/zip-directory.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import {
  buildWheelhouse,
  corpusAvailable,
  NO_CORPUS_REASON,
  serveWheelhouse,
} from '../../support/wheelhouse.ts';
import type { WheelhouseServer, WheelhouseServerOptions } from '../../support/wheelhouse.ts';
import { zipfileSizes } from './zip-oracle.ts';

const noCorpus = !corpusAvailable();

/** Serves an index folder, cutting off the first `truncate(path)` responses for a path halfway through. */
async function serveTruncating(
  root: string,
  truncate: (path: string) => number,
): Promise<{ origin: string; close(): Promise<void> }> {
  const served = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      const file = path.endsWith('/') ? join(root, path, 'index.json') : join(root, path);
      const body = await readFile(file).catch(() => null);
      if (!body) {
        response.writeHead(404).end();
        return;
      }
      const count = (served.get(path) ?? 0) + 1;
      served.set(path, count);
      response.writeHead(200, {
        'content-type': path.endsWith('/')
          ? 'application/vnd.pypi.simple.v1+json'
          : 'application/octet-stream',
        'content-length': String(body.length),
      });
      if (count <= truncate(path)) {
        response.write(body.subarray(0, Math.floor(body.length / 2)), () => request.socket.destroy());
        return;
      }
      response.end(body);
    })();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

describe.skipIf(noCorpus)(
  `createPackageIndex under faults${noCorpus ? ` (skipped: ${NO_CORPUS_REASON})` : ''}`,
  () => {
    let wheelhouse = '';
    let projects: string[] = [];
    let oracle: Record<string, { unzipped: number; entries: number }> = {};
    const scratch: string[] = [];
    /** Servers and clients a test opened: closed after each test, even a failed one. */
    let opened: { close(): Promise<void> }[] = [];

    async function track<T extends { close(): Promise<void> }>(opening: Promise<T>): Promise<T> {
      const value = await opening;
      opened.push(value);
      return value;
    }

    function serve(directory: string, options: WheelhouseServerOptions = {}): Promise<WheelhouseServer> {
      return track(serveWheelhouse(directory, options));
    }

    async function scratchFolder(prefix = 'lambda-deps-index-faults-'): Promise<string> {
      const folder = await mkdtemp(join(tmpdir(), prefix));
      scratch.push(folder);
      return folder;
    }

    async function indexFor(indexUrl: string | null, extra: Partial<PackageIndexOptions> = {}) {
      const cacheDir = await scratchFolder('lambda-deps-index-cache-');
      return track(
        Promise.resolve(
          createPackageIndex({
            indexUrl,
            extraIndexUrls: [],
            findLinks: [],
            pre: false,
            cacheDir,
            backoffMs: 10,
            ...extra,
          }),
        ),
      );
    }

    /** A copy of the wheelhouse whose files a test may damage. */
    async function wheelhouseCopy(): Promise<string> {
      const copy = await scratchFolder();
      await cp(wheelhouse, copy, { recursive: true });
      return copy;
    }

    async function patchFile(
      path: string,
      at: (size: number, data: Buffer) => number,
      value: number,
    ): Promise<void> {
      const data = await readFile(path);
      data[at(data.length, data)] = value;
      await writeFile(path, data);
    }

    beforeAll(async () => {
      wheelhouse = await buildWheelhouse();
      projects = (await readdir(join(wheelhouse, 'simple'), { withFileTypes: true }))
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
      oracle = await zipfileSizes(join(wheelhouse, 'packages'));
    });

    afterEach(async () => {
      const closing = opened;
      opened = [];
      await Promise.all(closing.map((each) => each.close()));
    });

    afterAll(async () => {
      await Promise.all(scratch.map((folder) => rm(folder, { recursive: true, force: true })));
    });

    it('gets every listing, metadata, size and download right when 30% of requests fail with 503', async () => {
      // Prepare
      const server = await serve(wheelhouse, { failRate: 0.3 });
      const events: IndexEvent[] = [];
      // 10 retries: a request fails for good with probability 0.3^11 (about 2e-6).
      const index = await indexFor(server.indexUrl, { retries: 10, onEvent: (event) => events.push(event) });

      // Act
      const files = (await Promise.all(projects.map((project) => index.listFiles(project)))).flat();
      const sizes = await Promise.all(files.map((file) => index.measureWheel(file)));
      const metadata = await Promise.all(files.map((file) => index.fetchMetadata(file)));
      const fromWheels = await Promise.all(
        files.map((file) => index.fetchMetadata({ ...file, metadataUrl: null, sha256: null })),
      );
      const paths = await Promise.all(files.map((file) => index.download(file)));

      // Assess
      expect(files).toHaveLength(Object.keys(oracle).length);
      expect(sizes.map((size) => size.unzippedSize)).toEqual(
        files.map((file) => oracle[file.filename]?.unzipped),
      );
      expect(fromWheels).toEqual(metadata);
      expect(paths.every((path, position) => path.endsWith(files[position]!.filename))).toBe(true);
      const retries = events.filter((event) => event.type === 'retry');
      const requests = events.filter((event) => event.type === 'request');
      expect(retries.length).toBeGreaterThan(0);
      expect(retries.every((event) => event.type === 'retry' && /HTTP 503/.test(event.reason))).toBe(true);
      recordReliability({
        area: 'index faults',
        experiment: 'wheelhouse --fail-rate 0.3: list, metadata (PEP 658 and in-wheel), measure, download',
        cases: 4,
        faultsInjected: retries.length,
        runs: requests.length,
        lost: 'nothing',
      });
    });

    it('fails with IndexUnreachableError naming the index, within a bound, when every request fails', async () => {
      // Prepare
      const server = await serve(wheelhouse, { failRate: 1 });
      const events: IndexEvent[] = [];
      const index = await indexFor(server.indexUrl, {
        retries: 3,
        backoffMs: 50,
        onEvent: (event) => events.push(event),
      });

      // Act
      const started = performance.now();
      const outcome = await index.listFiles('requests').catch((error: unknown) => error);
      const elapsedMs = performance.now() - started;

      // Assess
      expect(outcome).toBeInstanceOf(IndexUnreachableError);
      expect((outcome as Error).message).toContain(`Could not reach ${server.indexUrl}`);
      expect((outcome as Error).message).toContain('after 4 attempts');
      expect((outcome as IndexUnreachableError).hint).toMatch(/index URL/);
      expect(events.filter((event) => event.type === 'retry')).toHaveLength(3);
      expect(elapsedMs).toBeLessThan(10_000);
      recordReliability({
        area: 'index faults',
        experiment: 'wheelhouse --fail-rate 1.0: clear IndexUnreachableError within 10 s',
        cases: 1,
        faultsInjected: events.filter((event) => event.type === 'request').length,
        runs: 1,
        lost: 'nothing',
      });
    });

    it('overlaps slow responses, and gives up on ones slower than the timeout', async () => {
      // Prepare
      const latencyMs = 150;
      const server = await serve(wheelhouse, { latencyMs });
      const events: IndexEvent[] = [];
      const patient = await indexFor(server.indexUrl, { onEvent: (event) => events.push(event) });
      const slow = await serve(wheelhouse, { latencyMs: 1500 });
      // undici checks its timeouts about once a second, so the gap must be wider than that.
      const impatient = await indexFor(slow.indexUrl, { timeoutMs: 200, retries: 1 });

      // Act
      const started = performance.now();
      const files = (await Promise.all(projects.map((project) => patient.listFiles(project)))).flat();
      const sizes = await Promise.all(files.map((file) => patient.measureWheel(file)));
      const elapsedMs = performance.now() - started;
      const timedOut = await impatient.listFiles('six').catch((error: unknown) => error);

      // Assess
      expect(sizes.map((size) => size.unzippedSize)).toEqual(files.map((file) => one(oracle, file.filename)));
      const sequentialMs = events.filter((event) => event.type === 'request').length * latencyMs;
      expect(elapsedMs).toBeLessThan(sequentialMs * 0.6);
      expect(timedOut).toBeInstanceOf(IndexUnreachableError);
      expect((timedOut as Error).message).toMatch(/timeout/i);
      recordReliability({
        area: 'index faults',
        experiment: `wheelhouse --latency-ms ${latencyMs}; and a 200 ms timeout against --latency-ms 1500`,
        cases: 2,
        faultsInjected: 3,
        runs: 2,
        lost: 'nothing',
      });
    });

    it('retries truncated pages and downloads, and gives up on ones that are always cut off', async () => {
      // Prepare
      const sixWheel = '/packages/six-1.16.0-py3-none-any.whl';
      const server = await track(
        serveTruncating(wheelhouse, (path) =>
          path === '/simple/six/' || path === sixWheel ? 2 : path === '/simple/idna/' ? 1000 : 0,
        ),
      );
      const events: IndexEvent[] = [];
      const index = await indexFor(`${server.origin}/simple/`, {
        retries: 3,
        onEvent: (event) => events.push(event),
      });

      // Act
      const [six] = await index.listFiles('six');
      const path = await index.download(six!);
      const sizes = await index.measureWheel(six!);
      const cutOff = await index.listFiles('idna').catch((error: unknown) => error);

      // Assess
      expect(sizes.unzippedSize).toBe(oracle['six-1.16.0-py3-none-any.whl']?.unzipped);
      expect(await readFile(path)).toEqual(await readFile(join(wheelhouse, sixWheel)));
      const retriedUrls = events.flatMap((event) =>
        event.type === 'retry' ? [new URL(event.url).pathname] : [],
      );
      expect(retriedUrls.sort()).toEqual([
        '/packages/six-1.16.0-py3-none-any.whl',
        '/packages/six-1.16.0-py3-none-any.whl',
        '/simple/idna/',
        '/simple/idna/',
        '/simple/idna/',
        '/simple/six/',
        '/simple/six/',
      ]);
      expect(cutOff).toBeInstanceOf(IndexUnreachableError);
      expect(await readdir(join(path, '..'))).toEqual(['six-1.16.0-py3-none-any.whl']);
      recordReliability({
        area: 'index faults',
        experiment: 'truncated bodies (Content-Length longer than what is sent): pages and wheel downloads',
        cases: 3,
        faultsInjected: retriedUrls.length + 1,
        runs: 3,
        lost: 'nothing',
      });
    });

    it('refuses a wheel whose central directory is corrupted, with or without Range support', async () => {
      // Prepare
      const copy = await wheelhouseCopy();
      const filename = 'botocore-1.29.27-py3-none-any.whl';
      const wheelPath = join(copy, 'packages', filename);
      const tail = await readTail(wheelPath, 70_000);
      const { size } = await stat(wheelPath);
      const location = locateCentralDirectory(tail, size, filename);
      await patchFile(wheelPath, () => location.offset + 100, 0xff);
      const [ranged, whole] = await Promise.all([serve(copy), serve(copy, { noRange: true })]);
      const viaRange = await indexFor(ranged.indexUrl);
      const viaDownload = await indexFor(whole.indexUrl);

      // Act
      const [file] = await viaRange.listFiles('botocore');
      const [sameFile] = await viaDownload.listFiles('botocore');
      const ranges = await viaRange.measureWheel(file!).catch((error: unknown) => error);
      const download = await viaDownload.measureWheel(sameFile!).catch((error: unknown) => error);

      // Assess
      expect(ranges).toBeInstanceOf(UnsafeArchiveError);
      expect((ranges as Error).message).toContain(filename);
      // Without Range the whole file is fetched first, and its sha256 no longer matches the index.
      expect(download).toBeInstanceOf(IntegrityError);
      recordReliability({
        area: 'wheel archives',
        experiment: 'corrupted central directory served over HTTP, with and without Range',
        cases: 2,
        faultsInjected: 1,
        runs: 2,
        lost: 'nothing',
      });
    });

    it('refuses a download whose sha256 disagrees with the index, without retrying it into success or caching it', async () => {
      // Prepare
      const copy = await wheelhouseCopy();
      const filename = 'urllib3-1.26.12-py3-none-any.whl';
      await patchFile(join(copy, 'packages', filename), (size) => Math.floor(size / 3), 0x00);
      const server = await serve(copy);
      const events: IndexEvent[] = [];
      const cacheDir = await scratchFolder('lambda-deps-index-cache-');
      const index = await indexFor(server.indexUrl, { cacheDir, onEvent: (event) => events.push(event) });
      const [file] = await index.listFiles('urllib3');

      // Act
      const outcome = await index.download(file!).catch((error: unknown) => error);
      const again = await index.download(file!).catch((error: unknown) => error);

      // Assess
      expect(outcome).toBeInstanceOf(IntegrityError);
      expect(again).toBeInstanceOf(IntegrityError);
      const message = (outcome as Error).message;
      expect(message).toContain(filename);
      expect(message).toContain(`says ${file!.sha256}`);
      expect(message).toMatch(/has sha256 [0-9a-f]{64}/);
      expect(events.filter((event) => event.type === 'request' && event.url === file!.url)).toHaveLength(2);
      expect(events.filter((event) => event.type === 'retry')).toEqual([]);
      expect(await listFilesUnder(cacheDir)).toEqual([]);
      recordReliability({
        area: 'index faults',
        experiment: 'wheel bytes changed after listing (sha256 mismatch), downloaded twice',
        cases: 1,
        faultsInjected: 1,
        runs: 2,
        lost: 'nothing',
      });
    });

    it('refuses a PEP 658 metadata file whose sha256 disagrees, and METADATA that lies about the version', async () => {
      // Prepare
      const copy = await wheelhouseCopy();
      await patchFile(join(copy, 'packages', 'requests-2.28.1-py3-none-any.whl.metadata'), () => 0, 0x6e);
      const lying = await scratchFolder();
      await cp(
        join(wheelhouse, 'packages', 'six-1.16.0-py3-none-any.whl'),
        join(lying, 'six-1.16.1-py3-none-any.whl'),
      );
      const server = await serve(copy);
      const index = await indexFor(server.indexUrl, { findLinks: [lying] });
      const [requests] = await index.listFiles('requests');
      const six = (await index.listFiles('six')).find((file) => file.source === lying);

      // Act
      const tampered = await index.fetchMetadata(requests!).catch((error: unknown) => error);
      const lie = await index.fetchMetadata(six!).catch((error: unknown) => error);

      // Assess
      expect(tampered).toBeInstanceOf(IntegrityError);
      expect((tampered as Error).message).toMatch(
        /requests-2\.28\.1-py3-none-any\.whl: the metadata file from .* has sha256/,
      );
      expect(lie).toBeInstanceOf(IntegrityError);
      expect((lie as Error).message).toBe(
        "six-1.16.1-py3-none-any.whl: its metadata says six 1.16.0, which is not the file's name and version.",
      );
      recordReliability({
        area: 'wheel archives',
        experiment: 'metadata file with a wrong sha256; wheel METADATA lying about its version',
        cases: 2,
        faultsInjected: 2,
        runs: 1,
        lost: 'nothing',
      });
    });

    it('refuses an index that the allow-list does not name', () => {
      // Prepare
      const options = { extraIndexUrls: [], findLinks: [], pre: false, cacheDir: tmpdir() };

      // Act
      const act = () =>
        createPackageIndex({
          ...options,
          indexUrl: 'https://evil.example/simple/',
          allowedIndexes: ['https://pypi.org/simple'],
        });
      const allowed = createPackageIndex({
        ...options,
        indexUrl: 'https://pypi.org/simple/',
        allowedIndexes: ['https://pypi.org/simple'],
      });

      // Assess
      expect(act).toThrow(InputError);
      expect(act).toThrow('The index https://evil.example/simple/ is not in the allowed list.');
      expect(allowed).toBeDefined();
    });
  },
);

function one(oracle: Record<string, { unzipped: number }>, filename: string): number | undefined {
  return oracle[filename]?.unzipped;
}

async function readTail(path: string, length: number): Promise<Buffer> {
  const handle = await open(path);
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - length);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function listFilesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}
