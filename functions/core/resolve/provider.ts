// pip 26's resolvelib provider and factory for a TARGET: turns requirements into candidates
// (one per version, best file first, as pip's PackageFinder orders them), reads dependencies from
// metadata with markers evaluated for the target (pypa/pip#10050), and chooses what to pin next
// (pip 26's get_preference and narrow_requirement_selection). Index pages, metadata and sizes are
// fetched lazily, cached, and ahead of need.
import { InputError, ResolutionError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import { parseSpecifierSet, parseVersion, specifiersContain } from '../shared/pep440.ts';
import type { Specifier, Version } from '../shared/pep440.ts';
import { evaluateMarker, parseRequirement } from '../inputs/pep508.ts';
import { describeTarget, markerEnvironment, pythonFullVersion } from '../shared/targets.ts';
import type {
  CoreMetadata,
  DistributionFile,
  Marker,
  MarkerEnvironment,
  PackageIndex,
  Requirement,
  Target,
  WheelSize,
} from '../shared/types.ts';
import { parseWheelFilename } from '../index/wheel-filename.ts';
import {
  identifierOf,
  PYTHON_IDENTIFIER,
  type Candidate,
  type ExplicitRequirement,
  type ExtrasCandidate,
  type FileCandidate,
  type FileVerdict,
  type PipCriterion,
  type PipState,
  type PythonCandidate,
  type ResolverRequirement,
  type SpecifierRequirement,
} from './candidates.ts';
import { listView, type CandidateView } from './criteria.ts';
import {
  bestTag,
  describeWheelTarget,
  intersectHashes,
  judgeFile,
  orderFiles,
  SDIST_TAG,
  type FormatChoice,
} from './finder.ts';
import { allowedFormats, PIP_DEFAULT_FORMATS, type FormatControl } from './format-control.ts';
import type { Preference, SearchProvider } from './search.ts';

type Clause = Specifier;
const parseClauses = parseSpecifierSet;

function versionKey(version: Version): string {
  return version.key;
}

function clausesContain(clauses: readonly Clause[], version: Version): boolean {
  return specifiersContain(clauses, version);
}

/** pip's `_CONFLICT_PRIORITY_THRESHOLD`: a name in this many conflicts while unpinned is promoted. */
const CONFLICT_PRIORITY_THRESHOLD = 5;

export interface ProviderInput {
  readonly requirements: readonly Requirement[];
  readonly constraints: readonly Requirement[];
  readonly target: Target;
  readonly index: PackageIndex;
  readonly pre?: boolean;
  /** `--only-binary`, `--no-binary`, `--prefer-binary`; pip's default (sdists allowed) when absent. */
  readonly formatControl?: FormatControl;
  /**
   * The indexes and find-links the set is resolved from: where an sdist's build backend gets its
   * build requirements when its PKG-INFO is not reliable (PEP 643). Absent: such sdists are refused.
   */
  readonly buildIndexes?: { readonly indexUrls: readonly string[]; readonly findLinks: readonly string[] };
}

export interface Constraint {
  clauses: Clause[];
  hashes: string[] | null;
  texts: string[];
}

export class PipProvider implements SearchProvider<ResolverRequirement, Candidate> {
  readonly target: Target;
  readonly index: PackageIndex;
  readonly pre: boolean;
  readonly pythonCandidate: PythonCandidate;
  readonly measurements = new Map<string, Promise<WheelSize>>();
  readonly rejectedMetadata = new Map<string, string>();
  private readonly input: ProviderInput;
  private readonly environment: MarkerEnvironment;
  private readonly pythonFullVersion: string;
  private readonly listings = new Map<string, Promise<readonly FileVerdict[]>>();
  private readonly metadata = new Map<string, Promise<CoreMetadata>>();
  private readonly fileCandidates = new Map<string, Promise<FileCandidate | null>>();
  private readonly extrasCandidates = new Map<string, ExtrasCandidate>();
  private readonly dependencyCache = new Map<string, Promise<ResolverRequirement[]>>();
  private readonly prefetched = new Set<string>();
  private readonly constraints = new Map<string, Constraint>();
  private readonly userRequested = new Map<string, number>();
  private readonly conflictCounts = new Map<string, number>();
  private readonly conflictPromoted = new Set<string>();

  constructor(input: ProviderInput) {
    this.input = input;
    this.target = input.target;
    this.index = input.index;
    this.environment = markerEnvironment(input.target);
    this.pythonFullVersion = pythonFullVersion(input.target);
    this.pre = input.pre ?? false;
    this.pythonCandidate = {
      kind: 'python',
      key: 'python',
      identifier: PYTHON_IDENTIFIER,
      name: PYTHON_IDENTIFIER,
      version: this.pythonFullVersion,
    };
  }

  /** The root requirements (markers applied), remembering their order for the preference. */
  async rootRequirements(): Promise<ResolverRequirement[]> {
    this.collectConstraints();
    const roots: ResolverRequirement[] = [];
    for (const [position, requirement] of this.input.requirements.entries()) {
      if (requirement.marker && !this.markerHolds(requirement.marker, [])) continue;
      const converted = await this.convertRequirement(requirement, null);
      const first = converted[0];
      if (first && !this.userRequested.has(first.identifier))
        this.userRequested.set(first.identifier, position);
      roots.push(...converted);
    }
    for (const root of roots) this.prefetch(root);
    return roots;
  }

  // -- inputs ----------------------------------------------------------------------------------

  collectConstraints(): void {
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

  constraintFor(
    identifier: string,
  ): { clauses: Clause[]; hashes: string[] | null; texts: string[] } | undefined {
    return this.constraints.get(identifier) ?? this.constraints.get(identifier.split('[')[0] as string);
  }

  /** pip's `match_markers`: the marker must hold for one of the requested extras (or for no extra). */
  markerHolds(marker: Marker, extras: readonly string[]): boolean {
    const candidates = extras.length > 0 ? extras : [null];
    return candidates.some((extra) => evaluateMarker(marker, this.environment, extra));
  }

  /**
   * pip's `_make_requirements_from_install_req`: `a[x]>=1` is also a requirement on `a>=1`
   * (so the base's versions are narrowed once, not per extra), and `a[x] @ url` requires the
   * file's candidate and its extras candidate.
   */
  async convertRequirement(
    requirement: Requirement,
    parent: Candidate | null,
  ): Promise<ResolverRequirement[]> {
    const identifier = identifierOf(requirement.name, requirement.extras);
    const text = `${requirement.displayName}${requirement.extras.length ? `[${requirement.extras.join(',')}]` : ''}${requirement.url ? ` @ ${requirement.url}` : requirement.specifier}`;
    if (requirement.url) {
      const candidate = await this.directCandidate(requirement, parent);
      const explicit = (chosen: Candidate, label: string): ExplicitRequirement => ({
        kind: 'explicit',
        identifier: chosen.identifier,
        name: requirement.name,
        candidate: chosen,
        text: label,
        source: requirement.source,
      });
      if (candidate.kind !== 'extras') return [explicit(candidate, text)];
      return [
        explicit(candidate.base, `${requirement.displayName} @ ${requirement.url}`),
        explicit(candidate, text),
      ];
    }
    const specifier: SpecifierRequirement = {
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
    if (requirement.extras.length === 0 || !requirement.specifier) return [specifier];
    const withoutExtras = {
      ...specifier,
      identifier: requirement.name,
      extras: [],
      text: `${requirement.displayName}${requirement.specifier}`,
    };
    return [withoutExtras, specifier];
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

  listing(name: string): Promise<readonly FileVerdict[]> {
    let listing = this.listings.get(name);
    if (!listing) {
      listing = this.index
        .listFiles(name)
        .then((files) => files.map((file) => judgeFile(this.target, this.pythonFullVersion, name, file)));
      this.listings.set(name, listing);
    }
    return listing;
  }

  /** The formats `name` may use, as pip's FormatControl says. */
  formatsFor(name: string): FormatChoice {
    const control = this.input.formatControl ?? PIP_DEFAULT_FORMATS;
    return { allowed: allowedFormats(control, name), preferBinary: control.preferBinary };
  }

  private fetchMetadata(file: DistributionFile, name: string): Promise<CoreMetadata> {
    let metadata = this.metadata.get(file.url);
    if (!metadata) {
      // An sdist's metadata is its PKG-INFO where PEP 643 makes that reliable (sdist-metadata.ts).
      metadata = file.filename.toLowerCase().endsWith('.whl')
        ? this.index.fetchMetadata(file)
        : // Loaded only for a set that needs an sdist: the tar reader is start-up time for every other.
          this.index
            .download(file)
            .then(async (path) =>
              (await import('../sdist/sdist-metadata.ts')).readSdistMetadata(
                path,
                file.filename,
                name,
                this.input.buildIndexes ? { target: this.target, ...this.input.buildIndexes } : undefined,
              ),
            );
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
      candidate = this.fetchMetadata(verdict.file, name).then((metadata) => {
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
          tag: verdict.isWheel ? (verdict.tag as string) : SDIST_TAG,
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
        const best = orderFiles(verdicts, clauses, [], this.pre, this.formatsFor(name)).at(0);
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

  startMeasuring(candidate: FileCandidate): void {
    if (this.measurements.has(candidate.file.url)) return;
    // An sdist's wheel sizes are unknown until it is built: the lock records zeros.
    const measurement =
      candidate.tag === SDIST_TAG
        ? Promise.resolve({ size: 0, unzippedSize: 0, entryCount: 0 })
        : this.index.measureWheel(candidate.file);
    measurement.catch(() => undefined);
    this.measurements.set(candidate.file.url, measurement);
  }

  async findMatches(
    identifier: string,
    requirements: readonly ResolverRequirement[],
    incompatibilities: readonly Candidate[],
    criteria: ReadonlyMap<string, PipCriterion>,
  ): Promise<CandidateView<Candidate>> {
    if (identifier === PYTHON_IDENTIFIER) {
      const fits = requirements.every((requirement) => this.isSatisfiedBy(requirement, this.pythonCandidate));
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
      // An extras node follows its base: its explicit file, and its specifiers (pip ≥ 23.3).
      for (const information of criteria.get(name)?.information ?? []) {
        const requirement = information.requirement;
        if (requirement.kind === 'specifier') specifiers.push(requirement);
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
            requirements.every((requirement) => this.isSatisfiedBy(requirement, candidate)),
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
    const ordered = orderFiles(
      await this.listing(name),
      clauses,
      hashes ?? [],
      this.pre,
      this.formatsFor(name),
    );
    return this.foundView(name, extras, ordered, incompatible);
  }

  private foundView(
    name: string,
    extras: readonly string[],
    ordered: readonly FileVerdict[],
    incompatible: ReadonlySet<string>,
  ): CandidateView<Candidate> {
    const build = (verdict: FileVerdict): Promise<FileCandidate | null> =>
      this.buildFileCandidate(name, verdict, false);
    const withExtras = (base: FileCandidate): Candidate =>
      extras.length > 0 ? this.extrasCandidate(base, extras) : base;
    let firstUsable: Promise<boolean> | null = null;
    const view: CandidateView<Candidate> = {
      async *iterate() {
        const seen = new Set<string>();
        for (const [position, verdict] of ordered.entries()) {
          const key = versionKey(verdict.version as Version);
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

  isSatisfiedBy(requirement: ResolverRequirement, candidate: Candidate): boolean {
    if (requirement.kind === 'explicit') return requirement.candidate.key === candidate.key;
    return this.versionMatches(requirement.clauses, candidate.version);
  }

  /** pip's Candidate.iter_dependencies, with markers evaluated for the target. */
  private async computeDependencies(candidate: Candidate): Promise<ResolverRequirement[]> {
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
      dependencies.push(...(await this.convertRequirement(requirement, candidate)));
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

  /** Dependencies of a candidate, cached (backjumping asks again), their closure prefetched. */
  getDependencies(candidate: Candidate): Promise<ResolverRequirement[]> {
    let dependencies = this.dependencyCache.get(candidate.key);
    if (!dependencies) {
      dependencies = this.computeDependencies(candidate).then((computed) => {
        for (const dependency of computed) this.prefetch(dependency);
        return computed;
      });
      this.dependencyCache.set(candidate.key, dependencies);
    }
    return dependencies;
  }

  /** pip 26's get_preference, as a sortable tuple (smallest first). */
  getPreference(identifier: string, state: PipState): Preference {
    const information = state.criteria.get(identifier)?.information ?? [];
    const operators: [string, string][] = [];
    let direct = false;
    for (const { requirement } of information) {
      if (requirement.kind === 'explicit') direct = true;
      if (requirement.kind === 'specifier')
        operators.push(
          ...requirement.clauses.map((clause): [string, string] => [clause.operator, clause.version]),
        );
    }
    const pinned = operators.some(
      ([operator, version]) => operator.startsWith('==') && !version.includes('*'),
    );
    const upperBounded = operators.some(
      ([operator, version]) =>
        ['<', '<=', '~='].includes(operator) || (operator === '==' && version.includes('*')),
    );
    return [
      !this.conflictPromoted.has(identifier),
      !direct,
      !pinned,
      !upperBounded,
      this.userRequested.get(identifier) ?? Number.POSITIVE_INFINITY,
      operators.length === 0,
      identifier,
    ];
  }

  /**
   * pip 26's narrow_requirement_selection: Requires-Python alone first; then the identifiers
   * in the last conflict; then those that kept appearing unpinned in conflicts.
   */
  narrowRequirementSelection(identifiers: readonly string[], state: PipState): readonly string[] {
    const backtrackIdentifiers = new Set<string>();
    for (const cause of state.backtrackCauses) {
      const names = [cause.requirement.identifier, ...(cause.parent ? [cause.parent.identifier] : [])];
      for (const name of names) {
        backtrackIdentifiers.add(name);
        if (state.mapping.has(name)) continue;
        const count = (this.conflictCounts.get(name) ?? 0) + 1;
        this.conflictCounts.set(name, count);
        if (count >= CONFLICT_PRIORITY_THRESHOLD) this.conflictPromoted.add(name);
      }
    }
    if (identifiers.includes(PYTHON_IDENTIFIER)) return [PYTHON_IDENTIFIER];
    const current = identifiers.filter((identifier) => backtrackIdentifiers.has(identifier));
    if (current.length > 0) return current;
    const promoted = identifiers.filter((identifier) => this.conflictPromoted.has(identifier));
    return promoted.length > 0 ? promoted : identifiers;
  }
}
