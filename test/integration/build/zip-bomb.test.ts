// A zip bomb within the old declared-size limits: a 3 MB wheel of three ~1 GiB entries of zeros
// (2.9 GiB in all), which used to take about 6 GB of memory and 3 GB of /dev/shm to refuse or
// install. Built cheaply: one deflate block of 16 MiB of zeros, flushed so it stands alone, is
// repeated. The installer must refuse it from its directory (ratios) before writing a byte,
// and, with the ratio guard switched off, stream every byte through its checks in bounded memory.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installWheel } from '../../../functions/core/build/wheel-installer.ts';
import { NO_SLIM_POLICY } from '../../../functions/core/build/slim-policy.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import { sha256OfFile } from '../../../functions/core/shared/hash.ts';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import type { LockedPackage } from '../../../functions/core/shared/types.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const BLOCK = 16 * 1024 ** 2;
const BLOCKS_PER_ENTRY = 62;
const ENTRIES = 3;
const ENTRY_BYTES = BLOCK * BLOCKS_PER_ENTRY;

let work = '';
let wheelPath = '';
let locked: LockedPackage;

/** Raw deflate of BLOCKS_PER_ENTRY × 16 MiB of zeros, with its CRC-32 and RECORD digest, in ~1 MB and ~2 s. */
function zerosEntry(): { data: Buffer; crc: number; digest: string } {
  const zeros = Buffer.alloc(BLOCK);
  // A full flush ends the block byte-aligned with an empty dictionary, so copies can follow it.
  const block = deflateRawSync(zeros, { finishFlush: constants.Z_FULL_FLUSH });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]);
  let crc = 0;
  const hash = createHash('sha256');
  for (let index = 0; index < BLOCKS_PER_ENTRY; index++) {
    crc = crc32(zeros, crc);
    hash.update(zeros);
  }
  const data = Buffer.concat([...Array<Buffer>(BLOCKS_PER_ENTRY).fill(block), finalEmptyBlock]);
  return { data, crc, digest: `sha256=${hash.digest('base64url')}` };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-bomb-'));
  wheelPath = join(work, 'bomb-1.0-py3-none-any.whl');
  const zeros = zerosEntry();
  const metadata = Buffer.from('Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n');
  const names = Array.from({ length: ENTRIES }, (_, index) => `bomb/zeros-${index}.bin`);
  const recordLines = [
    ...names.map((name) => `${name},${zeros.digest},${ENTRY_BYTES}`),
    `bomb-1.0.dist-info/METADATA,sha256=${createHash('sha256').update(metadata).digest('base64url')},${metadata.length}`,
    'bomb-1.0.dist-info/RECORD,,',
  ];
  await writeDeterministicZip(wheelPath, [
    ...names.map((name) => ({
      name,
      kind: 'raw' as const,
      executable: false,
      raw: { method: 8, crc32: zeros.crc, uncompressedSize: ENTRY_BYTES, data: zeros.data },
    })),
    { name: 'bomb-1.0.dist-info/METADATA', kind: 'content', executable: false, content: metadata },
    {
      name: 'bomb-1.0.dist-info/RECORD',
      kind: 'content',
      executable: false,
      content: Buffer.from(`${recordLines.join('\n')}\n`),
    },
  ]);
  const { size } = await stat(wheelPath);
  locked = {
    name: 'bomb',
    version: '1.0',
    filename: 'bomb-1.0-py3-none-any.whl',
    url: `file://${wheelPath}`,
    sha256: await sha256OfFile(wheelPath),
    size,
    unzippedSize: ENTRY_BYTES * ENTRIES,
    tag: 'py3-none-any',
    requiredBy: ['<requirements>'],
  };
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs `act` while sampling the resident set; returns the growth over the start, in bytes. */
async function peakGrowth(act: () => Promise<unknown>): Promise<{ growth: number; error: unknown }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  let error: unknown = null;
  try {
    await act();
  } catch (caught) {
    error = caught;
  } finally {
    clearInterval(sampler);
  }
  return { growth: Math.max(peak, process.memoryUsage().rss) - start, error };
}

describe('a 3 MB wheel unpacking to 2.9 GiB', () => {
  it('is refused from its declared sizes and ratios before anything is written', async () => {
    // Prepare
    const treeDir = join(work, 'tree');
    const { size } = await stat(wheelPath);

    // Act
    const started = performance.now();
    const { growth, error } = await peakGrowth(() =>
      installWheel({ wheelPath, locked, treeDir, interpreter: '/x/python', slim: NO_SLIM_POLICY }),
    );
    const seconds = (performance.now() - started) / 1000;

    // Assess
    expect(size).toBeLessThan(4 * 1024 ** 2);
    expect(error).toBeInstanceOf(UnsafeArchiveError);
    expect(String(error)).toMatch(
      /zeros-0\.bin": declares 1040187392 bytes from \d+ compressed \(over 200:1\)/,
    );
    expect(await readdir(treeDir).catch(() => [])).toEqual([]);
    expect(growth).toBeLessThan(64 * 1024 ** 2);
    recordReliability({
      area: 'wheel input',
      experiment: `zip bomb (${(size / 1024 ** 2).toFixed(1)} MB wheel declaring 2.9 GiB) refused before writing: ${seconds.toFixed(2)} s, peak memory +${Math.round(growth / 1024 ** 2)} MB`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('streams all 2.9 GiB through the RECORD check in bounded memory when the ratio guard is off', async () => {
    // Prepare
    const limits = { maxEntryRatio: Number.POSITIVE_INFINITY, maxTotalRatio: Number.POSITIVE_INFINITY };

    // Act
    const started = performance.now();
    const { growth, error } = await peakGrowth(() =>
      installWheel({
        wheelPath,
        locked,
        treeDir: join(work, 'unused'),
        interpreter: '/x/python',
        slim: NO_SLIM_POLICY,
        limits,
        writeTree: false,
      }),
    );
    const seconds = (performance.now() - started) / 1000;

    // Assess
    expect(error).toBeNull();
    expect(growth).toBeLessThan(256 * 1024 ** 2);
    recordReliability({
      area: 'wheel input',
      experiment: `zip bomb streamed (ratio guard off, 2.9 GiB inflated and hashed): ${seconds.toFixed(1)} s, peak memory +${Math.round(growth / 1024 ** 2)} MB`,
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  }, 180_000);
});
