// Bench suite for `npm run bench`: `lambda-deps build` (fresh caches, then a rebuild of the
// unchanged lock through the CLI, process start included) against the anchor AWS documents,
// `pip install --platform … --only-binary=:all: --target DIR` (pip 26, the pip-oracle venv) followed by `zip -r`, on the same
// sets and the same on-disk indexes. Goals: a fresh build in at most a quarter of the anchor's
// wall time; a rebuild under one second. Every set also checks that `lambda-deps measure` and the
// build agree on the route and the layer count (the row says which, and a disagreement fails the suite).
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serializeLock } from '../../../functions/core/resolve/lock.ts';
import type { BuildManifest, MeasureResult } from '../../../functions/core/shared/types.ts';
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
import { lambdaTarget, pythonFullVersion } from '../../../functions/core/shared/targets.ts';

/** Fresh builds and anchor runs per set (each from empty caches). */
const RUNS = runCount(3);

const SETS: Record<string, string[]> = {
  web: ['requests', 'boto3'],
  data: ['boto3', 'numpy', 'pandas', 'requests', 'scipy'],
};

const repository = join(import.meta.dirname, '..', '..', '..');

/** Bytes of every regular file below a folder (`du -sb` without the directory blocks). */
async function treeBytes(root: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** `lambda-deps build FILE` on the default path (the local pipeline), process start included. */
function buildDefaultPath(requirements: string, outDir: string, cacheDir: string, indexes: LocalIndexes) {
  return timeProcess(process.execPath, [
    join(repository, 'bin', 'lambda-deps'),
    'build',
    requirements,
    '--runtime',
    'python3.11',
    '--arch',
    'x86_64',
    '--out',
    outDir,
    '--cache-dir',
    cacheDir,
    '--json',
    ...indexFlags(indexes),
  ]);
}

/**
 * The default path (the local pipeline), RUNS times from empty caches: a fresh build, then the
 * set with one small package (attrs) added on the same caches; after the first fresh build, also
 * rebuilds of the unchanged requirements file. Each ratio divides medians.
 */
async function benchDefaultPath(
  work: string,
  requirements: string,
  packages: readonly string[],
  indexes: LocalIndexes,
): Promise<Omit<BenchRow, 'set'>[]> {
  const added = join(work, 'requirements-plus-attrs.txt');
  await writeFile(added, `${[...packages, 'attrs'].join('\n')}\n`);
  type Timed = Awaited<ReturnType<typeof buildDefaultPath>>;
  const fresh: Timed[] = [];
  const plus: Timed[] = [];
  const rebuilds: Timed[] = [];
  for (let run = 0; run < RUNS; run++) {
    const cacheDir = join(work, `cache-default-path-${run}`);
    const outDir = join(work, `out-default-${run}`);
    fresh.push(await buildDefaultPath(requirements, outDir, cacheDir, indexes));
    if (run === 0)
      for (let again = 0; again < 3; again++)
        rebuilds.push(await buildDefaultPath(requirements, outDir, cacheDir, indexes));
    plus.push(await buildDefaultPath(added, join(work, `out-plus-${run}`), cacheDir, indexes));
  }
  const times = (runs: readonly { ms: number }[]): number[] => runs.map((one) => Math.round(one.ms));
  const rss = (runs: readonly { peakRssKb: number | null }[]): number[] =>
    runs.flatMap((one) => (one.peakRssKb === null ? [] : [one.peakRssKb]));
  const freshMedian = median(times(fresh));
  return [
    {
      tool: 'lambda-deps build FILE, default path (local pipeline), fresh caches',
      timesMs: times(fresh),
      result: 'the reference for the two rows below',
      peakRssKb: rss(fresh),
    },
    {
      tool: 'lambda-deps build FILE, default path, unchanged requirements file (incl. process start; goal ≤ 0.5 s)',
      timesMs: times(rebuilds),
      result: `served from the store; ${(median(times(rebuilds)) / freshMedian).toFixed(2)} × the fresh default-path build`,
      peakRssKb: rss(rebuilds),
    },
    {
      tool: 'lambda-deps build FILE, default path, one package added (attrs; goal ≤ 0.25 × fresh)',
      timesMs: times(plus),
      result: `${(median(times(plus)) / freshMedian).toFixed(2)} × the fresh default-path build (each after its own fresh build)`,
      peakRssKb: rss(plus),
    },
  ];
}

/** What measure and build each said about a set's route, and whether they agree. */
export function routeAgreement(
  verdict: MeasureResult['verdict'],
  manifest: Pick<BuildManifest, 'strategy' | 'layers'>,
): { agrees: boolean; text: string } {
  const built = `${manifest.strategy}${manifest.strategy === 'layers' ? `, ${manifest.layers.length} layer(s)` : ''}`;
  if (!verdict) return { agrees: false, text: `DISAGREE: measure gave no verdict; build made ${built}` };
  const measured = `${verdict.strategy}${verdict.strategy === 'layers' ? `, ${verdict.layerCount} layer(s)` : ''}`;
  const agrees = measured === built;
  return {
    agrees,
    text: agrees ? `agree: ${built}` : `DISAGREE: measure says ${measured}; build made ${built}`,
  };
}

/** `lambda-deps measure FILE --json` with the build's flags, against the build's manifest. */
async function benchAgreement(
  requirements: string,
  cacheDir: string,
  manifest: BuildManifest,
  indexes: LocalIndexes,
): Promise<Omit<BenchRow, 'set'>> {
  const measured = await timeProcess(process.execPath, [
    join(repository, 'bin', 'lambda-deps'),
    'measure',
    requirements,
    '--runtime',
    'python3.11',
    '--arch',
    'x86_64',
    '--cache-dir',
    cacheDir,
    '--json',
    ...indexFlags(indexes),
  ]);
  const { verdict } = JSON.parse(measured.stdout) as MeasureResult;
  const { agrees, text } = routeAgreement(verdict, manifest);
  if (!agrees) throw new Error(`measure and build disagree on ${requirements}: ${text}`);
  return {
    tool: 'lambda-deps measure FILE, warm caches (route and layer count against the build)',
    timesMs: [Math.round(measured.ms)],
    result: `measure and build ${text}`,
    ...(measured.peakRssKb !== null ? { peakRssKb: [measured.peakRssKb] } : {}),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function benchSet(
  name: string,
  packages: string[],
  indexes: LocalIndexes,
  python: string,
): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), `lambda-deps-bench-build-${name}-`));
  try {
    const requirements = join(work, 'requirements.txt');
    await writeFile(requirements, `${packages.join('\n')}\n`);
    // lambda-deps, fresh: the CLI as a user runs it (process start included), from empty caches:
    // resolve + measure + install + slim + verify + smoke import + pack. In-process, not the
    // pipeline, so the figure is the build itself.
    const freshRuns: number[] = [];
    const freshRss: number[] = [];
    let manifest: BuildManifest | null = null;
    for (let run = 0; run < RUNS; run++) {
      const outDir = join(work, `out-${run}`);
      const { ms, peakRssKb } = await timeProcess(process.execPath, [
        join(repository, 'bin', 'lambda-deps'),
        'build',
        requirements,
        '--runtime',
        'python3.11',
        '--arch',
        'x86_64',
        '--no-pipeline',
        '--out',
        outDir,
        '--cache-dir',
        join(work, `cache-${run}`),
        '--json',
        ...indexFlags(indexes),
      ]);
      freshRuns.push(Math.round(ms));
      if (peakRssKb !== null) freshRss.push(peakRssKb);
      manifest = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as BuildManifest;
    }
    if (!manifest) throw new Error('no build ran');
    const lock = manifest.lock;
    const cacheDir = join(work, `cache-${RUNS - 1}`);
    const lockPath = join(work, 'set.lock.json');
    await writeFile(lockPath, serializeLock(lock));

    // lambda-deps, rebuild of the unchanged lock: the CLI as a user runs it, process start included.
    const rebuilds: number[] = [];
    const rebuildRss: number[] = [];
    for (let run = 0; run < 3; run++) {
      const { ms, peakRssKb } = await timeProcess(process.execPath, [
        join(repository, 'bin', 'lambda-deps'),
        'build',
        lockPath,
        '--out',
        join(work, 'out-again'),
        '--cache-dir',
        cacheDir,
        '--json',
      ]);
      rebuilds.push(Math.round(ms));
      if (peakRssKb !== null) rebuildRss.push(peakRssKb);
    }
    const agreement = await benchAgreement(requirements, cacheDir, manifest, indexes);
    const defaultPath = await benchDefaultPath(work, requirements, packages, indexes);

    // The anchor: pip --platform --target, then zip -r (one zip, as the AWS docs do it).
    const anchorRuns: number[] = [];
    const anchorRss: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const site = join(work, `anchor-${run}`, 'python');
      await mkdir(site, { recursive: true });
      const pip = await timeProcess(python, [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--no-cache-dir',
        '--target',
        site,
        '--platform',
        'manylinux2014_x86_64',
        '--implementation',
        'cp',
        '--python-version',
        pythonFullVersion(lambdaTarget('python3.11', 'x86_64')),
        '--only-binary=:all:',
        ...indexFlags(indexes),
        ...packages,
      ]);
      const zip = await timeProcess('zip', ['-q', '-r', join(work, `anchor-${run}`, 'layer.zip'), 'python'], {
        cwd: join(work, `anchor-${run}`),
      });
      anchorRuns.push(Math.round(pip.ms + zip.ms));
      // The two run one after the other: the recipe's peak is the larger of theirs.
      if (pip.peakRssKb !== null) anchorRss.push(Math.max(pip.peakRssKb, zip.peakRssKb ?? 0));
    }
    const anchorBytes = await treeBytes(join(work, `anchor-${RUNS - 1}`, 'python'));

    const set = `${name}: ${packages.join(' ')} (python3.11 x86_64, ${lock.packages.length} packages)`;
    const smoke = manifest.smokeImport.ran ? (manifest.smokeImport.ok ? 'ok' : 'FAILED') : 'skipped';
    return [
      {
        set,
        tool: 'pip 26 install --platform --only-binary=:all: --target + zip -r (anchor)',
        timesMs: anchorRuns,
        result: `one zip, ${formatBytes(anchorBytes)} of files (what Lambda unzips), not verified, not slimmed`,
        anchor: true,
        peakRssKb: anchorRss,
      },
      {
        set,
        tool: 'lambda-deps build --no-pipeline (fresh caches; goal ≤ 0.1 × anchor)',
        timesMs: freshRuns,
        anchor: false,
        peakRssKb: freshRss,
        result: `${manifest.strategy}: ${manifest.layers.length} layer(s), ${formatBytes(manifest.sizes.slimmed)} unzipped, verification ${manifest.verification.ok ? 'ok' : 'FAILED'}, smoke import ${smoke}`,
      },
      {
        set,
        tool: 'lambda-deps build LOCK, unchanged lock (CLI incl. process start; goal < 1 s)',
        timesMs: rebuilds,
        result: 'served from the build cache',
        anchor: false,
        peakRssKb: rebuildRss,
      },
      { ...agreement, set },
      ...defaultPath.map((row) => ({ ...row, set })),
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = {
  name: 'build',
  async run(): Promise<BenchRow[]> {
    const indexes = localIndexes();
    if (!indexes) return [];
    const python = await anchorPython();
    const rows: BenchRow[] = [];
    for (const [name, packages] of selectedSets(SETS))
      rows.push(...(await benchSet(name, packages, indexes, python)));
    return rows;
  },
};
