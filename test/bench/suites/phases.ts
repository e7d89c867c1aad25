// Bench suite for `npm run bench`: how a build's cost grows with the set. One fresh build
// (`lambda-deps build --no-pipeline`, empty caches) of three sets of growing size (a small web
// set, the seed set, torch; torch also on the default path, where it goes to an image and its
// probe), and per phase the seconds the manifest recorded with the rate they
// come to: MB/s of the bytes the phase handles and files/s, so a reader sees what scales with
// bytes and what with file count. Verify, smoke import and pack run at the same time, so their
// seconds overlap; `total` is the build's own wall time, and the row's wall time the process's.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildManifest } from '../../../functions/core/shared/types.ts';
import { formatBytes } from '../../../functions/core/shared/units.ts';
import { indexFlags, localIndexes, type LocalIndexes } from '../../support/pip-indexes.ts';
import { selectedSets, timeProcess, type BenchRow, type BenchSuite } from '../bench-row.ts';

/** Each set with its target: the on-disk torch wheel is manylinux_2_28, past python3.11's AL2 (glibc 2.26). */
const SETS: Record<string, { packages: string[]; target: string[]; defaultPath?: boolean }> = {
  web: { packages: ['requests', 'boto3'], target: ['--runtime', 'python3.11', '--arch', 'x86_64'] },
  seed: {
    packages: ['boto3', 'numpy', 'pandas', 'requests', 'scipy'],
    target: ['--runtime', 'python3.11', '--arch', 'x86_64'],
  },
  // Torch is the one set of the three the build suite does not run on the default path (it
  // goes to an image: PushImage and the image's Probe): one row of that, too.
  torch: {
    packages: ['torch'],
    target: ['--python', '3.11', '--glibc', '2.28', '--arch', 'x86_64'],
    defaultPath: true,
  },
};

const repository = join(import.meta.dirname, '..', '..', '..');

/** MB/s (10^6 bytes, as disks and networks are rated) of `bytes` over `ms`. */
function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s` : '–';
}

function perSecond(count: number, ms: number, unit: string): string {
  return ms > 0 ? `${Math.round(count / (ms / 1000)).toLocaleString('en-US')} ${unit}/s` : '–';
}

/** One row per phase the manifest timed, with what that phase's rate is made of. */
function phaseRows(
  set: string,
  manifest: BuildManifest,
  wallMs: number,
  peakRssKb: number | null,
): BenchRow[] {
  const timings = manifest.timings as Record<string, number | undefined>;
  const { wheels, installed, slimmed } = manifest.sizes;
  const files = manifest.verification.filesChecked ?? 0;
  const modules = manifest.smokeImport.ran ? manifest.smokeImport.modules : 0;
  const phases: { phase: string; result: (ms: number) => string }[] = [
    { phase: 'download', result: (ms) => `${formatBytes(wheels)} of wheels, ${rate(wheels, ms)}` },
    {
      phase: 'install',
      result: (ms) =>
        `${formatBytes(installed)} checked and unpacked, ${formatBytes(slimmed)} kept: ${rate(installed, ms)}, ${perSecond(files, ms, 'files')}`,
    },
    {
      phase: 'verify',
      result: (ms) => `${files.toLocaleString('en-US')} files: ${perSecond(files, ms, 'files')}`,
    },
    { phase: 'smokeImport', result: (ms) => `${modules} modules (${perSecond(modules, ms, 'modules')})` },
    {
      phase: 'pack',
      result: (ms) => `${formatBytes(slimmed)} into ${manifest.strategy}: ${rate(slimmed, ms)}`,
    },
    {
      phase: 'total',
      result: (ms) => `${rate(slimmed, ms)} of what ships, ${perSecond(files, ms, 'files')}`,
    },
  ];
  const rows: BenchRow[] = phases
    .filter(({ phase }) => typeof timings[phase] === 'number')
    .map(({ phase, result }) => ({
      set,
      tool: `phase: ${phase}`,
      timesMs: [timings[phase] as number],
      result: result(timings[phase] as number),
    }));
  rows.push({
    set,
    tool: 'whole process (lambda-deps build --no-pipeline, fresh caches)',
    timesMs: [Math.round(wallMs)],
    result: `${manifest.strategy}; ${formatBytes(slimmed)} ships`,
    ...(peakRssKb === null ? {} : { peakRssKb: [peakRssKb] }),
  });
  return rows;
}

/** `lambda-deps build` of `requirements` into fresh folders, timed as a whole process. */
function timeBuild(
  requirements: string,
  target: readonly string[],
  indexes: LocalIndexes,
  folders: { outDir: string; cacheDir: string },
  flags: readonly string[] = [],
): ReturnType<typeof timeProcess> {
  return timeProcess(process.execPath, [
    join(repository, 'bin', 'lambda-deps'),
    'build',
    requirements,
    ...target,
    ...flags,
    '--out',
    folders.outDir,
    '--cache-dir',
    folders.cacheDir,
    '--json',
    ...indexFlags(indexes),
  ]);
}

/** The default path's state machine states that took a noticeable time, as `Build 12.1 s, Probe 0.4 s`. */
function slowStates(stdout: string): string {
  const result = JSON.parse(stdout) as { execution?: { states?: { name: string; durationMs: number }[] } };
  return (result.execution?.states ?? [])
    .filter((state) => state.durationMs >= 100)
    .map((state) => `${state.name} ${(state.durationMs / 1000).toFixed(1)} s`)
    .join(', ');
}

/** The same fresh build on the default path (the state machine with its local twins), in a new cache. */
async function defaultPathRow(
  set: string,
  requirements: string,
  target: readonly string[],
  indexes: LocalIndexes,
  work: string,
): Promise<BenchRow> {
  const folders = { outDir: join(work, 'out-default-path'), cacheDir: join(work, 'cache-default-path') };
  const run = await timeBuild(requirements, target, indexes, folders);
  return {
    set,
    tool: 'whole process (lambda-deps build, default path, fresh caches)',
    timesMs: [Math.round(run.ms)],
    result: slowStates(run.stdout),
    ...(run.peakRssKb === null ? {} : { peakRssKb: [run.peakRssKb] }),
  };
}

async function benchSet(
  name: string,
  { packages, target, defaultPath }: { packages: string[]; target: string[]; defaultPath?: boolean },
  indexes: LocalIndexes,
): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), `lambda-deps-bench-phases-${name}-`));
  try {
    const requirements = join(work, 'requirements.txt');
    await writeFile(requirements, `${packages.join('\n')}\n`);
    const outDir = join(work, 'out');
    const folders = { outDir, cacheDir: join(work, 'cache') };
    const run = await timeBuild(requirements, target, indexes, folders, ['--no-pipeline']);
    const manifest = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as BuildManifest;
    const set = `${name}: ${packages.join(' ')} (${target.filter((word) => !word.startsWith('--')).join(' ')}; ${manifest.lock.packages.length} packages, ${formatBytes(manifest.sizes.installed)} installed)`;
    const rows = phaseRows(set, manifest, run.ms, run.peakRssKb);
    if (defaultPath) rows.push(await defaultPathRow(set, requirements, target, indexes, work));
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = {
  name: 'phases: where a fresh build spends its time, by set size (one run each; verify, smoke import and pack overlap)',
  async run(): Promise<BenchRow[]> {
    const indexes = localIndexes();
    if (!indexes) return [];
    const rows: BenchRow[] = [];
    for (const [name, packages] of selectedSets(SETS))
      rows.push(...(await benchSet(name, packages, indexes)));
    return rows;
  },
};
