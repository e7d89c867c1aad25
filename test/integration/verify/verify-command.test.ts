// `lambda-deps verify` end to end on a real hand-made layer zip (the cffi wheel's
// _cffi_backend under python/): exit status, JSON report and the people-facing text.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createVerifyCommand,
  formatVerifyReport,
  verifyPath,
  type VerifyReport,
} from '../../../functions/cli/commands/verify.ts';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { indexFiles, unzipMembers, zipFolder } from './native-fixtures.ts';

const indexes = localIndexes();
const interpreter = await findTargetInterpreter(lambdaTarget('python3.11', 'x86_64'));
const noInterpreter = 'reason' in interpreter ? interpreter.reason : null;
const skipNote = (reason: string | null): string => (reason ? ` (skipped: ${reason})` : '');
const noIndexes = indexes ? null : NO_LOCAL_INDEXES_REASON;

let work = '';
let layerZip = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-verify-cli-'));
  if (!indexes) return;
  const wheel = (await indexFiles('cffi')).find((file) =>
    /cp311-cp311-.*manylinux.*x86_64.*\.whl$/.test(file),
  );
  if (!wheel) return;
  const site = join(work, 'layer', 'python');
  await mkdir(site, { recursive: true });
  await unzipMembers(wheel, site, () => true);
  layerZip = join(work, 'layer.zip');
  await zipFolder(join(work, 'layer'), layerZip);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Run `lambda-deps verify …` in-process and capture what it prints. */
async function runVerify(args: string[]): Promise<{ stdout: string; exitCode: number | undefined }> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const program = new Command('lambda-deps').exitOverride().addCommand(createVerifyCommand());
  await program.parseAsync(['verify', ...args], { from: 'user' });
  const exitCode = typeof process.exitCode === 'number' ? process.exitCode : undefined;
  vi.restoreAllMocks();
  return { stdout, exitCode };
}

describe('lambda-deps verify', () => {
  it.skipIf(noIndexes !== null)(
    `exits 1 with the cffi problem in JSON for a python3.11 layer zip checked against python3.12${skipNote(noIndexes)}`,
    async () => {
      // Prepare
      const args = [layerZip, '--runtime', 'python3.12', '--arch', 'x86_64', '--json', '--no-smoke'];

      // Act
      const { stdout, exitCode } = await runVerify(args);

      // Assess
      expect(exitCode).toBe(1);
      const report = JSON.parse(stdout) as VerifyReport;
      expect(report.verification.problems.map((problem) => [problem.file, problem.package])).toEqual([
        ['python/_cffi_backend.cpython-311-x86_64-linux-gnu.so', 'cffi'],
      ]);
      expect(report.smokeImport).toMatchObject({ ran: false, reason: 'turned off with --no-smoke' });
    },
  );

  const cleanSkip = noIndexes ?? noInterpreter;
  it.skipIf(cleanSkip !== null)(
    `exits 0 and smoke-imports the zip's modules for python3.11${skipNote(cleanSkip)}`,
    async () => {
      // Prepare
      const args = [layerZip, '--runtime', 'python3.11'];

      // Act
      const { stdout, exitCode } = await runVerify(args);

      // Assess
      expect(exitCode).toBe(0);
      expect(stdout).toContain('no binary problems');
      expect(stdout).toMatch(/smoke import: \d+ modules imported/);
    },
  );

  it('refuses to guess a target (exit status 2)', async () => {
    // Prepare
    const flags = { arch: 'x86_64', smoke: false };

    // Act
    const attempt = verifyPath(work, flags);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toMatchObject({ exitCode: 2 });
  });

  it('refuses a path that does not exist (exit status 2)', async () => {
    // Prepare
    const flags = { runtime: 'python3.12', arch: 'arm64', smoke: false };

    // Act
    const attempt = verifyPath(join(work, 'nothing-here.zip'), flags);

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: 'InputError', exitCode: 2 });
  });

  it('prints each problem with its package, file and fix, and says why the smoke import was skipped', () => {
    // Prepare
    const report: VerifyReport = {
      path: 'layer.zip',
      target: lambdaTarget('python3.12', 'x86_64'),
      verification: {
        ok: false,
        problems: [
          { package: 'cffi', file: 'python/_cffi_backend.so', message: 'it is wrong', hint: 'do this' },
        ],
        filesChecked: 3,
        elfFiles: 1,
        assumedLibraries: [],
        warnings: [],
        pythonRoots: ['python'],
      },
      smokeImport: { ran: false, ok: false, reason: 'no interpreter', modules: 0, failures: [] },
    };

    // Act
    const text = formatVerifyReport(report, false);

    // Assess
    expect(text).toContain('cffi  python/_cffi_backend.so');
    expect(text).toContain('fix: do this');
    expect(text).toContain('smoke import skipped: no interpreter');
  });
});
