// Resolves a requirement set into one exact file per package for a TARGET (not for this machine),
// the way pip 26 does: resolvelib 1.2's search (search.ts) driven by pip 26's provider
// (provider.ts: candidate order, what to pin next, PEP 440 and PEP 592 rules of packaging 26), so
// the set it picks is the one `pip install --platform … --dry-run` picks, except that markers are
// evaluated for the target (pypa/pip#10050); sdists are chosen as pip chooses them (after wheels). Failures are explained as
// pip's ResolutionImpossible is (errors.ts). This file wires them together and builds the lock.
import pLimit from 'p-limit';
import { InputError, IntegrityError } from '../shared/errors.ts';
import { sha256OfFile } from '../shared/hash.ts';
import { parseSpecifierSet, parseVersion, specifiersContain } from '../shared/pep440.ts';
import { describeTarget, pythonFullVersion } from '../shared/targets.ts';
import type { Lock, LockedPackage, PackageIndex, Requirement, Target } from '../shared/types.ts';
import { PYTHON_IDENTIFIER, ROOT, type Candidate, type FileCandidate, type PipState } from './candidates.ts';
import { ResolutionImpossible, ResolutionTooDeep } from './criteria.ts';
import type { FormatControl } from './format-control.ts';
import { ConflictExplainer, type ExplainContext } from './errors.ts';
import { PipProvider, type ProviderInput } from './provider.ts';
import { eventReporter, type ResolverEvent } from './reporter.ts';
import { Resolution } from './search.ts';

export type { ResolverEvent } from './reporter.ts';

export interface ResolveInput extends ExplainContext {
  readonly requirements: readonly Requirement[];
  /** Restrict versions of the packages they name; they never add a package (pip's `-c`). */
  readonly constraints: readonly Requirement[];
  readonly target: Target;
  readonly index: PackageIndex;
  /** Allow pre-releases everywhere (`--pre`). */
  readonly pre?: boolean;
  /**
   * pip's `--only-binary`, `--no-binary` and `--prefer-binary` (format-control.ts). Absent: pip's
   * default, where a version with only an sdist may be chosen (its lock entry has tag `sdist` and
   * sizes 0, unknown until it is built).
   */
  readonly formatControl?: FormatControl;
  /** Where an sdist's backend gets its build requirements when PKG-INFO is not reliable (provider.ts). */
  readonly buildIndexes?: ProviderInput['buildIndexes'];
  /** pip's hash-checking mode: every chosen file's sha256 must be among its requirement's `--hash` values. */
  readonly hashCheckingMode?: boolean;
  /** The project's own `requires-python` (pyproject.toml or a lock) and the file that says it. */
  readonly projectRequiresPython?: { readonly specifier: string; readonly file: string } | null;
  readonly onEvent?: (event: ResolverEvent) => void;
  /** Give up after this many pinning rounds (pip allows 200,000; real sets need a few hundred). */
  readonly maxRounds?: number;
  /** Give up after this long searching (the rounds are cheap; a search this long is stuck). */
  readonly maxMilliseconds?: number;
}

const DEFAULT_MAX_ROUNDS = 200_000;
const DEFAULT_MAX_MILLISECONDS = 60_000;

interface LockContext {
  readonly hashCheckingMode: boolean;
  readonly rounds: number;
  readonly emit: (event: ResolverEvent) => void;
}

/** The project's own requires-python must admit the target's Python, or nothing is resolved. */
function checkProjectRequiresPython(input: ResolveInput): void {
  const declared = input.projectRequiresPython;
  if (!declared || !declared.specifier.trim()) return;
  const clauses = parseSpecifierSet(declared.specifier);
  if (!clauses) {
    throw new InputError(
      `requires-python "${declared.specifier}" in ${declared.file} is not a valid PEP 440 specifier.`,
      {
        hint: 'Write it as in ">=3.11" or ">=3.10,<3.14".',
      },
    );
  }
  const full = pythonFullVersion(input.target);
  if (specifiersContain(clauses, parseVersion(full) as NonNullable<ReturnType<typeof parseVersion>>)) return;
  throw new InputError(
    `The project requires Python ${declared.specifier} (${declared.file}), but ${describeTarget(input.target)} runs Python ${full}.`,
    { hint: 'Pick a runtime the project supports (--runtime), or change requires-python.' },
  );
}

/**
 * Resolve the full closure of `requirements` for `target`, pick one wheel per package, and measure
 * each chosen wheel. Throws ResolutionError (problems per package, in terms a person can act on)
 * when no set of files fits; InputError for bad requirements; IntegrityError for hash mismatches.
 * @example
 * const lock = await resolveDependencySet({ requirements, constraints: [], target: lambdaTarget('python3.12', 'arm64'), index });
 */
