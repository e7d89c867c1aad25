// Which module a smoke-import process imports next. The processes share one bytecode cache, so
// a distribution is handed out only once the distributions it requires (from its METADATA) have
// been imported: pandas then finds numpy compiled already instead of compiling it a second time
// in another process. Distributions wait for nothing outside the set, and a requirement cycle
// never blocks: when nothing is ready and nothing is being imported, the next in order goes.
import { canonicalizeName } from '../shared/names.ts';

export interface ImportUnit {
  /** The distribution's name (any spelling). */
  readonly name: string;
  readonly modules: readonly string[];
  /** Names of the distributions it requires (any spelling; those outside the set are ignored). */
  readonly requires: readonly string[];
}

interface Pending {
  readonly unit: string;
  readonly module: string;
}

export class ImportQueue {
  private readonly pending: Pending[] = [];
  private readonly requires = new Map<string, Set<string>>();
  /** Modules not yet finished, per distribution. */
  private readonly open = new Map<string, number>();
  private inFlight = 0;
  /** Modules handed out and not yet finished, per distribution. */
  private readonly taken = new Map<string, number>();
  private waiters: (() => void)[] = [];

  constructor(units: readonly ImportUnit[]) {
    const names = new Set(units.map((unit) => canonicalizeName(unit.name)));
    for (const unit of units) {
      const name = canonicalizeName(unit.name);
      const needs = unit.requires.map(canonicalizeName).filter((need) => need !== name && names.has(need));
      this.requires.set(name, new Set(needs));
      this.open.set(name, (this.open.get(name) ?? 0) + unit.modules.length);
      for (const module of unit.modules) this.pending.push({ unit: name, module });
    }
    // What many others wait for goes first (six and numpy before a leaf like certifi), so the
    // long imports at the end of the chains can start early.
    const dependents = new Map([...this.requires.keys()].map((name) => [name, this.dependentsOf(name)]));
    const score = (item: Pending): number => dependents.get(item.unit) ?? 0;
    const order = new Map(this.pending.map((item, index) => [item, index]));
    this.pending.sort((a, b) => score(b) - score(a) || (order.get(a) ?? 0) - (order.get(b) ?? 0));
  }

  /** How many distributions of the set require `unit`, directly or not. */
  private dependentsOf(unit: string): number {
    const seen = new Set<string>();
    const visit = (name: string): void => {
      for (const [other, needs] of this.requires)
        if (needs.has(name) && !seen.has(other)) {
          seen.add(other);
          visit(other);
        }
    };
    visit(unit);
    seen.delete(unit);
    return seen.size;
  }

  /** The next module to import, waiting while every remaining one depends on one in flight; null when none is left. */
  async take(): Promise<{ module: string; unit: string } | null> {
    for (;;) {
      if (this.pending.length === 0) return null;
      const index = this.readyIndex();
      if (index >= 0) {
        const [taken] = this.pending.splice(index, 1);
        this.inFlight++;
        if (taken) this.taken.set(taken.unit, (this.taken.get(taken.unit) ?? 0) + 1);
        return taken ?? null;
      }
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  /** Hands a taken module back, first in line (its process ended before it could be sent). */
  release(item: { module: string; unit: string }): void {
    this.inFlight--;
    this.taken.set(item.unit, (this.taken.get(item.unit) ?? 1) - 1);
    this.pending.unshift(item);
    this.wake();
  }

  /** The module handed out by take() has been imported (or has failed). */
  finish(unit: string): void {
    this.inFlight--;
    this.taken.set(unit, (this.taken.get(unit) ?? 1) - 1);
    this.open.set(unit, (this.open.get(unit) ?? 1) - 1);
    this.wake();
  }

  /** The distributions (canonical names) some process is importing now. */
  importing(): string[] {
    return [...this.taken].filter(([, count]) => count > 0).map(([unit]) => unit);
  }

  /** Whether nothing is left to hand out (what is taken may still be importing). */
  get drained(): boolean {
    return this.pending.length === 0;
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  private readyIndex(): number {
    const index = this.pending.findIndex((item) =>
      [...(this.requires.get(item.unit) ?? [])].every((need) => (this.open.get(need) ?? 0) === 0),
    );
    // A cycle (or a module whose requirement is being imported elsewhere, with nothing else to do
    // but wait): waiting is right while something is in flight, else take the next in order.
    return index >= 0 || this.inFlight > 0 ? index : 0;
  }
}

/** The distribution names a METADATA file's headers require unconditionally (not only for an extra). */
export function requiredDistributions(metadata: string): string[] {
  const names: string[] = [];
  // The headers end at the first blank line; the description after it is free text.
  const headers = metadata.split(/\r?\n\r?\n/, 1)[0] ?? '';
  for (const match of headers.matchAll(/^Requires-Dist:\s*(.+)$/gim)) {
    const requirement = match[1] ?? '';
    const marker = requirement.split(';')[1] ?? '';
    if (/\bextra\s*==/.test(marker)) continue;
    const name = /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(requirement.trim())?.[0];
    if (name) names.push(name);
  }
  return names;
}
