// Sizes a resolved dependency set against Lambda's limits and asks the route rule
// (route/choose-route.ts) where it goes. Also the end-to-end `measure` used by the CLI, the
// Measure Lambda and the build: read requirements, apply pip's index precedence, resolve (or take
// the lock of an earlier resolution when nothing it was resolved from changed: resolution-cache.ts),
// measure.
import pLimit from 'p-limit';
import { InputError } from '../shared/errors.ts';
import { createPackageIndex } from '../index/index-client.ts';
import type { IndexEvent } from '../index/index-client.ts';
import { lockHash } from '../resolve/lock.ts';
import { readPipConfiguration, resolveIndexOptions } from '../inputs/pip-config.ts';
import type { IndexOptionValues } from '../inputs/pip-config.ts';
import { readDependencyInput } from '../inputs/locks/read-input.ts';
import { readRequirementsFile } from '../inputs/requirements-file.ts';
import type { RequirementsBundle } from '../inputs/requirements-bundle.ts';
import { resolveDependencySet } from '../resolve/resolver.ts';
import { formatControlOf, type FormatControl, type FormatOption } from '../resolve/format-control.ts';
import type { ResolveInput, ResolverEvent } from '../resolve/resolver.ts';
import { recordableIndexes } from '../shared/redact.ts';
import { describeTarget } from '../shared/targets.ts';
import type {
  BuildIndexes,
  DistributionFile,
  IndexOptions,
  Lock,
  MeasuredPackage,
  MeasureResult,
  PackageIndex,
  Requirement,
  RequirementSet,
  Target,
  Verdict,
} from '../shared/types.ts';
import { isRuntimeProvided } from '../build/slim-policy.ts';
import { chooseRoute } from '../route/choose-route.ts';
import type { DeliveryPolicy } from '../route/delivery-policy.ts';
import { defaultDeliveryPolicy } from '../route/policy-defaults.ts';
import { lookupResolution, resolutionKey, startRecording, storeResolution } from './resolution-cache.ts';
import { refusingSdists, type SourceRecorder } from './resolution-sources.ts';

/** The route for measured packages: what the runtime provides is left out when the policy says so. */
export function verdictFor(
  packages: readonly MeasuredPackage[],
  policy: DeliveryPolicy,
  target?: Pick<Target, 'runtime'>,
): Verdict {
  const sizes = packages
    .filter((entry) => !(policy.excludeRuntimeProvided && isRuntimeProvided(entry.name)))
    .map((entry) => ({ name: entry.name, bytes: entry.unzippedSize }));
  const { plan: _plan, ...verdict } = chooseRoute(sizes, policy, target);
  return verdict;
}

/**
 * Sizes and verdict for a lock. With `index`, every wheel is measured again through it (exact
 * sum of uncompressed entry sizes, cached by the index client), so a lock read from disk is
 * checked against the real files; without it the lock's own sizes are used.
 * @example const result = await measureDependencySet({ lock, policy: parseDeliveryPolicy({ existingLayers: 1 }) });
 */
export async function measureDependencySet(input: {
  lock: Lock;
  index?: PackageIndex;
  policy?: DeliveryPolicy;
  lockHash?: string;
}): Promise<MeasureResult> {
  const { lock, index } = input;
  const limit = pLimit(8);
  const packages: MeasuredPackage[] = await Promise.all(
    lock.packages.map((entry) =>
      limit(async () => {
        const measured = index ? await index.measureWheel(distributionFileOf(entry)) : entry;
        const { name, version, filename, tag } = entry;
        return { name, version, filename, tag, size: measured.size, unzippedSize: measured.unzippedSize };
      }),
    ),
  );
  const totals = packages.reduce(
    (sum, entry) => ({ size: sum.size + entry.size, unzippedSize: sum.unzippedSize + entry.unzippedSize }),
    { size: 0, unzippedSize: 0 },
  );
  return {
    target: lock.target,
    lockHash: input.lockHash ?? lockHash(lock),
    packages,
    totals,
    verdict: verdictFor(packages, input.policy ?? defaultDeliveryPolicy(), lock.target),
    problems: [],
  };
}

