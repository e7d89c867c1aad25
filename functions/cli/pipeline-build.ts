// `lambda-deps build --pipeline`: the local run of the deployed state machine, with the same
// progress lines `submit` prints for an execution in AWS, and the same report at the end.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeReportPage } from '../core/report/report-page-file.ts';
import { describeError, InputError } from '../core/shared/errors.ts';
import { runPipelineLocally, type LocalPipelineOptions, type LocalPipelineResult } from './local-pipeline.ts';
import {
  createStateProgress,
  printPipelineReport,
  startLine,
  type ProgressStream,
} from './pipeline-progress.ts';

/** 0 delivered; 2 the input was wrong (as `measure` and `--no-pipeline` say); 1 any other failure. */
export function exitCodeOf(result: Pick<LocalPipelineResult, 'status' | 'report'>): 0 | 1 | 2 {
  if (result.status === 'SUCCEEDED') return 0;
  return (result.report as { errorType?: string }).errorType === 'InputError' ? 2 : 1;
}

/**
 * Runs the pipeline locally, printing progress (or, with `json`, only the final manifest or
 * failure report as JSON). Returns the exit code (exitCodeOf).
 *
 * @example
 * process.exitCode = await buildWithPipeline({ requirementsPath: 'requirements.txt', outDir: 'dist', runtime: 'python3.12', arch: 'arm64' }, process.stdout);
 */
export async function buildWithPipeline(
  options: LocalPipelineOptions & {
    readonly json?: boolean;
    readonly verbose?: boolean;
    /** The caller already printed startLine (before loading this module). */
    readonly announced?: boolean;
  },
  output: ProgressStream,
): Promise<{ exitCode: 0 | 1 | 2; result: LocalPipelineResult }> {
  const progress = options.json ? undefined : createStateProgress(output);
  // The first state line comes only after synthesis and the whole Measure state: say at once
  // that the build has started.
  if (progress && !options.announced) output.write(startLine(options.requirementsPath));
  // Start-up failures (an ASL feature the local engine would ignore, a missing file) throw:
  // the CLI prints them and exits 2; only executions that ran end here.
  const result = await runPipelineLocally({
    ...options,
    ...(progress ? { onState: progress } : {}),
    ...(options.verbose && !options.json
      ? { onBuildLine: (line: string) => output.write(`  | ${line}\n`) }
      : progress
        ? { onBuildLine: progress.buildLine }
        : {}),
    // Only a terminal shows the build's live counts; without one the build is not asked for them.
    ...(progress?.live && !options.verbose ? { onBuildProgress: progress.buildProgress } : {}),
  })
    .catch(async (error: unknown) => {
      // The input is read before the state machine starts; a person still gets the failure page.
      if (error instanceof InputError) await writeInputFailure(options, error);
      throw error;
    })
    .finally(() => progress?.stop());
  if (options.json) {
    output.write(`${JSON.stringify(result.manifest ?? result.report, null, 2)}\n`);
  } else {
    printPipelineReport(result.report as Record<string, unknown>, output, {
      ...(options.requirementsPath ? { requirementsPath: options.requirementsPath } : {}),
    });
    output.write(`report: ${result.reportPath}\n`);
    if (result.manifestPath) output.write(`manifest: ${result.manifestPath}\n`);
  }
  return { exitCode: exitCodeOf(result), result };
}

/** report.json and report.html for input refused before the pipeline started (exit 2). */
async function writeInputFailure(options: LocalPipelineOptions, error: InputError): Promise<void> {
  const report = {
    status: 'FAILED',
    reason: describeError(error),
    errorType: error.name,
    packageName: error.packageName,
    failedStep: 'Input (read before the pipeline starts)',
    name: null,
    lockHash: null,
    executionName: null,
    published: [],
    reportKey: null,
  };
  await mkdir(options.outDir, { recursive: true });
  await writeFile(join(options.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeReportPage(
    options.outDir,
    { manifest: null, report },
    {
      ...(options.requirementsPath ? { requirementsPath: options.requirementsPath } : {}),
    },
  );
}
