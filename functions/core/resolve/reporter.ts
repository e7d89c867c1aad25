// What the resolver reports while it works (progress output and logs), and the adapter that
// turns the search's callbacks into those events.
import type { SearchReporter } from './search.ts';

export type ResolverEvent =
  | { readonly type: 'pinned'; readonly name: string; readonly version: string }
  | { readonly type: 'backtracking'; readonly name: string; readonly reason: string }
  | { readonly type: 'measuring'; readonly count: number }
  | { readonly type: 'resolved'; readonly packages: number; readonly rounds: number };

/** A search reporter that emits `pinned` and `backtracking` events. */
export function eventReporter<C extends { readonly version: string }>(
  emit: (event: ResolverEvent) => void,
): SearchReporter<C> {
  return {
    pinning: (name, candidate) => emit({ type: 'pinned', name, version: candidate.version }),
    backtracking: (name, candidate) =>
      emit({ type: 'backtracking', name, reason: `${name} ${candidate.version} leads to a conflict` }),
  };
}
