// Bench suite for `npm run bench`: start-up times of the CLI (scripts/startup-times.ts), so the
// part of every row that is process start is visible on its own, beside a bare `node -e 0`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureStartup, startupCases } from '../../../scripts/startup-times.ts';
import { runCount, type BenchRow, type BenchSuite } from '../bench-row.ts';

const repository = join(import.meta.dirname, '..', '..', '..');

export const suite: BenchSuite = {
  name: 'startup: CLI start-up (median of the runs; one row per command)',
  async run(): Promise<BenchRow[]> {
    const work = await mkdtemp(join(tmpdir(), 'lambda-deps-bench-startup-'));
    try {
      const requirements = join(work, 'requirements.txt');
      await writeFile(requirements, 'six\n');
      const cases = startupCases(requirements, join(work, 'out'));
      const results = await measureStartup(join(repository, 'bin', 'lambda-deps'), cases, runCount(5));
      return results.map((result) => ({
        set: 'start-up',
        tool: result.name,
        timesMs: [Math.round(result.medianSeconds * 1000)],
        result: result.targetSeconds === undefined ? 'median' : `median; target ≤ ${result.targetSeconds} s`,
      }));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
