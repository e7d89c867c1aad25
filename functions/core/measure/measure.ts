// Sizes a resolved dependency set against Lambda's limits and asks the route rule
// (route/choose-route.ts) where it goes. Also the end-to-end `measure` used by the CLI, the
// Measure Lambda and the build: read requirements, apply pip's index precedence, resolve, measure.
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
import { formatControlOf, type FormatOption } from '../resolve/format-control.ts';
import type { ResolverEvent } from '../resolve/resolver.ts';
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
  const set = read.set;
  const resolved = resolveIndexOptions({
    cli: { ...(input.cliIndexOptions ?? {}), ...(policy.noIndex ? { noIndex: true } : {}) },
    file: set.fileIndexOptions,
    fileSources: set.optionSources,
    environment,
    config: await readPipConfiguration(environment),
  });
  const constraints = await constraintsOf(set, resolved.constraintFiles, environment);
  const pre = policy.pre || resolved.options.pre;
  const index = createPackageIndex({ ...resolved.options, pre, cacheDir: input.cacheDir, onEvent: emit });
  try {
    emit({ type: 'step', step: 'resolving', detail: describeTarget(input.target) });
    const buildIndexes = indexLocationsOf(resolved.options);
    const resolvedLock = await resolveDependencySet({
      requirements: set.requirements,
      constraints,
      target: input.target,
      index,
      pre,
      hashCheckingMode: set.hashCheckingMode,
      formatControl: formatControlOf(
        [
          ...resolved.onlyBinary.map((value): FormatOption => ({ option: 'only-binary', value })),
          ...[...(input.cliIndexOptions?.noBinary ?? []), ...(set.fileIndexOptions.noBinary ?? [])].map(
            (value): FormatOption => ({ option: 'no-binary', value }),
          ),
        ],
        (input.cliIndexOptions?.preferBinary ?? false) || (set.fileIndexOptions.preferBinary ?? false),
      ),
      onEvent: emit,
      buildIndexes,
      searched: [
        ...(resolved.options.indexUrl ? [resolved.options.indexUrl] : []),
        ...resolved.options.extraIndexUrls,
        ...resolved.options.findLinks,
      ],
      warnings,
      projectRequiresPython: set.projectRequiresPython ?? null,
    });
    const lock: Lock = { ...resolvedLock, buildIndexes: recordableIndexes(buildIndexes) };
    emit({ type: 'step', step: 'measuring', detail: `${lock.packages.length} packages` });
    for (const sdist of lock.packages.filter((locked) => locked.tag === 'sdist'))
      warnings.push(
        `${sdist.name} ${sdist.version} has only an sdist (${sdist.filename}): it is built at build time, and its sizes are unknown until then (counted as 0 here).`,
      );
    const hash = lockHash(lock);
    const measured = await measureDependencySet({ lock, policy, lockHash: hash });
    const result = warnings.length > 0 ? { ...measured, warnings } : measured;
    return { lock, lockHash: hash, result };
  } finally {
    await index.close();
  }
}
