// The embedded default: the deployed state machine, run on this machine. The CDK app is
// synthesized in-process, its ASL taken from the template and run by aws-local-stepfunctions;
// each Lambda Task is served by the same handler source as in AWS (its `createHandler`, given
// local adapters; from the CLI bundle, that bundle's build of the handler, which shares its
// chunks), and the CodeBuild Task by the local buildspec runner on the same
// buildspecs/build.yml. There is no second pipeline to drift from the first.
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../core/shared/hash.ts';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import type { StepDependencies } from '../adapters/aws/aws-adapters.ts';
import {
  LOCAL_BUCKET,
  localAdapters,
  type LocalAdapters,
  localPaths,
  localPipelineSettings,
} from '../adapters/local/local-adapters.ts';
import type { RunBuildspecResult } from '../adapters/local/local-build-runner.ts';
import type { LeasingObjectStore } from '../adapters/ports.ts';
import type { AwsCall } from '../adapters/twin/aws-twin.ts';
import {
  createTwin,
  guardStatePayloads,
  openDecisionCache,
  withBuildChecks,
} from '../adapters/twin/local-run.ts';
import { runOnce } from '../adapters/store-lease.ts';
import {
  KEEP_UNPACKED_LAYERS_VARIABLE,
  parseProgressLine,
  PROGRESS_LINES_VARIABLE,
  type BuildProgressEvent,
} from '../core/build/build-events.ts';
import { collectRequirementsBundle } from '../core/inputs/requirements-file.ts';
import {
  singleFileBundle,
  withoutUrlCredentials,
  type RequirementsBundle,
} from '../core/inputs/requirements-bundle.ts';
import { parseDeliveryPolicy, type DeliveryPolicyInput } from '../core/route/delivery-policy.ts';
import { companionsOf, detectInputFormat, isGenericInputName } from '../core/inputs/input-format.ts';
import { InputError } from '../core/shared/errors.ts';
import type { BuildManifest, Strategy, Target } from '../core/shared/types.ts';
import { lambdaTarget } from '../core/shared/targets.ts';
import { silentLogger, type StepHandler } from '../middleware/step-handler.ts';
import { keys } from '../pipeline-state.ts';
import { refuseForeignOutputs } from './artifacts-out.ts';
import { EarlyDelivery, manifestKeyOf, COPY_OUT_STATE } from './early-delivery.ts';
import {
  definitionSourcesKey,
  readCachedDefinition,
  writeCachedDefinition,
  type CachedPipelineParts,
  type CachedTaskTarget,
  type DefinitionSources,
} from './pipeline-definition-cache.ts';
import { handlerModuleUrl, RUNNING_FROM_SOURCE } from '../../infra/constructs/handler-modules.ts';
import type { DeliveryReport, FailureReport } from '../report/handler.ts';
import {
  functionTimeoutSeconds,
  LAMBDA_DEFAULT_TIMEOUT_SECONDS,
  withinFunctionTimeout,
  withLambdaTaskTimeouts,
} from './lambda-timeouts.ts';

const REPOSITORY_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILDSPEC_PATH = join(REPOSITORY_ROOT, 'buildspecs', 'build.yml');
export { LOCAL_BUCKET };

export type StateStatus = 'running' | 'succeeded' | 'failed' | 'retrying' | 'caught';

export interface ExecutedState {
  readonly name: string;
  readonly type: string;
  status: StateStatus;
  durationMs: number;
  /** When the state was entered, ms since the execution started. */
  readonly startedAtMs: number;
  retries: number;
}

export interface ExecutionRecord {
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly startedAt: string;
  readonly durationMs: number;
  /** Every state passed through, in order, with its duration. */
  readonly states: readonly ExecutedState[];
  /** Every AWS call the steps made, checked by the local twin, with the statement that allowed it. */
  readonly awsCalls?: readonly AwsCall[];
}

