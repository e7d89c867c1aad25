// The one zip extractor (used by `lambda-deps verify` to unpack a layer for the smoke import)
// refuses bombs by ratio, escaping names and links before writing a byte, and unpacks an
// ordinary zip exactly.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import { extractZip } from '../../../functions/core/pack/zip-reader.ts';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-extract-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('extractZip', () => {
  it('unpacks an ordinary zip file for file', async () => {
    // Prepare
    const path = join(work, 'good.zip');
    await writeDeterministicZip(path, [
      { name: 'python/a.py', kind: 'content', executable: false, content: Buffer.from('A = 1\n') },
    ]);
    const destination = await mkdtemp(join(work, 'good-'));

    // Act
    const result = await extractZip(path, destination);

    // Assess
    expect(result).toEqual({ files: 1, bytes: 6 });
    expect(await readFile(join(destination, 'python', 'a.py'), 'utf8')).toBe('A = 1\n');
  });

  it('refuses a bomb by its ratio before writing anything', async () => {
    // Prepare
    const zeros = Buffer.alloc(64 * 1024 ** 2);
    const path = join(work, 'bomb.zip');
    await writeDeterministicZip(path, [
      {
        name: 'python/zeros.bin',
        kind: 'raw',
        executable: false,
        raw: { method: 8, crc32: crc32(zeros), uncompressedSize: zeros.length, data: deflateRawSync(zeros) },
      },
    ]);
    const destination = await mkdtemp(join(work, 'bomb-'));

    // Act
    const extracting = extractZip(path, destination);

    // Assess
    await expect(extracting).rejects.toThrow(UnsafeArchiveError);
    await expect(extracting).rejects.toThrow(/over 200:1/);
    expect(await readdir(destination)).toEqual([]);
  });
});
