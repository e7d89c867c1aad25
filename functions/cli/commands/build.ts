// `lambda-deps build`: a requirements file (measured first) or a lock in, Lambda-ready
// artifacts and DIR/manifest.json out: slimmed, verified, smoke-imported, packed into layers,
// an EFS tree or an OCI image. Progress on a terminal; `--json` prints the manifest. Exit 1
// when verification or smoke import fails (nothing is marked publishable then).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { BuildEvent } from '../../core/build/build.ts';
import {
  KEEP_UNPACKED_LAYERS_VARIABLE,
  LINK_OUTPUTS_VARIABLE,
  PROGRESS_LINES_VARIABLE,
  progressLineOf,
} from '../../core/build/build-events.ts';
import { InputError } from '../../core/shared/errors.ts';
import { detectInputFormat } from '../../core/inputs/input-format.ts';
import { parseLock } from '../../core/resolve/lock-reader.ts';
import { renderSizeReport } from '../../core/report/size-report.ts';
import { writeFailedRunPage, writeReportPage } from '../../core/report/report-page-file.ts';
import {
  addIndexOptions,
  addRouteOptions,
  addTargetOptions,
  collect,
  formatOptionsOf,
  policyFromFlags,
  requireTarget,
  targetFromFlags,
  type PolicyFlags,
} from '../target-options.ts';
import { describeSlimRules } from '../../core/build/slim-policy.ts';
import { isPublishable } from '../../core/route/choose-route.ts';
import { parseDeliveryPolicy, type DeliveryPolicy } from '../../core/route/delivery-policy.ts';
import { describeTarget } from '../../core/shared/targets.ts';
import type { ClosablePackageIndex } from '../../core/index/index-client.ts';
import type { BuildManifest, Lock, PackageIndex, Strategy } from '../../core/shared/types.ts';
import {
  colorsFor,
  createStepProgress,
  formatBytes,
  formatDuration,
  shouldUseColor,
} from '../terminal-output.ts';
import { defaultCacheDir } from './measure.ts';
import { startLine } from '../pipeline-progress.ts';

interface BuildOptions extends PolicyFlags {
  runtime?: string;
  arch?: string;
  python?: string;
  glibc?: string;
  out: string;
  indexUrl?: string;
  extraIndexUrl: string[];
  findLinks: string[];
  index: boolean;
  strategy: 'auto' | Strategy;
  slim: boolean;
  cache: boolean;
  pythonExecutable?: string;
  policyFile?: string;
  json?: boolean;
  cacheDir?: string;
  pipeline: boolean;
  registry?: string;
  baseImage?: string;
  efsRoot?: string;
  name?: string;
  verbose?: boolean;
}

/** A lambda-deps lock (detected by content), or null for anything else (which is measured first). */
async function readLockIfAny(path: string): Promise<Lock | null> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new InputError(`Cannot read ${path}: ${error.code ?? error.message}.`, {
      hint: 'Give a requirements file, a pyproject.toml, a lock file (uv.lock, poetry.lock, Pipfile.lock, pylock.toml) or a lock written by `lambda-deps measure --lock-out`.',
    });
  });
  if (detectInputFormat(path, text) !== 'lambda-deps-lock') return null;
  // A lock the user names on this machine may use its file: wheels, and so may the local twin of
  // CodeBuild (CODEBUILD_LOCAL_RUNNER), which builds on the user's machine from the user's own
  // indexes; one fetched by a real CodeBuild job came from elsewhere and may not.
  const inAwsCodeBuild =
    process.env.CODEBUILD_BUILD_ID !== undefined && process.env.CODEBUILD_LOCAL_RUNNER === undefined;
  return parseLock(text, path, { localFileUrls: !inAwsCodeBuild });
}

function describeEvent(event: BuildEvent): string | null {
  if (event.type === 'phase' && event.status === 'start') return event.phase;
  if (event.type === 'cache-hit') return `cache hit (${event.key.slice(0, 12)})`;
  return null;
}

