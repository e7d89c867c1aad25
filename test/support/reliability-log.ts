// Fault and hostile-input tests record what they tried here; `test/support/write-reliability-table.ts`
// (run as vitest globalSetup teardown) turns the records into docs/reliability.md. Only
// tests write these numbers, so the table is always what the last full run measured.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReliabilityRecord {
  /** `requirements input`, `index faults`, `EFS sync`, … */
  readonly area: string;
  /** What was done, one line. */
  readonly experiment: string;
  /** Distinct cases (inputs, fault kinds) tried. */
  readonly cases: number;
  /** Faults injected (failed requests, kills, …); 0 where none. */
  readonly faultsInjected: number;
  /** Runs of the experiment. */
  readonly runs: number;
  /** What was lost or published wrongly; must be `nothing`. */
  readonly lost: string;
}

export const RELIABILITY_DIR = join(process.cwd(), '.work', 'reliability');

/** Write one record (one file per experiment, so parallel test files never collide). */
export function recordReliability(record: ReliabilityRecord): void {
  mkdirSync(RELIABILITY_DIR, { recursive: true });
  const file = `${record.area}-${record.experiment}`
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .toLowerCase()
    .slice(0, 120);
  writeFileSync(join(RELIABILITY_DIR, `${file}.json`), JSON.stringify(record, null, 2));
}