function distributionFileOf(entry: Lock['packages'][number]): DistributionFile {
  return {
    filename: entry.filename,
    url: entry.url,
    sha256: entry.sha256,
    requiresPython: null,
    yanked: false,
    size: entry.size,
    metadataUrl: null,
    metadataSha256: null,
    source: 'lock',
  };
}

/** Progress of measureRequirements: which step runs, plus the resolver's and the index client's events. */
export type MeasureEvent =
  | { readonly type: 'step'; readonly step: 'reading' | 'resolving' | 'measuring'; readonly detail: string }
  | ResolverEvent
  | IndexEvent;

export interface MeasureRequirementsInput {
  /** A pip requirements file, or a pyproject.toml (then `extras` names optional-dependency groups). */
  readonly requirementsPath: string;
  /**
   * The file and its includes as the client read them: when given, nothing else is read
   * (`requirementsPath` is the bundle's root).
   */
  readonly bundle?: RequirementsBundle;
  readonly target: Target;
  /** Index options given on the command line (highest precedence). */
  readonly cliIndexOptions?: IndexOptionValues;
  /** Environment for PIP_* variables and pip's config files. @default process.env */
  readonly environment?: Record<string, string | undefined>;
  /** Values for `${VAR}` in the file. @default `environment` */
  readonly variables?: Record<string, string | undefined>;
  /** Where `variables` come from, for the hint when one is missing. */
  readonly variablesFrom?: string;
  /** Where downloads, metadata and sizes are cached. */
  readonly cacheDir: string;
  readonly policy?: DeliveryPolicy;
  /** pyproject.toml optional-dependency groups. */
  readonly extras?: readonly string[];
  /** PEP 735 dependency groups (or a lock's groups / Pipfile categories), `--group NAME`. */
  readonly groups?: readonly string[];
  readonly onEvent?: (event: MeasureEvent) => void;
}

type ReadOutcome =
  | { readonly kind: 'requirements'; readonly set: RequirementSet }
  | {
      readonly kind: 'measured';
      readonly lock: Lock;
      readonly lockHash: string;
      readonly result: MeasureResult;
    };

/**
 * What the user gave: from the bundle alone when there is one (the pipeline), else from disk,
 * where a lock is honoured exactly and measured without resolving (inputs/locks/). A set
 * without requirements is an InputError: there is nothing to deliver.
 */
async function readInput(
  input: MeasureRequirementsInput,
  environment: Record<string, string | undefined>,
  policy: DeliveryPolicy,
  emit: (event: MeasureEvent) => void,
): Promise<ReadOutcome> {
  const path = input.requirementsPath;
  const variables = {
    environment: input.variables ?? environment,
    ...(input.variablesFrom ? { variablesFrom: input.variablesFrom } : {}),
  };
  const read: ReadOutcome = input.bundle
    ? { kind: 'requirements', set: await readRequirementsFile(path, { ...variables, bundle: input.bundle }) }
    : await readDependencyInput(
        {
          ...input,
          path,
          extras: input.extras ?? [],
          groups: input.groups ?? [],
          environment: variables.environment,
          cliIndexOptions: input.cliIndexOptions ?? {},
          onEvent: emit,
        },
        (locked) => measureDependencySet({ ...locked, policy }),
      );
  if (read.kind === 'requirements' && read.set.requirements.length === 0) {
    throw new InputError(`${path} names no requirements: nothing to deliver.`, {
      location: { file: path, line: 1, column: 1 },
      hint: 'Add the packages the function imports (one per line, e.g. "requests==2.32.3").',
    });
  }
  return read;
}

/** The constraints of the file plus those pip's configuration names (`PIP_CONSTRAINT`, `constraint =`). */
async function constraintsOf(
  set: RequirementSet,
  files: readonly string[],
  environment: Record<string, string | undefined>,
): Promise<Requirement[]> {
  const constraints: Requirement[] = [...set.constraints];
  for (const file of files) {
    const constraintSet = await readRequirementsFile(file, { environment });
    constraints.push(...constraintSet.requirements, ...constraintSet.constraints);
  }
  return constraints;
}

