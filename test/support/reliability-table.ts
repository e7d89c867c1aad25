// vitest globalSetup: clears the reliability records before a run and, after it, writes
// docs/reliability.md from what the fault and hostile-input tests recorded — only when the
// run was asked to (UPDATE_DOCS=1, set by `npm test`), so a partial run never overwrites
// the table with fewer rows.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RELIABILITY_DIR, type ReliabilityRecord } from './reliability-log.ts';

export function setup(): void {
  rmSync(RELIABILITY_DIR, { recursive: true, force: true });
}

export function teardown(): void {
  if (process.env.UPDATE_DOCS !== '1') return;
  const target = join('docs', 'reliability.md');
  const files = readdirSync(RELIABILITY_DIR, { withFileTypes: true }).filter(
    (entry) => entry.isFile() && entry.name.endsWith('.json'),
  );
  const records = files
    .map((entry) => JSON.parse(readFileSync(join(RELIABILITY_DIR, entry.name), 'utf8')) as ReliabilityRecord)
    .sort((a, b) => a.area.localeCompare(b.area) || a.experiment.localeCompare(b.experiment));
  const totals = records.reduce(
    (sum, record) => ({
      cases: sum.cases + record.cases,
      faults: sum.faults + record.faultsInjected,
      runs: sum.runs + record.runs,
    }),
    { cases: 0, faults: 0, runs: 0 },
  );
  const lost = records.filter((record) => record.lost !== 'nothing');
  const lines = [
    '# Reliability',
    '',
    `Written by the test suite (\`npm test\`) on ${new Date().toISOString().slice(0, 10)}; every row is an experiment a test ran, with what it counted.`,
    '',
    '| area | experiment | cases | faults injected | runs | lost |',
    '|---|---|---:|---:|---:|---|',
    ...records.map(
      (record) =>
        `| ${record.area} | ${record.experiment} | ${record.cases} | ${record.faultsInjected} | ${record.runs} | ${record.lost} |`,
    ),
    `| **total** | ${records.length} experiments | ${totals.cases} | ${totals.faults} | ${totals.runs} | ${lost.length === 0 ? 'nothing' : `${lost.length} experiments lost something`} |`,
    '',
  ];
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, lines.join('\n'));
}
