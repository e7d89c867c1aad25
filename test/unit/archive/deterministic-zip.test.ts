// A layer zip's bytes are its identity: Lambda's CodeSha256, the kept layers' and the layer-zip
// cache's keys are all its sha256. So the writer's output is pinned here byte for byte, for a
// set of entries whose bytes no compressor decides (stored data, contents under the deflate
// threshold): a faster writer must write the very same zip, and one that does not fails here.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  writeDeterministicZip,
  type DeterministicZipEntry,
} from '../../../functions/core/pack/deterministic-zip.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-deterministic-zip-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const module = Buffer.from('VALUE = 1\n');
const entries: DeterministicZipEntry[] = [
  {
    name: 'python/pkg/__init__.py',
    kind: 'raw',
    executable: false,
    raw: { method: 0, crc32: crc32(module), uncompressedSize: module.length, data: module },
  },
  { name: 'bin/run', kind: 'content', executable: true, content: Buffer.from('#!/bin/sh\necho hi\n') },
  { name: 'python/pkg/', kind: 'directory' },
  { name: 'python/tiny.txt', kind: 'content', executable: false, content: Buffer.from('x') },
];

describe('writeDeterministicZip', () => {
  it('writes the same bytes as every earlier release for the same entries, in any order', async () => {
    // Arrange
    const path = join(work, 'pinned.zip');

    // Act
    const result = await writeDeterministicZip(path, [...entries].reverse());

    // Assert: the sha256 of the zip this writer has written since its first release.
    const pinned = 'c8bb422c8977ad0ea812054881a97a31c54ed404356ce3b492b1623c881604c7';
    expect(sha256Hex(await readFile(path))).toBe(pinned);
    expect(result).toEqual({ sha256: pinned, size: 465, unzippedSize: 29, entryCount: 4, rawEntries: 1 });
  });

  it('hashes what it writes when the entries span several writes (over 1,000 buffers)', async () => {
    // Arrange: 1,500 stored entries, so the writer flushes several times.
    const many: DeterministicZipEntry[] = Array.from({ length: 1_500 }, (_, index) => {
      const data = Buffer.from(`N = ${index}\n`);
      const raw = { method: 0, crc32: crc32(data), uncompressedSize: data.length, data };
      return { name: `python/many/m${index}.py`, kind: 'raw', executable: false, raw };
    });
    const path = join(work, 'many.zip');

    // Act
    const result = await writeDeterministicZip(path, many);

    // Assert
    const bytes = await readFile(path);
    expect(result.sha256).toBe(sha256Hex(bytes));
    expect(result.size).toBe(bytes.length);
    expect(result.entryCount).toBe(1_500);
  });
});
