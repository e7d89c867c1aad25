// The index client's on-disk records (sizes, metadata, local hashes) are checked when read: a
// corrupted record of each kind is discarded with a warning event and the value read again from
// the wheel, never served ("-4.7 GiB fits").
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import { measureRequirements } from '../../../functions/core/measure/measure.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { IndexEvent } from '../../../functions/core/index/index-client.ts';
import type { DistributionFile } from '../../../functions/core/shared/types.ts';
import { makeTinyWheel } from '../../support/loopback-index.ts';
import type { TinyWheel } from '../../support/loopback-index.ts';

let work = '';
let wheel: TinyWheel;
let indexUrl = '';
let findLinks = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-cache-records-'));
  wheel = await makeTinyWheel('tidy-cache', '1.0');
  const files = join(work, 'files');
  await mkdir(files, { recursive: true });
  await writeFile(join(files, wheel.filename), wheel.bytes);
  const page = join(work, 'simple', 'tidy-cache');
  await mkdir(page, { recursive: true });
  await writeFile(
    join(page, 'index.html'),
    `<a href="../../files/${wheel.filename}#sha256=${wheel.sha256}">${wheel.filename}</a>`,
  );
  indexUrl = pathToFileURL(join(work, 'simple')).href + '/';
  findLinks = join(work, 'find-links');
  await mkdir(findLinks);
  await writeFile(join(findLinks, wheel.filename), wheel.bytes);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function indexWith(cacheDir: string, source: 'index' | 'find-links', events: IndexEvent[]) {
  return createPackageIndex({
    indexUrl: source === 'index' ? indexUrl : null,
    extraIndexUrls: [],
    findLinks: source === 'find-links' ? [findLinks] : [],
    pre: false,
    cacheDir,
    onEvent: (event) => events.push(event),
  });
}

async function onlyFile(index: ReturnType<typeof indexWith>): Promise<DistributionFile> {
  const files = await index.listFiles('tidy-cache');
  expect(files).toHaveLength(1);
  return files[0]!;
}

/** Fills a fresh cache through one client, then overwrites every record in `folder` with `record`. */
async function corruptedCache(
  source: 'index' | 'find-links',
  folder: string,
  record: string,
): Promise<string> {
  const cacheDir = await mkdtemp(join(work, 'cache-'));
  const index = indexWith(cacheDir, source, []);
  const file = await onlyFile(index);
  await index.measureWheel(file);
  await index.fetchMetadata(file);
  await index.close();
  const records = await readdir(join(cacheDir, folder));
  expect(records.length).toBeGreaterThan(0);
  for (const name of records) await writeFile(join(cacheDir, folder, name), record);
  // A find-links wheel's sha256 lives in its size record too; drop those so the hash record is read.
  if (folder === 'local-hashes') await rm(join(cacheDir, 'sizes'), { recursive: true });
  return cacheDir;
}

function discarded(events: IndexEvent[]): IndexEvent[] {
  return events.filter((event) => event.type === 'cache-discarded');
}