function printSummary(manifest: BuildManifest, outDir: string, color: boolean): void {
  const colors = colorsFor(color);
  const out = process.stdout;
  out.write(`${colors.bold(describeTarget(manifest.target))}  lock ${manifest.lockHash.slice(0, 12)}\n`);
  out.write(
    `sizes: wheels ${formatBytes(manifest.sizes.wheels)}, installed ${formatBytes(manifest.sizes.installed)}, slimmed ${formatBytes(manifest.sizes.slimmed)}\n`,
  );
  for (const rule of manifest.slimming.rules) {
    out.write(colors.dim(`  slim ${rule.rule}: ${rule.files} files, ${formatBytes(rule.bytes)}\n`));
  }
  const verified = manifest.verification.ok
    ? colors.green('ok')
    : colors.red(`${manifest.verification.problems.length} problem(s)`);
  out.write(`verification: ${verified}\n`);
  for (const problem of manifest.verification.problems) {
    out.write(
      `  ${problem.package ?? ''} ${problem.file ?? ''}: ${problem.message}${problem.hint ? colors.dim(` (${problem.hint})`) : ''}\n`,
    );
  }
  const smoke = manifest.smokeImport;
  out.write(
    `smoke import: ${!smoke.ran ? colors.yellow(`skipped (${smoke.reason ?? 'no interpreter'})`) : smoke.ok ? colors.green(`ok, ${smoke.modules} modules`) : colors.red(`${smoke.failures.length} failure(s)`)}\n`,
  );
  for (const failure of smoke.failures)
    out.write(`  ${failure.package}: import ${failure.module}: ${failure.error}\n`);
  out.write(`route: ${colors.bold(manifest.strategy)}: ${manifest.reason}\n`);
  for (const layer of manifest.layers) {
    out.write(
      `  ${outDir}/${layer.file}  ${formatBytes(layer.size)} zipped, ${formatBytes(layer.unzippedSize)} unzipped: ${layer.packages.join(' ')}\n`,
    );
  }
  if (manifest.efs)
    out.write(`  ${outDir}/${manifest.efs.tree} (PYTHONPATH: <access point>/${manifest.efs.pythonPath})\n`);
  if (manifest.image) out.write(`  ${outDir}/${manifest.image.layout} ${manifest.image.digest}\n`);
  for (const warning of manifest.warnings ?? []) out.write(colors.yellow(`warning: ${warning}\n`));
  if (manifest.timings.total !== undefined)
    out.write(colors.dim(`built in ${formatDuration(manifest.timings.total)}\n`));
}

/** The policy Measure stored for the build (`--policy-file`, as the buildspec passes it). */
async function readPolicyFile(path: string): Promise<DeliveryPolicy> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new InputError(`Cannot read the policy file ${path}: ${error.code ?? error.message}.`);
  });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`The policy file ${path} is not JSON.`);
  }
  return parseDeliveryPolicy(data, `The policy file ${path}`);
}

/**
 * The embedded default: the deployed state machine, synthesized in-process and run locally with the
 * same handlers and the same buildspec (see functions/cli/local-pipeline.ts). Writes
 * `<out>/manifest.json` and `<out>/report.html` beside the pipeline's own records.
 */
