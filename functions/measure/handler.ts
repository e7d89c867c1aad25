// Measure (Lambda): turns the execution input into a lock. Reads the requirements from the
// artifact bucket (or the inline text), resolves and measures the set for the target with
// the core, writes `locks/<lockHash>.json`, and says whether that lock was delivered already
// (the cache check), which route it takes and how big a build machine it needs.
import { sha256Hex } from '../core/shared/hash.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  awsDependenciesWhenInLambda,
  type StepDependencies,
  type StepDependenciesProvider,
} from '../adapters/aws/aws-adapters.ts';
import { isGenericInputName } from '../core/inputs/input-format.ts';
import { serializeLock } from '../core/resolve/lock.ts';
import { measureRequirements, type MeasurePolicy } from '../core/measure/measure.ts';
import { InputError, ResolutionError } from '../core/shared/errors.ts';
import { customTarget, describeTarget, lambdaTarget } from '../core/shared/targets.ts';
import type { Target } from '../core/shared/types.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { keys, type MeasureOutput } from '../pipeline-state.ts';
import { measureInputSchema, type MeasureInput } from './input-schema.ts';

/** Inline requirements are stored outside `requirements/`, so storing them never starts another execution. */
export const INLINE_PREFIX = 'inline-requirements/';

interface MeasureRequest {
  readonly requirementsKey: string;
  readonly target: Target;
  readonly name: string;
  readonly policy: MeasurePolicy | undefined;
}

function setNameFrom(key: string): string {
  const stem = basename(key).replace(/(\.lock)?\.(txt|in|toml|lock|json)$/i, '');
  const cleaned = stem.replace(/[^a-zA-Z0-9._-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  // Names every project's tool gives its file say nothing about the set: use the folder's name.
  return (
    isGenericInputName(basename(key)) || cleaned === ''
      ? basename(key.slice(0, key.lastIndexOf('/'))) || 'dependencies'
      : cleaned
  ).slice(0, 64);
}

/** Applies defaults and checks the input against this stack (the bucket, key prefixes). */
async function normalizeRequest(
  input: MeasureInput,
  dependencies: StepDependencies,
): Promise<MeasureRequest> {
  const { settings, adapters } = dependencies;
  if (input.source === 's3') {
    const { bucket, object } = input.input.detail;
    if (bucket.name !== settings.artifactBucket) {
      throw new InputError(
        `The event names bucket "${bucket.name}", but this stack reads requirements from "${settings.artifactBucket}".`,
        { hint: "Upload the requirements file under requirements/ in the stack's bucket." },
      );
    }
    return {
      requirementsKey: object.key,
      target: lambdaTarget(settings.defaultRuntime, settings.defaultArchitecture),
      name: setNameFrom(object.key),
      policy: undefined,
    };
  }
  const console = input.input;
  let requirementsKey: string;
  if ('inline' in console.requirements) {
    const digest = sha256Hex(console.requirements.inline);
    requirementsKey = `${INLINE_PREFIX}${digest}.txt`;
    await adapters.store.putBytes(requirementsKey, console.requirements.inline, 'text/plain');
  } else {
    if (console.requirements.bucket !== settings.artifactBucket) {
      throw new InputError(
        `requirements.bucket: "${console.requirements.bucket}" is not this stack's bucket "${settings.artifactBucket}".`,
        { hint: "Upload the file to the stack's bucket, or pass the text as requirements.inline." },
      );
    }
    requirementsKey = console.requirements.key;
  }
  const target =
    console.python && console.glibc
      ? customTarget({
          python: console.python,
          glibc: console.glibc,
          arch: console.architecture ?? settings.defaultArchitecture,
        })
      : lambdaTarget(
          console.runtime ?? settings.defaultRuntime,
          console.architecture ?? settings.defaultArchitecture,
        );
  return {
    requirementsKey,
    target,
    name:
      console.name ??
      ('inline' in console.requirements
        ? `inline-${requirementsKey.slice(INLINE_PREFIX.length, INLINE_PREFIX.length + 12)}`
        : setNameFrom(requirementsKey)),
    policy: console.policy,
  };
}

/** CodeBuild compute for the build, from the set's unzipped size (installing needs several times that on disk). */
export function computeTypeFor(unzippedBytes: number): string {
  if (unzippedBytes < 512 * 1024 ** 2) return 'BUILD_GENERAL1_SMALL';
  if (unzippedBytes < 2 * 1024 ** 3) return 'BUILD_GENERAL1_MEDIUM';
  return 'BUILD_GENERAL1_LARGE';
}

async function measureStep(
  input: MeasureInput,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<MeasureOutput> {
  const { settings, adapters } = dependencies;
  const request = await normalizeRequest(input, dependencies);
  const workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-measure-'));
  try {
    const requirementsPath = join(workDir, basename(request.requirementsKey) || 'requirements.txt');
    const text = await adapters.store.getBytes(request.requirementsKey).catch((error: unknown) => {
      throw new InputError(
        `The requirements file ${request.requirementsKey} could not be read from ${adapters.store.location}.`,
        {
          hint: 'Check the key (it is case-sensitive) and that the upload finished.',
          cause: error,
        },
      );
    });
    await writeFile(requirementsPath, text);
    const { lock, lockHash, result } = await measureRequirements({
      requirementsPath,
      target: request.target,
      cliIndexOptions: {
        ...(settings.indexUrl ? { indexUrl: settings.indexUrl } : {}),
        extraIndexUrls: [...settings.extraIndexUrls],
        findLinks: [...settings.findLinks],
      },
      cacheDir: settings.cacheDir,
      policy: request.policy ?? {},
      onEvent: (event) => {
        if (event.type === 'step') logger.info(`measure: ${event.step}`, { detail: event.detail });
      },
    });
    if (!result.verdict) {
      const problems = result.problems.map((problem) => ({
        package: problem.package,
        message: problem.message,
      }));
      throw new ResolutionError(
        `${request.requirementsKey} cannot be delivered for ${describeTarget(request.target)}: ${problems.map((problem) => `${problem.package}: ${problem.message}`).join('; ') || 'no route fits'}`,
        problems,
        {
          packageName: problems[0]?.package ?? null,
          hint: 'Relax the policy (forceStrategy, maxLayerBytes), or drop the packages named.',
        },
      );
    }
    await adapters.store.putBytes(keys.lock(lockHash), serializeLock(lock), 'application/json');
    const cached = await adapters.store.exists(keys.delivered(lockHash));
    logger.info('measured', { lockHash, strategy: result.verdict.strategy, cached });
    for (const warning of result.warnings ?? []) logger.warn(warning);
    return {
      name: request.name,
      lockHash,
      lockKey: keys.lock(lockHash),
      artifactPrefix: keys.artifactPrefix(lockHash),
      // The build decides on the slimmed size (slimming can bring a set under the layer budget);
      // only a strategy the user forced is passed on as such.
      strategy: request.policy?.forceStrategy ?? 'auto',
      pythonVersion: request.target.pythonVersion,
      runtime: request.target.runtime,
      architecture: request.target.architecture,
      cached,
      manifestKey: keys.manifest(lockHash),
      computeType: computeTypeFor(result.totals.unzippedSize),
      verdict: result.verdict,
      ...(result.warnings && result.warnings.length > 0 ? { warnings: [...result.warnings] } : {}),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The Measure handler over the given adapters (AWS ones in Lambda, local ones in the local pipeline). */
export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'measure', inputSchema: measureInputSchema, run: measureStep },
    provide,
    logger,
  );
}

export const handler = createHandler(awsDependenciesWhenInLambda());
