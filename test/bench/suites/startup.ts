// Bench suite for `npm run bench`: start-up times of the CLI (scripts/startup-times.ts), so the
// part of every row that is process start is visible on its own, beside a bare `node -e 0`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureStartup, startupCases } from '../../../scripts/startup-times.ts';
import { runCount, timeProcess, type BenchRow, type BenchSuite } from '../bench-row.ts';

const repository = join(import.meta.dirname, '..', '..', '..');

export const suite: BenchSuite = {
  name: 'startup: CLI start-up (median of the runs; one row per command)',
  async run(): Promise<BenchRow[]> {
    const work = await mkdtemp(join(tmpdir(), 'lambda-deps-bench-startup-'));
    try {
      const requirements = join(work, 'requirements.txt');
      await writeFile(requirements, 'six\n');
      const bin = join(repository, 'bin', 'lambda-deps');
      const cases = startupCases(requirements, join(work, 'out'));
      const results = await measureStartup(bin, cases, runCount(5));
      // Memory from one more run of each command to its end (a build's first line is not its peak).
      const argsOf = new Map(cases.map((startupCase) => [startupCase.name, [bin, ...startupCase.args]]));
      const rows: BenchRow[] = [];
      for (const result of results) {
        const run = await timeProcess(process.execPath, argsOf.get(result.name) ?? ['-e', '0']);
        const whole = cases.find((startupCase) => startupCase.name === result.name)?.untilFirstLine;
        const target =
          result.targetSeconds === undefined ? 'median' : `median; target ≤ ${result.targetSeconds} s`;
        rows.push({
          set: 'start-up',
          tool: result.name,
          timesMs: [Math.round(result.medianSeconds * 1000)],
          result: whole ? `${target}; peak RSS of the whole build` : target,
          ...(run.peakRssKb === null ? {} : { peakRssKb: [run.peakRssKb] }),
        });
      }
      return rows;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
