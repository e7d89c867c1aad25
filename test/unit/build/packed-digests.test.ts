// A layer zip written now is not inflated to learn what it unzips to: each raw copy carries the
// sha256 the install hashed it with, each generated file its own (pack-artifacts.ts). These
// tests hold that shortcut to the truth: the digests it gives are what the zip really unzips to,
// a wheel rewritten between install and pack is refused, and a zip whose directory is not what
// was meant is caught when it is read back.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import { checkWrittenZip } from '../../../functions/core/build/pack-artifacts.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import type * as PackedTreeCheck from '../../../functions/core/pack/packed-tree-check.ts';
import { zipDigests } from '../../../functions/core/pack/packed-tree-check.ts';
import { IntegrityError } from '../../../functions/core/shared/errors.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock } from '../../../functions/core/shared/types.ts';
import { writeTinyWheel } from './tiny-wheels.ts';

/** The digests the build gave the tree check for each zip it did not inflate. */
const knownDigests = vi.hoisted(() => ({ calls: [] as ReadonlyMap<string, ReadonlyMap<string, string>>[] }));

vi.mock('../../../functions/core/pack/packed-tree-check.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof PackedTreeCheck>();
  return {
    ...actual,
    zipDigests(...args: Parameters<typeof actual.zipDigests>) {
      knownDigests.calls.push(args[1] ?? new Map());
      return actual.zipDigests(...args);
    },
  };
});

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-packed-digests-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function build(lock: Lock, name: string, onEvent?: Parameters<typeof buildDependencySet>[0]['onEvent']) {
  return buildDependencySet({
    lock,
    index: { download: async (file) => fileURLToPath(file.url) },
    outDir: join(work, `out-${name}`),
    cacheDir: join(work, `cache-${name}`),
    policy: { forceStrategy: 'layers', cache: false },
    pythonExecutable: '/nonexistent/python3.11',
    ...(onEvent ? { onEvent } : {}),
  });
}

describe('the digests of a layer zip written now', () => {
  it('are what the zip unzips to: raw copies, a rewritten script, a launcher, INSTALLER and RECORD', async () => {
    // Prepare: a console script (a generated launcher), a script whose shebang is rewritten, data.
    const wheel = await writeTinyWheel(work, 'tool', '1.0', {
      'tool/__init__.py': 'def main():\n    return 0\n',
      'tool/data.json': JSON.stringify({ big: 'x'.repeat(5000) }),
      'tool-1.0.data/scripts/run-tool': '#!python\nimport tool\n',
      'tool-1.0.dist-info/entry_points.txt': '[console_scripts]\ntool = tool:main\n',
    });
    const lock: Lock = {
      lockVersion: 1,
      target: lambdaTarget('python3.11', 'x86_64'),
      packages: [wheel.locked],
    };
    knownDigests.calls.length = 0;

    // Act
    const manifest = await build(lock, 'truth');

    // Assess: every zip was known, and known right (inflating it gives the same digests).
    expect(manifest.layers).not.toHaveLength(0);
    const known = [...(knownDigests.calls.at(-1) ?? [])];
    for (const layer of manifest.layers) {
      // The build named each zip by its staging path; the zip was moved to the output folder after.
      const claimed = known.find(([path]) => path.endsWith(`/${layer.file}`))?.[1];
      const inflated = (await zipDigests([join(work, 'out-truth', layer.file)])).digests;
      expect(inflated.has('bin/tool')).toBe(true);
      expect(inflated.has('bin/run-tool')).toBe(true);
      expect(claimed ? Object.fromEntries(claimed) : null).toEqual(Object.fromEntries(inflated));
    }
  });

  it('are refused, and nothing is packed, when the wheel is rewritten between install and pack', async () => {
    // Prepare: once installed, the wheel's bytes are replaced by another wheel's of the same name.
    const wheel = await writeTinyWheel(work, 'swapped', '1.0', { 'swapped/__init__.py': 'SAFE = 1\n' });
    const other = await writeTinyWheel(await mkdtemp(join(work, 'other-')), 'swapped', '1.0', {
      'swapped/__init__.py': 'import os; os.system("echo pwned")\n',
    });
    const otherBytes = await readFile(other.path);
    const lock: Lock = {
      lockVersion: 1,
      target: lambdaTarget('python3.11', 'x86_64'),
      packages: [wheel.locked],
    };

    // Act
    const building = build(lock, 'swapped', (event) => {
      if (event.type === 'package' && event.step === 'installed') writeFileSync(wheel.path, otherBytes);
    });

    // Assess
    await expect(building).rejects.toThrow(IntegrityError);
    await expect(building).rejects.toThrow(/swapped-1\.0-py3-none-any\.whl changed after it was installed/);
    expect(await readdir(join(work, 'out-swapped')).catch(() => [])).not.toContain('layers');
  });
});

describe('checkWrittenZip', () => {
  it('names an entry written otherwise than meant, and one meant but not written', async () => {
    // Prepare
    const path = join(work, 'written.zip');
    const content = (name: string, text: string) =>
      ({ name, kind: 'content', executable: false, content: Buffer.from(text) }) as const;
    await writeDeterministicZip(path, [content('python/a.py', 'A = 1\n'), content('python/b.py', 'B = 2\n')]);

    // Act
    const same = await checkWrittenZip(path, [
      content('python/a.py', 'A = 1\n'),
      content('python/b.py', 'B = 2\n'),
    ]).then(() => 'passed', String);
    const other = await checkWrittenZip(path, [
      content('python/a.py', 'A = 9\n'),
      content('python/b.py', 'B = 2\n'),
      content('python/c.py', ''),
    ]).then(() => 'passed', String);

    // Assess
    expect(same).toBe('passed');
    expect(other).toMatch(/IntegrityError: .*was not written as meant: python\/a\.py, python\/c\.py\./);
  });
});
