// The embedded default: the deployed state machine, run on this machine. The CDK app is
// synthesized in-process, its ASL taken from the template and run by aws-local-stepfunctions;
// each Lambda Task is served by the same handler module as in AWS (its `createHandler`, given
// local adapters), and the CodeBuild Task by the local buildspec runner on the same
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
  localPaths,
  localPipelineSettings,
} from '../adapters/local/local-adapters.ts';
import type { RunBuildspecResult } from '../adapters/local/local-build-runner.ts';
import type { LeasingObjectStore } from '../adapters/ports.ts';
import { runOnce } from '../adapters/store-lease.ts';
import { isGenericInputName, lockBeside } from '../core/inputs/input-format.ts';
import { InputError } from '../core/shared/errors.ts';
import type { BuildManifest, Strategy } from '../core/shared/types.ts';
import { silentLogger, type StepHandler } from '../middleware/step-handler.ts';
import { keys } from '../pipeline-state.ts';
import type { DeliveryReport, FailureReport } from '../report/handler.ts';

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
  /** Other policy fields passed to Measure as the console input's `policy`. */
  readonly policy?: Readonly<Record<string, unknown>>;
  /** Base image repository for the image route (`public.ecr.aws/lambda/python`); default none: the dependency layer alone. */
  readonly baseImageRepository?: string;
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
  /** Called as states start and end (the progress display). */
  readonly onState?: (name: string, status: StateStatus, durationMs: number) => void;
  /** Build output lines. */
  readonly onBuildLine?: (line: string) => void;
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
) => StepHandler<unknown>;

interface TaskBinding {
  readonly kind: 'lambda' | 'codebuild';
  /** Lambda tasks: the handler module's factory. */
  readonly createHandler: HandlerFactory | null;
  readonly step: string;
  /** `arn:aws:states:::lambda:invoke` (payload under `Payload`) rather than a direct function ARN. */
  readonly invokeIntegration: boolean;
}

export interface PipelineDefinition {
  readonly definition: Record<string, unknown>;
  readonly tasks: Readonly<Record<string, TaskBinding>>;
}

let definitionPromise: Promise<PipelineDefinition> | null = null;

/**
 * Synthesizes the CDK app (without bundling or cdk-nag: that is the infra tests' job) and
 * binds each Task state to what serves it. Done once per process.
 */
