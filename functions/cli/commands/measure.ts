// `lambda-deps measure`: resolve a requirements file (or pyproject.toml) for a Lambda target,
// measure every chosen wheel exactly, and say whether the set fits in layers, needs an image or
// needs EFS, without building anything. A table for people, or one JSON document with --json.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  addIndexOptions,
  addRouteOptions,
  addTargetOptions,
  collect,
  formatOptionsOf,
  policyFromFlags,
  requireTarget,
  type PolicyFlags,
} from '../target-options.ts';
import { ResolutionError } from '../../core/shared/errors.ts';
import { atInterrupt } from '../../core/shared/interrupt-cleanup.ts';
import { serializeLock } from '../../core/resolve/lock.ts';
import { measureRequirements, type MeasureEvent } from '../../core/measure/measure.ts';
import type { IndexOptionValues } from '../../core/inputs/pip-config.ts';
import { describeTarget } from '../../core/shared/targets.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES, type MeasureResult } from '../../core/shared/types.ts';
import { formatShare } from '../../core/shared/units.ts';
import {
  colorsFor,
  createStepProgress,
  formatBytes,
  formatTable,
  shouldUseColor,
} from '../terminal-output.ts';

interface MeasureOptions extends PolicyFlags {
  /** pip's format options (target-options.ts addIndexOptions). */
  onlyBinary?: string[];
  /** `--no-binary` (commander drops the `no` prefix). */
  binary?: string[];
  preferBinary?: boolean;
  runtime?: string;
  arch: string;
  python?: string;
  glibc?: string;
  indexUrl?: string;
  extraIndexUrl: string[];
  findLinks: string[];
  index: boolean;
  extra: string[];
  group: string[];
  cacheDir?: string;
  json?: boolean;
  lockOut?: string;
  report?: string;
}