async function buildThroughPipeline(
  input: string,
  options: BuildOptions,
  policy: DeliveryPolicy,
  cacheDir: string,
): Promise<number> {
  const target = requireTarget(options);
  // Said before the pipeline's code loads (about 60 ms): the build has started.
  if (!options.json) process.stdout.write(startLine(input));
  const { buildWithPipeline } = await import('../pipeline-build.ts');
  const { exitCode, result } = await buildWithPipeline(
    {
      announced: true,
      requirementsPath: input,
      outDir: options.out,
      policy,
      cacheDir,
      arch: target.architecture,
      ...(target.runtime !== null
        ? { runtime: target.runtime }
        : { python: target.pythonVersion, glibc: target.glibc }),
      ...(options.indexUrl !== undefined ? { indexUrl: options.indexUrl } : {}),
      ...(options.extraIndexUrl.length > 0 ? { extraIndexUrls: options.extraIndexUrl } : {}),
      ...(options.findLinks.length > 0 ? { findLinks: options.findLinks } : {}),
      ...(options.pythonExecutable !== undefined ? { pythonExecutable: options.pythonExecutable } : {}),
      ...(options.registry !== undefined ? { registry: options.registry } : {}),
      ...(options.baseImage !== undefined ? { baseImage: options.baseImage } : {}),
      ...(options.efsRoot !== undefined ? { efsRoot: options.efsRoot } : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.json ? { json: true } : {}),
      ...(options.verbose ? { verbose: true } : {}),
    },
    process.stdout,
  );
  if (result.manifest)
    await writeFile(join(options.out, 'manifest.json'), `${JSON.stringify(result.manifest, null, 2)}\n`);
  // The page, for a delivered set and for a failed run alike.
  const reportPage = await writeReportPage(options.out, result, { requirementsPath: input });
  if (!options.json)
    process.stdout.write(`\nopen ${reportPage}: what takes the space, what was checked, what to do next\n`);
  return exitCode;
}