describe('the index client’s on-disk records', () => {
  it.each([
    ['a negative size', 'index', { size: -5_046_586_573, unzippedSize: 10, entryCount: 3 }],
    ['{}', 'index', {}],
    ['a size other than the listed one', 'find-links', { size: 7, unzippedSize: 10, entryCount: 3 }],
  ] as const)(
    'discards a size record holding %s (from a %s), warns and measures the wheel again',
    async (_name, source, record) => {
      // Prepare
      const cacheDir = await corruptedCache(source, 'sizes', JSON.stringify(record));
      const events: IndexEvent[] = [];
      const index = indexWith(cacheDir, source, events);

      // Act
      const sizes = await index.measureWheel(await onlyFile(index));
      await index.close();

      // Assess
      expect(sizes.size).toBe(wheel.bytes.length);
      expect(sizes.unzippedSize).toBeGreaterThan(0);
      expect(discarded(events)).toEqual([expect.objectContaining({ kind: 'size' })]);
      const [name = ''] = await readdir(join(cacheDir, 'sizes'));
      const rewritten = JSON.parse(await readFile(join(cacheDir, 'sizes', name), 'utf8'));
      expect(rewritten.size).toBe(wheel.bytes.length);
    },
  );

  it.each([
    ['{}', '{}'],
    ['text that is not JSON', '{"name": "tidy-cache", "vers'],
    [
      'another distribution',
      JSON.stringify({
        name: 'other',
        version: '9',
        requiresDist: [],
        requiresPython: null,
        providesExtra: [],
      }),
    ],
  ])('discards a metadata record holding %s, warns and reads METADATA again', async (_name, record) => {
    // Prepare
    const cacheDir = await corruptedCache('index', 'metadata', record);
    const events: IndexEvent[] = [];
    const index = indexWith(cacheDir, 'index', events);

    // Act
    const metadata = await index.fetchMetadata(await onlyFile(index));
    await index.close();

    // Assess
    expect(metadata).toMatchObject({ name: 'tidy-cache', version: '1.0', requiresDist: [] });
    expect(discarded(events)).toEqual([expect.objectContaining({ kind: 'metadata' })]);
  });

  it.each([
    ['{}', {}],
    ['a sha256 that is not hex', { sha256: 'not-a-digest' }],
  ])('discards a local-hash record holding %s, warns and hashes the file again', async (_name, bad) => {
    // Prepare
    const cacheDir = await corruptedCache('find-links', 'local-hashes', '{}');
    const records = await readdir(join(cacheDir, 'local-hashes'));
    const { stat } = await import('node:fs/promises');
    const info = await stat(join(findLinks, wheel.filename));
    const record = { size: info.size, mtimeMs: info.mtimeMs, ...bad };
    for (const name of records) await writeFile(join(cacheDir, 'local-hashes', name), JSON.stringify(record));
    const events: IndexEvent[] = [];
    const index = indexWith(cacheDir, 'find-links', events);

    // Act
    const sizes = await index.measureWheel(await onlyFile(index));
    await index.close();

    // Assess
    expect(sizes.sha256).toBe(wheel.sha256);
    expect(discarded(events)).toEqual([expect.objectContaining({ kind: 'verification' })]);
  });

  it('serves a sound record without a warning', async () => {
    // Prepare
    const cacheDir = await corruptedCache(
      'index',
      'sizes',
      JSON.stringify({ size: 0, unzippedSize: 0, entryCount: 0 }),
    );
    await rm(join(cacheDir, 'sizes'), { recursive: true });
    const first = indexWith(cacheDir, 'index', []);
    await first.measureWheel(await onlyFile(first));
    await first.close();
    const events: IndexEvent[] = [];
    const index = indexWith(cacheDir, 'index', events);

    // Act
    const file = await onlyFile(index);
    await index.measureWheel(file);
    await index.fetchMetadata(file);
    await index.close();

    // Assess
    expect(discarded(events)).toEqual([]);
    expect(
      events
        .filter((event) => event.type === 'cache-hit')
        .map((event) => event.type === 'cache-hit' && event.kind),
    ).toEqual(['size', 'metadata']);
  });

  it('turns a discarded record into a warning of measure, which still measures the set', async () => {
    // Prepare
    const requirementsPath = join(work, 'requirements.txt');
    await writeFile(requirementsPath, `-i ${indexUrl}\ntidy-cache==1.0\n`);
    const cacheDir = await mkdtemp(join(work, 'cache-measure-'));
    const input = {
      requirementsPath,
      target: lambdaTarget('python3.11', 'x86_64'),
      environment: { PIP_CONFIG_FILE: '/dev/null' },
      cacheDir,
    };
    await measureRequirements(input);
    const sizes = join(cacheDir, 'sizes');
    for (const name of await readdir(sizes)) await writeFile(join(sizes, name), '{"size": -1}');

    // Act
    const { result } = await measureRequirements(input);

    // Assess
    expect(result.totals.size).toBe(wheel.bytes.length);
    expect(result.warnings).toEqual([
      expect.stringMatching(/the cached size record .* was discarded: size: .*read again/),
    ]);
  });
});
