import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { ZipFile } from 'yazl';
import { UnsafeArchiveError } from '../../../functions/core/shared/errors.ts';
import {
  localDataOffset,
  locateCentralDirectory,
  readCentralDirectory,
  unzippedSize,
} from '../../../functions/core/index/zip-directory.ts';
import type { ZipEntry } from '../../../functions/core/index/zip-directory.ts';
import { recordReliability } from '../../support/reliability-log.ts';

interface ZipInput {
  name: string;
  data: Buffer;
  mode?: number;
  compress?: boolean;
}

async function buildZip(
  inputs: readonly ZipInput[],
  options: { zip64?: boolean; comment?: Buffer } = {},
): Promise<Buffer> {
  const zip = new ZipFile();
  for (const input of inputs) {
    zip.addBuffer(input.data, input.name, {
      mode: input.mode ?? 0o100644,
      compress: input.compress ?? true,
      forceZip64Format: options.zip64 ?? false,
    });
  }
  // yazl takes a Buffer comment (its types say string only); a Buffer lets the test hold raw signature bytes.
  zip.end({ forceZip64Format: options.zip64 ?? false, comment: options.comment as unknown as string });
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseWhole(zip: Buffer, origin = 'test.whl', limits = {}): ZipEntry[] {
  const location = locateCentralDirectory(zip, zip.length, origin);
  return readCentralDirectory(
    zip.subarray(location.offset, location.offset + location.size),
    location,
    origin,
    limits,
  );
}

function yauzlSizes(zip: Buffer): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (error, archive) => {
      if (error || !archive) return reject(error ?? new Error('no archive'));
      const sizes = new Map<string, number>();
      archive.on('entry', (entry: yauzl.Entry) => {
        sizes.set(entry.fileName, entry.uncompressedSize);
        archive.readEntry();
      });
      archive.on('end', () => resolve(sizes));
      archive.on('error', reject);
      archive.readEntry();
    });
  });
}

const SAMPLE: ZipInput[] = [
  { name: 'pkg/__init__.py', data: Buffer.from('print("hello")\n') },
  { name: 'pkg/data.bin', data: Buffer.concat([randomBytes(5000), Buffer.alloc(20000)]) },
  { name: 'pkg/stored.txt', data: Buffer.from('x'.repeat(300)), compress: false },
  { name: 'pkg-1.0.dist-info/METADATA', data: Buffer.from('Name: pkg\nVersion: 1.0\n') },
];