export function loadPipelineDefinition(): Promise<PipelineDefinition> {
  definitionPromise ??= (async () => {
    const { createLambdaDepsApp } = await import('../../infra/app.ts');
    // The source under tsx, the prebuilt bundle from the compiled CLI (the installed package has no .ts).
    const { handlerModuleUrl } = await import('../../infra/constructs/lambda-defaults.ts');
    const { extractStateMachineDefinition, describeTaskStates } =
      await import('../../infra/state-machine-definition.ts');
    const outdir = await mkdtemp(join(tmpdir(), 'lambda-deps-synth-'));
    try {
      const { app, stack } = createLambdaDepsApp({ outdir, skipBundling: true, nagChecks: false });
      const template = app.synth().getStackByName(stack.stackName).template as object;
      const { definition } = extractStateMachineDefinition(template);
      assertLocallyRunnable(definition);
      const targets = describeTaskStates(template);
      const states = (definition.States ?? {}) as Record<string, Record<string, unknown>>;
      const tasks: Record<string, TaskBinding> = {};
      for (const [name, target] of Object.entries(targets)) {
        if (target.kind === 'codebuild') {
          tasks[name] = { kind: 'codebuild', createHandler: null, step: 'build', invokeIntegration: false };
          continue;
        }
        if (target.kind !== 'lambda' || !target.entry) {
          throw new InputError(`Task state ${name} is served by something the local pipeline cannot run.`, {
            hint: 'Every Task must be a lambda-deps handler (with its entry metadata) or the CodeBuild build.',
          });
        }
        const module = (await import(handlerModuleUrl(target.entry))) as {
          createHandler?: HandlerFactory;
        };
        if (typeof module.createHandler !== 'function') {
          throw new InputError(
            `${target.entry} exports no createHandler, so state ${name} cannot run locally.`,
          );
        }
        tasks[name] = {
          kind: 'lambda',
          createHandler: module.createHandler,
          step: basename(dirname(target.entry)),
          invokeIntegration: String(states[name]?.Resource ?? '').includes(':states:::lambda:invoke'),
        };
      }
      return { definition, tasks };
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  })();
  definitionPromise.catch(() => (definitionPromise = null));
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
async function runLocalBuild(
  input: BuildTaskInput,
  store: LeasingObjectStore,
  cacheDir: string,
  sourceDir: string,
  onLine: ((line: string) => void) | undefined,
): Promise<{ Build: Record<string, unknown> }> {
  const variables = Object.fromEntries(
    (input.EnvironmentVariablesOverride ?? []).map((item) => [item.Name, item.Value]),
  );
  const lockHash = /^artifacts\/([0-9a-f]{64})\/$/.exec(variables.ARTIFACT_PREFIX ?? '')?.[1];
  if (!lockHash) {
    throw new InputError(
      `Build got ARTIFACT_PREFIX "${variables.ARTIFACT_PREFIX ?? ''}", not artifacts/<lockHash>/.`,
    );
  }
  const id = `lambda-deps-local:${randomUUID()}`;
  let result: RunBuildspecResult | null = null;
  // CodeBuild keeps the log; locally the last lines of stderr stand in for it in the failure reason.
  const stderrTail: string[] = [];
  const outcome = await buildOnce(store, lockHash, () =>
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
            // The AWS SDK's Node-version notice would crowd the build's stderr (and the failure reason).
            NODE_NO_WARNINGS: '1',
          },
          onLine: (line, stream) => {
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

/** The console input for a local file: the file goes into the store under `requirements/`. */
async function consoleInputFor(
  options: LocalPipelineOptions,
  store: LeasingObjectStore,
): Promise<Record<string, unknown>> {
  if (!options.requirementsPath)
    throw new InputError('Give a requirements file (or an event) to run the pipeline on.');
  // A pyproject.toml or Pipfile with its lock beside it: the lock is what the Measure step must read.
  const uploaded = lockBeside(options.requirementsPath) ?? options.requirementsPath;
  const text = await readFile(uploaded).catch((error: unknown) => {
    throw new InputError(`Cannot read ${uploaded}.`, {
      cause: error,
      hint: 'Check the path.',
    });
  });
  const digest = sha256Hex(text).slice(0, 12);
  const key = `requirements/${digest}/${basename(uploaded).replace(/[^a-zA-Z0-9._-]+/g, '-') || 'requirements.txt'}`;
  await store.putBytes(key, text, 'text/plain');
  const policy = {
    ...(options.policy ?? {}),
    ...(options.strategy && options.strategy !== 'auto' ? { forceStrategy: options.strategy } : {}),
  };
  return {
    requirements: { bucket: options.bucket ?? LOCAL_BUCKET, key },
    ...(options.python && options.glibc
      ? { python: options.python, glibc: options.glibc }
      : { runtime: options.runtime ?? 'python3.12' }),
    architecture: options.arch ?? (process.arch === 'arm64' ? 'arm64' : 'x86_64'),
    name: options.name ?? defaultSetName(options.requirementsPath),
    ...(Object.keys(policy).length > 0 ? { policy } : {}),
  };
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

/**
 * Runs the synthesized state machine here, end to end.
 *
 * @example
 * const run = await runPipelineLocally({ requirementsPath: 'requirements.txt', runtime: 'python3.12', arch: 'arm64', outDir: 'dist' });
 * console.log(run.status, run.manifest?.execution.states.map((state) => state.name));
 */
export async function runPipelineLocally(options: LocalPipelineOptions): Promise<LocalPipelineResult> {
  ensurePromiseWithResolvers();
  const { StateMachine } = await import('aws-local-stepfunctions');
  const { definition, tasks } = await loadPipelineDefinition();
  const outDir = resolve(options.outDir);
  const adapters = localAdapters({
    outDir,
    efsRoot: options.efsRoot ?? null,
    registry: options.registry ?? null,
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
    }),
    adapters,
  };
  const executionName =
    options.executionName ??
    `local-${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const input = options.event ?? (await consoleInputFor(options, adapters.store));

  const overrides: Record<string, (payload: unknown) => Promise<unknown>> = {};
  for (const [stateName, binding] of Object.entries(tasks)) {
    if (binding.kind === 'codebuild') {
      overrides[stateName] = (payload) =>
        runLocalBuild(
          payload as BuildTaskInput,
          adapters.store,
          dependencies.settings.cacheDir,
          resolve(options.buildSourceDir ?? REPOSITORY_ROOT),
          options.onBuildLine,
        );
      continue;
    }
    const handler = binding.createHandler?.(() => dependencies, silentLogger(binding.step));
    if (!handler) continue;
    overrides[stateName] = async (payload) => {
      const event = binding.invokeIntegration ? (payload as { Payload?: unknown }).Payload : payload;
      try {
        const result = await handler(event);
        return binding.invokeIntegration
          ? { Payload: result, StatusCode: 200, ExecutedVersion: '$LATEST' }
          : result;
      } catch (error) {
        throw asLambdaError(error);
      }
    };
  }

  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } });
  const startedAt = Date.now();
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: overrides as never },
    context: {
      Execution: {
        Id: `arn:aws:states:local:000000000000:execution:lambda-deps:${executionName}`,
        Name: executionName,
        Input: input as never,
        StartTime: new Date(startedAt).toISOString(),
      },
    } as never,
  });

  const states: ExecutedState[] = [];
  const open = new Map<string, ExecutedState>();
  const finish = (name: string, status: StateStatus, at: number): void => {
    const state = open.get(name);
    if (!state) return;
    state.status = status;
    state.durationMs = at - startedAt - state.startedAtMs;
    if (status !== 'retrying') open.delete(name);
    options.onState?.(name, status, state.durationMs);
  };
  const followEvents = (async () => {
    for await (const event of execution.eventLogs) {
      if (!('state' in event) || !event.state) continue;
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
        options.onState?.(name, 'running', 0);
      } else if (event.type === 'StateExited') finish(name, 'succeeded', event.timestamp);
      else if (event.type === 'StateCaught') finish(name, 'caught', event.timestamp);
      else if (event.type === 'StateRetried') {
        const state = open.get(name);
        if (state) {
          state.retries += 1;
          options.onState?.(name, 'retrying', event.timestamp - startedAt - state.startedAtMs);
        }
      } else if (event.type === 'StateFailed') {
        const state = open.get(name);
        if (state) state.status = 'failed';
      }
    }
  })();

  let status: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED';
  let output: Record<string, unknown> = {};
  let failure: { error: string; cause: string } | null = null;
  try {
    output = ((await execution.result) ?? {}) as Record<string, unknown>;
  } catch (error) {
    status = 'FAILED';
    // ExecutionError wraps what ended the run: the Fail state (Error, Cause) or an engine error.
    const ended = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    failure = {
      error: ended instanceof Error ? ended.name : 'Error',
      cause: ended instanceof Error ? ended.message : String(ended),
    };
  }
  await followEvents;
  const endedAt = Date.now();
  for (const name of [...open.keys()]) finish(name, status === 'FAILED' ? 'failed' : 'succeeded', endedAt);

  const record: ExecutionRecord = {
    name: executionName,
    status,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: endedAt - startedAt,
    states,
  };
  const paths = localPaths(outDir, options.efsRoot);
  let report: LocalPipelineResult['report'];
  let manifest: LocalPipelineResult['manifest'] = null;
  if (status === 'SUCCEEDED') {
    const summary = (output.report ?? {}) as { reportKey?: string };
    const stored = summary.reportKey
      ? (JSON.parse((await adapters.store.getBytes(summary.reportKey)).toString('utf8')) as DeliveryReport)
      : null;
    report = stored ?? summary;
    if (stored?.manifest) manifest = { ...stored.manifest, execution: record, delivery: stored.delivery };
  } else {
    // The Fail state's cause is the report's reason; the report itself is in the store.
    const reason = failure?.cause ?? 'unknown';
    const failedKey = keys.report(executionName);
    report = (await adapters.store.exists(failedKey))
      ? (JSON.parse((await adapters.store.getBytes(failedKey)).toString('utf8')) as FailureReport)
      : { status: 'FAILED', reason, errorType: failure?.error ?? 'Error' };
  }
  const reportPath = join(outDir, 'reports', `${executionName}.json`);
  await writeJsonAtomically(reportPath, { ...report, execution: record });
  await writeJsonAtomically(join(outDir, 'report.json'), { ...report, execution: record });
  let manifestPath: string | null = null;
  if (manifest) {
    manifestPath = join(outDir, 'manifests', `${executionName}.json`);
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
