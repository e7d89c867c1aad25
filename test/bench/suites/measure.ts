// Bench suite for `npm run bench`: `bin/lambda-deps measure --json` (a fresh cache per run, and a
// warm cache) against the anchor, pip 26's `install --dry-run --report` (the pip-oracle venv), with the same platform tags,
// Python, indexes and sets, each as a child process timed by wall clock. pip's configuration is
// off (PIP_CONFIG_FILE=/dev/null) and both tools get the indexes explicitly, so both read the
// same inputs. Goal: lambda-deps at most half of pip's wall time while also producing sizes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  lambdaTarget,
  manylinuxPlatforms,
  pythonFullVersion,
} from '../../../functions/core/shared/targets.ts';
import { formatBytes } from '../../../functions/core/shared/units.ts';
import { indexFlags, localIndexes, type LocalIndexes } from '../../support/pip-indexes.ts';
import {
  anchorPython,
  runCount,
  selectedSets,
  timeProcess,
  type BenchRow,
  type BenchSuite,
} from '../bench-row.ts';

const RUNS = runCount(5);
const BIN = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'lambda-deps');

/** The same sets as the pip oracle test draws from the on-disk indexes (python3.11, x86_64). */
const SETS: Record<string, string[]> = {
  transformers: ['transformers'],
  'scikit-learn': ['scikit-learn'],
  'requests[socks] boto3': ['requests[socks]', 'boto3'],
  'pandas scipy': ['pandas', 'scipy'],
  'bcrypt pillow pydantic[email]': ['bcrypt', 'pillow', 'pydantic[email]'],
};

// PIP_* variables would add indexes (or PyPI) behind the flags' back: both tools run without them.
const CLEAN_ENV = {
  PIP_CONFIG_FILE: '/dev/null',
  PIP_FIND_LINKS: undefined,
  PIP_INDEX_URL: undefined,
  PIP_EXTRA_INDEX_URL: undefined,
  PIP_CONSTRAINT: undefined,
  NO_COLOR: '1',
};

async function benchSet(
  label: string,
  lines: string[],
  indexes: LocalIndexes,
  work: string,
  python: string,
): Promise<BenchRow[]> {
  const target = lambdaTarget('python3.11', 'x86_64');
  const requirements = join(work, `${label.replace(/[^a-z0-9]+/gi, '-')}.txt`);
  await writeFile(requirements, `${lines.join('\n')}\n`);
  const set = `${label} (python3.11 x86_64)`;
  const measureArgs = (cacheDir: string): string[] => [
    'measure',
    requirements,
    '--runtime',
    target.runtime as string,
    '--arch',
    target.architecture,
    '--json',
    '--cache-dir',
    cacheDir,
    ...indexFlags(indexes),
  ];
  const summary = (stdout: string): string => {
    const document = JSON.parse(stdout) as { packages: unknown[]; totals: { unzippedSize: number } };
    return `${document.packages.length} packages / ${formatBytes(document.totals.unzippedSize)} unzipped`;
  };

  const pipOnce = async (run: number): Promise<{ ms: number; result: string; peakRssKb: number | null }> => {
    const report = join(work, `pip-report-${run}.json`);
    const { ms, peakRssKb } = await timeProcess(
      python,
      [
        '-m',
        'pip',
        'install',
        '--dry-run',
        '--quiet',
        '--report',
        report,
        '--ignore-installed',
        '--target',
        join(work, 'pip-target'),
        ...manylinuxPlatforms(target).flatMap((platform) => ['--platform', platform]),
        '--python-version',
        pythonFullVersion(target),
        '--implementation',
        'cp',
        '--only-binary=:all:',
        ...indexFlags(indexes),
        '-r',
        requirements,
      ],
      { env: CLEAN_ENV },
    );
    const parsed = JSON.parse(await readFile(report, 'utf8')) as { install: unknown[] };
    return { ms, result: `${parsed.install.length} packages (no sizes)`, peakRssKb };
  };

  const warmCache = join(work, 'warm-cache');
  await timeProcess(BIN, measureArgs(warmCache), { env: CLEAN_ENV });
  const cold: number[] = [];
  const warm: number[] = [];
  const pip: number[] = [];
  let coldResult = '';
  let warmResult = '';
  let pipResult = '';
  const rss = { cold: [] as number[], warm: [] as number[], pip: [] as number[] };
  const keep = (values: number[], kb: number | null): void => {
    if (kb !== null) values.push(kb);
  };
  // Round-robin, so a burst of other load on the machine hits every tool alike.
  for (let run = 0; run < RUNS; run++) {
    const cacheDir = await mkdtemp(join(work, 'cold-cache-'));
    const coldRun = await timeProcess(BIN, measureArgs(cacheDir), { env: CLEAN_ENV });
    cold.push(coldRun.ms);
    keep(rss.cold, coldRun.peakRssKb);
    coldResult = summary(coldRun.stdout);
    await rm(cacheDir, { recursive: true, force: true });
    const warmRun = await timeProcess(BIN, measureArgs(warmCache), { env: CLEAN_ENV });
    warm.push(warmRun.ms);
    keep(rss.warm, warmRun.peakRssKb);
    warmResult = summary(warmRun.stdout);
    const pipRun = await pipOnce(run);
    pip.push(pipRun.ms);
    keep(rss.pip, pipRun.peakRssKb);
    pipResult = pipRun.result;
  }

  return [
    {
      set,
      tool: 'pip 26 install --dry-run --report (anchor)',
      timesMs: pip,
      result: pipResult,
      anchor: true,
      peakRssKb: rss.pip,
    },
    {
      set,
      tool: 'lambda-deps measure --json, cold cache',
      timesMs: cold,
      result: coldResult,
      peakRssKb: rss.cold,
    },
    {
      set,
      tool: 'lambda-deps measure --json, warm cache',
      timesMs: warm,
      result: warmResult,
      peakRssKb: rss.warm,
    },
  ];
}

export const suite: BenchSuite = {
  name: 'measure: lambda-deps measure vs pip 26 install --dry-run --report',
  async run() {
    const indexes = localIndexes();
    if (!indexes) return [];
    const python = await anchorPython();
    const work = await mkdtemp(join(tmpdir(), 'lambda-deps-bench-measure-'));
    try {
      const rows: BenchRow[] = [];
      for (const [label, lines] of selectedSets(SETS))
        rows.push(...(await benchSet(label, lines, indexes, work, python)));
      return rows;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