describe('locateCentralDirectory and readCentralDirectory', () => {
  it('reads every entry with the sizes yauzl reads from the same zip', async () => {
    // Prepare
    const zip = await buildZip(SAMPLE);

    // Act
    const entries = parseWhole(zip);

    // Assess
    const expected = await yauzlSizes(zip);
    expect(entries.map((entry) => entry.name)).toEqual([...expected.keys()]);
    for (const entry of entries) expect(entry.uncompressedSize).toBe(expected.get(entry.name));
    expect(unzippedSize(entries)).toBe(SAMPLE.reduce((sum, input) => sum + input.data.length, 0));
    expect(entries.find((entry) => entry.name === 'pkg/stored.txt')?.method).toBe(0);
    expect(entries.find((entry) => entry.name === 'pkg/data.bin')?.method).toBe(8);
  });

  it('reads zip64 end records and zip64 extra fields', async () => {
    // Prepare
    const zip = await buildZip(SAMPLE, { zip64: true });

    // Act
    const location = locateCentralDirectory(zip, zip.length, 'big.whl');
    const entries = readCentralDirectory(
      zip.subarray(location.offset, location.offset + location.size),
      location,
      'big.whl',
    );

    // Assess
    expect(zip.indexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBeGreaterThan(0);
    expect(location.entryCount).toBe(SAMPLE.length);
    expect(entries.map((entry) => entry.uncompressedSize)).toEqual(SAMPLE.map((input) => input.data.length));
    const expected = await yauzlSizes(zip);
    for (const entry of entries) expect(entry.uncompressedSize).toBe(expected.get(entry.name));
  });

  it('finds the directory from a tail that does not hold it, and from a zip with a comment', async () => {
    // Prepare
    const zip = await buildZip(SAMPLE, {
      comment: Buffer.from('PK\u0005 almost a signature, then text', 'latin1'),
    });
    const tail = zip.subarray(zip.length - 80);

    // Act
    const location = locateCentralDirectory(tail, zip.length, 'commented.whl');

    // Assess
    expect(location.offset).toBeLessThan(zip.length - tail.length);
    expect(
      readCentralDirectory(zip.subarray(location.offset, location.offset + location.size), location),
    ).toHaveLength(SAMPLE.length);
  });

  it('marks Unix symlink entries', async () => {
    // Prepare
    const zip = await buildZip([
      { name: 'pkg/real.py', data: Buffer.from('x = 1\n') },
      { name: 'pkg/link.py', data: Buffer.from('real.py'), mode: 0o120777 },
    ]);

    // Act
    const entries = parseWhole(zip);

    // Assess
    expect(entries.map((entry) => [entry.name, entry.isSymlink])).toEqual([
      ['pkg/real.py', false],
      ['pkg/link.py', true],
    ]);
  });

  it('gives where the data of an entry starts from its local header', async () => {
    // Prepare
    const zip = await buildZip(SAMPLE);
    const entry = parseWhole(zip).find((candidate) => candidate.name === 'pkg/stored.txt')!;

    // Act
    const offset = localDataOffset(zip.subarray(entry.localHeaderOffset), entry, 'test.whl');

    // Assess
    const start = entry.localHeaderOffset + offset!;
    expect(zip.subarray(start, start + entry.compressedSize).toString()).toBe('x'.repeat(300));
    expect(
      localDataOffset(zip.subarray(entry.localHeaderOffset, entry.localHeaderOffset + 10), entry),
    ).toBeNull();
  });

  describe('refuses broken or hostile archives with UnsafeArchiveError naming the file', () => {
    const corruptions: { what: string; corrupt: (zip: Buffer) => Buffer; message: RegExp }[] = [
      {
        what: 'a truncated file',
        corrupt: (zip) => zip.subarray(0, zip.length - 7),
        message: /end of central directory/,
      },
      {
        what: 'bytes that are not a zip',
        corrupt: (zip) => randomBytes(zip.length),
        message: /end of central directory/,
      },
      {
        what: 'a directory offset pointing elsewhere',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          copy.writeUInt32LE(copy.readUInt32LE(copy.length - 6) - 3, copy.length - 6);
          return copy;
        },
        message: /does not end where the end record starts/,
      },
      {
        what: 'an entry count larger than the directory can hold',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          copy.writeUInt16LE(60000, copy.length - 12);
          copy.writeUInt16LE(60000, copy.length - 14);
          return copy;
        },
        message: /cannot hold 60000 entries/,
      },
      {
        what: 'a damaged central header signature',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          const offset = copy.readUInt32LE(copy.length - 6);
          copy.writeUInt32LE(0xdeadbeef, offset);
          return copy;
        },
        message: /bad signature/,
      },
      {
        what: 'a name length running past the directory',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          const offset = copy.readUInt32LE(copy.length - 6);
          copy.writeUInt16LE(0xfff0, offset + 28);
          return copy;
        },
        message: /runs past the directory's end/,
      },
      {
        what: 'an entry whose data would overlap the directory',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          const offset = copy.readUInt32LE(copy.length - 6);
          copy.writeUInt32LE(offset - 10, offset + 42);
          return copy;
        },
        message: /beyond the start of the central directory/,
      },
      {
        what: 'a multi-disk end record',
        corrupt: (zip) => {
          const copy = Buffer.from(zip);
          copy.writeUInt16LE(1, copy.length - 18);
          return copy;
        },
        message: /another disk/,
      },
    ];

    it.each(corruptions)('$what', async ({ corrupt, message }) => {
      // Prepare
      const zip = corrupt(await buildZip(SAMPLE));

      // Act
      const act = (): ZipEntry[] => parseWhole(zip, 'broken-1.0-py3-none-any.whl');

      // Assess
      expect(act).toThrow(UnsafeArchiveError);
      expect(act).toThrow(/^broken-1\.0-py3-none-any\.whl: /);
      expect(act).toThrow(message);
    });

    it('refuses a zip bomb from its declared sizes before inflating anything', async () => {
      // Prepare: a real 4 MiB run of zeros deflates to a few KiB; then the directory is patched
      // to declare 3 GiB for it, as a bomb's would.
      const zip = await buildZip([{ name: 'bomb.bin', data: Buffer.alloc(4 * 1024 * 1024) }]);
      const location = locateCentralDirectory(zip, zip.length);
      const patched = Buffer.from(zip);
      patched.writeUInt32LE(3 * 1024 ** 3, location.offset + 24);

      // Act
      const honest = (): ZipEntry[] =>
        parseWhole(zip, 'bomb.whl', { maxTotalUncompressedBytes: 1024 * 1024 });
      const declared = (): ZipEntry[] => parseWhole(patched, 'bomb.whl');

      // Assess
      expect(zip.length).toBeLessThan(64 * 1024);
      expect(honest).toThrow(/more than the limit of 1048576 bytes/);
      expect(declared).toThrow(UnsafeArchiveError);
      expect(declared).toThrow(/per-entry limit/);
    });

    it('refuses more entries than the limit', async () => {
      // Prepare
      const inputs = Array.from({ length: 11 }, (_, index) => ({
        name: `f${index}`,
        data: Buffer.from('x'),
      }));
      const zip = await buildZip(inputs);

      // Act
      const act = (): ZipEntry[] => parseWhole(zip, 'many.whl', { maxEntries: 10 });

      // Assess
      expect(act).toThrow(/11 entries, more than the limit of 10/);
      expect(parseWhole(zip, 'many.whl', { maxEntries: 11 })).toHaveLength(11);
    });
  });

  it('never throws anything but UnsafeArchiveError on randomly damaged directories', async () => {
    // Prepare
    const zip = await buildZip(SAMPLE);
    const location = locateCentralDirectory(zip, zip.length);
    const runs = 500;
    let refused = 0;

    // Act
    for (let run = 0; run < runs; run++) {
      const copy = Buffer.from(zip);
      for (let flip = 0; flip < 3; flip++) {
        const at = location.offset + Math.floor(Math.random() * (zip.length - location.offset));
        copy[at] = Math.floor(Math.random() * 256);
      }
      try {
        const entries = parseWhole(copy, 'fuzzed.whl');
        for (const entry of entries) {
          expect(entry.localHeaderOffset + entry.compressedSize).toBeLessThanOrEqual(location.offset);
        }
      } catch (error) {
        expect(error).toBeInstanceOf(UnsafeArchiveError);
        refused++;
      }
    }

    // Assess
    expect(refused).toBeGreaterThan(0);
    recordReliability({
      area: 'wheel archives',
      experiment: 'central directory fuzzing (3 random bytes changed per run)',
      cases: 8 + 2,
      faultsInjected: runs * 3,
      runs,
      lost: 'nothing',
    });
  });
});
