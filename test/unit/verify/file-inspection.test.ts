// How many bytes verify reads of a file, observed through a counting file opener: a non-ELF
// file costs one read of its first 4 KiB, an ELF file one open whose first read also serves
// the headers, then only the blocks holding its dynamic tables, up to a fixed budget that a
// hostile file (tables spread over a huge sparse file) runs into as a finding, not a giant read.
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readElfFacts, readElfFactsFromFile } from '../../../functions/core/verify/elf.ts';
import {
  HEAD_BYTES,
  MAX_ELF_READ_BYTES,
  openFileSync,
  type OpenFileFn,
} from '../../../functions/core/verify/file-bytes.ts';
import { inspectFile } from '../../../functions/core/verify/file-inspection.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { buildElf } from './elf-builder.ts';

let work = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-inspection-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface ReadLog {
  opens: number;
  closes: number;
  sizeCalls: number;
  reads: { position: number; length: number }[];
  bytes: number;
}

/** The real opener, counting what is asked of it. */
function countingOpener(): { open: OpenFileFn; log: ReadLog } {
  const log: ReadLog = { opens: 0, closes: 0, sizeCalls: 0, reads: [], bytes: 0 };
  const open: OpenFileFn = (path) => {
    const file = openFileSync(path);
    log.opens++;
    return {
      read(buffer, length, position) {
        const count = file.read(buffer, length, position);
        log.reads.push({ position, length });
        log.bytes += count;
        return count;
      },
      size() {
        log.sizeCalls++;
        return file.size();
      },
      close() {
        log.closes++;
        file.close();
      },
    };
  };
  return { open, log };
}

/** An x86_64 library whose dynamic tables start `padding` bytes into the file. */
const deepElf = (padding: number): Buffer =>
  buildElf({
    is64: true,
    little: true,
    machine: 62,
    needed: ['libc.so.6', 'libm.so.6'],
    tablePadding: padding,
  });

describe('inspectFile', () => {
  it('judges a large non-ELF file by one read of its first 4 KiB', async () => {
    // Prepare
    const path = join(work, 'big.py');
    await writeFile(path, 'x = 1\n'.repeat(200_000));
    const { open, log } = countingOpener();

    // Act
    const inspection = inspectFile(path, 'big.py', open);

    // Assess
    expect(inspection).toEqual({ format: null, elf: null });
    expect(log).toEqual({
      opens: 1,
      closes: 1,
      sizeCalls: 0,
      reads: [{ position: 0, length: HEAD_BYTES }],
      bytes: HEAD_BYTES,
    });
  });

  it('reads an ELF file through one open, reusing the first read for its headers', async () => {
    // Prepare
    const bytes = deepElf(8 * 1024 * 1024);
    const path = join(work, 'libdeep.so');
    await writeFile(path, bytes);
    const { open, log } = countingOpener();

    // Act
    const inspection = inspectFile(path, 'libdeep.so', open);

    // Assess
    expect(inspection.format).toBe('elf');
    expect(inspection.elf).toEqual(readElfFacts(bytes, 'libdeep.so'));
    expect(log.opens).toBe(1);
    expect(log.closes).toBe(1);
    expect(log.reads.filter((read) => read.position === 0)).toHaveLength(1);
    expect(log.bytes).toBeLessThanOrEqual(3 * HEAD_BYTES);
  });
});

describe('readElfFactsFromFile', () => {
  it('reads the headers and the blocks of the dynamic tables only', async () => {
    // Prepare
    const bytes = deepElf(8 * 1024 * 1024);
    const path = join(work, 'libdeep2.so');
    await writeFile(path, bytes);
    const { open, log } = countingOpener();

    // Act
    const facts = await readElfFactsFromFile(path, 'libdeep2.so', open);

    // Assess
    expect(facts).toEqual(readElfFacts(bytes, 'libdeep2.so'));
    expect(log.opens).toBe(1);
    expect(log.closes).toBe(1);
    expect(log.bytes).toBeLessThanOrEqual(3 * HEAD_BYTES);
  });

  it('stops at its read budget on a file whose section table spans 64 MiB, and says so', async () => {
    // Prepare: a relocatable object (no program headers) whose section 0 claims 1M sections
    // (the extended count), none of them dynamic, in a sparse file that holds exactly that table.
    const sections = 1 << 20;
    const header = Buffer.alloc(64 + 64);
    header.writeUInt32BE(0x7f454c46, 0);
    header[4] = 2;
    header[5] = 1;
    header[6] = 1;
    header.writeUInt16LE(1, 16);
    header.writeUInt16LE(62, 18);
    header.writeBigUInt64LE(64n, 40);
    header.writeUInt16LE(64, 52);
    header.writeUInt16LE(64, 58);
    header.writeBigUInt64LE(BigInt(sections), 64 + 32);
    const path = join(work, 'sections.o');
    const fd = openSync(path, 'w');
    writeSync(fd, header, 0, header.length, 0);
    closeSync(fd);
    truncateSync(path, 64 + sections * 64);
    const { open, log } = countingOpener();

    // Act
    const facts = await readElfFactsFromFile(path, 'sections.o', open);

    // Assess
    expect(log.bytes).toBeLessThanOrEqual(MAX_ELF_READ_BYTES + HEAD_BYTES);
    expect(log.closes).toBe(1);
    expect(facts?.defects[0]).toMatch(/spread over more than 16 MiB/);
    recordReliability({
      area: 'binary verification',
      experiment: 'an ELF file whose section table spans a 64 MiB sparse file',
      cases: 1,
      faultsInjected: 1,
      runs: 1,
      lost: 'nothing',
    });
  });
});