export interface LocalPipelineOptions {
  /** The requirements file to deliver (ignored when `event` is given). */
  readonly requirementsPath?: string;
  /** Run with this raw input instead (an EventBridge S3 event, or a console input). */
  readonly event?: unknown;
  /** Lambda runtime (default python3.12) … */
  readonly runtime?: string;
  /** … and architecture (default: this machine's). */
  readonly arch?: 'x86_64' | 'arm64';
  /** A custom target instead of a runtime: Python `3.11` and glibc `2.34`. */
  readonly python?: string;
  readonly glibc?: string;
  /** Everything the run writes goes here (store, layers, EFS stand-in, images, reports). */
  readonly outDir: string;
  readonly strategy?: 'auto' | Strategy;
  readonly indexUrl?: string | null;
  readonly extraIndexUrls?: readonly string[];
  readonly findLinks?: readonly string[];
  /** The delivery policy, passed to Measure as the console input's `policy` (`strategy` overrides its forceStrategy). */
  readonly policy?: DeliveryPolicyInput;
  /** Interpreter of the target's Python for the build's smoke import (the build runs on this machine). */
  readonly pythonExecutable?: string;
  /** Values for `${VAR}` in the requirements file. @default process.env (as pip does) */
  readonly variables?: Readonly<Record<string, string | undefined>>;
  /** Base image repository for the image route (`public.ecr.aws/lambda/python`); default none: the dependency layer alone. */
  readonly baseImageRepository?: string;
  /** The base for a custom glibc target (`--base-image host/repo:tag`); its glibc is checked. */
  readonly baseImage?: string;
  /** A registry URL like http://127.0.0.1:5000; else images go to an OCI layout folder. */
  readonly registry?: string;
  /** The EFS stand-in folder; default `<outDir>/efs`. */
  readonly efsRoot?: string;
  /** The set's name (layer names, EFS folder, SSM parameters). */
  readonly name?: string;
  /** Functions to point at new layer versions (recorded in layers/versions.json). */
  readonly functionsToUpdate?: readonly string[];
  /** Where measuring caches index answers and wheels; default `<outDir>/cache`. */
  readonly cacheDir?: string;
  /** The bucket name the local store stands for (S3 events must name it); default lambda-deps-local. */
  readonly bucket?: string;
  /** Execution name (as the start-execution function derives it for S3 events); default a fresh one. */
  readonly executionName?: string;
  /** The source folder the buildspec's commands run from (CODEBUILD_SRC_DIR); default this repository. */
  readonly buildSourceDir?: string;
  /**
   * Enforce AWS's rules locally (IAM from the synthesized template, service limits).
   * @default true
   */
  readonly enforceAws?: boolean;
  /** Changes the synthesized template the twin enforces (tests remove grants with it). */
  readonly editTemplate?: (template: Record<string, unknown>) => Record<string, unknown>;
  /** Called as states start and end (the progress display). */
  readonly onState?: (name: string, status: StateStatus, durationMs: number) => void;
  /** Build output lines. */
  readonly onBuildLine?: (line: string) => void;
  /** The build's live phases and counts (asked of the build only when given; never among the lines). */
  readonly onBuildProgress?: (event: BuildProgressEvent) => void;
}

export interface LocalPipelineResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** The build manifest with the execution and the delivery; null when nothing was built. */
  readonly manifest: (BuildManifest & { execution: ExecutionRecord; delivery: unknown }) | null;
  /** The Report step's output (`reason` on failure). */
  readonly report: DeliveryReport | FailureReport | Record<string, unknown>;
  /** `<outDir>/reports/<execution>.json` */
  readonly reportPath: string;
  readonly manifestPath: string | null;
  readonly execution: ExecutionRecord;
}

/** ASL fields aws-local-stepfunctions would ignore without a word: refused before running. */
const UNSUPPORTED_FIELDS = [
  'QueryLanguage',
  'Assign',
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'Output',
  'Arguments',
];

/** Throws naming every state (or the top level) that uses a feature the local engine ignores. */
export function assertLocallyRunnable(definition: Record<string, unknown>): void {
  const problems: string[] = [];
  const visit = (states: Record<string, Record<string, unknown>>, where: string): void => {
    for (const [name, state] of Object.entries(states)) {
      for (const field of UNSUPPORTED_FIELDS) {
        if (field in state) problems.push(`${where}${name}: ${field}`);
      }
      if (state.QueryLanguage === 'JSONata') problems.push(`${where}${name}: QueryLanguage JSONata`);
      const processor = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
      if (processor?.States)
        visit(processor.States as Record<string, Record<string, unknown>>, `${where}${name} > `);
      for (const branch of (state.Branches ?? []) as Record<string, unknown>[]) {
        if (branch.States)
          visit(branch.States as Record<string, Record<string, unknown>>, `${where}${name} > `);
      }
    }
  };
  if ('QueryLanguage' in definition)
    problems.push(`(top level): QueryLanguage ${String(definition.QueryLanguage)}`);
  visit((definition.States ?? {}) as Record<string, Record<string, unknown>>, '');
  if (problems.length > 0) {
    throw new InputError(
      `The state machine uses ASL features the local engine would silently ignore: ${problems.join('; ')}.`,
      {
        hint: 'Keep the state machine to JSONPath without Assign, ItemReader, ItemBatcher or ResultWriter (infra/constructs/dependency-state-machine.ts).',
      },
    );
  }
}

/** aws-local-stepfunctions calls Promise.withResolvers, which Node 20 lacks. */
export function ensurePromiseWithResolvers(): void {
  const promise = Promise as unknown as { withResolvers?: unknown };
  if (typeof promise.withResolvers === 'function') return;
  promise.withResolvers = function withResolvers<T>() {
    let resolvePromise!: (value: T | PromiseLike<T>) => void;
    let rejectPromise!: (reason?: unknown) => void;
    const created = new Promise<T>((done, fail) => {
      resolvePromise = done;
      rejectPromise = fail;
    });
    return { promise: created, resolve: resolvePromise, reject: rejectPromise };
  };
}

type HandlerFactory = (
  provide: () => StepDependencies,
  logger?: ReturnType<typeof silentLogger>,
  options?: { readonly variables?: Readonly<Record<string, string | undefined>> },
) => StepHandler<unknown>;