export async function resolveDependencySet(input: ResolveInput): Promise<Lock> {
  checkProjectRequiresPython(input);
  const provider = new PipProvider(input);
  const emit = input.onEvent ?? (() => undefined);
  const budget = {
    maxRounds: input.maxRounds ?? DEFAULT_MAX_ROUNDS,
    maxMilliseconds: input.maxMilliseconds ?? DEFAULT_MAX_MILLISECONDS,
  };
  const search = new Resolution(provider, budget, eventReporter(emit));
  const roots = await provider.rootRequirements();
  let state: PipState;
  try {
    state = await search.resolve(roots);
  } catch (error) {
    const explainer = new ConflictExplainer(provider, search.state.criteria, input);
    if (error instanceof ResolutionImpossible) throw await explainer.describeImpossible(error.causes);
    if (error instanceof ResolutionTooDeep) throw await explainer.describeTooDeep(error.limit, error.causes);
    throw error;
  }
  return buildLock(provider, state, {
    hashCheckingMode: input.hashCheckingMode ?? false,
    rounds: search.rounds,
    emit,
  });
}

/** resolvelib's _build_result: keep only pins reachable from the requirements. */
function connectedPins(state: PipState): Map<string, Candidate> {
  const keyOf = new Map<string, string>();
  for (const [key, candidate] of state.mapping) keyOf.set(candidate.key, key);
  const connected = new Set<string | null>([null]);
  const hasRoute = (key: string, seen: Set<string>): boolean => {
    if (connected.has(key)) return true;
    const criterion = state.criteria.get(key);
    if (!criterion || seen.has(key)) return false;
    seen.add(key);
    for (const { parent } of criterion.information) {
      const parentKey = parent === null ? null : keyOf.get(parent.key);
      if (parentKey === undefined) continue;
      if (parentKey === null || connected.has(parentKey) || hasRoute(parentKey, seen)) {
        connected.add(key);
        return true;
      }
    }
    return false;
  };
  const pins = new Map<string, Candidate>();
  for (const [key, candidate] of state.mapping) if (hasRoute(key, new Set())) pins.set(key, candidate);
  return pins;
}

async function buildLock(provider: PipProvider, state: PipState, context: LockContext): Promise<Lock> {
  const pins = connectedPins(state);
  const files = [...pins.values()].filter(
    (candidate): candidate is FileCandidate => candidate.kind === 'file',
  );
  const requiredBy = new Map<string, Set<string>>();
  for (const [key, criterion] of state.criteria) {
    if (!pins.has(key)) continue;
    const name = key.split('[')[0] as string;
    const parents = requiredBy.get(name) ?? new Set<string>();
    for (const { parent } of criterion.information) {
      const parentName = parent === null ? ROOT : parent.name;
      if (parentName !== name && parentName !== PYTHON_IDENTIFIER) parents.add(parentName);
    }
    requiredBy.set(name, parents);
  }
  if (context.hashCheckingMode) await checkHashes(provider, files, state);
  context.emit({ type: 'measuring', count: files.length });
  const limit = pLimit(8);
  const packages = await Promise.all(
    files.map((candidate) =>
      limit(async (): Promise<LockedPackage> => {
        provider.startMeasuring(candidate);
        const measured = await (provider.measurements.get(candidate.file.url) as Promise<{
          size: number;
          unzippedSize: number;
        }>);
        const sha256 =
          candidate.file.sha256?.toLowerCase() ??
          (await sha256OfFile(await provider.index.download(candidate.file)));
        return {
          name: candidate.name,
          version: candidate.version,
          filename: candidate.file.filename,
          url: candidate.file.url,
          sha256,
          size: measured.size,
          unzippedSize: measured.unzippedSize,
          tag: candidate.tag,
          requiredBy: [...(requiredBy.get(candidate.name) ?? [])].sort(),
        };
      }),
    ),
  );
  packages.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  context.emit({ type: 'resolved', packages: packages.length, rounds: context.rounds });
  return { lockVersion: 1, target: provider.target, packages };
}

/** pip's --require-hashes: every package needs hashes, and its file must match one. */
async function checkHashes(
  provider: PipProvider,
  files: readonly FileCandidate[],
  state: PipState,
): Promise<void> {
  const missing: string[] = [];
  for (const candidate of files) {
    const hashes = new Set<string>(provider.constraintFor(candidate.name)?.hashes ?? []);
    for (const [key, criterion] of state.criteria) {
      if (key.split('[')[0] !== candidate.name) continue;
      for (const { requirement } of criterion.information)
        if (requirement.kind === 'specifier')
          for (const hash of requirement.hashes) hashes.add(hash.toLowerCase());
    }
    const actual =
      candidate.file.sha256?.toLowerCase() ??
      (await sha256OfFile(await provider.index.download(candidate.file)));
    if (hashes.size === 0) {
      missing.push(`${candidate.name}==${candidate.version} --hash=sha256:${actual}`);
      continue;
    }
    if (!hashes.has(actual)) {
      throw new IntegrityError(
        `${candidate.file.filename} has sha256 ${actual}, which is not among the hashes given for ${candidate.name} (${[...hashes].join(', ')}).`,
        {
          packageName: candidate.name,
          hint: 'The file differs from the one the hashes were taken from: check the index you use, or update the --hash values if the change is expected.',
        },
      );
    }
  }
  if (missing.length > 0) {
    throw new InputError(
      `Hash-checking mode is on (a requirement carries --hash), but ${missing.length} package(s) of the resolved set have no hash: ${missing.map((line) => line.split('==')[0]).join(', ')}.`,
      {
        hint: `Add these lines to the requirements file (as pip requires):\n    ${missing.join('\n    ')}`,
      },
    );
  }
}
