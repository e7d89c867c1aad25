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
import { sha256Hex } from '../../../functions/core/shared/hash.ts';

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

  it("tells each file's sha256 as written, a big entry read in chunks included", async () => {
    // Prepare: random bytes past the size inflated whole (4 MiB), and a small file.
    const big = Buffer.from(Array.from({ length: 6 * 1024 ** 2 }, (_, index) => (index * 7919) % 251));
    const path = join(work, 'digests.zip');
    await writeDeterministicZip(path, [
      { name: 'python/a.py', kind: 'content', executable: false, content: Buffer.from('A = 1\n') },
      { name: 'python/big.so', kind: 'content', executable: false, content: big },
    ]);
    const destination = await mkdtemp(join(work, 'digests-'));
    const told = new Map<string, string>();

    // Act
    await extractZip(path, destination, { onFile: ({ name, sha256 }) => told.set(name, sha256) });

    // Assess
    expect(Object.fromEntries(told)).toEqual({
      'python/a.py': sha256Hex(await readFile(join(destination, 'python', 'a.py'))),
      'python/big.so': sha256Hex(await readFile(join(destination, 'python', 'big.so'))),
    });
    expect(told.get('python/big.so')).toBe(sha256Hex(big));
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

  // Small entries are inflated in one piece and big ones streamed: each path refuses the same lies
  // and leaves no file behind.
  const lies = [
    { size: 'small', bytes: 4096, declared: 1024, message: /unpacks to more than the 1024 bytes/ },
    { size: 'small', bytes: 4096, declared: 8192, message: /unpacks to 4096 bytes, the directory says 8192/ },
    {
      size: 'big',
      bytes: 6 * 1024 ** 2,
      declared: 5 * 1024 ** 2,
      message: /unpacks to more than the 5242880 bytes/,
    },
    {
      size: 'big',
      bytes: 6 * 1024 ** 2,
      declared: 7 * 1024 ** 2,
      message: /unpacks to 6291456 bytes, the directory says 7340032/,
    },
  ];
  it.each(lies)(
    'refuses a $size entry of $bytes bytes that declares $declared, writing nothing',
    async (lie) => {
      // Prepare
      const content = Buffer.from(Array.from({ length: lie.bytes }, (_, index) => (index * 7919) % 251));
      const path = join(work, `lie-${lie.size}-${lie.declared}.zip`);
      const raw = {
        method: 8,
        crc32: crc32(content),
        uncompressedSize: lie.declared,
        data: deflateRawSync(content),
      };
      await writeDeterministicZip(path, [{ name: 'python/lie.bin', kind: 'raw', executable: false, raw }]);
      const destination = await mkdtemp(join(work, 'lie-'));

      // Act
      const extracting = extractZip(path, destination, { limits: { ratioFloorBytes: 64 * 1024 ** 2 } });

      // Assess
      await expect(extracting).rejects.toThrow(lie.message);
      expect(await readdir(destination, { recursive: true })).toEqual(['python']);
    },
  );

  it.each([
    { size: 'small', bytes: 4096 },
    { size: 'big', bytes: 6 * 1024 ** 2 },
  ])('refuses a $size entry with a wrong CRC-32 or a truncated deflate stream', async ({ bytes }) => {
    // Prepare
    const content = Buffer.from(Array.from({ length: bytes }, (_, index) => (index * 31) % 253));
    const data = deflateRawSync(content);
    const badCrc = join(work, `crc-${bytes}.zip`);
    const raw = { method: 8, crc32: (crc32(content) + 1) >>> 0, uncompressedSize: bytes, data };
    await writeDeterministicZip(badCrc, [{ name: 'a.bin', kind: 'raw', executable: false, raw }]);
    const truncated = join(work, `cut-${bytes}.zip`);
    const cut = { ...raw, crc32: crc32(content), data: data.subarray(0, data.length >> 1) };
    await writeDeterministicZip(truncated, [{ name: 'a.bin', kind: 'raw', executable: false, raw: cut }]);

    // Act
    const failure = (path: string) =>
      mkdtemp(join(work, 'bad-')).then((into) =>
        extractZip(path, into).then(
          () => null,
          (error: unknown) => error,
        ),
      );
    const crcFails = await failure(badCrc);
    const cutFails = await failure(truncated);

    // Assess
    expect(crcFails).toBeInstanceOf(UnsafeArchiveError);
    expect(String(crcFails)).toMatch(/fails its CRC-32 check/);
    expect(cutFails).toBeInstanceOf(UnsafeArchiveError);
    expect(String(cutFails)).toMatch(/does not inflate|unpacks to \d+ bytes, the directory says/);
  });

  it('with replaceExisting, lets a later layer replace an earlier file, as Lambda does in /opt', async () => {
    // Prepare
    const first = join(work, 'first.zip');
    const second = join(work, 'second.zip');
    const file = (content: string) => ({
      kind: 'content' as const,
      executable: false,
      content: Buffer.from(content),
    });
    await writeDeterministicZip(first, [
      { name: 'python/a.py', ...file('A = 1\n') },
      { name: 'python/b.py', ...file('B') },
    ]);
    await writeDeterministicZip(second, [{ name: 'python/a.py', ...file('A = 2\n') }]);
    const destination = await mkdtemp(join(work, 'layers-'));

    // Act
    await extractZip(first, destination, { replaceExisting: true });
    const again = await extractZip(second, destination).catch((error: unknown) => error);
    await extractZip(second, destination, { replaceExisting: true });

    // Assess
    expect(String(again)).toMatch(/EEXIST/);
    expect(await readFile(join(destination, 'python', 'a.py'), 'utf8')).toBe('A = 2\n');
    expect(await readFile(join(destination, 'python', 'b.py'), 'utf8')).toBe('B');
  });
});
