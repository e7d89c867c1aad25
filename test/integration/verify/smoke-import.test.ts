// Real sets from the on-disk indexes (numpy, scipy, pandas, requests, boto3 and their
// dependencies, as pip picks them for python3.11 x86_64 on glibc 2.26): they verify clean
// and every top-level module imports with a real python3.11 that sees only the set. A
// missing transitive dependency, a crash and a hang are each pinned on their module.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyArtifact } from '../../../functions/core/verify/artifact-verifier.ts';
import {
  findTargetInterpreter,
  installedDistributions,
  smokeImport,
} from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import {
  downloadWheels,
  execFileAsync,
  installedSet,
  unzipWheels,
  writeDistInfo,
} from './native-fixtures.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const indexes = localIndexes();
const skipNote = (reason: string | null): string => (reason ? ` (skipped: ${reason})` : '');
const goodSetSkip = !indexes ? NO_LOCAL_INDEXES_REASON : noInterpreter;

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-smoke-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('smokeImport', () => {
  describe('on the set boto3 numpy pandas requests scipy for python3.11 x86_64', () => {
    const requirements = ['boto3', 'numpy', 'pandas', 'requests', 'scipy'];
    let layerRoot = '';
    let site = '';
    let wheels: string[] = [];

    beforeAll(async () => {
      if (goodSetSkip) return;
      wheels = await downloadWheels(requirements);
      layerRoot = await installedSet(requirements, wheels);
      site = join(layerRoot, 'python');
    }, 300_000);

    it.skipIf(goodSetSkip !== null)(`verifies every file clean${skipNote(goodSetSkip)}`, async () => {
      // Prepare
      const root = layerRoot;

      // Act
      const result = await verifyArtifact({ root, target });

      // Assess
      expect(result.problems).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.elfFiles).toBeGreaterThan(50);
    });

    it.skipIf(goodSetSkip !== null)(`imports every top-level module${skipNote(goodSetSkip)}`, async () => {
      // Prepare
      const distributions = await installedDistributions([site]);

      // Act
      const result = await smokeImport({ roots: [site], target });

      // Assess
      expect(result).toMatchObject({ ran: true, ok: true, failures: [] });
      expect(distributions.map((distribution) => distribution.name)).toEqual(
        expect.arrayContaining(['boto3', 'botocore', 'numpy', 'pandas', 'requests', 'scipy']),
      );
      expect(result.modules).toBe(
        distributions.reduce((sum, distribution) => sum + distribution.modules.length, 0),
      );
      expect(result.modules).toBeGreaterThanOrEqual(10);
    });

    it.skipIf(goodSetSkip !== null)(
      `pins a missing transitive dependency on pandas (numpy left out)${skipNote(goodSetSkip)}`,
      async () => {
        // Prepare
        const partial = join(work, 'no-numpy', 'python');
        // pandas and requests with their own dependencies, numpy left out.
        const kept = /^(pandas|python_dateutil|six|requests|urllib3|idna|charset_normalizer|certifi)-/;
        await unzipWheels(
          wheels.filter((wheel) => kept.test(basename(wheel))),
          partial,
        );

        // Act
        const result = await smokeImport({ roots: [partial], target, modules: ['pandas', 'requests'] });

        // Assess
        expect(result.ran).toBe(true);
        expect(result.ok).toBe(false);
        const pandas = result.failures.find((failure) => failure.module === 'pandas');
        expect(pandas?.package).toBe('pandas');
        expect(pandas?.error).toContain("No module named 'numpy'");
        expect(result.modules).toBe(2);
        expect(result.failures.map((failure) => failure.module)).toEqual(['pandas']);
      },
    );
  });

  it.skipIf(noInterpreter !== null)(
    `does not see the host's site-packages${skipNote(noInterpreter)}`,
    async () => {
      // Prepare
      const executable = 'reason' in interpreter ? '' : interpreter.executable;
      await execFileAsync(executable, ['-c', 'import pip']);
      const empty = join(work, 'empty');
      await mkdir(empty, { recursive: true });

      // Act
      const result = await smokeImport({ roots: [empty], target, modules: ['pip'] });

      // Assess
      expect(result.failures).toEqual([
        { module: 'pip', package: '?', error: "ModuleNotFoundError: No module named 'pip'" },
      ]);
    },
  );

  it.skipIf(noInterpreter !== null)(
    `pins a crash and a hang on their modules and still imports the rest${skipNote(noInterpreter)}`,
    async () => {
      // Prepare
      const site = join(work, 'hostile');
      await mkdir(site, { recursive: true });
      await writeFile(join(site, 'aborts.py'), 'import os\nos.abort()\n');
      await writeFile(join(site, 'fine.py'), 'VALUE = 1\n');
      await writeFile(join(site, 'hangs.py'), 'while True:\n    pass\n');
      await writeFile(join(site, 'raises.py'), 'raise RuntimeError("broken at import")\n');
      await writeDistInfo(site, 'hostile', '1.0', ['aborts.py', 'fine.py', 'hangs.py', 'raises.py']);

      // Act
      const result = await smokeImport({ roots: [site], target, timeoutMs: 3_000 });

      // Assess
      expect(result.modules).toBe(4);
      const errors = Object.fromEntries(result.failures.map((failure) => [failure.module, failure.error]));
      expect(errors.aborts).toMatch(/interpreter died while importing it \(SIGABRT\)/);
      expect(errors.hangs).toMatch(/did not finish within 3 s/);
      expect(errors.raises).toBe('RuntimeError: broken at import');
      expect(errors.fine).toBeUndefined();
      recordReliability({
        area: 'smoke import',
        experiment: 'crash, hang and raise at import time in one distribution',
        cases: 3,
        faultsInjected: 3,
        runs: 1,
        lost: 'nothing',
      });
    },
  );

  it.skipIf(noInterpreter !== null)(
    `is not ok with 0 modules imported when the artifact holds importable files${skipNote(noInterpreter)}`,
    async () => {
      // Prepare: a distribution that names no module (its RECORD lists data only), beside
      // importable files no distribution claims.
      const site = join(work, 'unclaimed');
      await mkdir(join(site, 'orphan_pkg'), { recursive: true });
      await mkdir(join(site, 'share-data'), { recursive: true });
      await writeFile(join(site, 'orphan_pkg', '__init__.py'), 'VALUE = 1\n');
      await writeFile(join(site, 'share-data', 'table.csv'), 'x,y\n');
      await writeDistInfo(site, 'data-only', '1.0', ['share-data/table.csv']);

      // Act
      const result = await smokeImport({ roots: [site], target, timeoutMs: 10_000 });

      // Assess
      expect(result.modules).toBe(0);
      expect(result.ok).toBe(false);
      expect(result.failures).toEqual([
        expect.objectContaining({
          module: '(none)',
          error: expect.stringMatching(/no module was found to import/),
        }),
      ]);
    },
  );

  it.skipIf(noInterpreter !== null)(
    `is ok with 0 modules imported when the artifact holds nothing importable${skipNote(noInterpreter)}`,
    async () => {
      // Prepare
      const site = join(work, 'data-only');
      await mkdir(join(site, 'share-data'), { recursive: true });
      await writeFile(join(site, 'share-data', 'table.csv'), 'x,y\n');
      await writeDistInfo(site, 'data-only', '1.0', ['share-data/table.csv']);

      // Act
      const result = await smokeImport({ roots: [site], target, timeoutMs: 10_000 });

      // Assess
      expect(result).toMatchObject({ ran: true, ok: true, modules: 0, failures: [] });
    },
  );

  it.skipIf(noInterpreter !== null)(
    `says when its imports start, once, after its setup and before the first import ends${skipNote(noInterpreter)}`,
    async () => {
      // Prepare
      const site = join(work, 'announced');
      await mkdir(site, { recursive: true });
      await writeFile(join(site, 'first.py'), 'VALUE = 1\n');
      await writeFile(join(site, 'second.py'), 'VALUE = 2\n');
      await writeDistInfo(site, 'announced', '1.0', ['first.py', 'second.py']);
      const events: string[] = [];

      // Act
      const result = await smokeImport({
        roots: [site],
        target,
        onProgress: (modules) => events.push(`progress ${modules}`),
        onImportsStarting: () => events.push('starting'),
      });

      // Assess
      expect(result.ok).toBe(true);
      expect(events).toEqual(['progress 0', 'starting', 'progress 1', 'progress 2']);
    },
  );

  it('says plainly why it did not run when no interpreter fits the target', async () => {
    // Prepare
    const arm = lambdaTarget('python3.11', 'arm64');
    const onArmHost = process.arch === 'arm64';

    // Act
    const result = await smokeImport({
      roots: [work],
      target: onArmHost ? lambdaTarget('python3.11', 'x86_64') : arm,
    });

    // Assess
    expect(result.ran).toBe(false);
    expect(result.reason).toMatch(onArmHost ? /not linux-x86_64/ : /not linux-aarch64|could not be run/);
  });

  it('takes the interpreter a build looked for while it installed, instead of looking again', async () => {
    // Prepare: what was found says there is none, though this machine may have one.
    const interpreterFound = Promise.resolve({ reason: 'looked for while installing: none' });

    // Act
    const result = await smokeImport({ roots: [work], target, interpreterFound });

    // Assess
    expect(result).toMatchObject({ ran: false, reason: 'looked for while installing: none' });
  });

  it('reports an interpreter that cannot be run', async () => {
    // Prepare
    const missing = join(work, 'no-such-python');

    // Act
    const result = await smokeImport({ roots: [work], target, pythonExecutable: missing });

    // Assess
    expect(result).toMatchObject({ ran: false, modules: 0 });
    expect(result.reason).toContain(`${missing} could not be run`);
  });
});
