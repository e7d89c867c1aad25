// An entry read out of a remote wheel by Range goes through the one inflate-and-CRC routine
// (pack/zip-reader.ts): a METADATA whose bytes do not match the directory's CRC-32 is refused,
// never parsed.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPackageIndex } from '../../../functions/core/index/index-client.ts';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import { makeTinyWheel, startLoopbackIndex } from '../../support/loopback-index.ts';
import type { LoopbackIndex, TinyWheel } from '../../support/loopback-index.ts';

/** The wheel with the CRC-32 its central directory gives METADATA changed. */
function withWrongMetadataCrc(wheel: TinyWheel): TinyWheel {
  const bytes = Buffer.from(wheel.bytes);
  const name = Buffer.from(`${wheel.name.replace(/-/g, '_')}-${wheel.version}.dist-info/METADATA`);
  // The last occurrence of the name is in the central directory, 46 bytes past its header start.
  const header = bytes.lastIndexOf(name) - 46;
  expect(bytes.readUInt32LE(header)).toBe(0x02014b50);
  bytes.writeUInt32LE((bytes.readUInt32LE(header + 16) ^ 0xffffffff) >>> 0, header + 16);
  return { ...wheel, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

let server: LoopbackIndex;
let cacheDir = '';

beforeAll(async () => {
  const good = await makeTinyWheel('good-crc', '1.0');
  const bad = withWrongMetadataCrc(await makeTinyWheel('bad-crc', '1.0'));
  server = await startLoopbackIndex({ wheels: [good, bad] });
  cacheDir = await mkdtemp(join(tmpdir(), 'lambda-deps-remote-entry-'));
});

afterAll(async () => {
  await server.close();
  await rm(cacheDir, { recursive: true, force: true });
});

function index() {
  return createPackageIndex({
    indexUrl: `${server.origin}/simple/`,
    extraIndexUrls: [],
    findLinks: [],
    pre: false,
    cacheDir,
    netrc: null,
  });
}

describe('reading METADATA out of a remote wheel', () => {
  it('refuses an entry whose bytes fail the CRC-32 its directory gives, naming it', async () => {
    // Prepare
    const client = index();
    const [file] = await client.listFiles('bad-crc');

    // Act
    const reading = client.fetchMetadata(file!);

    // Assess
    await expect(reading).rejects.toThrow(UnsafeArchiveError);
    await expect(reading).rejects.toThrow(/bad_crc-1\.0\.dist-info\/METADATA.*fails its CRC-32 check/);
    await client.close();
  });

  it('reads a sound entry of the same shape', async () => {
    // Prepare
    const client = index();
    const [file] = await client.listFiles('good-crc');

    // Act
    const metadata = await client.fetchMetadata(file!);

    // Assess
    expect(metadata).toMatchObject({ name: 'good-crc', version: '1.0' });
    await client.close();
  });
});
