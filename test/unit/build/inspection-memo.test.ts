// The inspection memo (core/verify/inspection-memo.ts) lets verify know an unchanged file by what
// an earlier build read from the same bytes. These tests hold it to that: what it keeps comes
// back as kept (under the path asked about), a damaged memo is ignored and rewritten, and a
// build consults it only for files the tree ledger vouches for (none when the tree was rewritten).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import type { ElfFacts } from '../../../functions/core/verify/elf.ts';
import {
  INSPECTION_MEMO_FORMAT,
  InspectionMemo,
  inspectionMemoFile,
} from '../../../functions/core/verify/inspection-memo.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { DeliveryPolicyInput } from '../../../functions/core/route/delivery-policy.ts';
import type { LockedPackage } from '../../../functions/core/shared/types.ts';
import { writeFixtureWheels, type FixtureWheels } from './wheel-fixtures.ts';
import { hasPython311 } from '../../support/python-on-path.ts';

let work = '';
let wheels: FixtureWheels;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-inspection-memo-'));
  await mkdir(join(work, 'wheels'));
  wheels = await writeFixtureWheels(join(work, 'wheels'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const facts: ElfFacts = {
  name: 'pkg/_native.so',
  class: 64,
  endianness: 'little',
  machine: 'x86_64',
  type: 'DYN',
  interpreter: null,
  needed: ['libc.so.6'],
  rpath: [],
  runpath: ['$ORIGIN/../pkg.libs'],
  soname: null,
  versionNeeds: [{ file: 'libc.so.6', versions: ['GLIBC_2.17'] }],
  glibcVersionsNeeded: ['GLIBC_2.17'],
  highestGlibc: '2.17',
  highestGlibcxx: null,
  highestCxxabi: null,
  defects: [],
};

describe('InspectionMemo', () => {
  it('gives back what it kept, as stored and read again, under the name asked about', () => {
    // Prepare
    const memo = new InspectionMemo();
    memo.keep('a'.repeat(64), { format: 'elf', elf: facts });
    memo.keep('b'.repeat(64), { format: null, elf: null });
    const read = new InspectionMemo();

    // Act
    const added = read.add(JSON.parse(JSON.stringify(memo.toStored(['a'.repeat(64), 'b'.repeat(64)]))));

    // Assess
    expect(added).toBe(true);
    expect(read.inspectionOf('a'.repeat(64), 'other/_native.so')).toEqual({
      format: 'elf',
      elf: { ...facts, name: 'other/_native.so' },
    });
    expect(read.inspectionOf('b'.repeat(64), 'x.py')).toEqual({ format: null, elf: null });
    expect(read.inspectionOf('c'.repeat(64), 'y.py')).toBeNull();
  });

  it('never keeps facts with defects, and stores only the digests asked for', () => {
    // Prepare
    const memo = new InspectionMemo();
    memo.keep('a'.repeat(64), {
      format: 'elf',
      elf: { ...facts, defects: ['dynamic entry 3 is unreadable'] },
    });
    memo.keep('b'.repeat(64), { format: null, elf: null });
    memo.keep('c'.repeat(64), { format: null, elf: null });

    // Act
    const stored = memo.toStored(['a'.repeat(64), 'b'.repeat(64)]);

    // Assess
    expect(memo.has('a'.repeat(64))).toBe(false);
    expect(stored).toEqual({ format: INSPECTION_MEMO_FORMAT, plain: ['b'.repeat(64)], binary: [] });
  });

  it.each([
    ['another format', { format: INSPECTION_MEMO_FORMAT + 1, plain: [], binary: [] }],
    ['a digest that is not one', { format: INSPECTION_MEMO_FORMAT, plain: ['../x'], binary: [] }],
    [
      'ELF facts with defects',
      {
        format: INSPECTION_MEMO_FORMAT,
        plain: [],
        binary: [
          { sha256: 'a'.repeat(64), format: 'elf', elf: { ...facts, name: undefined, defects: ['x'] } },
        ],
      },
    ],
    ['not an object', 'plain'],
  ])('refuses a stored memo with %s, adding nothing', (_what, stored) => {
    // Prepare
    const memo = new InspectionMemo();

    // Act
    const added = memo.add(stored);

    // Assess
    expect(added).toBe(false);
    expect(memo.has('a'.repeat(64))).toBe(false);
  });
});

/** Build `locked` into a new out folder with `cacheDir`; earlier whole builds are forgotten first, the per-wheel caches kept. */
async function build(locked: LockedPackage, cacheDir: string, policy: DeliveryPolicyInput = {}) {
  await rm(join(cacheDir, 'builds'), { recursive: true, force: true });
  return buildDependencySet({
    lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [locked] },
    index: { download: async (file) => fileURLToPath(file.url) },
    outDir: await mkdtemp(join(work, 'out-')),
    policy,
    cacheDir,
  });
}

/** The memo of the demo wheel, saying that demo/core.py (by its digest) is a Mach-O file. */
async function lieAboutCorePy(cacheDir: string, locked: LockedPackage): Promise<void> {
  const file = inspectionMemoFile(cacheDir, locked.sha256);
  const stored = JSON.parse(await readFile(file, 'utf8')) as { plain: string[]; binary: unknown[] };
  // demo/core.py's bytes, as wheel-fixtures.ts writes them.
  const target = sha256Hex('VALUE = 42\n'.repeat(50));
  if (!stored.plain.includes(target)) throw new Error('the memo does not name demo/core.py');
  stored.plain = stored.plain.filter((other) => other !== target);
  stored.binary.push({ sha256: target, format: 'mach-o', elf: null });
  await writeFile(file, JSON.stringify(stored));
}

describe('a build with the cache on', () => {
  it('keeps a memo of every file it inspected, by the wheel it came from', async () => {
    // Prepare
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl');
    const cacheDir = join(work, 'cache-kept');

    // Act
    const manifest = await build(locked, cacheDir);

    // Assess
    expect(manifest.verification.ok).toBe(true);
    const stored = JSON.parse(await readFile(inspectionMemoFile(cacheDir, locked.sha256), 'utf8')) as {
      plain: string[];
      binary: unknown[];
    };
    expect(stored.binary).toEqual([]);
    // Every regular file the installs wrote, RECORD and INSTALLER included.
    expect(stored.plain.length).toBe(manifest.verification.filesChecked);
  });

  it("takes an unchanged file's inspection from the memo of its bytes", async () => {
    // Prepare: the memo says demo/core.py is a Mach-O file (it is Python source).
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl');
    const cacheDir = join(work, 'cache-used');
    await build(locked, cacheDir);
    await lieAboutCorePy(cacheDir, locked);

    // Act
    const manifest = await build(locked, cacheDir);

    // Assess: verify believed the memo, so it never read that file.
    expect(manifest.verification.ok).toBe(false);
    expect(manifest.verification.problems.map((problem) => problem.file)).toEqual(['python/demo/core.py']);
  });

  it('ignores a damaged memo, inspects the files again and writes it anew', async () => {
    // Prepare
    const locked = await wheels.locked('demo-1.0-py3-none-any.whl');
    const cacheDir = join(work, 'cache-damaged');
    const first = await build(locked, cacheDir);
    const file = inspectionMemoFile(cacheDir, locked.sha256);
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.slice(0, good.length / 2));

    // Act
    const manifest = await build(locked, cacheDir);

    // Assess
    expect(manifest.verification).toEqual(first.verification);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(JSON.parse(good));
  });

  it.skipIf(!hasPython311())(
    `reads every file when something rewrote the tree after the installs (precompiling)${hasPython311() ? '' : ' (skipped: no python3.11 on PATH)'}`,
    async () => {
      // Prepare
      const locked = await wheels.locked('demo-1.0-py3-none-any.whl');
      const cacheDir = join(work, 'cache-rewritten');
      await build(locked, cacheDir, { precompile: true });
      await build(locked, cacheDir);
      await lieAboutCorePy(cacheDir, locked);

      // Act
      const manifest = await build(locked, cacheDir, { precompile: true });

      // Assess
      expect(manifest.verification.ok).toBe(true);
    },
  );
});
