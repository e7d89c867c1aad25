// The resolver's bookkeeping, as resolvelib keeps it: per identifier a criterion (the candidates
// still possible, the requirements that ask for it and who asked, the candidates ruled out), and
// the states of the search (pins so far, criteria, and the causes of the last backtrack).

/** Anything the search tracks has an identifier (`requests`, `requests[socks]`, the Python). */
export interface Identified {
  readonly identifier: string;
}

/** A requirement and the candidate whose dependency it is (null for the user's own). */
export interface Information<R, C> {
  readonly requirement: R;
  readonly parent: C | null;
}

/** A re-iterable, lazily built list of candidates (resolvelib's iterable view). */
export interface CandidateView<C> {
  iterate(): AsyncGenerator<C>;
  isEmpty(): Promise<boolean>;
}

export interface Criterion<R, C> {
  readonly candidates: CandidateView<C>;
  readonly information: readonly Information<R, C>[];
  readonly incompatibilities: readonly C[];
}

export interface State<R, C> {
  /** Pins in the order they were made: backjumping undoes the last one first. */
  readonly mapping: Map<string, C>;
  readonly criteria: Map<string, Criterion<R, C>>;
  backtrackCauses: Information<R, C>[];
}

export function listView<C>(candidates: readonly C[]): CandidateView<C> {
  return {
    async *iterate() {
      yield* candidates;
    },
    async isEmpty() {
      return candidates.length === 0;
    },
  };
}

export function copyState<R, C>(state: State<R, C>): State<R, C> {
  return {
    mapping: new Map(state.mapping),
    criteria: new Map(state.criteria),
    backtrackCauses: [...state.backtrackCauses],
  };
}

/** No candidate satisfies every requirement of one criterion. */
export class RequirementsConflicted<R, C> extends Error {
  constructor(readonly criterion: Criterion<R, C>) {
    super('Requirements conflict');
  }
}

/** The search found no solution; `causes` are the requirements (with parents) that conflict. */
export class ResolutionImpossible<R, C> extends Error {
  constructor(readonly causes: readonly Information<R, C>[]) {
    super('Resolution impossible');
  }
}

/** The search hit its round or time budget; `causes` are the conflicts it was working on. */
export class ResolutionTooDeep<R, C> extends Error {
  constructor(
    readonly limit: string,
    readonly causes: readonly Information<R, C>[],
  ) {
    super(`Resolution gave up after ${limit}`);
  }
}
