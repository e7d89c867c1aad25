// The search: resolvelib 1.2's Resolution (what pip 26 vendors), with its backjumping and its
// optimistic backjumping (saved states, rolled back when it runs too long or dead-ends), driven
// by a provider. Unlike resolvelib it checks every root requirement before giving up, so that all
// unsatisfiable ones are reported, and it stops at a round and a time budget.
import {
  copyState,
  RequirementsConflicted,
  ResolutionImpossible,
  ResolutionTooDeep,
  type CandidateView,
  type Criterion,
  type Identified,
  type Information,
  type State,
} from './criteria.ts';

export type Preference = readonly (number | string | boolean)[];

/** What the search asks of the project world (resolvelib's AbstractProvider). */
export interface SearchProvider<R extends Identified, C extends Identified> {
  findMatches(
    identifier: string,
    requirements: readonly R[],
    incompatibilities: readonly C[],
    criteria: ReadonlyMap<string, Criterion<R, C>>,
  ): Promise<CandidateView<C>>;
  isSatisfiedBy(requirement: R, candidate: C): boolean;
  getDependencies(candidate: C): Promise<readonly R[]>;
  /** Sort key: the smallest is pinned next. */
  getPreference(identifier: string, state: State<R, C>): Preference;
  /** The identifiers worth considering first (never empty when `identifiers` is not). */
  narrowRequirementSelection(identifiers: readonly string[], state: State<R, C>): readonly string[];
}

export interface SearchReporter<C> {
  pinning?(identifier: string, candidate: C): void;
  backtracking?(identifier: string, candidate: C): void;
}

export interface SearchBudget {
  readonly maxRounds: number;
  /** Give up after this many milliseconds of searching. */
  readonly maxMilliseconds: number;
}

/** resolvelib's `_OPTIMISTIC_BACKJUMPING_RATIO`: the share of the remaining rounds optimism may use. */
const OPTIMISTIC_BACKJUMPING_RATIO = 0.1;

function comparePreference(left: Preference, right: Preference): number {
  for (let index = 0; index < left.length; index++) {
    const a = left[index] as number | string | boolean;
    const b = right[index] as number | string | boolean;
    if (a === b) continue;
    if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : 1;
    return Number(a) < Number(b) ? -1 : 1;
  }
  return 0;
}

export class Resolution<R extends Identified, C extends Identified> {
  private states: State<R, C>[] = [];
  private optimisticRatio = OPTIMISTIC_BACKJUMPING_RATIO;
  private savedStates: State<R, C>[] | null = null;
  rounds = 0;

  constructor(
    private readonly provider: SearchProvider<R, C>,
    private readonly budget: SearchBudget,
    private readonly reporter: SearchReporter<C> = {},
  ) {}

  get state(): State<R, C> {
    const state = this.states.at(-1);
    if (!state) throw new Error('the search has no state');
    return state;
  }

  private pushNewState(): void {
    this.states.push(copyState(this.state));
  }

  private async addToCriteria(
    criteria: Map<string, Criterion<R, C>>,
    requirement: R,
    parent: C | null,
  ): Promise<void> {
    const identifier = requirement.identifier;
    const criterion = criteria.get(identifier);
    const incompatibilities = criterion ? [...criterion.incompatibilities] : [];
    const requirements = [
      ...(criterion?.information.map((information) => information.requirement) ?? []),
      requirement,
    ];
    const candidates = await this.provider.findMatches(identifier, requirements, incompatibilities, criteria);
    const information = [...(criterion?.information ?? []), { requirement, parent }];
    const updated: Criterion<R, C> = { candidates, information, incompatibilities };
    if (await candidates.isEmpty()) throw new RequirementsConflicted(updated);
    criteria.set(identifier, updated);
  }

  /** Drop the requirements whose parent is one of `parents` (pins that stopped being satisfied). */
  private removeInformationFromCriteria(
    criteria: Map<string, Criterion<R, C>>,
    parents: ReadonlySet<string>,
  ): void {
    if (parents.size === 0) return;
    for (const [key, criterion] of criteria) {
      criteria.set(key, {
        ...criterion,
        information: criterion.information.filter(
          (information) => information.parent === null || !parents.has(information.parent.identifier),
        ),
      });
    }
  }

  private isCurrentPinSatisfying(name: string, criterion: Criterion<R, C>): boolean {
    const pin = this.state.mapping.get(name);
    if (!pin) return false;
    return criterion.information.every((information) =>
      this.provider.isSatisfiedBy(information.requirement, pin),
    );
  }

