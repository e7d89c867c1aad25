// Sizes a resolved dependency set against Lambda's limits and decides where it goes: layers
// (how many, keeping room for the function's own code and for layers the user already has),
// a container image, or EFS. Also the end-to-end `measure` used by the CLI, the Measure Lambda
// and the build: read requirements, apply pip's index precedence, resolve, measure.
import pLimit from 'p-limit';
import { InputError } from '../shared/errors.ts';
import { createPackageIndex } from '../index/index-client.ts';
import type { IndexEvent } from '../index/index-client.ts';
import { lockHash } from '../resolve/lock.ts';
import { readPipConfiguration, resolveIndexOptions } from '../inputs/pip-config.ts';
import type { IndexOptionValues } from '../inputs/pip-config.ts';
import { readDependencyInput } from '../inputs/locks/read-input.ts';
import { readRequirementsFile } from '../inputs/requirements-file.ts';
import { resolveDependencySet } from '../resolve/resolver.ts';
import { formatControlOf, type FormatOption } from '../resolve/format-control.ts';
import type { ResolverEvent } from '../resolve/resolver.ts';
import { describeTarget } from '../shared/targets.ts';
import {
  LAMBDA_IMAGE_LIMIT_BYTES,
  LAMBDA_MAX_LAYERS,
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  type Lock,
  type MeasuredPackage,
  type MeasureResult,
  type PackageIndex,
  type Requirement,
  type Strategy,
  type Target,
  type Verdict,
} from '../shared/types.ts';
import { formatBytes } from '../shared/units.ts';

/** How a measured set is routed. Every field is optional; the defaults are in DEFAULT_MEASURE_POLICY. */
export interface MeasurePolicy {
  /**
   * Unzipped bytes kept free for the function's own code (and for any layers the user already
   * attaches: add their unzipped sizes here).
   * @default 5 MiB (5,242,880 bytes)
   */
  readonly reserveBytesForFunctionCode?: number;
  /** Layers the function already uses; lambda-deps may use only the remaining 5 − N. @default 0 */
  readonly existingLayers?: number;
  /** Take this route whatever the size (an error when the set cannot fit that route). */
  readonly forceStrategy?: Strategy;
  /** Largest unzipped bytes per layer; the set is split by package into layers of at most this. @default the whole budget */
  readonly maxLayerBytes?: number;
}

export const DEFAULT_MEASURE_POLICY = {
  reserveBytesForFunctionCode: 5 * 1024 * 1024,
  existingLayers: 0,
} as const;

interface SizedPackage {
  readonly name: string;
  readonly unzippedSize: number;
}

/** First-fit decreasing by package: how many layers of at most `capacity` bytes the packages need. */
function layersNeeded(total: number, capacity: number, packages: readonly SizedPackage[]): number {
  if (total === 0) return 1;
  if (packages.length === 0) return Math.ceil(total / capacity);
  const bins: number[] = [];
  for (const size of packages.map((entry) => entry.unzippedSize).sort((left, right) => right - left)) {
    const bin = bins.findIndex((used) => used + size <= capacity);
    if (bin >= 0) bins[bin] = (bins[bin] as number) + size;
    else bins.push(size);
  }
  return Math.max(bins.length, 1);
}

