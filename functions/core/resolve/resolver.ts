// Resolves a requirement set into one exact file per package for a TARGET (not for this machine).
// The search is a port of resolvelib 1.0.1's backjumping resolver driven the way pip 23.2 drives it
// (same candidate order, same preference of what to pin next, same PEP 440 and PEP 592 rules as
// pip's vendored `packaging` 21.3), so the set it picks is the one `pip install --platform … --dry-run`
// picks, except that markers are evaluated for the target (pypa/pip#10050) and sdists are never chosen.
// Metadata and sizes are fetched lazily, in parallel, and ahead of need.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import pLimit from 'p-limit';
import { InputError, IntegrityError, ResolutionError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import {
  compareVersionText as compareVersions,
  filterVersions,
  parseSpecifierSet,
  parseVersion,
  specifiersContain,
} from '../shared/pep440.ts';
import type { Specifier, Version } from '../shared/pep440.ts';
import { evaluateMarker, parseRequirement } from '../inputs/pep508.ts';
import {
  describeTarget,
  markerEnvironment,
  pythonFullVersion,
  tagRank,
  wheelMachine,
} from '../shared/targets.ts';
import type {
  CoreMetadata,
  DistributionFile,
  Lock,
  LockedPackage,
  Marker,
  MarkerEnvironment,
  PackageIndex,
  Requirement,
  Target,
  WheelSize,
} from '../shared/types.ts';
import { parseWheelFilename } from '../index/wheel-filename.ts';

/** What the resolver reports while it works (for progress output and logs). */
export type ResolverEvent =
  | { readonly type: 'pinned'; readonly name: string; readonly version: string }
  | { readonly type: 'backtracking'; readonly name: string; readonly reason: string }
  | { readonly type: 'measuring'; readonly count: number }
  | { readonly type: 'resolved'; readonly packages: number; readonly rounds: number };

export interface ResolveInput {
  readonly requirements: readonly Requirement[];
  /** Restrict versions of the packages they name; they never add a package (pip's `-c`). */
  readonly constraints: readonly Requirement[];
  readonly target: Target;
  readonly index: PackageIndex;
  /** Allow pre-releases everywhere (`--pre`). */
  readonly pre?: boolean;
  /**
   * Accepted for symmetry with pip's option; the resolver always behaves as `--only-binary=:all:`
   * because nothing is built at resolve time (a version with only an sdist is reported, never chosen).
   */
  readonly onlyBinary?: boolean | readonly string[];
  /** pip's hash-checking mode: every chosen file's sha256 must be among its requirement's `--hash` values. */
  readonly hashCheckingMode?: boolean;
  readonly onEvent?: (event: ResolverEvent) => void;
  /** Give up after this many pinning rounds (pip allows 2,000,000; real sets need a few hundred). */
  readonly maxRounds?: number;
}

const ROOT = '<requirements>';
const PYTHON_IDENTIFIER = '<Python from Requires-Python>';
const DEFAULT_MAX_ROUNDS = 200_000;

// ---------------------------------------------------------------------------------------------
// PEP 440 (functions/core/shared/pep440.ts) in the shapes the resolver uses.

type ParsedVersion = Version;
type Clause = Specifier;
const parseClauses = parseSpecifierSet;

function versionKey(version: ParsedVersion): string {
  return version.key;
}

function clausesContain(clauses: readonly Clause[], version: ParsedVersion): boolean {
  return specifiersContain(clauses, version);
}

/**
 * The versions pip 26's finder lets through (packaging 26's SpecifierSet.filter): with `--pre`
 * every match; otherwise the final releases that match, or the matching pre-releases when no final
 * matches or a clause names a pre-release.
 */
function allowedVersions(
  versions: readonly ParsedVersion[],
  clauses: readonly Clause[],
  pre: boolean,
): Set<string> {
  const allowed = filterVersions(clauses, versions, (version) => version, pre ? true : null);
  return new Set(allowed.map((version) => version.text));
}

/** Requires-Python against the target's full Python version; invalid values are ignored, as pip does. */
function pythonAllowed(requiresPython: string | null, pythonFullVersion: string): boolean {
  if (!requiresPython || !requiresPython.trim()) return true;
  const clauses = parseClauses(requiresPython);
  const version = parseVersion(pythonFullVersion);
  if (!clauses || !version) return true;
  return clausesContain(clauses, version);
}

// ---------------------------------------------------------------------------------------------
// The resolver's model: requirements, candidates and criteria, as in resolvelib.

interface FileCandidate {
  readonly kind: 'file';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
  readonly file: DistributionFile;
  readonly tag: string;
  readonly metadata: CoreMetadata;
  /** How the file was found: from an index, or named directly by a URL. */
  readonly direct: boolean;
}

interface ExtrasCandidate {
  readonly kind: 'extras';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
  readonly base: FileCandidate;
  readonly extras: readonly string[];
}

interface PythonCandidate {
  readonly kind: 'python';
  readonly key: string;
  readonly identifier: string;
  readonly name: string;
  readonly version: string;
}

type Candidate = FileCandidate | ExtrasCandidate | PythonCandidate;

interface SpecifierRequirement {
  readonly kind: 'specifier';
  readonly identifier: string;
  readonly name: string;
  readonly extras: readonly string[];
  readonly specifier: string;
  readonly clauses: readonly Clause[];
  readonly hashes: readonly string[];
  /** As written, for messages (`urllib3<3,>=1.25`). */
  readonly text: string;
  readonly source: Requirement['source'];
}

interface ExplicitRequirement {
  readonly kind: 'explicit';
  readonly identifier: string;
  readonly name: string;
  readonly candidate: Candidate;
  readonly text: string;
  readonly source: Requirement['source'];
}

interface PythonRequirement {
  readonly kind: 'python';
  readonly identifier: string;
  readonly name: string;
  readonly specifier: string;
  readonly clauses: readonly Clause[];
  readonly text: string;
  readonly source: null;
}

type ResolverRequirement = SpecifierRequirement | ExplicitRequirement | PythonRequirement;

interface Information {
  readonly requirement: ResolverRequirement;
  readonly parent: Candidate | null;
}

interface Criterion {
  readonly candidates: CandidateView;
  readonly information: readonly Information[];
  readonly incompatibilities: readonly Candidate[];
}

interface State {
  readonly mapping: Map<string, Candidate>;
  readonly criteria: Map<string, Criterion>;
  backtrackCauses: Information[];
}

/** A re-iterable, lazily built list of candidates (resolvelib's iterable view). */
interface CandidateView {
  iterate(): AsyncGenerator<Candidate>;
  isEmpty(): Promise<boolean>;
}

function listView(candidates: readonly Candidate[]): CandidateView {
  return {
    async *iterate() {
      yield* candidates;
    },
    async isEmpty() {
      return candidates.length === 0;
    },
  };
}

function identifierOf(name: string, extras: readonly string[]): string {
  return extras.length > 0 ? `${name}[${[...extras].sort().join(',')}]` : name;
}

/** One file the index offers, judged for the target. */
interface FileVerdict {
  readonly file: DistributionFile;
  readonly version: ParsedVersion | null;
  /** Best (lowest) rank among its tags, or undefined when none fits. */
  readonly rank: number | undefined;
  readonly tag: string | null;
  readonly build: readonly [number, string] | null;
  readonly wheelTags: readonly string[];
  readonly isWheel: boolean;
  readonly pythonOk: boolean;
}

class NoCandidateProblem {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

class RequirementsConflicted extends Error {
  constructor(readonly criterion: Criterion) {
    super('Requirements conflict');
  }
}

class ResolutionImpossible extends Error {
  constructor(readonly causes: readonly Information[]) {
    super('Resolution impossible');
  }
}

function sha256Hex(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Resolve the full closure of `requirements` for `target`, pick one wheel per package, and measure
 * each chosen wheel. Throws ResolutionError (problems per package, in terms a person can act on)
 * when no set of files fits; InputError for bad requirements; IntegrityError for hash mismatches.
 * @example
 * const lock = await resolveDependencySet({ requirements, constraints: [], target: lambdaTarget('python3.12', 'arm64'), index });
 */
export async function resolveDependencySet(input: ResolveInput): Promise<Lock> {
  const resolver = new DependencyResolver(input);
  return resolver.run();
}

class DependencyResolver {
  private readonly target: Target;
  private readonly index: PackageIndex;
  private readonly environment: MarkerEnvironment;
  private readonly pythonFullVersion: string;
  private readonly pre: boolean;
  private readonly hashCheckingMode: boolean;
  private readonly emit: (event: ResolverEvent) => void;
  private readonly maxRounds: number;
  private readonly input: ResolveInput;

  private readonly listings = new Map<string, Promise<readonly FileVerdict[]>>();
  private readonly metadata = new Map<string, Promise<CoreMetadata>>();
  private readonly fileCandidates = new Map<string, Promise<FileCandidate | null>>();
  private readonly extrasCandidates = new Map<string, ExtrasCandidate>();
  private readonly measurements = new Map<string, Promise<WheelSize>>();
  private readonly rejectedMetadata = new Map<string, string>();
  private readonly prefetched = new Set<string>();
  private readonly pythonCandidate: PythonCandidate;
  private readonly constraints = new Map<
    string,
    { clauses: Clause[]; hashes: string[] | null; texts: string[] }
  >();
  private readonly userRequested = new Map<string, number>();
  private readonly knownDepths = new Map<string, number>();
  private states: State[] = [];
  private rounds = 0;

  constructor(input: ResolveInput) {
    this.input = input;
    this.target = input.target;
    this.index = input.index;
    this.environment = markerEnvironment(input.target);
    this.pythonFullVersion = pythonFullVersion(input.target);
    this.pre = input.pre ?? false;
    this.hashCheckingMode = input.hashCheckingMode ?? false;
    this.emit = input.onEvent ?? (() => undefined);
    this.maxRounds = input.maxRounds ?? DEFAULT_MAX_ROUNDS;
    this.pythonCandidate = {
      kind: 'python',
      key: 'python',
      identifier: PYTHON_IDENTIFIER,
      name: PYTHON_IDENTIFIER,
      version: this.pythonFullVersion,
    };
  }

  private get state(): State {
    const state = this.states.at(-1);
    if (!state) throw new Error('resolver has no state');
    return state;
  }

  async run(): Promise<Lock> {
    this.collectConstraints();
    const roots: ResolverRequirement[] = [];
    for (const [position, requirement] of this.input.requirements.entries()) {
      if (requirement.marker && !this.markerHolds(requirement.marker, [])) continue;
      const converted = await this.convertRequirement(requirement, null);
      if (!this.userRequested.has(converted.identifier))
        this.userRequested.set(converted.identifier, position);
      roots.push(converted);
    }
    let finalState: State;
    try {
      finalState = await this.resolve(roots);
    } catch (error) {
      if (error instanceof ResolutionImpossible) throw await this.describeImpossible(error.causes);
      throw error;
    }
    return this.buildLock(finalState);
  }

  // -- inputs ----------------------------------------------------------------------------------

  private collectConstraints(): void {
    for (const constraint of this.input.constraints) {
      if (constraint.marker && !this.markerHolds(constraint.marker, [])) continue;
      if (constraint.url) {
        throw new InputError(
          `The constraint "${constraint.displayName} @ ${constraint.url}" names a URL; lambda-deps takes version constraints only.`,
          {
            location: constraint.source,
            hint: `Pin the version instead, e.g. "${constraint.displayName}==X.Y", or move the URL into the requirements.`,
          },
        );
      }
      const clauses = this.clausesOrThrow(constraint.specifier, constraint.displayName, constraint.source);
      const existing = this.constraints.get(constraint.name) ?? { clauses: [], hashes: null, texts: [] };
      existing.clauses.push(...clauses);
      existing.texts.push(`${constraint.displayName}${constraint.specifier}`);
      if (constraint.hashes.length > 0) existing.hashes = intersectHashes(existing.hashes, constraint.hashes);
      this.constraints.set(constraint.name, existing);
    }
  }

  private clausesOrThrow(specifier: string, name: string, source: Requirement['source']): Clause[] {
    const clauses = parseClauses(specifier);
    if (!clauses) {
      throw new InputError(`"${name}${specifier}" has an invalid PEP 440 version specifier.`, {
        location: source,
        packageName: source ? null : name,
        hint: 'Write versions as in ">=1.4,<2" or "==2.31.*".',
      });
    }
    return clauses;
  }

  private constraintFor(
    identifier: string,
  ): { clauses: Clause[]; hashes: string[] | null; texts: string[] } | undefined {
    return this.constraints.get(identifier) ?? this.constraints.get(identifier.split('[')[0] as string);
  }

  /** pip's `match_markers`: the marker must hold for one of the requested extras (or for no extra). */
  private markerHolds(marker: Marker, extras: readonly string[]): boolean {
    const candidates = extras.length > 0 ? extras : [null];
    return candidates.some((extra) => evaluateMarker(marker, this.environment, extra));
  }

  private async convertRequirement(
    requirement: Requirement,
    parent: Candidate | null,
  ): Promise<ResolverRequirement> {
    const identifier = identifierOf(requirement.name, requirement.extras);
    const text = `${requirement.displayName}${requirement.extras.length ? `[${requirement.extras.join(',')}]` : ''}${requirement.url ? ` @ ${requirement.url}` : requirement.specifier}`;
    if (requirement.url) {
      const candidate = await this.directCandidate(requirement, parent);
      return {
        kind: 'explicit',
        identifier,
        name: requirement.name,
        candidate,
        text,
        source: requirement.source,
      };
    }
    return {
      kind: 'specifier',
      identifier,
      name: requirement.name,
      extras: requirement.extras,
      specifier: requirement.specifier,
      clauses: this.clausesOrThrow(requirement.specifier, requirement.displayName, requirement.source),
      hashes: requirement.hashes,
      text,
      source: requirement.source,
    };
  }

  private async directCandidate(requirement: Requirement, parent: Candidate | null): Promise<Candidate> {
    const url = requirement.url as string;
    const where = { location: requirement.source, packageName: requirement.source ? null : requirement.name };
    const filename = decodeURIComponent(new URL(url).pathname.split('/').at(-1) ?? '');
    if (!filename.toLowerCase().endsWith('.whl')) {
      throw new InputError(
        `${requirement.displayName} @ ${url} is not a wheel; lambda-deps installs wheels only.`,
        {
          ...where,
          hint: 'Point the direct reference at a .whl built for the target, or name the package with a version so a wheel can be found on an index.',
        },
      );
    }
    const wheel = parseWheelFilename(filename);
    if (wheel.name !== requirement.name) {
      throw new InputError(
        `The direct reference for "${requirement.displayName}" points at a wheel of "${wheel.name}" (${filename}).`,
        {
          ...where,
          hint: 'Fix the name before "@" or the URL.',
        },
      );
    }
    const ranked = bestTag(this.target, wheel.tags);
    if (!ranked) {
      throw new InputError(`${filename} is not a supported wheel for ${describeTarget(this.target)}.`, {
        ...where,
        hint: `Use a wheel tagged for the target, e.g. ${describeWheelTarget(this.target)}.`,
      });
    }
    const fragment = /sha256=([0-9a-f]{64})/i.exec(new URL(url).hash);
    const file: DistributionFile = {
      filename,
      url: url.split('#')[0] as string,
      sha256: fragment ? (fragment[1] as string).toLowerCase() : null,
      requiresPython: null,
      yanked: false,
      size: null,
      metadataUrl: null,
      metadataSha256: null,
      source: parent ? `direct reference from ${parent.name}` : 'direct reference',
    };
    const verdict: FileVerdict = {
      file,
      version: parseVersion(wheel.version),
      rank: ranked.rank,
      tag: ranked.tag,
      build: null,
      wheelTags: wheel.tags,
      isWheel: true,
      pythonOk: true,
    };
    const base = await this.buildFileCandidate(requirement.name, verdict, true);
    if (!base) {
      throw new InputError(
        `${filename}'s metadata does not match its filename (${this.rejectedMetadata.get(file.url) ?? 'unknown'}).`,
        where,
      );
    }
    return requirement.extras.length > 0 ? this.extrasCandidate(base, requirement.extras) : base;
  }

  // -- index access (cached, parallel) -----------------------------------------------------------

  private listing(name: string): Promise<readonly FileVerdict[]> {
    let listing = this.listings.get(name);
    if (!listing) {
      listing = this.index.listFiles(name).then((files) => files.map((file) => this.judgeFile(name, file)));
      this.listings.set(name, listing);
    }
    return listing;
  }

  private judgeFile(name: string, file: DistributionFile): FileVerdict {
    const pythonOk = pythonAllowed(file.requiresPython, this.pythonFullVersion);
    if (!file.filename.toLowerCase().endsWith('.whl')) {
      return {
        file,
        version: sdistVersion(name, file.filename),
        rank: undefined,
        tag: null,
        build: null,
        wheelTags: [],
        isWheel: false,
        pythonOk,
      };
    }
    // A wheel whose name does not parse, or names another project, is never a candidate.
    const unusable = {
      file,
      version: null,
      rank: undefined,
      tag: null,
      build: null,
      wheelTags: [],
      isWheel: true,
      pythonOk,
    };
    let wheel;
    try {
      wheel = parseWheelFilename(file.filename);
    } catch {
      return unusable;
    }
    if (wheel.name !== name) return unusable;
    const ranked = bestTag(this.target, wheel.tags);
    const buildMatch = wheel.build ? /^(\d+)(.*)$/.exec(wheel.build) : null;
    return {
      file,
      version: parseVersion(wheel.version),
      rank: ranked?.rank,
      tag: ranked?.tag ?? null,
      build: buildMatch ? [Number(buildMatch[1]), buildMatch[2] as string] : null,
      wheelTags: wheel.tags,
      isWheel: true,
      pythonOk,
    };
  }

  private fetchMetadata(file: DistributionFile): Promise<CoreMetadata> {
    let metadata = this.metadata.get(file.url);
    if (!metadata) {
      metadata = this.index.fetchMetadata(file);
      // Prefetched metadata may never be awaited; keep its failure from becoming unhandled.
      metadata.catch(() => undefined);
      this.metadata.set(file.url, metadata);
    }
    return metadata;
  }

  private buildFileCandidate(
    name: string,
    verdict: FileVerdict,
    direct: boolean,
  ): Promise<FileCandidate | null> {
    const cacheKey = `${name}@${verdict.file.url}`;
    let candidate = this.fileCandidates.get(cacheKey);
    if (!candidate) {
      candidate = this.fetchMetadata(verdict.file).then((metadata) => {
        const version = verdict.version;
        const metadataVersion = parseVersion(metadata.version);
        if (
          canonicalizeName(metadata.name) !== name ||
          !version ||
          !metadataVersion ||
          versionKey(metadataVersion) !== versionKey(version)
        ) {
          // pip skips a file whose metadata disagrees with its name (MetadataInconsistent).
          this.rejectedMetadata.set(
            verdict.file.url,
            `its metadata says ${metadata.name} ${metadata.version}`,
          );
          return null;
        }
        return {
          kind: 'file' as const,
          key: `${name}@${verdict.file.url}`,
          identifier: name,
          name,
          version: version.text,
          file: verdict.file,
          tag: verdict.tag as string,
          metadata,
          direct,
        };
      });
      candidate.catch(() => undefined);
      this.fileCandidates.set(cacheKey, candidate);
    }
    return candidate;
  }

  private extrasCandidate(base: FileCandidate, extras: readonly string[]): ExtrasCandidate {
    const identifier = identifierOf(base.name, extras);
    const key = `${identifier}@${base.file.url}`;
    let candidate = this.extrasCandidates.get(key);
    if (!candidate) {
      candidate = {
        kind: 'extras',
        key,
        identifier,
        name: base.name,
        version: base.version,
        base,
        extras: [...extras].sort(),
      };
      this.extrasCandidates.set(key, candidate);
    }
    return candidate;
  }

  /** Start fetching what pinning `identifier` will need: its listing and its best file's metadata. */
  private prefetch(requirement: ResolverRequirement): void {
    if (requirement.kind !== 'specifier') return;
    this.prefetchName(requirement.name, requirement.clauses, requirement.extras);
  }

  /**
   * Fetch a name's listing and its best file's metadata, then do the same for that file's
   * dependencies, without waiting for the resolver to pin anything: the closure's pages and
   * metadata load in parallel, and the (sequential) search then finds them ready.
   */
  private prefetchName(name: string, clauses: readonly Clause[], extras: readonly string[]): void {
    if (this.prefetched.has(name)) return;
    this.prefetched.add(name);
    void this.listing(name)
      .then((verdicts) => {
        const best = this.orderFiles(verdicts, clauses, []).at(0);
        return best ? this.buildFileCandidate(name, best, false) : null;
      })
      .then((candidate) => {
        if (!candidate) return;
        // The best file is usually the one chosen: its sizes are needed at the end anyway.
        this.startMeasuring(candidate);
        const provided = new Set(candidate.metadata.providesExtra.map(canonicalizeName));
        const validExtras = extras.filter((extra) => provided.has(extra));
        for (const text of candidate.metadata.requiresDist) {
          let dependency: Requirement;
          try {
            dependency = parseRequirement(text);
          } catch {
            continue;
          }
          if (dependency.url || (dependency.marker && !this.markerHolds(dependency.marker, validExtras)))
            continue;
          const dependencyClauses = parseClauses(dependency.specifier);
          if (dependencyClauses) this.prefetchName(dependency.name, dependencyClauses, dependency.extras);
        }
      })
      .catch(() => undefined);
  }

  private startMeasuring(candidate: FileCandidate): void {
    if (this.measurements.has(candidate.file.url)) return;
    const measurement = this.index.measureWheel(candidate.file);
    measurement.catch(() => undefined);
    this.measurements.set(candidate.file.url, measurement);
  }

  // -- candidate search (pip's PackageFinder + Factory) -------------------------------------------

  /**
   * The files pip would offer, best first: compatible wheels whose version the specifier and the
   * pre-release rule let through, hash-filtered, sorted by (allowed hash, not yanked, version,
   * tag priority, build tag), with yanked files dropped unless every one is yanked and the
   * specifier pins `==`.
   */
  private orderFiles(
    verdicts: readonly FileVerdict[],
    clauses: readonly Clause[],
    hashes: readonly string[],
  ): FileVerdict[] {
    const usable = verdicts.filter(
      (verdict) => verdict.isWheel && verdict.rank !== undefined && verdict.version && verdict.pythonOk,
    );
    const allowed = allowedVersions(
      uniqueVersions(usable.map((verdict) => verdict.version as ParsedVersion)),
      clauses,
      this.pre,
    );
    let applicable = usable.filter((verdict) => allowed.has((verdict.version as ParsedVersion).text));
    const hashAllowed = (verdict: FileVerdict): boolean =>
      hashes.length > 0 && verdict.file.sha256 !== null && hashes.includes(verdict.file.sha256.toLowerCase());
    if (hashes.length > 0 && applicable.some(hashAllowed)) {
      applicable = applicable.filter((verdict) => verdict.file.sha256 === null || hashAllowed(verdict));
    }
    applicable.sort((left, right) => {
      const byHash = Number(hashAllowed(right)) - Number(hashAllowed(left));
      if (byHash) return byHash;
      const byYank = Number(left.file.yanked !== false) - Number(right.file.yanked !== false);
      if (byYank) return byYank;
      const byVersion = compareVersions(
        (right.version as ParsedVersion).text,
        (left.version as ParsedVersion).text,
      );
      if (byVersion) return byVersion;
      const byRank = (left.rank as number) - (right.rank as number);
      if (byRank) return byRank;
      return compareBuild(right.build, left.build);
    });
    const allYanked = applicable.every((verdict) => verdict.file.yanked !== false);
    const pinned = clauses.some(
      (clause) => clause.operator === '===' || (clause.operator === '==' && !clause.wildcard),
    );
    return applicable.filter((verdict) => verdict.file.yanked === false || (allYanked && pinned));
  }

  private async findMatches(
    identifier: string,
    requirements: readonly ResolverRequirement[],
    incompatibilities: readonly Candidate[],
    criteria: Map<string, Criterion>,
  ): Promise<CandidateView> {
    if (identifier === PYTHON_IDENTIFIER) {
      const fits = requirements.every((requirement) => this.satisfies(requirement, this.pythonCandidate));
      return listView(fits ? [this.pythonCandidate] : []);
    }
    const name = identifier.split('[')[0] as string;
    const extras = identifier.includes('[')
      ? identifier.slice(identifier.indexOf('[') + 1, -1).split(',')
      : [];
    const explicit = new Map<string, Candidate>();
    const specifiers: SpecifierRequirement[] = [];
    for (const requirement of requirements) {
      if (requirement.kind === 'explicit') explicit.set(requirement.candidate.key, requirement.candidate);
      else if (requirement.kind === 'specifier') specifiers.push(requirement);
    }
    if (extras.length > 0) {
      // An extras node follows its base when the base is already tied to one file.
      for (const information of criteria.get(name)?.information ?? []) {
        const requirement = information.requirement;
        if (requirement.kind !== 'explicit') continue;
        const base =
          requirement.candidate.kind === 'extras' ? requirement.candidate.base : requirement.candidate;
        if (base.kind === 'file') {
          const candidate = this.extrasCandidate(base, extras);
          explicit.set(candidate.key, candidate);
        }
      }
    }
    const incompatible = new Set(incompatibilities.map((candidate) => candidate.key));
    const constraint = this.constraintFor(identifier);
    if (explicit.size > 0) {
      return listView(
        [...explicit.values()].filter(
          (candidate) =>
            !incompatible.has(candidate.key) &&
            (!constraint || this.versionMatches(constraint.clauses, candidate.version)) &&
            requirements.every((requirement) => this.satisfies(requirement, candidate)),
        ),
      );
    }
    const clauses = [
      ...(constraint?.clauses ?? []),
      ...specifiers.flatMap((requirement) => requirement.clauses),
    ];
    let hashes: string[] | null = constraint?.hashes ?? null;
    for (const requirement of specifiers)
      if (requirement.hashes.length > 0) hashes = intersectHashes(hashes, requirement.hashes);
    const ordered = this.orderFiles(await this.listing(name), clauses, hashes ?? []);
    return this.foundView(name, extras, ordered, incompatible);
  }

  private foundView(
    name: string,
    extras: readonly string[],
    ordered: readonly FileVerdict[],
    incompatible: ReadonlySet<string>,
  ): CandidateView {
    const build = (verdict: FileVerdict): Promise<FileCandidate | null> =>
      this.buildFileCandidate(name, verdict, false);
    const withExtras = (base: FileCandidate): Candidate =>
      extras.length > 0 ? this.extrasCandidate(base, extras) : base;
    let firstUsable: Promise<boolean> | null = null;
    const view: CandidateView = {
      async *iterate() {
        const seen = new Set<string>();
        for (const [position, verdict] of ordered.entries()) {
          const key = versionKey(verdict.version as ParsedVersion);
          if (seen.has(key)) continue;
          // Fetch the next candidate's metadata while this one is being tried.
          const next = ordered[position + 1];
          if (next) void build(next);
          const base = await build(verdict);
          if (!base) continue;
          seen.add(key);
          const candidate = withExtras(base);
          if (incompatible.has(candidate.key)) continue;
          yield candidate;
        }
      },
      isEmpty() {
        firstUsable ??= (async () => {
          const iterator = view.iterate();
          const first = await iterator.next();
          await iterator.return(undefined);
          return first.done === true;
        })();
        return firstUsable;
      },
    };
    return view;
  }

  private versionMatches(clauses: readonly Clause[], version: string): boolean {
    const parsed = parseVersion(version);
    return parsed !== null && clausesContain(clauses, parsed);
  }

  private satisfies(requirement: ResolverRequirement, candidate: Candidate): boolean {
    if (requirement.kind === 'explicit') return requirement.candidate.key === candidate.key;
    return this.versionMatches(requirement.clauses, candidate.version);
  }

  /** pip's Candidate.iter_dependencies, with markers evaluated for the target. */
  private async dependencies(candidate: Candidate): Promise<ResolverRequirement[]> {
    if (candidate.kind === 'python') return [];
    const dependencies: ResolverRequirement[] = [];
    const base = candidate.kind === 'extras' ? candidate.base : candidate;
    let extras: string[] = [];
    if (candidate.kind === 'extras') {
      dependencies.push({
        kind: 'explicit',
        identifier: base.name,
        name: base.name,
        candidate: base,
        text: `${base.name}==${base.version}`,
        source: null,
      });
      const provided = new Set(base.metadata.providesExtra.map(canonicalizeName));
      extras = candidate.extras.filter((extra) => provided.has(extra));
    }
    for (const text of base.metadata.requiresDist) {
      let requirement: Requirement;
      try {
        requirement = parseRequirement(text);
      } catch (error) {
        throw new ResolutionError(
          `${base.name} ${base.version} declares a dependency that is not valid PEP 508: "${text}".`,
          [
            {
              package: base.name,
              message: `${base.name} ${base.version} declares an invalid dependency "${text}"`,
            },
          ],
          {
            packageName: base.name,
            cause: error,
            hint: `Pin another version of ${base.name} (with "${base.name}!=${base.version}").`,
          },
        );
      }
      if (requirement.marker && !this.markerHolds(requirement.marker, extras)) continue;
      dependencies.push(await this.convertRequirement(requirement, candidate));
    }
    if (candidate.kind === 'file' && base.metadata.requiresPython && base.metadata.requiresPython.trim()) {
      const clauses = parseClauses(base.metadata.requiresPython);
      if (clauses) {
        dependencies.push({
          kind: 'python',
          identifier: PYTHON_IDENTIFIER,
          name: PYTHON_IDENTIFIER,
          specifier: base.metadata.requiresPython,
          clauses,
          text: `Python${base.metadata.requiresPython}`,
          source: null,
        });
      }
    }
    return dependencies;
  }

  // -- resolvelib 1.0.1 ----------------------------------------------------------------------------

  private async addToCriteria(
    criteria: Map<string, Criterion>,
    requirement: ResolverRequirement,
    parent: Candidate | null,
  ): Promise<void> {
    const identifier = requirement.identifier;
    const criterion = criteria.get(identifier);
    const incompatibilities = criterion ? [...criterion.incompatibilities] : [];
    const requirements = [
      ...(criterion?.information.map((information) => information.requirement) ?? []),
      requirement,
    ];
    const candidates = await this.findMatches(identifier, requirements, incompatibilities, criteria);
    const information = [...(criterion?.information ?? []), { requirement, parent }];
    const updated: Criterion = { candidates, information, incompatibilities };
    if (await candidates.isEmpty()) throw new RequirementsConflicted(updated);
    criteria.set(identifier, updated);
  }

  private removeInformationFromCriteria(
    criteria: Map<string, Criterion>,
    parents: ReadonlySet<string>,
  ): void {
    if (parents.size === 0) return;
    for (const [key, criterion] of criteria) {
      criteria.set(key, {
        candidates: criterion.candidates,
        information: criterion.information.filter(
          (information) => information.parent === null || !parents.has(information.parent.identifier),
        ),
        incompatibilities: criterion.incompatibilities,
      });
    }
  }

  /** pip 23.2's PipProvider.get_preference, as a sortable tuple. */
  private preference(identifier: string): (number | string | boolean)[] {
    const information = this.state.criteria.get(identifier)?.information ?? [];
    const operators: string[] = [];
    let direct = false;
    for (const { requirement } of information) {
      if (requirement.kind === 'explicit') direct = true;
      if (requirement.kind === 'specifier')
        operators.push(...requirement.clauses.map((clause) => clause.operator));
    }
    const pinned = operators.some((operator) => operator.startsWith('=='));
    const unfree = operators.length > 0;
    let inferredDepth: number;
    if (this.userRequested.has(identifier)) inferredDepth = 1;
    else if (information.length > 0) {
      inferredDepth =
        Math.min(
          ...information.map(({ parent }) =>
            parent ? (this.knownDepths.get(parent.identifier) ?? Number.POSITIVE_INFINITY) : 0,
          ),
        ) + 1;
    } else inferredDepth = Number.POSITIVE_INFINITY;
    this.knownDepths.set(identifier, inferredDepth);
    const requestedOrder = this.userRequested.get(identifier) ?? Number.POSITIVE_INFINITY;
    const backtrackCause = this.state.backtrackCauses.some(
      (cause) => cause.requirement.identifier === identifier || cause.parent?.identifier === identifier,
    );
    return [
      identifier !== PYTHON_IDENTIFIER,
      !direct,
      !pinned,
      !backtrackCause,
      inferredDepth,
      requestedOrder,
      !unfree,
      identifier,
    ];
  }

  private isCurrentPinSatisfying(name: string, criterion: Criterion): boolean {
    const pin = this.state.mapping.get(name);
    if (!pin) return false;
    return criterion.information.every((information) => this.satisfies(information.requirement, pin));
  }

  private async updatedCriteria(candidate: Candidate): Promise<Map<string, Criterion>> {
    const criteria = new Map(this.state.criteria);
    const dependencies = await this.dependencies(candidate);
    for (const dependency of dependencies) this.prefetch(dependency);
    for (const dependency of dependencies) await this.addToCriteria(criteria, dependency, candidate);
    return criteria;
  }

  private async attemptToPin(name: string): Promise<Criterion[]> {
    const criterion = this.state.criteria.get(name) as Criterion;
    const causes: Criterion[] = [];
    for await (const candidate of criterion.candidates.iterate()) {
      let criteria: Map<string, Criterion>;
      try {
        criteria = await this.updatedCriteria(candidate);
      } catch (error) {
        if (error instanceof RequirementsConflicted) {
          causes.push(error.criterion);
          continue;
        }
        throw error;
      }
      for (const [key, value] of criteria) this.state.criteria.set(key, value);
      this.state.mapping.delete(name);
      this.state.mapping.set(name, candidate);
      if (candidate.kind === 'file') this.startMeasuring(candidate);
      this.emit({ type: 'pinned', name, version: candidate.version });
      return [];
    }
    return causes;
  }

  private pushNewState(): void {
    const base = this.state;
    this.states.push({
      mapping: new Map(base.mapping),
      criteria: new Map(base.criteria),
      backtrackCauses: [...base.backtrackCauses],
    });
  }

  private async backjump(causes: readonly Information[]): Promise<boolean> {
    const incompatibleDeps = new Set<string>();
    for (const cause of causes) {
      if (cause.parent) incompatibleDeps.add(cause.parent.identifier);
      incompatibleDeps.add(cause.requirement.identifier);
    }
    while (this.states.length >= 3) {
      this.states.pop();
      let brokenState: State | undefined;
      let name = '';
      let candidate: Candidate | undefined;
      for (;;) {
        brokenState = this.states.pop();
        const last = brokenState ? [...brokenState.mapping.entries()].at(-1) : undefined;
        if (!brokenState || !last) throw new ResolutionImpossible(causes);
        [name, candidate] = last;
        brokenState.mapping.delete(name);
        const current = new Set(
          (await this.dependencies(candidate)).map((dependency) => dependency.identifier),
        );
        if ([...current].some((dependency) => incompatibleDeps.has(dependency))) break;
      }
      this.emit({ type: 'backtracking', name, reason: `${name} ${candidate.version} leads to a conflict` });
      const incompatibilitiesFromBroken: [string, Candidate[]][] = [...brokenState.criteria.entries()].map(
        ([key, value]) => [key, [...value.incompatibilities]],
      );
      incompatibilitiesFromBroken.push([name, [candidate]]);
      this.pushNewState();
      if (await this.patchCriteria(incompatibilitiesFromBroken)) return true;
    }
    return false;
  }

  private async patchCriteria(incompatibilitiesFromBroken: [string, Candidate[]][]): Promise<boolean> {
    for (const [key, incompatibilities] of incompatibilitiesFromBroken) {
      if (incompatibilities.length === 0) continue;
      const criterion = this.state.criteria.get(key);
      if (!criterion) continue;
      const candidates = await this.findMatches(
        key,
        criterion.information.map((information) => information.requirement),
        incompatibilities,
        this.state.criteria,
      );
      if (await candidates.isEmpty()) return false;
      incompatibilities.push(...criterion.incompatibilities);
      this.state.criteria.set(key, {
        candidates,
        information: [...criterion.information],
        incompatibilities,
      });
    }
    return true;
  }

  private async resolve(roots: readonly ResolverRequirement[]): Promise<State> {
    this.states = [{ mapping: new Map(), criteria: new Map(), backtrackCauses: [] }];
    for (const root of roots) this.prefetch(root);
    for (const root of roots) {
      try {
        await this.addToCriteria(this.state.criteria, root, null);
      } catch (error) {
        if (error instanceof RequirementsConflicted)
          throw new ResolutionImpossible(error.criterion.information);
        throw error;
      }
    }
    this.pushNewState();
    for (this.rounds = 0; this.rounds < this.maxRounds; this.rounds++) {
      const unsatisfied = [...this.state.criteria.entries()]
        .filter(([key, criterion]) => !this.isCurrentPinSatisfying(key, criterion))
        .map(([key]) => key);
      if (unsatisfied.length === 0) return this.state;
      const satisfied = new Set([...this.state.criteria.keys()].filter((key) => !unsatisfied.includes(key)));
      let chosen = unsatisfied[0] as string;
      let chosenPreference = this.preference(chosen);
      for (const name of unsatisfied.slice(1)) {
        const preference = this.preference(name);
        if (comparePreference(preference, chosenPreference) < 0) {
          chosen = name;
          chosenPreference = preference;
        }
      }
      const failureCauses = await this.attemptToPin(chosen);
      if (failureCauses.length > 0) {
        const causes = failureCauses.flatMap((criterion) => [...criterion.information]);
        const success = await this.backjump(causes);
        this.state.backtrackCauses = [...causes];
        if (!success) throw new ResolutionImpossible(this.state.backtrackCauses);
      } else {
        const newlyUnsatisfied = new Set(
          [...this.state.criteria.entries()]
            .filter(([key, criterion]) => satisfied.has(key) && !this.isCurrentPinSatisfying(key, criterion))
            .map(([key]) => key),
        );
        this.removeInformationFromCriteria(this.state.criteria, newlyUnsatisfied);
        this.pushNewState();
      }
    }
    throw new ResolutionError(
      `Gave up after ${this.maxRounds} resolution rounds for ${describeTarget(this.target)}.`,
      [
        {
          package: ROOT,
          message: `the dependency graph needed more than ${this.maxRounds} rounds to settle`,
        },
      ],
      {
        hint: 'Pin the versions of the packages that keep changing (see --debug output) to narrow the search.',
      },
    );
  }

  // -- results ---------------------------------------------------------------------------------------

  /** resolvelib's _build_result: keep only pins reachable from the requirements. */
  private connectedPins(state: State): Map<string, Candidate> {
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

  private async buildLock(state: State): Promise<Lock> {
    const pins = this.connectedPins(state);
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
    if (this.hashCheckingMode) await this.checkHashes(files, state);
    this.emit({ type: 'measuring', count: files.length });
    const limit = pLimit(8);
    const packages = await Promise.all(
      files.map((candidate) =>
        limit(async (): Promise<LockedPackage> => {
          this.startMeasuring(candidate);
          const measured = await (this.measurements.get(candidate.file.url) as Promise<{
            size: number;
            unzippedSize: number;
          }>);
          const sha256 =
            candidate.file.sha256?.toLowerCase() ??
            (await sha256Hex(await this.index.download(candidate.file)));
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
    this.emit({ type: 'resolved', packages: packages.length, rounds: this.rounds });
    return { lockVersion: 1, target: this.target, packages };
  }

  /** pip's --require-hashes: every package needs hashes, and its file must match one. */
  private async checkHashes(files: readonly FileCandidate[], state: State): Promise<void> {
    const missing: string[] = [];
    for (const candidate of files) {
      const hashes = new Set<string>(this.constraintFor(candidate.name)?.hashes ?? []);
      for (const [key, criterion] of state.criteria) {
        if (key.split('[')[0] !== candidate.name) continue;
        for (const { requirement } of criterion.information)
          if (requirement.kind === 'specifier')
            for (const hash of requirement.hashes) hashes.add(hash.toLowerCase());
      }
      const actual =
        candidate.file.sha256?.toLowerCase() ?? (await sha256Hex(await this.index.download(candidate.file)));
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

  // -- explanations ------------------------------------------------------------------------------------

  private async describeImpossible(causes: readonly Information[]): Promise<ResolutionError> {
    const problems: { package: string; message: string }[] = [];
    const pythonCauses = causes.filter(
      (cause) =>
        cause.requirement.kind === 'python' && !this.satisfies(cause.requirement, this.pythonCandidate),
    );
    if (pythonCauses.length > 0) {
      for (const cause of pythonCauses) {
        const parent = cause.parent;
        const name = parent?.name ?? ROOT;
        problems.push({
          package: name,
          message:
            `${name} ${parent?.version ?? ''} requires Python ${(cause.requirement as PythonRequirement).specifier}; ${describeTarget(this.target)} runs Python ${this.target.pythonVersion}`.replace(
              '  ',
              ' ',
            ),
        });
      }
    } else {
      const byName = new Map<string, Information[]>();
      for (const cause of causes) {
        const name = cause.requirement.name;
        byName.set(name, [...(byName.get(name) ?? []), cause]);
      }
      for (const [name, group] of byName) {
        const unavailable = await this.explainUnavailable(name, group);
        if (unavailable) problems.push({ package: name, message: unavailable.message });
        else problems.push({ package: name, message: this.explainConflict(name, group) });
      }
    }
    const summary = problems
      .map((problem) =>
        problem.message.startsWith(problem.package)
          ? `  - ${problem.message}`
          : `  - ${problem.package}: ${problem.message}`,
      )
      .join('\n');
    return new ResolutionError(
      `No set of wheels satisfies the requirements for ${describeTarget(this.target)}:\n${summary}`,
      problems,
      {
        hint: 'Relax or change the versions named above, pick a target whose Python and glibc the wheels support (--runtime, or --python/--glibc for an image), or add an index that has compatible wheels.',
      },
    );
  }

  /** ` (via <requirements> → a 1.0 → b 2.0)` when the parent was not asked for directly. */
  private via(parent: Candidate): string {
    const chain = this.chain(parent);
    return chain.split(' → ').length > 2 ? ` (via ${chain})` : '';
  }

  private chain(parent: Candidate | null): string {
    const steps: string[] = [];
    let current = parent;
    const seen = new Set<string>();
    while (current && !seen.has(current.identifier) && steps.length < 8) {
      seen.add(current.identifier);
      steps.unshift(`${current.name} ${current.version}`);
      const criterion = this.states.at(-1)?.criteria.get(current.identifier);
      current = criterion?.information[0]?.parent ?? null;
    }
    return [ROOT, ...steps].join(' → ');
  }

  private explainConflict(name: string, group: readonly Information[]): string {
    const parts = group.map(({ requirement, parent }) => {
      const wants =
        requirement.kind === 'explicit'
          ? `${requirement.candidate.name}==${requirement.candidate.version}`
          : requirement.text;
      const where = requirement.source ? ` (${requirement.source.file}:${requirement.source.line})` : '';
      return parent
        ? `${parent.name} ${parent.version} requires ${wants}${this.via(parent)}`
        : `the requirements ask for ${wants}${where}`;
    });
    const constraint = this.constraints.get(name);
    if (constraint) parts.push(`the constraints ask for ${constraint.texts.join(', ')}`);
    return `conflicting requirements: ${[...new Set(parts)].join('; ')}`;
  }

  /** When no file of `name` can satisfy the requirements, say why for the most recent versions. */
  private async explainUnavailable(
    name: string,
    group: readonly Information[],
  ): Promise<NoCandidateProblem | null> {
    if (name === PYTHON_IDENTIFIER) return null;
    const specifiers = group
      .map((information) => information.requirement)
      .filter((requirement) => requirement.kind === 'specifier');
    if (specifiers.length !== group.length) return null;
    const constraint = this.constraintFor(name);
    const clauses = [
      ...(constraint?.clauses ?? []),
      ...specifiers.flatMap((requirement) => requirement.clauses),
    ];
    const wanted = [
      ...new Set([...specifiers.map((requirement) => requirement.text), ...(constraint?.texts ?? [])]),
    ].join(', ');
    let verdicts: readonly FileVerdict[];
    try {
      verdicts = await this.listing(name);
    } catch {
      return null;
    }
    if (verdicts.length === 0) {
      return new NoCandidateProblem(
        name,
        `no index or find-links location offers any file for "${name}" (asked for ${wanted}${this.requesters(group)}); check the name and the index options`,
      );
    }
    const stillFits = this.orderFiles(verdicts, clauses, []);
    if (stillFits.length > 0) {
      // Files exist that fit the target and the specifier: the failure is a conflict, not availability.
      return null;
    }
    const byVersion = new Map<string, FileVerdict[]>();
    for (const verdict of verdicts) {
      if (!verdict.version) continue;
      const key = verdict.version.text;
      byVersion.set(key, [...(byVersion.get(key) ?? []), verdict]);
    }
    const versions = [...byVersion.keys()].sort((left, right) => compareVersions(right, left));
    const matching = versions.filter((version) =>
      clausesContain(clauses, parseVersion(version) as ParsedVersion),
    );
    if (matching.length === 0 && group.length > 1) return null;
    const fitting = versions.find((version) =>
      (byVersion.get(version) ?? []).some(
        (verdict) => verdict.isWheel && verdict.rank !== undefined && verdict.pythonOk,
      ),
    );
    const reasons = matching
      .slice(0, 3)
      .map((version) => this.explainVersion(name, version, byVersion.get(version) ?? []));
    if (matching.length === 0)
      reasons.push(`no version matches (available: ${versions.slice(0, 5).join(', ')})`);
    const asked = `${wanted}${this.requesters(group)}`;
    let message = asked === name ? reasons.join('; ') : `${asked}: ${reasons.join('; ')}`;
    if (fitting && !matching.slice(0, 3).includes(fitting)) {
      message += matching.includes(fitting)
        ? `; ${fitting} fits`
        : `; ${fitting} fits the target but not ${wanted}`;
    } else if (!fitting) message += `; no version of ${name} has a wheel for ${describeTarget(this.target)}`;
    return new NoCandidateProblem(name, message);
  }

  private requesters(group: readonly Information[]): string {
    const parents = [
      ...new Set(
        group.map(({ parent }) => (parent ? `${parent.name} ${parent.version}` : null)).filter(Boolean),
      ),
    ];
    return parents.length > 0 ? ` (required by ${parents.join(', ')})` : '';
  }

  private explainVersion(name: string, version: string, verdicts: readonly FileVerdict[]): string {
    const parsed = parseVersion(version) as ParsedVersion;
    const label = `${name} ${version}`;
    const wheels = verdicts.filter((verdict) => verdict.isWheel);
    if (wheels.length === 0) {
      return `${label} has only a source distribution (${verdicts[0]?.file.filename ?? 'sdist'}); lambda-deps installs wheels only`;
    }
    const compatible = wheels.filter((verdict) => verdict.rank !== undefined);
    if (compatible.length === 0)
      return `${label} ${this.explainTags(wheels.flatMap((verdict) => verdict.wheelTags))}`;
    const pythonOk = compatible.filter((verdict) => verdict.pythonOk);
    if (pythonOk.length === 0) {
      return `${label} requires Python ${compatible[0]?.file.requiresPython ?? '?'}; the target runs Python ${this.target.pythonVersion}`;
    }
    if (parsed.isPrerelease && !this.pre)
      return `${label} is a pre-release; allow it with --pre or name it in the specifier (e.g. ==${version})`;
    if (pythonOk.every((verdict) => verdict.file.yanked !== false)) {
      const reason = pythonOk[0]?.file.yanked;
      return `${label} is yanked${typeof reason === 'string' ? ` (${reason})` : ''}; pin it with ==${version} to use it anyway`;
    }
    return `${label} could not be used`;
  }

  /** Say, in terms of the target, why none of these wheel tags fits. */
  private explainTags(tags: readonly string[]): string {
    const target = this.target;
    const machine = wheelMachine(target.architecture);
    const cp = `cp3${target.pythonVersion.split('.')[1]}`;
    const targetGlibc = glibcNumber(target.glibc);
    const parsed = tags.map((tag) => {
      const [python = '', abi = '', platform = ''] = tag.split('-');
      return { python, abi, platform, tag, ...platformFacts(platform) };
    });
    const pythonFits = (entry: (typeof parsed)[number]): boolean => {
      const python = entry.python;
      if (python === cp || python === 'py3' || python === `py3${cp.slice(3)}` || /^py3\d*$/.test(python)) {
        return entry.abi === 'none' || entry.abi === cp || entry.abi === 'abi3' || python.startsWith('py');
      }
      if (entry.abi === 'abi3' && /^cp3\d+$/.test(python))
        return Number(python.slice(3)) <= Number(cp.slice(3));
      return false;
    };
    const platformFits = (entry: (typeof parsed)[number]): boolean =>
      entry.platform === 'any' ||
      (entry.family === 'manylinux' && entry.machine === machine && (entry.glibc ?? 0) <= targetGlibc);
    const glibcBlocked = parsed.filter(
      (entry) =>
        pythonFits(entry) &&
        entry.family === 'manylinux' &&
        entry.machine === machine &&
        (entry.glibc ?? 0) > targetGlibc,
    );
    if (glibcBlocked.length > 0) {
      const needed = glibcBlocked.reduce((lowest, entry) =>
        (entry.glibc ?? 0) < (lowest.glibc ?? 0) ? entry : lowest,
      );
      const glibcText = `${Math.floor((needed.glibc ?? 0) / 1000)}.${(needed.glibc ?? 0) % 1000}`;
      const runs = target.runtime
        ? `${target.runtime} runs on ${target.os} (glibc ${target.glibc})`
        : `the target has glibc ${target.glibc}`;
      return `needs glibc ${glibcText} (${needed.platform.replace(`_${machine}`, '')}); ${runs}`;
    }
    const platformOk = parsed.filter(platformFits);
    if (platformOk.length > 0) {
      const interpreters = [
        ...new Set(platformOk.map((entry) => (entry.abi === 'abi3' ? `${entry.python}-abi3` : entry.python))),
      ].sort();
      return `has no wheel for CPython ${target.pythonVersion} (only ${interpreters.join(', ')})`;
    }
    const linuxOtherArch = parsed.filter(
      (entry) => entry.family === 'manylinux' && entry.machine !== machine,
    );
    if (linuxOtherArch.length > 0) {
      const machines = [...new Set(linuxOtherArch.map((entry) => entry.machine))].join(', ');
      return `has no wheel for ${machine} (only ${machines}); the target is ${target.architecture}`;
    }
    const families = [...new Set(parsed.map((entry) => entry.family))].join(', ');
    return `has wheels only for ${families}, not for manylinux (glibc) ${machine}`;
  }
}

function platformFacts(platform: string): { family: string; machine: string | null; glibc: number | null } {
  const legacy: Record<string, number> = { manylinux1: 2005, manylinux2010: 2012, manylinux2014: 2017 };
  let match = /^manylinux_(\d+)_(\d+)_(.+)$/.exec(platform);
  if (match)
    return {
      family: 'manylinux',
      machine: match[3] as string,
      glibc: Number(match[1]) * 1000 + Number(match[2]),
    };
  match = /^(manylinux1|manylinux2010|manylinux2014)_(.+)$/.exec(platform);
  if (match)
    return { family: 'manylinux', machine: match[2] as string, glibc: legacy[match[1] as string] ?? null };
  if (platform.startsWith('musllinux')) return { family: 'musllinux', machine: null, glibc: null };
  if (platform.startsWith('macosx')) return { family: 'macOS', machine: null, glibc: null };
  if (platform.startsWith('win')) return { family: 'Windows', machine: null, glibc: null };
  if (platform.startsWith('linux')) return { family: 'linux (not portable)', machine: null, glibc: null };
  return { family: platform, machine: null, glibc: null };
}

function glibcNumber(glibc: string): number {
  const [major = '0', minor = '0'] = glibc.split('.');
  return Number(major) * 1000 + Number(minor);
}

function describeWheelTarget(target: Target): string {
  const cp = `cp3${target.pythonVersion.split('.')[1]}`;
  return `${cp}-${cp}-manylinux_2_17_${wheelMachine(target.architecture)} or py3-none-any`;
}

function bestTag(target: Target, tags: readonly string[]): { rank: number; tag: string } | null {
  let best: { rank: number; tag: string } | null = null;
  for (const tag of tags) {
    const rank = tagRank(target, tag);
    if (rank !== undefined && (!best || rank < best.rank)) best = { rank, tag };
  }
  return best;
}

function sdistVersion(name: string, filename: string): ParsedVersion | null {
  const stem = filename.replace(/\.(tar\.gz|tar\.bz2|tar\.xz|zip|tgz|tar)$/i, '');
  const dash = stem.lastIndexOf('-');
  if (dash <= 0 || canonicalizeName(stem.slice(0, dash)) !== name) return null;
  return parseVersion(stem.slice(dash + 1));
}

function uniqueVersions(versions: readonly ParsedVersion[]): ParsedVersion[] {
  const seen = new Map<string, ParsedVersion>();
  for (const version of versions) seen.set(version.text, version);
  return [...seen.values()];
}

function compareBuild(
  left: readonly [number, string] | null,
  right: readonly [number, string] | null,
): number {
  if (!left && !right) return 0;
  if (!left) return -1;
  if (!right) return 1;
  if (left[0] !== right[0]) return left[0] - right[0];
  return left[1] < right[1] ? -1 : left[1] > right[1] ? 1 : 0;
}

/** pip's Hashes `&`: an empty side allows everything; otherwise only the common digests. */
function intersectHashes(current: string[] | null, more: readonly string[]): string[] {
  const lowered = more.map((hash) => hash.toLowerCase());
  if (current === null || current.length === 0) return lowered;
  return current.filter((hash) => lowered.includes(hash));
}

function comparePreference(
  left: readonly (number | string | boolean)[],
  right: readonly (number | string | boolean)[],
): number {
  for (let index = 0; index < left.length; index++) {
    const a = left[index] as number | string | boolean;
    const b = right[index] as number | string | boolean;
    if (a === b) continue;
    if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : 1;
    return Number(a) < Number(b) ? -1 : 1;
  }
  return 0;
}