interface TaskBinding {
  readonly kind: 'lambda' | 'codebuild';
  /** Lambda tasks: loads the handler module's factory (when the state first runs). */
  readonly loadHandler: (() => Promise<HandlerFactory>) | null;
  readonly step: string;
  /** The function or project in the template (its role is what the twin enforces). */
  readonly logicalId: string | null;
  /** `arn:aws:states:::lambda:invoke` (payload under `Payload`) rather than a direct function ARN. */
  readonly invokeIntegration: boolean;
}

export interface PipelineDefinition {
  readonly definition: Record<string, unknown>;
  /** The synthesized template (the twin reads its roles and limits). */
  readonly template: Record<string, unknown>;
  readonly tasks: Readonly<Record<string, TaskBinding>>;
  /** Whether this process synthesized the app, or read it from the on-disk cache or the package. */
  readonly source: DefinitionSource;
}

type DefinitionSource = 'cache' | 'shipped' | 'synthesized';

const definitions = new Map<string, Promise<PipelineDefinition>>();

/** Synthesizes the CDK app (without bundling or cdk-nag: that is the infra tests' job). */
async function synthesizeParts(functionsToUpdate: readonly string[]): Promise<CachedPipelineParts> {
  const { createLambdaDepsApp } = await import('../../infra/app.ts');
  const { extractStateMachineDefinition, describeTaskStates } =
    await import('../../infra/state-machine-definition.ts');
  const outdir = await mkdtemp(join(tmpdir(), 'lambda-deps-synth-'));
  try {
    const { app, stack } = createLambdaDepsApp({
      outdir,
      skipBundling: true,
      nagChecks: false,
      props: { functionsToUpdate: [...functionsToUpdate] },
    });
    const template = app.synth().getStackByName(stack.stackName).template as Record<string, unknown>;
    const { definition } = extractStateMachineDefinition(template);
    const targets: Record<string, CachedTaskTarget> = {};
    for (const [name, { kind, logicalId, entry }] of Object.entries(describeTaskStates(template)))
      targets[name] = { kind, logicalId, entry };
    return { definition, template, targets };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** The synth's parts from `<cacheDir>/pipeline-definition/` when its sources are unchanged, else synthesized (and stored). */
export async function loadPipelineParts(
  functionsToUpdate: readonly string[],
  cacheDir: string | undefined,
): Promise<{ parts: CachedPipelineParts; source: DefinitionSource }> {
  if (!cacheDir) return { parts: await synthesizeParts(functionsToUpdate), source: 'synthesized' };
  const key = await definitionSourcesKey(definitionSources(functionsToUpdate));
  const cached = await readCachedDefinition(cacheDir, key);
  if (cached) return { parts: cached, source: 'cache' };
  const shipped = await readCachedDefinition(SHIPPED_DEFINITION_DIR, key, { keep: true });
  if (shipped) return { parts: shipped, source: 'shipped' };
  const parts = await synthesizeParts(functionsToUpdate);
  await writeCachedDefinition(cacheDir, key, parts);
  return { parts, source: 'synthesized' };
}

/** Holds `pipeline-definition/`: the entry the bundle build synthesized (for no functions to update). */
const SHIPPED_DEFINITION_DIR = join(REPOSITORY_ROOT, 'dist');

/**
 * What the synth depends on. From source: the infra folder, the handlers and this module. From the
 * bundle: the bundle itself, by the digest the bundle build wrote (bin runs the source instead
 * whenever a source is newer than the bundle).
 */
function definitionSources(functionsToUpdate: readonly string[]): DefinitionSources {
  const options = { functionsToUpdate };
  const packageJson = join(REPOSITORY_ROOT, 'package.json');
  if (!RUNNING_FROM_SOURCE) {
    const bundle = join(REPOSITORY_ROOT, 'dist', 'bundle-inputs.json');
    return { root: REPOSITORY_ROOT, folders: [], handlerFolders: [], files: [packageJson, bundle], options };
  }
  return {
    root: REPOSITORY_ROOT,
    folders: [join(REPOSITORY_ROOT, 'infra')],
    handlerFolders: [join(REPOSITORY_ROOT, 'functions')],
    files: [packageJson, fileURLToPath(import.meta.url)],
    options,
  };
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

/**
 * A handler module is imported when its state first runs: a rebuild never pays for the image or
 * EFS handlers, and a run never for the routes it does not take.
 */
async function importHandlerFactory(
  entry: string,
  moduleUrl: string,
  state: string,
): Promise<HandlerFactory> {
  const module = (await import(moduleUrl)) as { createHandler?: HandlerFactory };
  if (typeof module.createHandler !== 'function')
    throw new InputError(`${entry} exports no createHandler, so state ${state} cannot run locally.`);
  return module.createHandler;
}

/** Binds each Task state to what serves it: the handler module's factory, or the local build. */
function bindTasks(parts: CachedPipelineParts): Record<string, TaskBinding> {
  const states = (parts.definition.States ?? {}) as Record<string, Record<string, unknown>>;
  const tasks: Record<string, TaskBinding> = {};
  for (const [name, target] of Object.entries(parts.targets)) {
    if (target.kind === 'codebuild') {
      tasks[name] = {
        kind: 'codebuild',
        loadHandler: null,
        step: 'build',
        logicalId: target.logicalId,
        invokeIntegration: false,
      };
      continue;
    }
    if (target.kind !== 'lambda' || !target.entry) {
      throw new InputError(`Task state ${name} is served by something the local pipeline cannot run.`, {
        hint: 'Every Task must be a lambda-deps handler (with its entry metadata) or the CodeBuild build.',
      });
    }
    const { entry } = target;
    const moduleUrl = handlerModuleUrl(entry);
    tasks[name] = {
      kind: 'lambda',
      loadHandler: () => importHandlerFactory(entry, moduleUrl, name),
      step: basename(dirname(target.entry)),
      logicalId: target.logicalId,
      invokeIntegration: String(states[name]?.Resource ?? '').includes(':states:::lambda:invoke'),
    };
  }
  return tasks;
}

/**
 * The state machine and what serves each Task state, once per process. With `cacheDir`, the
 * synthesized template is kept on disk keyed by its sources, so an unchanged checkout skips the synth.
 */
export function loadPipelineDefinition(
  props: { readonly functionsToUpdate?: readonly string[]; readonly cacheDir?: string } = {},
): Promise<PipelineDefinition> {
  // The stack is synthesized with the run's props, so its grants are the ones a deploy would make.
  const functionsToUpdate = props.functionsToUpdate ?? [];
  // Keyed by the synth's options alone: the cache folder only changes where the result comes from.
  const cacheKey = JSON.stringify(functionsToUpdate);
  const cached = definitions.get(cacheKey);
  if (cached) return cached;
  const definitionPromise = (async () => {
    const { parts, source } = await loadPipelineParts(functionsToUpdate, props.cacheDir);
    assertLocallyRunnable(parts.definition);
    const tasks = bindTasks(parts);
    return { definition: parts.definition, template: parts.template, tasks, source };
  })();
  definitions.set(cacheKey, definitionPromise);
  definitionPromise.catch(() => definitions.delete(cacheKey));
  return definitionPromise;
}

/** Local builds at once; like CodeBuild's concurrent-build limit, it keeps memory bounded. */
const buildSlots = pLimit(Math.max(1, Math.min(4, availableParallelism())));

/**
 * Runs `build` at most once per lock across every execution sharing the store: the first
 * takes `artifacts/<lockHash>/.build-lease` by exclusive create; the others wait for its
 * manifest. A lease left by a dead builder expires.
 */
export async function buildOnce(
  store: LeasingObjectStore,
  lockHash: string,
  build: () => Promise<void>,
  pollMs = 200,
): Promise<'built' | 'reused'> {
  const outcome = await runOnce(
    store,
    { leaseKey: keys.buildLease(lockHash), doneKey: keys.manifest(lockHash), pollMs },
    build,
  );
  return outcome === 'ran' ? 'built' : 'reused';
}

interface BuildTaskInput {
  EnvironmentVariablesOverride?: { Name: string; Value: string }[];
}

/** Mimics what CodeBuild's `.sync` integration hands back (and throws) for the Build state. */
/** Without the cache (policy `cache: false`), the stored build of the same key is dropped and made again. */
async function dropStoredBuildUnlessCached(store: LeasingObjectStore, artifactKey: string): Promise<void> {
  const text = await store
    .getBytes(`${keys.artifactPrefix(artifactKey)}policy.json`)
    .then((bytes) => bytes.toString('utf8'))
    .catch(() => null);
  if (text === null) return;
  const policy = parseDeliveryPolicy(JSON.parse(text) as unknown, 'the stored delivery policy');
  if (!policy.cache) await store.delete(keys.manifest(artifactKey));
}

async function runLocalBuild(
  input: BuildTaskInput,
  store: LeasingObjectStore,
  cacheDir: string,
  sourceDir: string,
  onLine: ((line: string) => void) | undefined,
  pythonExecutable: string | undefined,
  onProgress?: (event: BuildProgressEvent) => void,
): Promise<{ Build: Record<string, unknown> }> {
  const variables = Object.fromEntries(
    (input.EnvironmentVariablesOverride ?? []).map((item) => [item.Name, item.Value]),
  );
  const artifactKey = /^artifacts\/([0-9a-f]{64})\/$/.exec(variables.ARTIFACT_PREFIX ?? '')?.[1];
  if (!artifactKey) {
    throw new InputError(
      `Build got ARTIFACT_PREFIX "${variables.ARTIFACT_PREFIX ?? ''}", not artifacts/<artifactKey>/.`,
    );
  }
  await dropStoredBuildUnlessCached(store, artifactKey);
  const id = `lambda-deps-local:${randomUUID()}`;
  let result: RunBuildspecResult | null = null;
  // CodeBuild keeps the log; locally the last lines of stderr stand in for it in the failure reason.
  const stderrTail: string[] = [];
  const outcome = await buildOnce(store, artifactKey, () =>
    buildSlots(async () => {
      const { runBuildspecLocally } = await import('../adapters/local/local-build-runner.ts');
      const workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-build-'));
      try {
        result = await runBuildspecLocally({
          buildspecPath: BUILDSPEC_PATH,
          workDir,
          sourceDir,
          env: {
            ...variables,
            LAMBDA_DEPS_STORE: store.location,
            LAMBDA_DEPS_CACHE_DIR: cacheDir,
            // The build runs on this machine: the interpreter the user named is the one to smoke-import with.
            ...(pythonExecutable ? { LAMBDA_DEPS_PYTHON_EXECUTABLE: pythonExecutable } : {}),
            // The AWS SDK's Node-version notice would crowd the build's stderr (and the failure reason).
            NODE_NO_WARNINGS: '1',
            ...(onProgress ? { [PROGRESS_LINES_VARIABLE]: '1' } : {}),
            // The local probe reads the same cache: the build keeps its layers unpacked there.
            [KEEP_UNPACKED_LAYERS_VARIABLE]: '1',
          },
          onLine: (line, stream) => {
            const progress = stream === 'stderr' ? parseProgressLine(line) : null;
            if (progress) return onProgress?.(progress);
            if (stream === 'stderr' && line.trim() !== '') {
              stderrTail.push(line.trim());
              if (stderrTail.length > 5) stderrTail.shift();
            }
            onLine?.(line);
          },
        });
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    }),
  );
  const finished = result as RunBuildspecResult | null;
  const phases = (finished?.phases ?? []).map((phase) => ({
    PhaseType: phase.name.toUpperCase(),
    PhaseStatus: phase.status,
    DurationInSeconds: Math.round(phase.durationMs / 1000),
    Contexts:
      phase.status === 'FAILED' ? [{ Message: stderrTail.join(' | ') || 'see the build output' }] : [],
  }));
  if (finished && finished.status !== 'SUCCEEDED') {
    // CodeBuild's .sync integration fails the state with States.TaskFailed and the Build as Cause.
    const error = new Error(
      JSON.stringify({ Build: { Id: id, BuildStatus: finished.status, Phases: phases } }),
    );
    error.name = 'States.TaskFailed';
    throw error;
  }
  return { Build: { Id: id, BuildStatus: 'SUCCEEDED', Phases: phases, reused: outcome === 'reused' } };
}

/** Lambda's own error shape: Step Functions shows Cause as `{ errorType, errorMessage, trace }`. */
function asLambdaError(error: unknown): Error {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const lambdaError = new Error(JSON.stringify({ errorType: name, errorMessage: message, trace: [] }));
  lambdaError.name = name;
  return lambdaError;
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomUUID()}.partial`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temporary, path);
}

/**
 * The pipeline's input for a local file: the file and every file it includes (-r, -c), read
 * from regular files only, so the pipeline reads nothing else. A requirements file is read in
 * full here: a mistake in it is an InputError (exit 2) before anything runs.
 */
export async function bundleFor(requirementsPath: string): Promise<RequirementsBundle> {
  const path = resolve(requirementsPath);
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw new InputError(`Cannot read ${requirementsPath}.`, { cause: error, hint: 'Check the path.' });
  });
  // pyproject.toml, Pipfile and locks include nothing, but travel with the lock or pyproject
  // beside them (companionsOf), so Measure reads the project as it is read here.
  const format = detectInputFormat(path, text);
  if (format !== 'requirements') {
    const bundle = singleFileBundle(path, text);
    for (const companion of companionsOf(path, format))
      bundle.files[companion] = await readFile(companion, 'utf8');
    return bundle;
  }
  const { bundle, set } = await collectRequirementsBundle(path);
  if (set.requirements.length === 0) {
    throw new InputError(`${bundle.root} names no requirements: nothing to deliver.`, {
      location: { file: bundle.root, line: 1, column: 1 },
      hint: 'Add the packages the function imports (one per line, e.g. "requests==2.32.3").',
    });
  }
  return bundle;
}

/**
 * The console input for a local file: its bundle goes into the store under `requirements/`,
 * without the credentials written in its URLs; those come back as variables Measure is given in
 * memory (`secrets`), so the private index still answers.
 */
async function consoleInputFor(
  options: LocalPipelineOptions,
  store: LeasingObjectStore,
): Promise<{ input: Record<string, unknown>; secrets: Record<string, string> }> {
  if (!options.requirementsPath)
    throw new InputError('Give a requirements file (or an event) to run the pipeline on.');
  const uploaded = options.requirementsPath;
  const { bundle, variables: secrets } = withoutUrlCredentials(await bundleFor(uploaded));
  const text = JSON.stringify(bundle);
  const digest = sha256Hex(text).slice(0, 12);
  const key = `requirements/${digest}/${basename(uploaded).replace(/[^a-zA-Z0-9._-]+/g, '-') || 'requirements.txt'}.bundle.json`;
  await store.putBytes(key, text, 'application/json');
  const policy = parseDeliveryPolicy({
    ...(options.policy ?? {}),
    ...(options.strategy && options.strategy !== 'auto' ? { forceStrategy: options.strategy } : {}),
  });
  const input = {
    requirements: { bucket: options.bucket ?? LOCAL_BUCKET, key },
    ...(options.python && options.glibc
      ? { python: options.python, glibc: options.glibc }
      : { runtime: options.runtime ?? 'python3.12' }),
    architecture: options.arch ?? (process.arch === 'arm64' ? 'arm64' : 'x86_64'),
    name: options.name ?? defaultSetName(options.requirementsPath),
    policy,
  };
  return { input, secrets };
}

/**
 * A readable set name from the file's place: `examples/web-api/requirements.txt` → `web-api`,
 * `deps/api.txt` → `api`. Used for layer names and the EFS folder, as an S3 upload's folder is.
 */
export function defaultSetName(requirementsPath: string): string {
  const file = basename(requirementsPath);
  const generic = isGenericInputName(file);
  const raw = generic ? basename(dirname(resolve(requirementsPath))) : file.replace(/\.[^.]*$/, '');
  const cleaned = raw
    .replace(/[^a-zA-Z0-9._-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, 64);
  return cleaned || 'requirements';
}

type TaskOverrides = Record<string, (payload: unknown) => Promise<unknown>>;

/** Each Lambda Task state's function Timeout in seconds, from the template the run enforces. */
function lambdaTaskTimeouts(
  tasks: PipelineDefinition['tasks'],
  template: Record<string, unknown>,
): Record<string, number> {
  const timeouts: Record<string, number> = {};
  for (const [stateName, binding] of Object.entries(tasks))
    if (binding.kind === 'lambda' && binding.logicalId)
      timeouts[stateName] = functionTimeoutSeconds(template, binding.logicalId);
  return timeouts;
}

/** What serves each Task state locally: the handler module's factory, or the local build runner. */
function taskOverrides(
  tasks: PipelineDefinition['tasks'],
  dependencies: StepDependencies,
  adapters: ReturnType<typeof localAdapters>,
  options: LocalPipelineOptions,
  twin: ReturnType<typeof createTwin>,
  timeouts: Readonly<Record<string, number>>,
): TaskOverrides {
  const overrides: TaskOverrides = {};
  for (const [stateName, binding] of Object.entries(tasks)) {
    if (binding.kind === 'codebuild') {
      overrides[stateName] = (payload) =>
        withBuildChecks(twin, stateName, binding.logicalId, payload, adapters.store, () =>
          runLocalBuild(
            payload as BuildTaskInput,
            adapters.store,
            dependencies.settings.cacheDir,
            resolve(options.buildSourceDir ?? REPOSITORY_ROOT),
            options.onBuildLine,
            options.pythonExecutable,
            options.onBuildProgress,
          ),
        );
      continue;
    }
    // The strict twin checks every call a step makes against what AWS would enforce (IAM, limits).
    const stateDependencies: StepDependencies =
      twin && binding.logicalId
        ? { ...dependencies, adapters: twin.adaptersFor(stateName, binding.logicalId, adapters) }
        : dependencies;
    const { loadHandler } = binding;
    if (!loadHandler) continue;
    // Locally `${VAR}` expands from the user's own environment, as pip does; in AWS only from an allow-list.
    const handler = once(async () =>
      (await loadHandler())(() => stateDependencies, silentLogger(binding.step), {
        variables: options.variables ?? process.env,
      }),
    );
    overrides[stateName] = async (payload) => {
      const event = binding.invokeIntegration ? (payload as { Payload?: unknown }).Payload : payload;
      try {
        await twin?.assertPayloadsWithinLimits();
        if (twin && binding.logicalId) await twin.beforeInvoke(stateName, binding.logicalId);
        const invoke = await handler();
        const seconds = timeouts[stateName] ?? LAMBDA_DEFAULT_TIMEOUT_SECONDS;
        const result = await withinFunctionTimeout(seconds, () => invoke(event));
        twin?.checkStatePayload(stateName, result);
        return binding.invokeIntegration
          ? { Payload: result, StatusCode: 200, ExecutedVersion: '$LATEST' }
          : result;
      } catch (error) {
        throw asLambdaError(error);
      }
    };
  }
  return overrides;
}

type ExecutionEvents = AsyncIterable<{
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown };
}>;

/** Follows the engine's event log into the states passed through, reporting each start and end. */
function followStates(
  events: ExecutionEvents,
  startedAt: number,
  onState: LocalPipelineOptions['onState'],
  onEntered: (name: string, input: unknown) => void = () => undefined,
): { states: ExecutedState[]; done: Promise<void>; finishOpen: (status: StateStatus, at: number) => void } {
  const states: ExecutedState[] = [];
  const open = new Map<string, ExecutedState>();
  const finish = (name: string, status: StateStatus, at: number): void => {
    const state = open.get(name);
    if (!state) return;
    state.status = status;
    state.durationMs = at - startedAt - state.startedAtMs;
    if (status !== 'retrying') open.delete(name);
    onState?.(name, status, state.durationMs);
  };
  const done = (async () => {
    for await (const event of events) {
      if (!event.state) continue;
      const { name, type } = event.state;
      if (event.type === 'StateEntered') {
        const state: ExecutedState = {
          name,
          type,
          status: 'running',
          durationMs: 0,
          startedAtMs: event.timestamp - startedAt,
          retries: 0,
        };
        states.push(state);
        open.set(name, state);
        onState?.(name, 'running', 0);
        onEntered(name, event.state.input);
      } else if (event.type === 'StateExited') finish(name, 'succeeded', event.timestamp);
      else if (event.type === 'StateCaught') finish(name, 'caught', event.timestamp);
      else if (event.type === 'StateRetried') {
        const state = open.get(name);
        if (state) {
          state.retries += 1;
          onState?.(name, 'retrying', event.timestamp - startedAt - state.startedAtMs);
        }
      } else if (event.type === 'StateFailed') {
        const state = open.get(name);
        if (state) state.status = 'failed';
      }
    }
  })();
  const finishOpen = (status: StateStatus, at: number): void => {
    for (const name of [...open.keys()]) finish(name, status, at);
  };
  return { states, done, finishOpen };
}

/** The report (and, when delivered, the manifest) of a finished execution, written under `outDir`. */
async function recordOutcome(
  outcome: {
    status: 'SUCCEEDED' | 'FAILED';
    output: Record<string, unknown>;
    failure: { error: string; cause: string } | null;
  },
  record: ExecutionRecord,
  adapters: ReturnType<typeof localAdapters>,
  { outDir, early }: { outDir: string; early: EarlyDelivery },
  options: LocalPipelineOptions,
): Promise<LocalPipelineResult> {
  const { status, output, failure } = outcome;
  let report: LocalPipelineResult['report'];
  let manifest: LocalPipelineResult['manifest'] = null;
  if (status === 'SUCCEEDED') {
    const summary = (output.report ?? {}) as { reportKey?: string };
    const stored = summary.reportKey
      ? (JSON.parse((await adapters.store.getBytes(summary.reportKey)).toString('utf8')) as DeliveryReport)
      : null;
    report = stored ?? summary;
    if (stored?.manifest) {
      // The Report step already put the Probe's result into the manifest it stored.
      manifest = { ...stored.manifest, execution: record, delivery: stored.delivery };
      await early.deliver(stored.manifest);
    }
  } else {
    // The Fail state's cause is the report's reason; the report itself is in the store.
    const reason = failure?.cause ?? 'unknown';
    const failedKey = keys.report(record.name);
    report = (await adapters.store.exists(failedKey))
      ? (JSON.parse((await adapters.store.getBytes(failedKey)).toString('utf8')) as FailureReport)
      : { status: 'FAILED', reason, errorType: failure?.error ?? 'Error' };
  }
  const reportPath = join(outDir, 'reports', `${record.name}.json`);
  await writeJsonAtomically(reportPath, { ...report, execution: record });
  await writeJsonAtomically(join(outDir, 'report.json'), { ...report, execution: record });
  let manifestPath: string | null = null;
  if (manifest) {
    const paths = localPaths(outDir, options.efsRoot);
    manifestPath = join(outDir, 'manifests', `${record.name}.json`);
    const notifications = {
      events: paths.events,
      parameters: paths.parameters,
      layers: join(paths.layers, 'versions.json'),
    };
    await writeJsonAtomically(manifestPath, { ...manifest, notifications });
    await writeJsonAtomically(join(outDir, 'manifest.json'), { ...manifest, notifications });
  }
  return { status, manifest, report, reportPath, manifestPath, execution: record };
}

/** The target the run's Probe will import for, when the options name it (a bad name is reported later, by Measure). */
function probeTargetOf(options: LocalPipelineOptions): { probeTarget?: Target } {
  if (!options.runtime || !options.arch) return {};
  try {
    return { probeTarget: lambdaTarget(options.runtime, options.arch) };
  } catch {
    return {};
  }
}

/**
 * Runs the synthesized state machine here, end to end.
 *
 * @example
 * const run = await runPipelineLocally({ requirementsPath: 'requirements.txt', runtime: 'python3.12', arch: 'arm64', outDir: 'dist' });
 * console.log(run.status, run.manifest?.execution.states.map((state) => state.name));
 */
export async function runPipelineLocally(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  ensurePromiseWithResolvers();
  const outDir = resolve(options.outDir);
  const adapters = localAdapters({
    outDir,
    efsRoot: options.efsRoot ?? null,
    registry: options.registry ?? null,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    // The Probe imports with the interpreter the user named for the smoke import, as Build does.
    ...(options.pythonExecutable ? { pythonExecutable: options.pythonExecutable } : {}),
    ...probeTargetOf(options),
  });
  try {
    return await runWithAdapters(options, outDir, adapters);
  } finally {
    // The probe's interpreter and cell, looked for in the background, are done with (its trial
    // cell removed) before the run returns, however early it ended.
    await adapters.settle();
  }
}

async function runWithAdapters(
  options: LocalPipelineOptions,
  outDir: string,
  adapters: LocalAdapters,
): Promise<LocalPipelineResult> {
  // Nothing runs for a --out whose outputs could not be delivered at the end.
  await refuseForeignOutputs(outDir);
  // The input first: a bad requirements file is an InputError before anything is synthesized.
  const { input, secrets } = options.event
    ? { input: options.event, secrets: {} }
    : await consoleInputFor(options, adapters.store);
  const { StateMachine } = await import('aws-local-stepfunctions');
  const { definition, template, tasks } = await loadPipelineDefinition({
    functionsToUpdate: options.functionsToUpdate ?? [],
    // Only a cache the caller named: a run's own `<outDir>/cache` would rarely be reused.
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
  });
  const dependencies: StepDependencies = {
    settings: localPipelineSettings({
      outDir,
      bucket: options.bucket,
      runtime: options.runtime,
      arch: options.arch,
      indexUrl: options.indexUrl,
      extraIndexUrls: options.extraIndexUrls,
      findLinks: options.findLinks,
      functionsToUpdate: options.functionsToUpdate,
      cacheDir: options.cacheDir,
      baseImageRepository: options.baseImageRepository,
      customBaseImage: options.baseImage ?? null,
    }),
    adapters,
  };
  const executionName =
    options.executionName ??
    `local-${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  // The template the run enforces (a test may edit it): the twin's roles and limits, the functions' Timeouts.
  const enforced = options.editTemplate ? options.editTemplate(structuredClone(template)) : template;
  const decisions = await openDecisionCache(options);
  const twin = createTwin(options, enforced, dependencies.settings.artifactBucket, executionName, decisions);
  twin?.checkExecutionInput(input);
  const timeouts = lambdaTaskTimeouts(tasks, enforced);

  // The definition is the synthesized one, checked with asl-validator by the infra tests; its
  // JSON-schema validation here would cost every local run about 80 ms.
  const machine = new StateMachine(withLambdaTaskTimeouts(definition, timeouts) as never, {
    validationOptions: { noValidate: true },
  });
  const startedAt = Date.now();
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskOverrides(
        tasks,
        dependencies,
        adapters,
        { ...options, variables: { ...(options.variables ?? process.env), ...secrets } },
        twin,
        timeouts,
      ) as never,
    },
    context: {
      Execution: {
        Id: `arn:aws:states:local:000000000000:execution:lambda-deps:${executionName}`,
        Name: executionName,
        Input: input as never,
        StartTime: new Date(startedAt).toISOString(),
      },
    } as never,
  });
  // Step Functions' 256 KB between states, on every state's input and output (the twin's rule).
  const guarded = guardStatePayloads(twin, execution.eventLogs, () => execution.abort());
  // --out is copied while the Probe runs, and swapped in once the run succeeded (early-delivery.ts).
  const early = new EarlyDelivery(adapters.store, outDir);
  const followed = followStates(
    guarded as unknown as ExecutionEvents,
    startedAt,
    options.onState,
    (name, input) => {
      const manifestKey = name === COPY_OUT_STATE ? manifestKeyOf(input) : null;
      if (manifestKey) early.start(manifestKey);
    },
  );

  try {
    const outcome = await outcomeOf(execution.result);
    let { status, failure } = outcome;
    await followed.done;
    await twin?.flush();
    const breach = twin?.payloadBreach;
    if (breach) [status, failure] = ['FAILED', { error: breach.name, cause: breach.message }];
    const endedAt = Date.now();
    followed.finishOpen(status === 'FAILED' ? 'failed' : 'succeeded', endedAt);
    const record: ExecutionRecord = {
      name: executionName,
      status,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: endedAt - startedAt,
      states: followed.states,
      ...(twin ? { awsCalls: twin.calls } : {}),
    };
    const ended = { status, output: outcome.output, failure };
    return await recordOutcome(ended, record, adapters, { outDir, early }, options);
  } finally {
    // Copies staged for a run that failed, or ended early, never reach --out.
    await early.discard();
  }
}

/** How an execution ended: its output, or the error (Error, Cause) that ended it. */
async function outcomeOf(result: Promise<unknown>): Promise<{
  status: 'SUCCEEDED' | 'FAILED';
  output: Record<string, unknown>;
  failure: { error: string; cause: string } | null;
}> {
  try {
    return { status: 'SUCCEEDED', output: ((await result) ?? {}) as Record<string, unknown>, failure: null };
  } catch (error) {
    // ExecutionError wraps what ended the run: the Fail state (Error, Cause) or an engine error.
    const ended = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const failure = {
      error: ended instanceof Error ? ended.name : 'Error',
      cause: ended instanceof Error ? ended.message : String(ended),
    };
    return { status: 'FAILED', output: {}, failure };
  }
}