export function createBuildCommand(): Command {
  const command = new Command('build')
    .description(
      'Build a requirements file or a lock into Lambda layers, an EFS tree or an OCI image: slimmed, verified and smoke-imported.',
    )
    .argument(
      '<input>',
      'a requirements file, pyproject.toml, uv.lock, poetry.lock, Pipfile(.lock), pylock.toml, or a lock (.json from `measure --lock-out`)',
    )
    .requiredOption('-o, --out <dir>', 'output folder (manifest.json and the artifacts)');
  addTargetOptions(
    command,
    'Lambda runtime: python3.10 … python3.14 (taken from the lock when building one)',
  );
  addIndexOptions(command);
  addRouteOptions(command);
  return command
    .option('--extra <name>', 'pyproject.toml or lock optional-dependency group (repeatable)', collect, [])
    .option(
      '--group <name>',
      "PEP 735 dependency group, or a lock's group / Pipfile category (repeatable)",
      collect,
      [],
    )
    .option('--no-slim', 'keep every file of every wheel')
    .option(
      '--precompile',
      'add .pyc compiled by the target Python (faster cold starts, more bytes; needs python3.X here)',
    )
    .option(
      '--strip-symbols',
      'strip symbols from extension modules, never *.libs (needs python3.X here to prove they still load)',
    )
    .addOption(
      new Option(
        '--python-executable <path>',
        'interpreter of the target Python for smoke import (default python3.X on PATH)',
      ).env('LAMBDA_DEPS_PYTHON_EXECUTABLE'),
    )
    .addOption(
      new Option(
        '--policy-file <file>',
        'the delivery policy as JSON (what Measure stores for Build)',
      ).hideHelp(),
    )
    .option(
      '--no-pipeline',
      'build in this process instead of running the state machine locally (the pipeline is the default for requirements files; a lock is always built directly)',
    )
    .option(
      '--registry <url>',
      'pipeline: push images to this registry (e.g. http://127.0.0.1:5000) instead of an OCI layout folder',
    )
    .option(
      '--base-image <ref>',
      'pipeline: the base of the image for a custom --python/--glibc target (host/repository:tag or @sha256:…), pushed with --registry; its libc.so.6 must be at least --glibc',
    )
    .option(
      '--efs-root <dir>',
      'pipeline: the folder standing in for the EFS access point (default <out>/efs)',
    )
    .option('--name <name>', 'pipeline: the set name used for layers, the EFS folder and parameters')
    .option(
      '--require-probe',
      'pipeline: fail, switching nothing, when the probe cannot run here (arm64 on x86_64, a Python this machine lacks); in AWS it always runs',
    )
    .option('--verbose', 'pipeline: show the build log lines')
    .option('--json', 'print the manifest as JSON')
    .option('--cache-dir <dir>', 'download and build cache (default ~/.cache/lambda-deps)')
    .option('--no-cache', 'build even when the cache has this lock and policy')
    .addHelpText(
      'after',
      [
        '',
        'Slimming rules (on by default; --no-slim turns them off; the manifest counts files and bytes per rule):',
        ...describeSlimRules().map((line) => `  ${line}`),
        '  runtime-provided (with --exclude-runtime-provided): boto3, botocore, s3transfer, jmespath, python-dateutil, six, urllib3.',
        '  Never removed: *.dist-info (importlib.metadata needs it) and auditwheel *.libs folders.',
        '',
        'Exit codes: 0 built and verified, 1 verification or smoke import failed (nothing publishable), 2 bad usage or input.',
        '',
        'Examples:',
        '  $ lambda-deps build requirements.txt --runtime python3.11 --arch x86_64 --out out',
        '  $ lambda-deps build set.lock.json --out out --strategy layers --existing-layers 1 --json',
      ].join('\n'),
    )
    .action(async (input: string, options: BuildOptions, command: Command) => {
      const globals = command.optsWithGlobals<{ color?: boolean }>();
      const cacheDir = options.cacheDir ?? defaultCacheDir();
      const policy = options.policyFile
        ? await readPolicyFile(options.policyFile)
        : await policyFromFlags(options);
      const lock = await readLockIfAny(input);
      if (options.baseImage !== undefined) await checkBaseImageFlag(options, lock);
      if (!lock && options.pipeline) {
        process.exitCode = await buildThroughPipeline(input, options, policy, cacheDir);
        return;
      }
      // The probe runs between publishing and switching, which only the pipeline does (the
      // Build step's own policy file may carry it: that build is inside the pipeline).
      if (options.requireProbe && !options.policyFile) {
        throw new InputError(
          `--require-probe needs the pipeline: the probe imports what was published, and ${lock ? 'a lock is built directly' : '--no-pipeline publishes nothing'}.`,
          {
            hint: 'Build the requirements file through the pipeline (drop --no-pipeline), or drop --require-probe.',
          },
        );
      }
      const progress = createStepProgress({ quiet: options.json ?? false, color: globals.color !== false });
      // Which step a failure happened in, for its page (Measure until the lock is there).
      const reached = { step: lock ? 'Build' : 'Measure' };
      try {
        const manifest = await buildInProcess(
          input,
          lock,
          options,
          policy,
          cacheDir,
          (label) => progress.step(label),
          reached,
        );
        progress.done();
        await writeFile(join(options.out, 'report.html'), renderSizeReport({ kind: 'build', manifest }));
        if (options.json) process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
        else
          printSummary(
            manifest,
            options.out,
            shouldUseColor(process.stdout, { color: globals.color !== false }),
          );
        if (!isPublishable(manifest)) process.exitCode = 1;
      } catch (error) {
        progress.fail();
        // A failed run gets its page too, as through the pipeline.
        const page = await writeFailedRunPage(
          options.out,
          { step: reached.step, error },
          {
            requirementsPath: input,
          },
        ).catch(() => null);
        if (page && !options.json) process.stderr.write(`report: ${page}\n`);
        throw error;
      }
    });
}

/** `--base-image` names the base of a custom target's pushed image: refused where it would be ignored. */
async function checkBaseImageFlag(options: BuildOptions, lock: Lock | null): Promise<void> {
  const refuse = (why: string, hint: string): never => {
    throw new InputError(`--base-image ${why}.`, { hint });
  };
  if (lock || !options.pipeline)
    refuse('needs the pipeline', 'Build the requirements file through the pipeline (drop --no-pipeline).');
  if (options.python === undefined)
    refuse(
      'is for a custom target; a Lambda runtime takes its own image as the base',
      'Give --python X.Y --glibc X.Y with it, or drop --base-image.',
    );
  if (options.registry === undefined)
    refuse(
      'needs --registry: without one the image is an OCI layout of the dependency layer alone',
      'Add --registry http://127.0.0.1:5000 (or your registry).',
    );
  const { parseImageReference } = await import('../../core/deliver/oci/base-image.ts');
  parseImageReference(options.baseImage ?? '');
}

