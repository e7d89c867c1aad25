// `lambda-deps verify PATH`: runs the same checks the build runs before publishing on any
// folder or layer zip (a hand-made layer too): ELF machine, glibc and library needs,
// extension suffixes, foreign binaries; then a smoke import when an interpreter of the
// target's Python version is here. Exit 0 clean, 1 on problems, 2 on bad usage.
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { extractZip as extractZipSafely } from '../../core/pack/zip-reader.ts';
import { verifyArtifact, type VerifyArtifactResult } from '../../core/verify/artifact-verifier.ts';
import { isPublishable } from '../../core/route/choose-route.ts';
import { InputError } from '../../core/shared/errors.ts';
import { smokeImport, type SmokeImportResult } from '../../core/verify/smoke-import.ts';
import { describeTarget } from '../../core/shared/targets.ts';
import type { Target } from '../../core/shared/types.ts';
import { addTargetOptions, requireTarget } from '../target-options.ts';
import { colorsFor, createStepProgress, shouldUseColor } from '../terminal-output.ts';

export interface VerifyFlags {
  readonly runtime?: string;
  readonly arch: string;
  readonly python?: string;
  readonly glibc?: string;
  readonly json?: boolean;
  readonly smoke: boolean;
  readonly pythonExecutable?: string;
}

export interface VerifyReport {
  readonly path: string;
  readonly target: Target;
  readonly verification: VerifyArtifactResult;
  readonly smokeImport: SmokeImportResult;
}

/** Unpack a layer zip (a later layer replaces an earlier one's files, as Lambda overlays them). */
export async function extractZip(zipPath: string, destination: string): Promise<void> {
  await extractZipSafely(zipPath, destination, { replaceExisting: true });
}

/** Verify `path` (and smoke-import it unless told not to). */
export async function verifyPath(path: string, flags: VerifyFlags): Promise<VerifyReport> {
  const target = requireTarget(flags);
  const stats = await lstat(path).catch(() => null);
  if (!stats) {
    throw new InputError(`${path} does not exist.`, {
      hint: 'Give a layer folder, a site-packages folder or a .zip.',
    });
  }
  const progress = createStepProgress({ quiet: flags.json });
  progress.step(`verifying ${path} for ${describeTarget(target)}`);
  const verification = await verifyArtifact({ root: path, target });
  progress.done(`verified ${verification.filesChecked} files (${verification.elfFiles} ELF)`);
  let smoke: SmokeImportResult = {
    ran: false,
    ok: false,
    reason: 'turned off with --no-smoke',
    modules: 0,
    failures: [],
  };
  if (flags.smoke) {
    progress.step('smoke-importing every top-level module');
    const unpacked = stats.isDirectory() ? null : await mkdtemp(join(tmpdir(), 'lambda-deps-verify-'));
    try {
      if (unpacked) await extractZip(path, unpacked);
      const base = unpacked ?? resolve(path);
      smoke = await smokeImport({
        roots: verification.pythonRoots.map((root) => (root === '.' ? base : join(base, root))),
        target,
        pythonExecutable: flags.pythonExecutable ?? null,
      });
    } finally {
      if (unpacked) await rm(unpacked, { recursive: true, force: true });
    }
    if (smoke.ran && smoke.ok) progress.done(`imported ${smoke.modules} modules`);
    else if (smoke.ran) progress.fail(`${smoke.failures.length} of ${smoke.modules} imports failed`);
    else progress.done('smoke import skipped');
  }
  return { path, target, verification, smokeImport: smoke };
}

/** Problems grouped by package, as people read them. */
export function formatVerifyReport(report: VerifyReport, color: boolean): string {
  const colors = colorsFor(color);
  const lines: string[] = [];
  const { verification, smokeImport: smoke } = report;
  lines.push(`${report.path} for ${describeTarget(report.target)}`);
  lines.push(
    `  ${verification.filesChecked} files checked, ${verification.elfFiles} ELF; Python roots: ${verification.pythonRoots.join(', ')}`,
  );
  if (verification.ok) lines.push(`${colors.green('✔')} no binary problems`);
  else {
    lines.push(`${colors.red('✖')} ${verification.problems.length} problem(s):`);
    for (const problem of verification.problems) {
      lines.push(`  ${colors.bold(problem.package ?? '(unknown package)')}  ${problem.file ?? ''}`);
      lines.push(`    ${problem.message}`);
      if (problem.hint) lines.push(`    ${colors.dim(`fix: ${problem.hint}`)}`);
    }
  }
  for (const assumed of verification.assumedLibraries) {
    lines.push(
      `  ${colors.yellow('!')} assumed ${assumed.library} is in the base image (unconfirmed: ${assumed.source}); needed by ${assumed.files} file(s)`,
    );
  }
  if (!smoke.ran)
    lines.push(`${colors.yellow('-')} smoke import skipped: ${smoke.reason ?? 'unknown reason'}`);
  else if (smoke.ok)
    lines.push(`${colors.green('✔')} smoke import: ${smoke.modules} modules imported (${smoke.interpreter})`);
  else {
    lines.push(
      `${colors.red('✖')} smoke import: ${smoke.failures.length} of ${smoke.modules} modules failed:`,
    );
    for (const failure of smoke.failures)
      lines.push(`  ${failure.package}: import ${failure.module}: ${failure.error}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Exit code for a report: 1 when anything failed (verification, or a smoke import that ran). */
export function verifyExitCode(report: VerifyReport): 0 | 1 {
  return isPublishable(report) ? 0 : 1;
}

export function createVerifyCommand(): Command {
  const command = new Command('verify')
    .description(
      'Check a folder or layer zip for the target: ELF machine, glibc and library needs, CPython extension suffixes, macOS/Windows binaries; then import every module (when a matching interpreter exists).',
    )
    .argument('<path>', 'a layer folder, site-packages folder or .zip');
  return addTargetOptions(command)
    .option('--python-executable <path>', 'interpreter for the smoke import (default: python3.X on PATH)')
    .option('--json', 'print the report as JSON')
    .option('--no-smoke', 'skip the smoke import')
    .addHelpText(
      'after',
      '\nExit status: 0 clean, 1 problems found, 2 bad usage.\n\nExamples:\n  $ lambda-deps verify my-layer.zip --runtime python3.12 --arch arm64\n  $ lambda-deps verify ./python --runtime python3.11 --json',
    )
    .action(async (path: string, flags: VerifyFlags) => {
      const report = await verifyPath(path, flags);
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(formatVerifyReport(report, shouldUseColor(process.stdout)));
      process.exitCode = verifyExitCode(report);
    });
}
