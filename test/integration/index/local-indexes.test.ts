// The index client against this machine's real on-disk indexes (found through pip's config):
// file:// indexes with hash fragments, a find-links folder of big wheels, and exact sizes of
// real manylinux wheels read from their central directories.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import type { IndexEvent } from '../../../functions/core/index/index-client.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { zipfileSizes } from './zip-oracle.ts';

const indexes = localIndexes();
const SKIP_NOTE = indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`;
const FIND_LINKS_SKIP_NOTE = indexes?.findLinks.length
  ? ''
  : ' (skipped: pip is configured with no find-links folder here, so there is no local wheel folder to list)';
const scratch: string[] = [];

async function cacheFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'lambda-deps-local-index-cache-'));
  scratch.push(folder);
  return folder;
}

function localIndex(cacheDir: string, onEvent?: (event: IndexEvent) => void) {
  return createPackageIndex({
    indexUrl: null,
    extraIndexUrls: indexes?.indexUrls ?? [],
    findLinks: indexes?.findLinks ?? [],
    pre: false,
    cacheDir,
    onEvent,
  });
}

afterAll(async () => {
  await Promise.all(scratch.map((folder) => rm(folder, { recursive: true, force: true })));
});

describe('createPackageIndex on the machine’s on-disk indexes', () => {
  it.skipIf(!indexes)(`lists numpy from the file:// indexes with hashes${SKIP_NOTE}`, async () => {
    // Prepare
    const index = localIndex(await cacheFolder());

    // Act
    const files = await index.listFiles('NumPy');

    // Assess
    expect(files.length).toBeGreaterThan(1);
    expect(files.every((file) => /^numpy-[^-]+-.+\.whl$/.test(file.filename))).toBe(true);
    expect(files.every((file) => /^[0-9a-f]{64}$/.test(file.sha256 ?? ''))).toBe(true);
    expect(new Set(files.map((file) => file.filename)).size).toBe(files.length);
    expect(files.every((file) => indexes!.indexUrls.includes(file.source))).toBe(true);
    await index.close();
  });

  it.skipIf(!indexes?.findLinks.length)(
    `lists a find-links folder without hashing its wheels${FIND_LINKS_SKIP_NOTE}`,
    async () => {
      // Prepare
      const index = localIndex(await cacheFolder());
      const folder = indexes!.findLinks[0]!;
      const { readdir } = await import('node:fs/promises');
      const wheel = (await readdir(folder)).find((name) => name.endsWith('.whl'));
      const project =
        wheel
          ?.split('-')[0]
          ?.replace(/[-_.]+/g, '-')
          .toLowerCase() ?? 'none';

      // Act
      const started = performance.now();
      const files = (await index.listFiles(project)).filter((file) => file.source === folder);
      const elapsedMs = performance.now() - started;

      // Assess
      expect(files.map((file) => file.filename)).toContain(wheel);
      expect(files.every((file) => file.sha256 === null && file.size !== null && file.size > 0)).toBe(true);
      expect(elapsedMs).toBeLessThan(500);
      await index.close();
    },
  );

  it.skipIf(!indexes)(
    `measures real numpy wheels exactly, and reads their metadata${SKIP_NOTE}`,
    async () => {
      // Prepare
      const cacheDir = await cacheFolder();
      const index = localIndex(cacheDir);
      const files = (await index.listFiles('numpy')).slice(0, 4);
      const byFolder = new Map<string, string[]>();
      for (const file of files) {
        const path = fileURLToPath(file.url);
        byFolder.set(dirname(path), [...(byFolder.get(dirname(path)) ?? []), file.filename]);
      }
      const oracle = Object.assign(
        {},
        ...(await Promise.all([...byFolder].map(([folder, names]) => zipfileSizes(folder, names)))),
      ) as Awaited<ReturnType<typeof zipfileSizes>>;

      // Act
      const started = performance.now();
      const sizes = await Promise.all(files.map((file) => index.measureWheel(file)));
      const metadata = await Promise.all(files.map((file) => index.fetchMetadata(file)));
      const elapsedMs = performance.now() - started;

      // Assess
      expect(sizes.map((size) => [size.unzippedSize, size.entryCount])).toEqual(
        files.map((file) => [oracle[file.filename]?.unzipped, oracle[file.filename]?.entries]),
      );
      expect(metadata.map((entry) => `${entry.name}-${entry.version}`)).toEqual(
        files.map((file) => file.filename.split('-').slice(0, 2).join('-')),
      );
      expect(metadata.every((entry) => entry.requiresPython !== null)).toBe(true);
      expect(elapsedMs).toBeLessThan(2000);
      await index.close();
    },
  );

  it.skipIf(!indexes?.findLinks.length)(
    `measures a big find-links wheel exactly and hashes it once${FIND_LINKS_SKIP_NOTE}`,
    async () => {
      // Prepare
      const cacheDir = await cacheFolder();
      const folder = indexes!.findLinks[0]!;
      const { readdir } = await import('node:fs/promises');
      const wheel = (await readdir(folder)).filter((name) => name.endsWith('.whl')).sort()[0]!;
      const project = wheel
        .split('-')[0]!
        .replace(/[-_.]+/g, '-')
        .toLowerCase();
      const first = localIndex(cacheDir);
      const file = (await first.listFiles(project)).find((candidate) => candidate.filename === wheel)!;
      const [oracle, digest] = await Promise.all([
        zipfileSizes(folder, [wheel]),
        import('node:child_process').then(
          ({ execFileSync }) =>
            execFileSync('sha256sum', [join(folder, wheel)], { encoding: 'utf8' }).split(' ')[0],
        ),
      ]);

      // Act
      const sizes = await first.measureWheel(file);
      await first.close();
      const events: IndexEvent[] = [];
      const second = localIndex(cacheDir, (event) => events.push(event));
      const again = await second.measureWheel(file);
      const path = await second.download(file);

      // Assess
      expect(sizes.unzippedSize).toBe(oracle[wheel]?.unzipped);
      expect(sizes.entryCount).toBe(oracle[wheel]?.entries);
      expect(sizes.sha256).toBe(digest);
      expect(again).toEqual(sizes);
      expect(path).toBe(join(folder, wheel));
      expect(
        events
          .filter((event) => event.type === 'cache-hit')
          .map((event) => event.type === 'cache-hit' && event.kind),
      ).toEqual(['size', 'verification']);
      await second.close();
    },
  );
});