/** The set's indexes as the build cell's pip takes them: where sdists get their build requirements. */
function indexLocationsOf(options: IndexOptions): BuildIndexes {
  return {
    indexUrls: [...(options.indexUrl ? [options.indexUrl] : []), ...options.extraIndexUrls],
    findLinks: [...options.findLinks],
  };
}

/** Warnings for index hosts left out (their hosts do not resolve) and cache records discarded, from the index events. */
function collectWarnings(onEvent: ((event: MeasureEvent) => void) | undefined) {
  const warnings: string[] = [];
  const emit = (event: MeasureEvent): void => {
    if (event.type === 'index-skipped') {
      warnings.push(
        `${event.index} was left out: its host does not resolve (${event.reason}); the other indexes were used, as pip does. Pass --index-url to name the index you mean.`,
      );
    }
    if (event.type === 'cache-discarded') {
      warnings.push(
        `the cached ${event.kind} record ${event.path} was discarded: ${event.reason}; it was read again from its source.`,
      );
    }
    onEvent?.(event);
  };
  return { warnings, emit };
}

/** What resolving a set is given besides the index and the event sinks: plain data, so it also keys the cache. */
interface ResolutionPlan {
  readonly indexOptions: IndexOptions;
  readonly resolve: Omit<ResolveInput, 'index' | 'onEvent' | 'warnings'> & {
    readonly formatControl: FormatControl;
    readonly buildIndexes: BuildIndexes;
  };
}

/** pip's precedence for the set's indexes and format options, its constraints, and the resolver's arguments. */
async function planResolution(
  input: MeasureRequirementsInput,
  set: RequirementSet,
  environment: Record<string, string | undefined>,
  policy: DeliveryPolicy,
): Promise<ResolutionPlan> {
  const resolved = resolveIndexOptions({
    cli: { ...(input.cliIndexOptions ?? {}), ...(policy.noIndex ? { noIndex: true } : {}) },
    file: set.fileIndexOptions,
    fileSources: set.optionSources,
    environment,
    config: await readPipConfiguration(environment),
  });
  const pre = policy.pre || resolved.options.pre;
  const formatOptions = [
    ...resolved.onlyBinary.map((value): FormatOption => ({ option: 'only-binary', value })),
    ...[...(input.cliIndexOptions?.noBinary ?? []), ...(set.fileIndexOptions.noBinary ?? [])].map(
      (value): FormatOption => ({ option: 'no-binary', value }),
    ),
  ];
  const preferBinary =
    (input.cliIndexOptions?.preferBinary ?? false) || (set.fileIndexOptions.preferBinary ?? false);
  const { indexUrl, extraIndexUrls, findLinks } = resolved.options;
  return {
    indexOptions: { ...resolved.options, pre },
    resolve: {
      requirements: set.requirements,
      constraints: await constraintsOf(set, resolved.constraintFiles, environment),
      target: input.target,
      pre,
      hashCheckingMode: set.hashCheckingMode,
      formatControl: formatControlOf(formatOptions, preferBinary),
      buildIndexes: indexLocationsOf(resolved.options),
      searched: [...(indexUrl ? [indexUrl] : []), ...extraIndexUrls, ...findLinks],
      projectRequiresPython: set.projectRequiresPython ?? null,
    },
  };
}

/** The resolution cache's key: the plan as data (format control's sets as sorted lists) and the policy. */
function cacheKeyOf(plan: ResolutionPlan, policy: DeliveryPolicy): string {
  const { formatControl } = plan.resolve;
  return resolutionKey({
    indexOptions: plan.indexOptions,
    resolve: {
      ...plan.resolve,
      formatControl: {
        onlyBinary: [...formatControl.onlyBinary].sort(),
        noBinary: [...formatControl.noBinary].sort(),
        preferBinary: formatControl.preferBinary,
      },
    },
    policy,
  });
}

