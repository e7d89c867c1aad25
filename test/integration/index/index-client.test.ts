// The index client against a real local index served by ../shared/corpus/wheelhouse.py:
// JSON and HTML pages, PEP 658 metadata and METADATA read out of wheels, exact sizes
// through Range requests and without them, downloads and the on-disk cache.
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import type { IndexEvent, PackageIndexOptions } from '../../../functions/core/index/index-client.ts';
import type { DistributionFile } from '../../../functions/core/shared/types.ts';
import {
  buildWheelhouse,
  corpusAvailable,
  NO_CORPUS_REASON,
  serveWheelhouse,
} from '../../support/wheelhouse.ts';
import type { WheelhouseServer } from '../../support/wheelhouse.ts';
import { zipfileSizes } from './zip-oracle.ts';

const noCorpus = !corpusAvailable();

describe.skipIf(noCorpus)(
  `createPackageIndex over HTTP${noCorpus ? ` (skipped: ${NO_CORPUS_REASON})` : ''}`,
  () => {
    let wheelhouse = '';
    let projects: string[] = [];
    let oracle: Record<string, { unzipped: number; entries: number }> = {};
    let server: WheelhouseServer;
    let htmlServer: WheelhouseServer;
    let noRangeServer: WheelhouseServer;
    const scratch: string[] = [];

    async function freshCache(): Promise<string> {
      const folder = await mkdtemp(join(tmpdir(), 'lambda-deps-index-cache-'));
      scratch.push(folder);
      return folder;
    }

    // wheelhouse.py's server listens with Python's default backlog of 5 and closes every
    // connection (HTTP/1.0): more parallel connects than that stall for a SYN retransmit (1 s).
    function indexFor(indexUrl: string, cacheDir: string, extra: Partial<PackageIndexOptions> = {}) {
      return createPackageIndex({
        indexUrl,
        extraIndexUrls: [],
        findLinks: [],
        pre: false,
        cacheDir,
        ...extra,
      });
    }

    async function allFiles(index: ReturnType<typeof indexFor>): Promise<DistributionFile[]> {
      return (await Promise.all(projects.map((project) => index.listFiles(project)))).flat();
    }

    beforeAll(async () => {
      wheelhouse = await buildWheelhouse();
      projects = (await readdir(join(wheelhouse, 'simple'), { withFileTypes: true }))
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort();
      oracle = await zipfileSizes(join(wheelhouse, 'packages'));
      [server, htmlServer, noRangeServer] = await Promise.all([
        serveWheelhouse(wheelhouse),
        serveWheelhouse(wheelhouse, { noJson: true }),
        serveWheelhouse(wheelhouse, { noRange: true }),
      ]);
    });

    afterAll(async () => {
      await Promise.all([server?.close(), htmlServer?.close(), noRangeServer?.close()]);
      await Promise.all(scratch.map((folder) => rm(folder, { recursive: true, force: true })));
    });

    it('lists the same files from PEP 691 JSON pages as from PEP 503 HTML pages', async () => {
      // Prepare
      const json = indexFor(server.indexUrl, await freshCache());
      const html = indexFor(htmlServer.indexUrl, await freshCache());
      const comparable = (file: DistributionFile) => ({
        filename: file.filename,
        path: new URL(file.url).pathname,
        sha256: file.sha256,
        requiresPython: file.requiresPython,
        yanked: file.yanked,
        metadata: file.metadataUrl ? new URL(file.metadataUrl).pathname : null,
        metadataSha256: file.metadataSha256,
      });

      // Act
      const [fromJson, fromHtml] = await Promise.all([allFiles(json), allFiles(html)]);

      // Assess
      expect(fromJson.length).toBe(Object.keys(oracle).length);
      expect(fromHtml.map(comparable)).toEqual(fromJson.map(comparable));
      expect(fromJson.every((file) => file.size !== null && file.metadataSha256 !== null)).toBe(true);
      expect(fromJson.find((file) => file.filename.startsWith('requests-'))?.requiresPython).toBe(
        '>=3.7, <4',
      );
      await Promise.all([json.close(), html.close()]);
    });

    it('answers an empty list for a project the index does not have (404)', async () => {
      // Prepare
      const index = indexFor(server.indexUrl, await freshCache());

      // Act
      const files = await index.listFiles('no-such-project');

      // Assess
      expect(files).toEqual([]);
      await index.close();
    });

    it('reads the same metadata from PEP 658 files as from METADATA inside each wheel', async () => {
      // Prepare
      const viaFile = indexFor(server.indexUrl, await freshCache());
      const events: IndexEvent[] = [];
      const viaWheel = indexFor(server.indexUrl, await freshCache(), {
        onEvent: (event) => events.push(event),
      });
      const files = await allFiles(viaFile);
      const withoutMetadataFile = files.map((file) => ({ ...file, metadataUrl: null, metadataSha256: null }));

      // Act
      const fromMetadataFiles = await Promise.all(files.map((file) => viaFile.fetchMetadata(file)));
      const fromWheels = await Promise.all(withoutMetadataFile.map((file) => viaWheel.fetchMetadata(file)));

      // Assess
      expect(fromWheels).toEqual(fromMetadataFiles);
      const requests = events.filter((event) => event.type === 'request');
      const botocore = files.find((file) => file.filename.startsWith('botocore-'))!;
      const botocoreRequests = requests.filter((event) => event.url === botocore.url);
      expect(botocoreRequests.length).toBeGreaterThan(0);
      expect(botocoreRequests.every((event) => event.range !== null)).toBe(true);
      expect(fromMetadataFiles.find((metadata) => metadata.name === 'requests')?.providesExtra).toEqual([
        'socks',
      ]);
      await Promise.all([viaFile.close(), viaWheel.close()]);
    });

    it('measures every wheel exactly through Range requests, without downloading big ones whole', async () => {
      // Prepare
      const events: IndexEvent[] = [];
      const index = indexFor(server.indexUrl, await freshCache(), { onEvent: (event) => events.push(event) });
      const files = await allFiles(index);

      // Act
      const sizes = await Promise.all(files.map((file) => index.measureWheel(file)));

      // Assess
      files.forEach((file, position) => {
        expect({
          file: file.filename,
          unzipped: sizes[position]?.unzippedSize,
          entries: sizes[position]?.entryCount,
        }).toEqual({
          file: file.filename,
          unzipped: oracle[file.filename]?.unzipped,
          entries: oracle[file.filename]?.entries,
        });
        expect(sizes[position]?.size).toBe(file.size);
      });
      const botocore = files.find((file) => file.filename.startsWith('botocore-'))!;
      const whole = events.filter(
        (event) => event.type === 'request' && event.url === botocore.url && event.range === null,
      );
      expect(whole).toEqual([]);
      await index.close();
    });

    it('measures every wheel exactly when the server ignores Range, keeping the one whole transfer as the download', async () => {
      // Prepare
      const events: IndexEvent[] = [];
      const index = indexFor(noRangeServer.indexUrl, await freshCache(), {
        onEvent: (event) => events.push(event),
      });
      const files = await allFiles(index);

      // Act
      const sizes = await Promise.all(files.map((file) => index.measureWheel(file)));

      // Assess
      expect(sizes.map((size) => size.unzippedSize)).toEqual(
        files.map((file) => oracle[file.filename]?.unzipped),
      );
      expect(events.some((event) => event.type === 'range-unsupported')).toBe(true);
      for (const file of files) {
        const gets = events.filter(
          (event) => event.type === 'request' && event.url === file.url && event.method === 'GET',
        );
        expect(gets.length, file.filename).toBe(1);
      }
      await index.close();
    });

    it('serves a second run from the cache without a single request', async () => {
      // Prepare
      const cacheDir = await freshCache();
      const first = indexFor(server.indexUrl, cacheDir);
      const files = (await allFiles(first)).map((file) => ({
        ...file,
        metadataUrl: null,
        metadataSha256: null,
      }));
      const firstSizes = await Promise.all(files.map((file) => first.measureWheel(file)));
      await Promise.all(files.map((file) => first.fetchMetadata(file)));
      await first.close();
      const events: IndexEvent[] = [];
      const second = indexFor(server.indexUrl, cacheDir, { onEvent: (event) => events.push(event) });

      // Act
      const started = performance.now();
      const secondSizes = await Promise.all(files.map((file) => second.measureWheel(file)));
      await Promise.all(files.map((file) => second.fetchMetadata(file)));
      const elapsedMs = performance.now() - started;

      // Assess
      expect(secondSizes).toEqual(firstSizes);
      expect(events.filter((event) => event.type === 'request')).toEqual([]);
      expect(events.filter((event) => event.type === 'cache-hit')).toHaveLength(files.length * 2);
      expect(elapsedMs).toBeLessThan(1000);
      await second.close();
    });

    it('downloads sha256-verified files into a content-addressed cache, once', async () => {
      // Prepare
      const events: IndexEvent[] = [];
      const index = indexFor(server.indexUrl, await freshCache(), { onEvent: (event) => events.push(event) });
      const [file] = await index.listFiles('botocore');

      // Act
      const [path, again] = await Promise.all([index.download(file!), index.download(file!)]);
      const later = await index.download(file!);

      // Assess
      expect(again).toBe(path);
      expect(later).toBe(path);
      expect(path).toContain(file!.sha256!);
      expect(
        createHash('sha256')
          .update(await readFile(path))
          .digest('hex'),
      ).toBe(file!.sha256);
      expect(events.filter((event) => event.type === 'request' && event.url === file!.url)).toHaveLength(1);
      await index.close();
    });

    it('reads file:// indexes, find-links pages over HTTP and find-links folders, merging them', async () => {
      // Prepare
      const findLinksFolder = await freshCache();
      await copyFile(
        join(wheelhouse, 'packages', 'six-1.16.0-py3-none-any.whl'),
        join(findLinksFolder, 'six-1.16.0-py3-none-any.whl'),
      );
      const localIndexUrl = pathToFileURL(join(wheelhouse, 'simple')).href;
      const findLinksPage = `${server.origin}/simple/six/`;
      const options = { extraIndexUrls: [], pre: false };
      const merged = createPackageIndex({
        ...options,
        indexUrl: localIndexUrl,
        findLinks: [findLinksPage, findLinksFolder],
        cacheDir: await freshCache(),
      });
      const pageOnly = createPackageIndex({
        ...options,
        indexUrl: null,
        findLinks: [findLinksPage],
        cacheDir: await freshCache(),
      });

      // Act
      const files = await merged.listFiles('Six');
      const fromPage = await pageOnly.listFiles('six');
      const sizes = await Promise.all([...files, ...fromPage].map((file) => merged.measureWheel(file)));

      // Assess
      // The page offers the very file the file:// index lists (same name and sha256): kept once, from the first source.
      expect(files.map((file) => [file.source, file.sha256 === null])).toEqual([
        [localIndexUrl, false],
        [findLinksFolder, true],
      ]);
      expect(fromPage.map((file) => [file.source, file.url, file.sha256])).toEqual([
        [findLinksPage, `${server.origin}/packages/six-1.16.0-py3-none-any.whl`, files[0]?.sha256],
      ]);
      expect(new Set(sizes.map((size) => size.unzippedSize))).toEqual(
        new Set([oracle['six-1.16.0-py3-none-any.whl']?.unzipped]),
      );
      expect(sizes[1]?.sha256).toBe(files[0]?.sha256);
      expect(await merged.download(files[0]!)).toBe(
        join(wheelhouse, 'packages', 'six-1.16.0-py3-none-any.whl'),
      );
      await Promise.all([merged.close(), pageOnly.close()]);
    });
  },
);