  private async updatedCriteria(candidate: C): Promise<Map<string, Criterion<R, C>>> {
    const criteria = new Map(this.state.criteria);
    for (const dependency of await this.provider.getDependencies(candidate))
      await this.addToCriteria(criteria, dependency, candidate);
    return criteria;
  }

  private async attemptToPin(name: string): Promise<Criterion<R, C>[]> {
    const criterion = this.state.criteria.get(name) as Criterion<R, C>;
    const causes: Criterion<R, C>[] = [];
    for await (const candidate of criterion.candidates.iterate()) {
      let criteria: Map<string, Criterion<R, C>>;
      try {
        criteria = await this.updatedCriteria(candidate);
      } catch (error) {
        if (!(error instanceof RequirementsConflicted)) throw error;
        causes.push(error.criterion as Criterion<R, C>);
        continue;
      }
      for (const [key, value] of criteria) this.state.criteria.set(key, value);
      // The newest pin goes last: backjumping undoes the last pin first.
      this.state.mapping.delete(name);
      this.state.mapping.set(name, candidate);
      this.reporter.pinning?.(name, candidate);
      return [];
    }
    return causes;
  }

  private async patchCriteria(incompatibilitiesFromBroken: [string, C[]][]): Promise<boolean> {
    for (const [key, incompatibilities] of incompatibilitiesFromBroken) {
      if (incompatibilities.length === 0) continue;
      const criterion = this.state.criteria.get(key);
      if (!criterion) continue;
      const requirements = criterion.information.map((information) => information.requirement);
      // resolvelib's IteratorMapping chains what was learnt with what the criterion already knows.
      const known = [...incompatibilities, ...criterion.incompatibilities];
      const candidates = await this.provider.findMatches(key, requirements, known, this.state.criteria);
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

  private saveStates(): void {
    this.savedStates ??= this.states.map(copyState);
  }

  private rollbackStates(): void {
    this.optimisticRatio = 0;
    if (this.savedStates) {
      this.states = this.savedStates;
      this.savedStates = null;
    }
  }

  /**
   * Undo pins back to one that caused the conflict, carry over what was learnt (the
   * incompatibilities), and pin something else there. False when no earlier state works.
   */
  private async backjump(causes: readonly Information<R, C>[]): Promise<boolean> {
    const incompatibleDeps = new Set<string>();
    for (const cause of causes) {
      if (cause.parent) incompatibleDeps.add(cause.parent.identifier);
      incompatibleDeps.add(cause.requirement.identifier);
    }
    while (this.states.length >= 3) {
      this.states.pop();
      const [brokenState, name, candidate] = await this.findBrokenState(causes, incompatibleDeps);
      this.reporter.backtracking?.(name, candidate);
      const incompatibilitiesFromBroken: [string, C[]][] = [...brokenState.criteria.entries()].map(
        ([key, value]) => [key, [...value.incompatibilities]],
      );
      incompatibilitiesFromBroken.push([name, [candidate]]);
      this.pushNewState();
      if (await this.patchCriteria(incompatibilitiesFromBroken)) return true;
    }
    return false;
  }

  /** Pop states until the last pin is one whose dependencies touch the conflict (resolvelib 1.2). */
  private async findBrokenState(
    causes: readonly Information<R, C>[],
    incompatibleDeps: ReadonlySet<string>,
  ): Promise<[State<R, C>, string, C]> {
    for (;;) {
      const brokenState = this.states.pop();
      const last = brokenState ? [...brokenState.mapping.entries()].at(-1) : undefined;
      if (!brokenState || !last) throw new ResolutionImpossible(causes);
      const [name, candidate] = last;
      brokenState.mapping.delete(name);
      if (!this.optimisticRatio && !incompatibleDeps.has(name)) return [brokenState, name, candidate];
      // The first unsafe jump saves the stack, to roll back to if optimism fails.
      if (this.optimisticRatio && !incompatibleDeps.has(name)) this.saveStates();
      const dependencies = await this.provider.getDependencies(candidate);
      if (dependencies.some((dependency) => incompatibleDeps.has(dependency.identifier)))
        return [brokenState, name, candidate];
      // Never backtrack to an empty mapping: stop there so the search can recover.
      if (brokenState.mapping.size === 0) return [brokenState, name, candidate];
      if (this.states.length <= 1) throw new ResolutionImpossible(causes);
    }
  }

  /** Add every root requirement; collect all conflicts instead of stopping at the first. */
  private async addRoots(requirements: readonly R[]): Promise<void> {
    this.states = [{ mapping: new Map(), criteria: new Map(), backtrackCauses: [] }];
    const conflicts: Information<R, C>[] = [];
    for (const requirement of requirements) {
      try {
        await this.addToCriteria(this.state.criteria, requirement, null);
      } catch (error) {
        if (!(error instanceof RequirementsConflicted)) throw error;
        conflicts.push(...(error.criterion as Criterion<R, C>).information);
      }
    }
    if (conflicts.length > 0) throw new ResolutionImpossible(conflicts);
    // The root state stays as a sentinel, so the first pin has something to backtrack to.
    this.pushNewState();
  }

  private choose(unsatisfied: readonly string[]): string {
    const narrowed =
      unsatisfied.length > 1
        ? this.provider.narrowRequirementSelection(unsatisfied, this.state)
        : unsatisfied;
    if (narrowed.length === 0) throw new Error('narrowRequirementSelection returned no identifier');
    if (narrowed.length === 1) return narrowed[0] as string;
    let chosen = narrowed[0] as string;
    let chosenPreference = this.provider.getPreference(chosen, this.state);
    for (const name of narrowed.slice(1)) {
      const preference = this.provider.getPreference(name, this.state);
      if (comparePreference(preference, chosenPreference) < 0) {
        chosen = name;
        chosenPreference = preference;
      }
    }
    return chosen;
  }

  /** Returns true when the optimistic phase ran out of its share of rounds (and was rolled back). */
  private optimismExpired(round: number, window: { start: number | null; cutoff: number | null }): boolean {
    if (!this.optimisticRatio || this.savedStates === null) return false;
    if (window.start === null) {
      window.start = round;
      window.cutoff = Math.floor((this.budget.maxRounds - round) * this.optimisticRatio);
      if (window.cutoff > 0) return false;
    } else if (window.cutoff === null || round - window.start < window.cutoff) return false;
    this.rollbackStates();
    return true;
  }

  private async handleFailure(failures: readonly Criterion<R, C>[]): Promise<void> {
    const causes = [...new Set(failures.flatMap((criterion) => criterion.information))];
    let success = false;
    let failedOptimism: boolean;
    try {
      success = await this.backjump(causes);
      failedOptimism = !success && Boolean(this.optimisticRatio) && this.savedStates !== null;
    } catch (error) {
      if (!(error instanceof ResolutionImpossible) || !this.optimisticRatio || !this.savedStates) throw error;
      failedOptimism = true;
    }
    if (failedOptimism && this.savedStates) {
      this.rollbackStates();
      return;
    }
    this.state.backtrackCauses = [...causes];
    if (!success) throw new ResolutionImpossible(this.state.backtrackCauses);
  }

  async resolve(requirements: readonly R[]): Promise<State<R, C>> {
    await this.addRoots(requirements);
    const deadline = performance.now() + this.budget.maxMilliseconds;
    const window = { start: null as number | null, cutoff: null as number | null };
    for (this.rounds = 0; this.rounds < this.budget.maxRounds; this.rounds++) {
      if (performance.now() > deadline)
        throw new ResolutionTooDeep(
          `${Math.round(this.budget.maxMilliseconds / 1000)} s`,
          this.state.backtrackCauses,
        );
      if (this.optimismExpired(this.rounds, window)) continue;
      const unsatisfied = [...this.state.criteria.entries()]
        .filter(([key, criterion]) => !this.isCurrentPinSatisfying(key, criterion))
        .map(([key]) => key);
      if (unsatisfied.length === 0) return this.state;
      const satisfied = [...this.state.criteria.keys()].filter((key) => !unsatisfied.includes(key));
      const failures = await this.attemptToPin(this.choose(unsatisfied));
      if (failures.length > 0) {
        await this.handleFailure(failures);
        continue;
      }
      const newlyUnsatisfied = new Set(
        satisfied.filter(
          (key) => !this.isCurrentPinSatisfying(key, this.state.criteria.get(key) as Criterion<R, C>),
        ),
      );
      this.removeInformationFromCriteria(this.state.criteria, newlyUnsatisfied);
      this.pushNewState();
    }
    throw new ResolutionTooDeep(`${this.budget.maxRounds} rounds`, this.state.backtrackCauses);
  }
}