/** The lock to build: the one given, or the requirements measured here with the policy's index switches. */
async function lockToBuild(
  input: string,
  lock: Lock | null,
  options: BuildOptions,
  policy: DeliveryPolicy,
  cacheDir: string,
): Promise<Lock> {
  const requested = targetFromFlags(options);
  if (lock) {
    if (requested && JSON.stringify(requested) !== JSON.stringify(lock.target)) {
      throw new InputError(
        `${input} is locked for ${describeTarget(lock.target)}, not ${describeTarget(requested)}.`,
        { hint: 'Leave out --runtime/--arch when building a lock, or measure again for the other target.' },
      );
    }
    return lock;
  }
  const { measureRequirements } = await import('../../core/measure/measure.ts');
  const measured = await measureRequirements({
    requirementsPath: input,
    target: requireTarget(options),
    cliIndexOptions: {
      ...(options.indexUrl !== undefined ? { indexUrl: options.indexUrl } : {}),
      ...(options.extraIndexUrl.length > 0 ? { extraIndexUrls: options.extraIndexUrl } : {}),
      ...(options.findLinks.length > 0 ? { findLinks: options.findLinks } : {}),
      ...formatOptionsOf(policy),
    },
    policy,
    cacheDir,
    extras: policy.extras,
    groups: policy.groups,
  });
  return measured.lock;
}

/** `--no-pipeline` (and every lock): measure when needed, then build in this process. */
async function buildInProcess(
  input: string,
  given: Lock | null,
  options: BuildOptions,
  policy: DeliveryPolicy,
  cacheDir: string,
  step: (label: string) => void,
  reached: { step: string } = { step: 'Build' },
): Promise<BuildManifest> {
  if (!given) step('resolving and measuring');
  const lock = await lockToBuild(input, given, options, policy, cacheDir);
  reached.step = 'Build';
  // Locked files carry absolute URLs: the index only downloads (sha256-checked, cached). It is
  // made on first use, so a cache hit never loads the HTTP client.
  const opened: { index: ClosablePackageIndex | null } = { index: null };
  const index: Pick<PackageIndex, 'download'> = {
    download: async (file) => {
      if (!opened.index) {
        const { createPackageIndex } = await import('../../core/index/index-client.ts');
        opened.index = createPackageIndex({
          indexUrl: null,
          extraIndexUrls: [],
          findLinks: [],
          pre: false,
          cacheDir,
        });
      }
      return opened.index.download(file);
    },
  };
  const progressLines = process.env[PROGRESS_LINES_VARIABLE] === '1';
  // Loaded here, not at start-up: the default path (the local pipeline) never builds in this process.
  const { buildDependencySet } = await import('../../core/build/build.ts');
  try {
    return await buildDependencySet({
      lock,
      index,
      outDir: options.out,
      policy,
      cacheDir,
      ...(options.pythonExecutable ? { pythonExecutable: options.pythonExecutable } : {}),
      keepUnpackedLayers: process.env[KEEP_UNPACKED_LAYERS_VARIABLE] === '1',
      linkOutputs: process.env[LINK_OUTPUTS_VARIABLE] === '1',
      onEvent: (event) => {
        // Run by the local build runner for a terminal: the live counts go to it on stderr.
        const line = progressLines ? progressLineOf(event) : null;
        if (line) process.stderr.write(line);
        const label = describeEvent(event);
        if (label) step(label);
      },
    });
  } finally {
    await opened.index?.close();
  }
}
