// The ELF parser on real files (/bin/ls, the running libc, a library compiled here), on
// hand-built 32-bit and big-endian files, and on thousands of damaged copies: it must agree
// with readelf on real files and never throw on broken ones.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  detectBinaryFormat,
  readElfFacts,
  readElfFactsFromFile,
} from '../../../functions/core/verify/elf.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { buildElf } from './elf-builder.ts';

function commandExists(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasReadelf = commandExists('readelf');
const hasGcc = commandExists('gcc');
const skipNote = (skipped: boolean, reason: string): string => (skipped ? ` (skipped: ${reason})` : '');

/** The libc this very process has mapped, from /proc/self/maps (no hard-coded path). */
function runningLibc(): string | null {
  if (!existsSync('/proc/self/maps')) return null;
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((entry) => /\/libc(\.so\.6|-[\d.]+\.so)$/.test(entry.trim()));
  return line ? (line.trim().split(/\s+/).pop() ?? null) : null;
}

/** Highest GLIBC_x.y that readelf lists among the version needs. */
function readelfHighestGlibc(path: string): string | null {
  const text = execFileSync('readelf', ['-V', '-W', path], { encoding: 'utf8' });
  const section = text.split(/Version needs section/)[1] ?? '';
  const versions = [...section.matchAll(/Name: GLIBC_(\d+(?:\.\d+)+)/g)].map((match) => match[1] ?? '');
  versions.sort((a, b) => {
    const left = a.split('.').map(Number);
    const right = b.split('.').map(Number);
    for (let index = 0; index < 3; index++)
      if ((left[index] ?? 0) !== (right[index] ?? 0)) return (left[index] ?? 0) - (right[index] ?? 0);
    return 0;
  });
  return versions.pop() ?? null;
}

function readelfNeeded(path: string): string[] {
  const text = execFileSync('readelf', ['-d', '-W', path], { encoding: 'utf8' });
  return [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((match) => match[1] ?? '');
}

describe('readElfFacts', () => {
  let work = '';
  let compiled: string | null = null;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-elf-'));
    if (hasGcc) {
      const source = join(work, 'demo.c');
      await writeFile(source, '#include <math.h>\ndouble demo(double x) { return sqrt(x) + sin(x); }\n');
      compiled = join(work, 'libdemo.so');
      execFileSync('gcc', [
        '-shared',
        '-fPIC',
        '-o',
        compiled,
        source,
        '-lm',
        '-Wl,-soname,libdemo.so.1',
        '-Wl,--enable-new-dtags,-rpath,$ORIGIN/../demo.libs',
      ]);
    }
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.skipIf(!hasReadelf)(
    `agrees with readelf on /bin/ls${skipNote(!hasReadelf, 'readelf is not installed')}`,
    async () => {
      // Prepare
      const buffer = await readFile('/bin/ls');

      // Act
      const facts = readElfFacts(buffer, '/bin/ls');

      // Assess
      expect(facts?.class).toBe(64);
      expect(['EXEC', 'DYN']).toContain(facts?.type);
      expect(facts?.needed).toEqual(readelfNeeded('/bin/ls'));
      expect(facts?.highestGlibc).toBe(readelfHighestGlibc('/bin/ls'));
      expect(facts?.interpreter).toMatch(/ld-linux/);
      expect(facts?.defects).toEqual([]);
    },
  );

  it.skipIf(!hasReadelf || runningLibc() === null)(
    `reads the SONAME and version needs of the libc this process runs on${skipNote(!hasReadelf || runningLibc() === null, 'readelf or /proc/self/maps is missing')}`,
    async () => {
      // Prepare
      const libc = runningLibc() ?? '';

      // Act
      const facts = await readElfFactsFromFile(libc);

      // Assess
      expect(facts?.soname).toBe('libc.so.6');
      expect(facts?.needed).toEqual(readelfNeeded(libc));
      expect(facts?.highestGlibc).toBe(readelfHighestGlibc(libc));
    },
  );

  it.skipIf(!hasGcc || !hasReadelf)(
    `reads DT_NEEDED, SONAME and RUNPATH of a library compiled here${skipNote(!hasGcc || !hasReadelf, 'gcc or readelf is not installed')}`,
    async () => {
      // Prepare
      const path = compiled ?? '';

      // Act
      const facts = await readElfFactsFromFile(path, 'libdemo.so');

      // Assess
      expect(facts?.machine).toBe(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
      expect(facts?.soname).toBe('libdemo.so.1');
      expect(facts?.runpath).toEqual(['$ORIGIN/../demo.libs']);
      expect(facts?.rpath).toEqual([]);
      expect(facts?.needed).toEqual(readelfNeeded(path));
      expect(facts?.needed).toContain('libm.so.6');
      expect(facts?.highestGlibc).toBe(readelfHighestGlibc(path));
    },
  );

  it.each([
    { label: '64-bit little-endian x86_64', is64: true, little: true, machine: 62, name: 'x86_64' },
    { label: '64-bit big-endian ppc64', is64: true, little: false, machine: 21, name: 'ppc64' },
    { label: '32-bit little-endian i386', is64: false, little: true, machine: 3, name: 'i386' },
    { label: '32-bit big-endian arm', is64: false, little: false, machine: 40, name: 'arm' },
  ])('reads a hand-built $label shared object', ({ is64, little, machine, name }) => {
    // Prepare
    const buffer = buildElf({ is64, little, machine });

    // Act
    const facts = readElfFacts(buffer, 'built.so');

    // Assess
    expect(facts).toMatchObject({
      class: is64 ? 64 : 32,
      endianness: little ? 'little' : 'big',
      machine: name,
      type: 'DYN',
      needed: ['libc.so.6', 'libfoo.so.2'],
      soname: 'libdemo.so.1',
      runpath: ['$ORIGIN/../foo.libs'],
      glibcVersionsNeeded: ['GLIBC_2.17', 'GLIBC_2.28'],
      highestGlibc: '2.28',
      defects: [],
    });
  });

  it('returns null for files that are not ELF', () => {
    // Prepare
    const inputs = [Buffer.alloc(0), Buffer.from('#!/bin/sh\n'), Buffer.from([0x7f, 0x45, 0x4c])];

    // Act
    const results = inputs.map((input) => readElfFacts(input, 'x'));

    // Assess
    expect(results).toEqual([null, null, null]);
  });

  it('reports damage instead of throwing on truncated and corrupted copies', () => {
    // Prepare
    const originals = [
      buildElf({ is64: true, little: true, machine: 62 }),
      buildElf({ is64: false, little: false, machine: 40 }),
    ];
    if (compiled) originals.push(readFileSync(compiled));
    let seed = 12345;
    const random = (limit: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % limit;
    };
    let cases = 0;
    let withDefects = 0;

    // Act
    for (const original of originals) {
      for (let cut = 0; cut < Math.min(original.length, 4096); cut += 7) {
        const facts = readElfFacts(original.subarray(0, cut), 'cut.so');
        cases++;
        if (facts && facts.defects.length > 0) withDefects++;
      }
      for (let round = 0; round < 600; round++) {
        const copy = Buffer.from(original);
        // Damage the structures the parser follows: headers, and random bytes anywhere.
        const flips = 1 + random(6);
        for (let flip = 0; flip < flips; flip++) {
          const at = round % 2 === 0 ? random(Math.min(copy.length, 512)) : random(copy.length);
          copy[at] = random(256);
        }
        const facts = readElfFacts(copy, 'flipped.so');
        cases++;
        if (facts && facts.defects.length > 0) withDefects++;
      }
    }

    // Assess
    expect(cases).toBeGreaterThan(2000);
    expect(withDefects).toBeGreaterThan(0);
    recordReliability({
      area: 'binary verification',
      experiment: 'ELF parser on truncated and byte-flipped files',
      cases,
      faultsInjected: cases,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('reads a truncated dynamic section as a defect', () => {
    // Prepare
    const whole = buildElf({ is64: true, little: true, machine: 62 });
    const truncated = whole.subarray(0, whole.length - 20);

    // Act
    const facts = readElfFacts(truncated, 'short.so');

    // Assess
    expect(facts?.defects.join(' ')).toMatch(/dynamic section runs past the end/);
  });
});

describe('readElfFactsFromFile', () => {
  it.skipIf(runningLibc() === null)(
    `gives the same facts as parsing the whole buffer${skipNote(runningLibc() === null, '/proc/self/maps is missing')}`,
    async () => {
      // Prepare
      const libc = runningLibc() ?? '';

      // Act
      const fromFile = await readElfFactsFromFile(libc, 'libc');
      const fromBuffer = readElfFacts(await readFile(libc), 'libc');

      // Assess
      expect(fromFile).toEqual(fromBuffer);
    },
  );
});

describe('detectBinaryFormat', () => {
  const header = (bytes: number[], length = 64): Buffer => {
    const buffer = Buffer.alloc(length);
    Buffer.from(bytes).copy(buffer);
    return buffer;
  };

  it.each([
    { label: 'ELF', bytes: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], expected: 'elf' },
    { label: 'Mach-O 64 little-endian', bytes: [0xcf, 0xfa, 0xed, 0xfe], expected: 'mach-o' },
    { label: 'Mach-O 32 little-endian', bytes: [0xce, 0xfa, 0xed, 0xfe], expected: 'mach-o' },
    { label: 'Mach-O 64 big-endian', bytes: [0xfe, 0xed, 0xfa, 0xcf], expected: 'mach-o' },
    { label: 'Mach-O 32 big-endian', bytes: [0xfe, 0xed, 0xfa, 0xce], expected: 'mach-o' },
    {
      label: 'fat Mach-O with 2 architectures',
      bytes: [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2],
      expected: 'mach-o-fat',
    },
    { label: 'fat Mach-O 64', bytes: [0xca, 0xfe, 0xba, 0xbf, 0, 0, 0, 1], expected: 'mach-o-fat' },
    {
      label: 'Java class file (same magic, version 52)',
      bytes: [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52],
      expected: null,
    },
    { label: 'text', bytes: [...Buffer.from('import os\n')], expected: null },
  ])('classifies $label', ({ bytes, expected }) => {
    // Prepare
    const head = header(bytes);

    // Act
    const format = detectBinaryFormat(head);

    // Assess
    expect(format).toBe(expected);
  });

  it('recognizes PE only with the PE signature at e_lfanew', () => {
    // Prepare
    const pe = header([0x4d, 0x5a], 256);
    pe.writeUInt32LE(0x80, 0x3c);
    pe.write('PE\0\0', 0x80, 'latin1');
    const dosOnly = header([0x4d, 0x5a], 256);
    dosOnly.writeUInt32LE(0x80, 0x3c);
    const pointingOutside = header([0x4d, 0x5a], 128);
    pointingOutside.writeUInt32LE(0xfffffff0, 0x3c);

    // Act
    const formats = [pe, dosOnly, pointingOutside].map((buffer) => detectBinaryFormat(buffer));

    // Assess
    expect(formats).toEqual(['pe', null, null]);
  });
});
