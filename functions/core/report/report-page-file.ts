// Writes `report.html` for a run, into its out folder: the build page when something was built,
// the failure page when the run failed. Layer files are named as they are on disk, relative to
// the page (an in-process build writes `layers/layer-1.zip`; the local pipeline publishes
// `layers/<layer name>/<version>.zip`), so every file the page names can be opened from it.
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { deliveryOf, type RunManifest } from './run-facts.ts';
import { renderSizeReport } from './size-report.ts';

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The zip of each manifest layer under `outDir`, relative to it, or null when it is not there. */
export async function layerFilesOnDisk(outDir: string, manifest: RunManifest): Promise<(string | null)[]> {
  const delivery = deliveryOf(manifest);
  return Promise.all(
    manifest.layers.map(async (layer, index) => {
      const published =
        delivery?.layers?.find((entry) => entry.file === layer.file) ?? delivery?.layers?.[index];
      const candidates = [
        ...(published?.layerName && published.version !== undefined
          ? [join('layers', published.layerName, `${published.version}.zip`)]
          : []),
        layer.file,
      ];
      for (const candidate of candidates) {
        const path = join(outDir, candidate);
        if (await exists(path)) return relative(outDir, path);
      }
      return null;
    }),
  );
}

export interface FinishedRun {
  /** The build manifest with its delivery, when something was built. */
  readonly manifest: RunManifest | null;
  /** The Report step's record: a delivery (`warnings`, `name`) or a failure (`status: FAILED`, `reason`). */
  readonly report: object;
  /** The states the execution passed through (shown on the failure page). */
  readonly execution?: unknown;
}

/** Write `<outDir>/report.html` for a run and return its path. */
export async function writeReportPage(
  outDir: string,
  run: FinishedRun,
  options: { readonly requirementsPath?: string } = {},
): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const path = join(outDir, 'report.html');
  const report = run.report as Readonly<Record<string, unknown>>;
  const warnings = Array.isArray(report.warnings)
    ? report.warnings.filter((entry): entry is string => typeof entry === 'string')
    : [];
  const html =
    run.manifest && report.status !== 'FAILED'
      ? renderSizeReport({
          kind: 'build',
          manifest: run.manifest,
          warnings,
          layerFiles: await layerFilesOnDisk(outDir, run.manifest),
          ...(typeof report.name === 'string' ? { name: report.name } : {}),
        })
      : renderSizeReport({
          kind: 'failed',
          failure: run.execution ? { ...report, execution: run.execution } : report,
          ...options,
        });
  await writeFile(path, html);
  return path;
}

/**
 * report.json and report.html for a run that failed in this process (`build --no-pipeline`), in
 * the pipeline's failure record's shape: the step, the reason (the error's message and hint, as
 * the CLI prints them) and what it concerns. Returns the page's path.
 */
export async function writeFailedRunPage(
  outDir: string,
  failure: { readonly step: string; readonly error: unknown },
  options: { readonly requirementsPath?: string } = {},
): Promise<string> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { describeError } = await import('../shared/errors.ts');
  const error = failure.error;
  const report = {
    status: 'FAILED',
    reason: describeError(error),
    errorType: error instanceof Error ? error.name : 'Error',
    packageName:
      error && typeof error === 'object' && 'packageName' in error && typeof error.packageName === 'string'
        ? error.packageName
        : null,
    failedStep: failure.step,
    name: null,
    lockHash: null,
    executionName: null,
    published: [],
    reportKey: null,
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return writeReportPage(outDir, { manifest: null, report }, options);
}