/** The default cache: $XDG_CACHE_HOME/lambda-deps or ~/.cache/lambda-deps. */
export function defaultCacheDir(environment: Record<string, string | undefined> = process.env): string {
  return join(environment.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lambda-deps');
}

function indexOptionsOf(options: MeasureOptions): IndexOptionValues {
  return {
    ...(options.indexUrl !== undefined ? { indexUrl: options.indexUrl } : {}),
    ...(options.extraIndexUrl.length > 0 ? { extraIndexUrls: options.extraIndexUrl } : {}),
    ...(options.findLinks.length > 0 ? { findLinks: options.findLinks } : {}),
    ...(options.index === false ? { noIndex: true } : {}),
    ...(options.pre ? { pre: true } : {}),
    ...formatOptionsOf(options),
  };
}

/** The exact --json document: {target, packages, totals, verdict, problems} plus lockHash. */
export function measureJson(result: MeasureResult): string {
  return `${JSON.stringify(
    {
      target: result.target,
      lockHash: result.lockHash,
      packages: result.packages.map(({ name, version, filename, tag, size, unzippedSize }) => ({
        name,
        version,
        filename,
        tag,
        size,
        unzippedSize,
      })),
      totals: result.totals,
      verdict: result.verdict,
      problems: result.problems,
      warnings: result.warnings ?? [],
    },
    null,
    2,
  )}\n`;
}

function printReport(result: MeasureResult, color: boolean): void {
  const colors = colorsFor(color);
  const rows = [...result.packages]
    .sort((left, right) => right.unzippedSize - left.unzippedSize)
    .map((entry) => [
      entry.name,
      entry.version,
      entry.tag,
      formatBytes(entry.size),
      formatBytes(entry.unzippedSize),
      formatShare(entry.unzippedSize, LAMBDA_UNZIPPED_LIMIT_BYTES),
    ]);
  const total = [
    colors.bold(`${result.packages.length} packages`),
    '',
    '',
    colors.bold(formatBytes(result.totals.size)),
    colors.bold(formatBytes(result.totals.unzippedSize)),
    colors.bold(formatShare(result.totals.unzippedSize, LAMBDA_UNZIPPED_LIMIT_BYTES)),
  ];
  process.stdout.write(`${colors.bold(describeTarget(result.target))}\n\n`);
  process.stdout.write(
    formatTable(
      [
        { header: 'package' },
        { header: 'version' },
        { header: 'tag' },
        { header: 'zipped', align: 'right' },
        { header: 'unzipped', align: 'right' },
        { header: 'of 250 MiB', align: 'right' },
      ],
      rows,
      [total],
    ),
  );
  const verdict = result.verdict;
  if (verdict) {
    const label =
      verdict.strategy === 'layers'
        ? colors.green(`layers (${verdict.layerCount})`)
        : colors.yellow(verdict.strategy);
    process.stdout.write(`\nverdict: ${label}: ${verdict.reason}\n`);
  }
  if (result.lockHash) process.stdout.write(colors.dim(`lock hash: ${result.lockHash}\n`));
}

function describeEvent(event: MeasureEvent): string | null {
  if (event.type === 'step') return `${event.step} ${event.detail}`;
  if (event.type === 'pinned') return `resolving: ${event.name} ${event.version}`;
  if (event.type === 'measuring') return `measuring ${event.count} wheels`;
  return null;
}

export function createMeasureCommand(): Command {
  const command = new Command('measure')
    .description(
      'Resolve a requirements file for a Lambda target and measure it against the layer, image and EFS limits, before building.',
    )
    .argument(
      '<requirements>',
      'a requirements file, pyproject.toml, uv.lock, poetry.lock, Pipfile(.lock), pylock.toml or a lambda-deps lock',
    );
  addTargetOptions(command);
  addIndexOptions(command);
  addRouteOptions(command);
  return command
    .option('--extra <name>', 'pyproject.toml optional-dependency group (repeatable)', collect, [])
    .option(
      '--group <name>',
      "PEP 735 dependency group, or a lock's group / Pipfile category (repeatable)",
      collect,
      [],
    )
    .option('--cache-dir <dir>', 'download and metadata cache (default ~/.cache/lambda-deps)')
    .option(
      '--no-cache',
      'read and write no cache: resolve and measure afresh from the indexes (in a temporary folder, removed afterwards)',
    )
    .option('--json', 'print one JSON document instead of the table')
    .option('--lock-out <file>', 'write the lock (exact files and hashes) to this file')
    .option('--report <file>', 'write the size report page (self-contained HTML with a treemap) to this file')
    .addHelpText(
      'after',
      [
        '',
        "With no index options, the indexes in pip's configuration (pip config list, PIP_* variables) are used, as pip does.",
        'A lock (uv.lock, poetry.lock, Pipfile.lock, pylock.toml) is measured exactly as pinned, from the indexes it names; index options replace those (with a warning).',
        '',
        'Exit codes: 0 resolved, 1 the set cannot be satisfied (problems listed), 2 bad usage or input.',
        '',
        'Examples:',
        '  $ lambda-deps measure requirements.txt --runtime python3.12 --arch arm64',
        '  $ lambda-deps measure requirements.txt --runtime python3.11 --existing-layers 2 --reserve-mb 20',
        '  $ lambda-deps measure pyproject.toml --extra aws --runtime python3.13 --json',
        '  $ lambda-deps measure requirements.txt --python 3.12 --glibc 2.28 --arch x86_64 --lock-out set.lock.json',
      ].join('\n'),
    )
    .action(async (requirementsPath: string, options: MeasureOptions, command: Command) => {
      const globals = command.optsWithGlobals<{ color?: boolean }>();
      const target = requireTarget(options);
      const progress = createStepProgress({ quiet: options.json ?? false, color: globals.color !== false });
      // --no-cache, as uv's: a temporary cache for this run alone, so no earlier record is read.
      const uncached =
        options.cache === false ? await mkdtemp(join(tmpdir(), 'lambda-deps-no-cache-')) : null;
      const forgetUncached = uncached
        ? atInterrupt(() => rm(uncached, { recursive: true, force: true }))
        : null;
      try {
        const { lock, result } = await measureRequirements({
          requirementsPath,
          target,
          cliIndexOptions: indexOptionsOf(options),
          cacheDir: uncached ?? options.cacheDir ?? defaultCacheDir(),
          policy: await policyFromFlags(options),
          extras: options.extra,
          groups: options.group,
          onEvent: (event) => {
            const label = describeEvent(event);
            if (!label) return;
            if (event.type === 'step') progress.step(label);
            else progress.update(label);
          },
        });
        progress.done(`resolved and measured ${result.packages.length} packages`);
        for (const warning of result.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
        if (options.lockOut) await writeFile(options.lockOut, serializeLock(lock));
        if (options.report) {
          const { renderSizeReport } = await import('../../core/report/size-report.ts');
          await writeFile(options.report, renderSizeReport({ kind: 'measure', result }));
        }
        if (options.json) process.stdout.write(measureJson(result));
        else printReport(result, shouldUseColor(process.stdout, { color: globals.color !== false }));
      } catch (error) {
        progress.fail();
        if (error instanceof ResolutionError && options.json) {
          process.stdout.write(
            measureJson({
              target,
              lockHash: null,
              packages: [],
              totals: { size: 0, unzippedSize: 0 },
              verdict: null,
              problems: error.problems,
            }),
          );
          process.exitCode = 1;
          return;
        }
        throw error;
      } finally {
        forgetUncached?.();
        if (uncached) await rm(uncached, { recursive: true, force: true });
      }
    });
}
