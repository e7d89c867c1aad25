// Measure (Lambda): turns the execution input into a lock. Reads the requirements bundle (or a
// plain uploaded file, or the inline text) from the store, resolves and measures the set for
// the target with the core, writes `locks/<lockHash>.json` and the delivery policy beside the
// artifacts it names (`artifacts/<artifactKey>/policy.json`, which the buildspec reads), and
// says whether that lock and policy were delivered already (the cache check) and which route
// it takes.
//
// `${VAR}` in a requirements file expands only from the variables the stack owner allowed
// (LAMBDA_DEPS_ALLOWED_VARIABLES, comma-separated names), never from this function's own
// environment, which holds the pipeline's credentials.
import { sha256Hex } from '../core/shared/hash.ts';
import { basename, join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import type { ObjectStore } from '../adapters/ports.ts';
import {
  parseRequirementsBundle,
  singleFileBundle,
  type RequirementsBundle,
} from '../core/inputs/requirements-bundle.ts';
import {
  COMPANION_NAMES,
  companionNamesOf,
  detectInputFormat,
  isGenericInputName,
} from '../core/inputs/input-format.ts';
import { serializeLock } from '../core/resolve/lock.ts';
import { measureRequirements, type MeasureRequirementsInput } from '../core/measure/measure.ts';
import { artifactKeyOf, parseDeliveryPolicy, type DeliveryPolicy } from '../core/route/delivery-policy.ts';
import { InputError, LambdaDepsError } from '../core/shared/errors.ts';
import { customTarget, lambdaTarget } from '../core/shared/targets.ts';
import type { Target } from '../core/shared/types.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { keys, type MeasureOutput } from '../pipeline-state.ts';
import { measureInputSchema, type ConsoleInput, type MeasureInput } from './input-schema.ts';
import { projectFolder } from './project-folder.ts';

/** Inline requirements are stored outside `requirements/`, so storing them never starts another execution. */
export const INLINE_PREFIX = 'inline-requirements/';

/** What the stack owner configures beyond the pipeline settings (environment variables in AWS). */
export interface MeasureHandlerOptions {
  /** Values `${VAR}` may expand to. @default the allowed names' values (LAMBDA_DEPS_ALLOWED_VARIABLES) */
  readonly variables?: Readonly<Record<string, string | undefined>>;
  /** Buckets besides the artifact bucket that console inputs may name (LAMBDA_DEPS_REQUIREMENTS_BUCKETS). */
  readonly requirementsBuckets?: readonly string[];
  /** Opens another bucket (the S3 one in AWS). */
  readonly openBucket?: (bucket: string) => ObjectStore;
  /** The policy of runs that give none (S3 uploads): LAMBDA_DEPS_DEFAULT_POLICY, a JSON DeliveryPolicy. */
  readonly defaultPolicy?: DeliveryPolicy;
}

interface MeasureRequest {
  readonly store: ObjectStore;
  readonly requirementsKey: string;
  readonly target: Target;
  readonly name: string;
  readonly policy: DeliveryPolicy;
}

function setNameFrom(key: string): string {
  const stem = basename(key)
    .replace(/\.bundle\.json$/i, '')
    .replace(/(\.lock)?\.(txt|in|toml|lock|json)$/i, '');
  const cleaned = stem.replace(/[^a-zA-Z0-9._-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  // Names every project's tool gives its file say nothing about the set: use the folder's name.
  return (
    isGenericInputName(basename(key).replace(/\.bundle\.json$/i, '')) || cleaned === ''
      ? basename(key.slice(0, key.lastIndexOf('/'))) || 'dependencies'
      : cleaned
  ).slice(0, 64);
}

/** The store a bucket name stands for: the artifact bucket, or one the stack owner listed. */
function storeOf(
  bucket: string,
  dependencies: StepDependencies,
  options: MeasureHandlerOptions,
  field: string,
): ObjectStore {
  const { settings, adapters } = dependencies;
  if (bucket === settings.artifactBucket) return adapters.store;
  if (options.requirementsBuckets?.includes(bucket) && options.openBucket) return options.openBucket(bucket);
  throw new InputError(
    `${field} names bucket "${bucket}", but this stack reads requirements from "${settings.artifactBucket}" and its requirementsBuckets (${options.requirementsBuckets?.join(', ') || 'none'}).`,
    {
      hint: "Upload the file to the stack's bucket, list the bucket in the construct's requirementsBuckets, or pass the text as requirements.inline.",
    },
  );
}

function targetOf(console: ConsoleInput, settings: StepDependencies['settings']): Target {
  const arch = console.architecture ?? settings.defaultArchitecture;
  return console.python && console.glibc
    ? customTarget({ python: console.python, glibc: console.glibc, arch })
    : lambdaTarget(console.runtime ?? settings.defaultRuntime, arch);
}

/** Applies defaults and checks the input against this stack (the buckets, key prefixes). */
async function normalizeRequest(
  input: MeasureInput,
  dependencies: StepDependencies,
  options: MeasureHandlerOptions,
): Promise<MeasureRequest> {
  const { settings, adapters } = dependencies;
  const defaultPolicy = options.defaultPolicy ?? parseDeliveryPolicy();
  if (input.source === 's3') {
    const { bucket, object } = input.input.detail;
    return {
      store: storeOf(bucket.name, dependencies, options, 'The event'),
      requirementsKey: object.key,
      target: lambdaTarget(settings.defaultRuntime, settings.defaultArchitecture),
      name: setNameFrom(object.key),
      policy: defaultPolicy,
    };
  }
  const console = input.input;
  let requirementsKey: string;
  let store: ObjectStore = adapters.store;
  if ('inline' in console.requirements) {
    const digest = sha256Hex(console.requirements.inline);
    requirementsKey = `${INLINE_PREFIX}${digest}.txt`;
    await adapters.store.putBytes(requirementsKey, console.requirements.inline, 'text/plain');
  } else {
    store = storeOf(console.requirements.bucket, dependencies, options, 'requirements.bucket');
    requirementsKey = console.requirements.key;
  }
  const inlineName = `inline-${requirementsKey.slice(INLINE_PREFIX.length, INLINE_PREFIX.length + 12)}`;
  return {
    store,
    requirementsKey,
    target: targetOf(console, settings),
    name: console.name ?? ('inline' in console.requirements ? inlineName : setNameFrom(requirementsKey)),
    policy: console.policy ?? defaultPolicy,
  };
}

/** CodeBuild compute for the build, from the set's unzipped size (installing needs several times that on disk). */
export function computeTypeFor(unzippedBytes: number): string {
  if (unzippedBytes < 512 * 1024 ** 2) return 'BUILD_GENERAL1_SMALL';
  if (unzippedBytes < 2 * 1024 ** 3) return 'BUILD_GENERAL1_MEDIUM';
  return 'BUILD_GENERAL1_LARGE';
}

/** The bundle under the key: a bundle the CLI uploaded, or a plain file (a bundle of one, without includes). */
async function readBundle(store: ObjectStore, key: string): Promise<RequirementsBundle> {
  const bytes = await store.getBytes(key).catch((error: unknown) => {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new InputError(`The requirements file ${key} could not be read from ${store.location}: ${why}`, {
      hint: 'Check the key (it is case-sensitive) and that the upload finished.',
      cause: error,
    });
  });
  const text = bytes.toString('utf8');
  // A requirements file never starts with "{": this one is a bundle.
  if (text.trimStart().startsWith('{')) return parseRequirementsBundle(text, key);
  return withStoredCompanions(store, key, text);
}

/**
 * A plain upload and the file beside it in the bucket that it is read with (companionNamesOf):
 * a pyproject.toml uploaded next to its uv.lock is that project, as on the user's machine.
 */
async function withStoredCompanions(
  store: ObjectStore,
  key: string,
  text: string,
): Promise<RequirementsBundle> {
  const bundle = singleFileBundle(key, text);
  const folder = key.slice(0, key.lastIndexOf('/') + 1);
  for (const name of companionNamesOf(detectInputFormat(key, text))) {
    if (!(await store.exists(`${folder}${name}`))) continue;
    bundle.files[`${folder}${name}`] = (await store.getBytes(`${folder}${name}`)).toString('utf8');
    break;
  }
  return bundle;
}

/**
 * The scratch name of each file of a project's bundle (the root and the lock or pyproject.toml
 * that travel with it): one folder, as beside each other on the client. Only the root's own name
 * and the companions' names (COMPANION_NAMES) are taken, each once, so no key reaches elsewhere.
 */
function scratchNames(bundle: RequirementsBundle): Map<string, string> {
  const names = new Map<string, string>([[bundle.root, basename(bundle.root)]]);
  for (const key of Object.keys(bundle.files)) {
    if (key === bundle.root) continue;
    const name = basename(key);
    if (!COMPANION_NAMES.includes(name) || [...names.values()].includes(name)) {
      throw new InputError(
        `The bundle for ${bundle.root} holds ${key}, which is not a lock or pyproject.toml beside it.`,
        {
          hint: 'Bundles are written by lambda-deps; upload the lock file or pyproject.toml itself instead.',
        },
      );
    }
    names.set(key, name);
  }
  return names;
}

/**
 * The error with each scratch path replaced by the user's own (the bundle's key for it), so an
 * error in a lock names the file the user wrote, as errors in requirements files do.
 */
function namingUserFiles(error: unknown, userPaths: ReadonlyMap<string, string>): unknown {
  if (!(error instanceof Error)) return error;
  const rename = (text: string): string => {
    let renamed = text;
    for (const [scratch, user] of userPaths) renamed = renamed.split(scratch).join(user);
    return renamed;
  };
  // The fields are read-only for callers; the error is rewritten here before anyone sees it.
  const writable = error as { message: string; stack?: string; hint?: string | null; location?: unknown };
  writable.message = rename(error.message);
  if (error.stack) writable.stack = rename(error.stack);
  if (error instanceof LambdaDepsError) {
    if (error.hint) writable.hint = rename(error.hint);
    if (error.location) writable.location = { ...error.location, file: rename(error.location.file) };
  }
  return error;
}

/**
 * Measure the bundle: a requirements file is read from the bundle alone; any other format
 * (pyproject.toml, a lock) is read from a scratch folder holding it and the files beside it.
 */
async function measureBundle(
  bundle: RequirementsBundle,
  input: Omit<MeasureRequirementsInput, 'requirementsPath' | 'bundle'>,
): ReturnType<typeof measureRequirements> {
  const text = bundle.files[bundle.root] ?? '';
  if (detectInputFormat(bundle.root, text) === 'requirements') {
    return measureRequirements({ ...input, requirementsPath: bundle.root, bundle });
  }
  const names = scratchNames(bundle);
  // Kept in the cache by content, so an unchanged project's earlier lock can be taken again.
  const files = new Map([...names].map(([key, name]) => [name, bundle.files[key] ?? '']));
  const workDir = await projectFolder(input.cacheDir, files);
  try {
    return await measureRequirements({ ...input, requirementsPath: join(workDir, basename(bundle.root)) });
  } catch (error) {
    throw namingUserFiles(error, new Map([...names].map(([key, name]) => [join(workDir, name), key])));
  }
}

async function measureStep(
  input: MeasureInput,
  dependencies: StepDependencies,
  logger: Logger,
  options: MeasureHandlerOptions,
): Promise<MeasureOutput> {
  const { settings, adapters } = dependencies;
  const request = await normalizeRequest(input, dependencies, options);
  const bundle = await readBundle(request.store, request.requirementsKey);
  const { lock, lockHash, result } = await measureBundle(bundle, {
    target: request.target,
    cliIndexOptions: {
      ...(settings.indexUrl ? { indexUrl: settings.indexUrl } : {}),
      extraIndexUrls: [...settings.extraIndexUrls],
      findLinks: [...settings.findLinks],
      // pip's format controls travel in the policy (`--only-binary` etc. on the CLI, `policy` in the console).
      ...(request.policy.onlyBinary.length > 0 ? { onlyBinary: [...request.policy.onlyBinary] } : {}),
      ...(request.policy.noBinary.length > 0 ? { noBinary: [...request.policy.noBinary] } : {}),
      ...(request.policy.preferBinary ? { preferBinary: true } : {}),
    },
    extras: request.policy.extras,
    groups: request.policy.groups,
    variables: { ...(options.variables ?? {}) },
    variablesFrom: 'the variables the stack allows (LAMBDA_DEPS_ALLOWED_VARIABLES)',
    cacheDir: settings.cacheDir,
    policy: request.policy,
    onEvent: (event) => {
      if (event.type === 'step') logger.info(`measure: ${event.step}`, { detail: event.detail });
    },
  });
  const artifactKey = artifactKeyOf(lockHash, request.policy);
  await adapters.store.putBytes(keys.lock(lockHash), serializeLock(lock), 'application/json');
  await adapters.store.putBytes(
    `${keys.artifactPrefix(artifactKey)}policy.json`,
    `${JSON.stringify(request.policy, null, 2)}\n`,
    'application/json',
  );
  const cached = request.policy.cache && (await adapters.store.exists(keys.delivered(artifactKey)));
  logger.info('measured', { lockHash, artifactKey, strategy: result.verdict?.strategy, cached });
  for (const warning of result.warnings ?? []) logger.warn(warning);
  return {
    name: request.name,
    lockHash,
    lockKey: keys.lock(lockHash),
    artifactPrefix: keys.artifactPrefix(artifactKey),
    // The build decides on the slimmed size (slimming can bring a set under the layer budget);
    // only a strategy the user forced is passed on as such.
    strategy: request.policy.forceStrategy ?? 'auto',
    pythonVersion: request.target.pythonVersion,
    runtime: request.target.runtime,
    architecture: request.target.architecture,
    cached,
    manifestKey: keys.manifest(artifactKey),
    computeType: computeTypeFor(result.totals.unzippedSize),
    verdict: result.verdict,
    ...(result.warnings && result.warnings.length > 0 ? { warnings: [...result.warnings] } : {}),
  };
}

/**
 * The Measure handler over the given adapters (AWS ones in Lambda, local ones in the local
 * pipeline, which passes the user's own environment as `variables`).
 */
export function createHandler(
  provide: StepDependenciesProvider,
  logger?: Logger,
  options?: MeasureHandlerOptions,
) {
  let resolved: MeasureHandlerOptions | undefined = options;
  return createStepHandler(
    {
      step: 'measure',
      inputSchema: measureInputSchema,
      run: async (input, dependencies, log) =>
        measureStep(input, dependencies, log, (resolved ??= await optionsInLambda())),
    },
    provide,
    logger,
  );
}

/** Loaded on the first run in Lambda only: it brings the S3 and SSM clients. */
async function optionsInLambda(): Promise<MeasureHandlerOptions> {
  return (await import('./lambda-options.ts')).measureOptionsInLambda();
}

export const handler = createHandler(await awsDependenciesWhenInLambda());