function dominantPackages(packages: readonly SizedPackage[]): string[] {
  return [...packages]
    .sort((left, right) => right.unzippedSize - left.unzippedSize || (left.name < right.name ? -1 : 1))
    .slice(0, 5)
    .map((entry) => entry.name);
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * The route for a set of `totalUnzipped` bytes: layers when it fits in 250 MB (262,144,000 bytes)
 * minus the reserve, in at most 5 − existingLayers layers; an image below 10 GB; EFS above that
 * (or whatever `forceStrategy` says, when the set fits it).
 * @example decideVerdict(214_000_000, { existingLayers: 1 }).strategy // 'layers'
 */
export function decideVerdict(
  totalUnzipped: number,
  policy: MeasurePolicy = {},
  packages: readonly SizedPackage[] = [],
): Verdict {
  const reserve = policy.reserveBytesForFunctionCode ?? DEFAULT_MEASURE_POLICY.reserveBytesForFunctionCode;
  const existingLayers = policy.existingLayers ?? DEFAULT_MEASURE_POLICY.existingLayers;
  if (!Number.isInteger(existingLayers) || existingLayers < 0 || existingLayers > LAMBDA_MAX_LAYERS) {
    throw new InputError(
      `existingLayers must be a whole number from 0 to ${LAMBDA_MAX_LAYERS}, not ${existingLayers}.`,
      {
        hint: `Lambda allows ${LAMBDA_MAX_LAYERS} layers per function; pass how many the function already uses (--existing-layers N).`,
      },
    );
  }
  if (!Number.isFinite(reserve) || reserve < 0 || reserve >= LAMBDA_UNZIPPED_LIMIT_BYTES) {
    throw new InputError(
      `The reserve for function code must be between 0 and ${formatBytes(LAMBDA_UNZIPPED_LIMIT_BYTES)}, not ${reserve} bytes.`,
      {
        hint: 'Pass the unzipped size of the function code (--reserve-mb N).',
      },
    );
  }
  const budget = LAMBDA_UNZIPPED_LIMIT_BYTES - reserve;
  const freeLayers = LAMBDA_MAX_LAYERS - existingLayers;
  const capacity = Math.min(policy.maxLayerBytes ?? budget, budget);
  const layerCount = layersNeeded(totalUnzipped, capacity, packages);
  const dominant = dominantPackages(packages);
  const size = formatBytes(totalUnzipped);
  const budgetText = `${formatBytes(budget)} (the 250 MiB limit minus ${formatBytes(reserve)} kept for function code)`;
  const biggest = dominant.length > 0 ? `; biggest: ${dominant.slice(0, 3).join(', ')}` : '';
  const fitsLayers = totalUnzipped <= budget && layerCount <= freeLayers;
  const fitsImage = totalUnzipped + reserve < LAMBDA_IMAGE_LIMIT_BYTES;
  const verdict = (strategy: Strategy, reason: string): Verdict => ({
    strategy,
    reason,
    layerCount: strategy === 'layers' ? layerCount : 0,
    budgetBytes: budget,
    dominantPackages: dominant,
  });

  const forced = policy.forceStrategy;
  if (forced === 'layers' && !fitsLayers) {
    throw new InputError(
      `Layers were forced, but ${size} unzipped needs ${plural(layerCount, 'layer')} within ${budgetText} with ${plural(freeLayers, 'free layer')}.`,
      {
        hint: `Let lambda-deps choose (drop the forced strategy), slim the set${biggest.replace('; biggest:', ' (biggest:')}${biggest ? ')' : ''}, or lower --reserve-mb/--existing-layers.`,
      },
    );
  }
  if (forced === 'image' && !fitsImage) {
    throw new InputError(`An image was forced, but ${size} unzipped exceeds the 10 GB image limit.`, {
      hint: 'Use EFS for a set this large.',
    });
  }
  if (forced)
    return verdict(
      forced,
      `${forced} (forced by policy); the set is ${size} unzipped against a layer budget of ${budgetText}${biggest}`,
    );
  if (fitsLayers) {
    return verdict(
      'layers',
      `${size} unzipped fits in ${plural(layerCount, 'layer')} within ${budgetText}; ${plural(freeLayers, 'layer')} free${biggest}`,
    );
  }
  const whyNotLayers =
    totalUnzipped > budget
      ? `${size} unzipped exceeds the layer budget of ${budgetText}`
      : `${size} unzipped needs ${plural(layerCount, 'layer')} but only ${plural(freeLayers, 'layer')} ${freeLayers === 1 ? 'is' : 'are'} free`;
  if (fitsImage) return verdict('image', `${whyNotLayers}; a container image holds up to 10 GB${biggest}`);
  return verdict(
    'efs',
    `${whyNotLayers}, and is over the 10 GB image limit; EFS has no size limit${biggest}`,
  );
}

/**
 * Sizes and verdict for a lock. With `index`, every wheel is measured again through it (exact
 * sum of uncompressed entry sizes, cached by the index client), so a lock read from disk is
 * checked against the real files; without it the lock's own sizes are used.
 * @example const result = await measureDependencySet({ lock, policy: { existingLayers: 1 } });
 */
export async function measureDependencySet(input: {
  lock: Lock;
  index?: PackageIndex;
  policy?: MeasurePolicy;
  lockHash?: string;
}): Promise<MeasureResult> {
  const { lock, index } = input;
  const limit = pLimit(8);
  const packages: MeasuredPackage[] = await Promise.all(
    lock.packages.map((entry) =>
      limit(async () => {
        let { size, unzippedSize } = entry;
        if (index) {
          const measured = await index.measureWheel({
            filename: entry.filename,
            url: entry.url,
            sha256: entry.sha256,
            requiresPython: null,
            yanked: false,
            size: entry.size,
            metadataUrl: null,
            metadataSha256: null,
            source: 'lock',
          });
          size = measured.size;
          unzippedSize = measured.unzippedSize;
        }
        return {
          name: entry.name,
          version: entry.version,
          filename: entry.filename,
          tag: entry.tag,
          size,
          unzippedSize,
        };
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
    verdict: decideVerdict(totals.unzippedSize, input.policy ?? {}, packages),
    problems: [],
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
  readonly target: Target;
  /** Index options given on the command line (highest precedence). */
  readonly cliIndexOptions?: IndexOptionValues;
  /** Environment for PIP_* variables, pip's config files and `${VAR}` expansion. @default process.env */
  readonly environment?: Record<string, string | undefined>;
  /** Where downloads, metadata and sizes are cached. */
  readonly cacheDir: string;
  readonly policy?: MeasurePolicy;
  /** pyproject.toml optional-dependency groups. */
  readonly extras?: readonly string[];
  /** PEP 735 dependency groups (or a lock's groups / Pipfile categories), `--group NAME`. */
  readonly groups?: readonly string[];
  /** Allow pre-releases everywhere (in addition to what the file and pip's config say). */
  readonly pre?: boolean;
  readonly onEvent?: (event: MeasureEvent) => void;
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
  const warnings: string[] = [];
  const emit = (event: MeasureEvent): void => {
    if (event.type === 'index-skipped') {
      warnings.push(
        `${event.index} was left out: its host does not resolve (${event.reason}); the other indexes were used, as pip does. Pass --index-url to name the index you mean.`,
      );
    }
    input.onEvent?.(event);
  };
  emit({ type: 'step', step: 'reading', detail: input.requirementsPath });
  // Locks are honoured exactly and measured without resolving (functions/core/inputs/locks/).
  const read = await readDependencyInput(
    {
      ...input,
      path: input.requirementsPath,
      extras: input.extras ?? [],
      groups: input.groups ?? [],
      environment,
      cliIndexOptions: input.cliIndexOptions ?? {},
      onEvent: emit,
    },
    (locked) => measureDependencySet({ ...locked, policy: input.policy ?? {} }),
  );
  if (read.kind === 'measured') return read;
  const set = read.set;
  const config = await readPipConfiguration(environment);
  const resolved = resolveIndexOptions({
    cli: input.cliIndexOptions ?? {},
    file: set.fileIndexOptions,
    fileSources: set.optionSources,
    environment,
    config,
  });
  const constraints: Requirement[] = [...set.constraints];
  for (const file of resolved.constraintFiles) {
    const constraintSet = await readRequirementsFile(file, { environment });
    constraints.push(...constraintSet.requirements, ...constraintSet.constraints);
  }
  const pre = (input.pre ?? false) || resolved.options.pre;
  const index = createPackageIndex({ ...resolved.options, pre, cacheDir: input.cacheDir, onEvent: emit });
  try {
    emit({ type: 'step', step: 'resolving', detail: describeTarget(input.target) });
    const lock = await resolveDependencySet({
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
      searched: [
        ...(resolved.options.indexUrl ? [resolved.options.indexUrl] : []),
        ...resolved.options.extraIndexUrls,
        ...resolved.options.findLinks,
      ],
      warnings,
      projectRequiresPython: set.projectRequiresPython ?? null,
    });
    emit({ type: 'step', step: 'measuring', detail: `${lock.packages.length} packages` });
    for (const sdist of lock.packages.filter((locked) => locked.tag === 'sdist'))
      warnings.push(
        `${sdist.name} ${sdist.version} has only an sdist (${sdist.filename}): it is built at build time, and its sizes are unknown until then (counted as 0 here).`,
      );
    const hash = lockHash(lock);
    const measured = await measureDependencySet({ lock, policy: input.policy ?? {}, lockHash: hash });
    const result = warnings.length > 0 ? { ...measured, warnings } : measured;
    return { lock, lockHash: hash, result };
  } finally {
    await index.close();
  }
}
