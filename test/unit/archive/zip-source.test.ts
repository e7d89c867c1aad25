// A wheel small enough is read into memory once, checked against the lock, and unpacked from
// those bytes (openZipBytes); bigger ones are read span by span from the file (openZip). Both
// must read every kind of entry alike, refuse the same corruption, and hand out bytes that do
// not keep the whole archive alive.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import { openZip, openZipBytes, readEntry, type OpenZip } from '../../../functions/core/pack/zip-reader.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-zip-source-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Bytes no compressor shrinks much, past the 4 MiB inflated whole (so they stream). */
const big = Buffer.from(Array.from({ length: 6 * 1024 ** 2 }, (_, index) => (index * 7919) % 251));
const small = Buffer.from('A = 1\n'.repeat(5_000));

function stored(name: string, content: Buffer) {
  const raw = { method: 0, crc32: crc32(content), uncompressedSize: content.length, data: content };
  return { name, kind: 'raw' as const, executable: false, raw };
}

async function contents(zip: OpenZip): Promise<Record<string, Buffer>> {
  const read: Record<string, Buffer> = {};
  try {
    for (const entry of zip.entries) read[entry.name] = await readEntry(zip, entry);
  } finally {
    await zip.close();
  }
  return read;
}

describe('openZipBytes', () => {
  it('reads small and big, deflated and stored entries as openZip reads them from the file', async () => {
    // Prepare
    const path = join(work, 'kinds.zip');
    await writeDeterministicZip(path, [
      { name: 'a/small.py', kind: 'content', executable: false, content: small },
      { name: 'a/big.so', kind: 'content', executable: false, content: big },
      stored('a/stored.txt', Buffer.from('stored\n')),
      stored('a/stored-big.bin', big),
    ]);
    const bytes = await readFile(path);

    // Act
    const fromFile = await contents(await openZip(path, { name: 'kinds.zip' }));
    const fromBytes = await contents(await openZipBytes(bytes, { name: 'kinds.zip' }));

    // Assess
    expect(Object.keys(fromBytes).sort()).toEqual([
      'a/big.so',
      'a/small.py',
      'a/stored-big.bin',
      'a/stored.txt',
    ]);
    for (const [name, content] of Object.entries(fromFile))
      expect(fromBytes[name]?.equals(content)).toBe(true);
    expect(fromBytes['a/big.so']?.equals(big)).toBe(true);
    // A stored entry is a copy, not a view that would hold the whole archive in memory.
    for (const name of ['a/stored.txt', 'a/stored-big.bin'])
      expect(fromBytes[name]?.buffer).not.toBe(bytes.buffer);
  });

  it('refuses an entry that fails its CRC-32, as openZip does', async () => {
    // Prepare: a deflated entry whose directory names another CRC.
    const content = Buffer.from('B = 2\n');
    const path = join(work, 'crc.zip');
    await writeDeterministicZip(path, [
      {
        name: 'b.py',
        kind: 'raw',
        executable: false,
        raw: {
          method: 8,
          crc32: crc32(content) ^ 1,
          uncompressedSize: content.length,
          data: deflateRawSync(content),
        },
      },
    ]);

    // Act
    const fromFile = await contents(await openZip(path, { name: 'crc.zip' })).catch(String);
    const fromBytes = await contents(await openZipBytes(await readFile(path), { name: 'crc.zip' })).catch(
      String,
    );

    // Assess
    expect(fromFile).toMatch(/CRC-32/);
    expect(fromBytes).toBe(fromFile);
  });

  it('refuses a truncated archive before reading an entry', async () => {
    // Prepare
    const path = join(work, 'whole.zip');
    await writeDeterministicZip(path, [{ name: 'c.py', kind: 'content', executable: false, content: small }]);
    const bytes = await readFile(path);

    // Act
    const opening = openZipBytes(bytes.subarray(0, bytes.length - 10), { name: 'cut.zip' });

    // Assess
    await expect(opening).rejects.toThrow(/cut\.zip/);
  });
});