/** Resolve the plan through a fresh index client (watched by `recorder`, for the cache, when given). */
async function resolveLock(
  plan: ResolutionPlan,
  cacheDir: string,
  context: { emit: (event: MeasureEvent) => void; warnings: string[]; recorder: SourceRecorder | null },
): Promise<Lock> {
  const { emit, warnings, recorder } = context;
  const index = createPackageIndex({
    ...plan.indexOptions,
    cacheDir,
    onEvent: emit,
    ...(recorder ? { watch: recorder } : {}),
  });
  try {
    emit({ type: 'step', step: 'resolving', detail: describeTarget(plan.resolve.target) });
    const resolvedLock = await resolveDependencySet({
      ...plan.resolve,
      index: recorder ? refusingSdists(index, recorder) : index,
      onEvent: emit,
      warnings,
    });
    return { ...resolvedLock, buildIndexes: recordableIndexes(plan.resolve.buildIndexes) };
  } finally {
    await index.close();
  }
}

/** The lock's sizes (the lock's own: the resolver measured every wheel) and verdict, with the run's warnings. */
async function measureLock(
  lock: Lock,
  policy: DeliveryPolicy,
  warnings: string[],
  emit: (event: MeasureEvent) => void,
): Promise<{ lock: Lock; lockHash: string; result: MeasureResult }> {
  emit({ type: 'step', step: 'measuring', detail: `${lock.packages.length} packages` });
  for (const sdist of lock.packages.filter((locked) => locked.tag === 'sdist'))
    warnings.push(
      `${sdist.name} ${sdist.version} has only an sdist (${sdist.filename}): it is built at build time, and its sizes are unknown until then (counted as 0 here).`,
    );
  const hash = lockHash(lock);
  const measured = await measureDependencySet({ lock, policy, lockHash: hash });
  const result = warnings.length > 0 ? { ...measured, warnings } : measured;
  return { lock, lockHash: hash, result };
}

/**
 * The lock for the plan: the cached one when nothing it was resolved from changed (policy.cache
 * on, see resolution-cache.ts), else resolved, and stored when its sources prove it may be.
 */
async function lockFor(
  plan: ResolutionPlan,
  input: MeasureRequirementsInput,
  policy: DeliveryPolicy,
  sinks: { emit: (event: MeasureEvent) => void; warnings: string[] },
): Promise<Lock> {
  if (!policy.cache) return resolveLock(plan, input.cacheDir, { ...sinks, recorder: null });
  const key = cacheKeyOf(plan, policy);
  const cached = await lookupResolution(input.cacheDir, key);
  if (cached) {
    const since = cached.resolvedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    const detail = `${describeTarget(plan.resolve.target)} (unchanged since ${since})`;
    sinks.emit({ type: 'step', step: 'resolving', detail });
    return cached.lock;
  }
  const { recorder, startedNs } = await startRecording();
  const lock = await resolveLock(plan, input.cacheDir, { ...sinks, recorder });
  // Warnings are about this run (a host left out, a record repaired): such a run is not replayed.
  if (sinks.warnings.length > 0) recorder.refuse('the run warned');
  await storeResolution(input.cacheDir, key, recorder, startedNs, { lock, lockHash: lockHash(lock) });
  return lock;
}

/**
 * Read the requirements, find the indexes the way pip does, resolve for the target and measure.
 * @example
 * const { result } = await measureRequirements({ requirementsPath: 'requirements.txt', target: lambdaTarget('python3.12', 'arm64'), cacheDir });
 */
export async function measureRequirements(
  input: MeasureRequirementsInput,
): Promise<{ lock: Lock; lockHash: string; result: MeasureResult }> {
  const environment = input.environment ?? process.env;
  const policy = input.policy ?? defaultDeliveryPolicy();
  const { warnings, emit } = collectWarnings(input.onEvent);
  emit({ type: 'step', step: 'reading', detail: input.requirementsPath });
  const read = await readInput(input, environment, policy, emit);
  if (read.kind === 'measured') return read;
  const plan = await planResolution(input, read.set, environment, policy);
  const lock = await lockFor(plan, input, policy, { emit, warnings });
  return measureLock(lock, policy, warnings, emit);
}
