// versionedSymbolNeeds against binutils' own reading (objdump -T) of shared objects compiled
// here, and against damaged copies of them, which must give an answer, never a throw.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource } from '../../../functions/core/verify/elf.ts';
import { versionedSymbolNeeds } from '../../../functions/core/verify/elf-symbols.ts';

const run = promisify(execFile);
const SOURCE =
  '#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/stat.h>\n#include <unistd.h>\nlong probe(void) { struct statx st; return statx(AT_FDCWD, "/", 0, STATX_BASIC_STATS, &st) + getpid(); }\n';
const haveGcc = await run('gcc', ['--version']).then(
  () => true,
  () => false,
);
const haveCross = await run('aarch64-linux-gnu-gcc', ['--version']).then(
  () => true,
  () => false,
);
let work = '';

async function compile(compiler: string): Promise<Buffer> {
  const source = join(work, 'probe.c');
  const output = join(work, `${compiler}.so`);
  await writeFile(source, SOURCE);
  await run(compiler, ['-shared', '-fPIC', '-O1', '-o', output, source]);
  return readFile(output);
}

/** objdump -T's `(GLIBC_2.28) statx` lines: the oracle. */
async function objdumpNeeds(path: string, objdump = 'objdump'): Promise<Map<string, string[]>> {
  const { stdout } = await run(objdump, ['-T', path]);
  const needs = new Map<string, string[]>();
  for (const match of stdout.matchAll(/\*UND\*\s+\S+\s+\(?(GLIBC_[0-9.]+)\)?\s+(\S+)/g)) {
    const [, version = '', name = ''] = match;
    needs.set(version, [...(needs.get(version) ?? []), name].sort());
  }
  return needs;
}

const sorted = (needs: Map<string, string[]>) =>
  new Map([...needs].map(([version, names]) => [version, [...names].sort()]));

describe('versionedSymbolNeeds', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-elf-symbols-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it.skipIf(!haveGcc)(
    `names statx as the symbol that needs GLIBC_2.28, as objdump -T does${haveGcc ? '' : ' (skipped without gcc)'}`,
    async () => {
      // Prepare
      const bytes = await compile('gcc');
      // Act
      const needs = sorted(versionedSymbolNeeds(bufferSource(bytes)));
      // Assess
      expect(needs.get('GLIBC_2.28')).toEqual(['statx']);
      expect(needs).toEqual(await objdumpNeeds(join(work, 'gcc.so')));
    },
  );

  it.skipIf(!haveCross)(
    `reads an aarch64 object the same way${haveCross ? '' : ' (skipped without gcc-aarch64-linux-gnu)'}`,
    async () => {
      // Prepare
      const bytes = await compile('aarch64-linux-gnu-gcc');
      // Act
      const needs = versionedSymbolNeeds(bufferSource(bytes));
      // Assess
      expect(needs.get('GLIBC_2.28')).toEqual(['statx']);
    },
  );

  it.skipIf(!haveGcc)(
    `never throws on 2,000 damaged copies (truncated or with random bytes)${haveGcc ? '' : ' (skipped without gcc)'}`,
    async () => {
      // Prepare: a fixed seed, so a failure can be replayed.
      const bytes = await compile('gcc');
      let seed = 20261201;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      // Act / Assess
      for (let round = 0; round < 2_000; round++) {
        const copy = Buffer.from(bytes.subarray(0, Math.floor(random() * bytes.length) + 1));
        for (let flip = 0; flip < 8; flip++)
          copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
        expect(() => versionedSymbolNeeds(bufferSource(copy))).not.toThrow();
      }
    },
  );
});
