// Bench suite for `npm run bench`: `lambda-deps build` (fresh caches, then a rebuild of the
// unchanged lock through the CLI, process start included) against the anchor AWS documents,
// `pip install --platform … --only-binary=:all: --target DIR` followed by `zip -r`, on the same
// sets and the same on-disk indexes. Goals: a fresh build in at most a quarter of the anchor's
// wall time; a rebuild under one second.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildDependencySet } from '../../../functions/core/build.ts';
import { createPackageIndex } from '../../../functions/core/index-client.ts';
import { serializeLock } from '../../../functions/core/lock.ts';
import { measureRequirements } from '../../../functions/core/measure.ts';
import { lambdaTarget } from '../../../functions/core/targets.ts';
import { localIndexes, type LocalIndexes } from '../../support/pip-indexes.ts';
import { timeProcess, type BenchRow, type BenchSuite } from '../bench-row.ts';

const execFileAsync = promisify(execFile);

const SETS: Record<string, string[]> = {
  web: ['requests', 'boto3'],
  data: ['boto3', 'numpy', 'pandas', 'requests', 'scipy'],
};

const repository = join(import.meta.dirname, '..', '..', '..');

function pipIndexArguments(indexes: LocalIndexes): string[] {
  const [main, ...extra] = indexes.indexUrls;
  return [
    ...(main ? ['--index-url', main] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...indexes.findLinks.flatMap((location) => ['--find-links', location]),
  ];
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await run();
  return { ms: Math.round(performance.now() - started), value };
}

async function benchSet(name: string, packages: string[], indexes: LocalIndexes): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), `lambda-deps-bench-build-${name}-`));
  try {
    const requirements = join(work, 'requirements.txt');
    await writeFile(requirements, `${packages.join('\n')}\n`);
    const target = lambdaTarget('python3.11', 'x86_64');
    const [indexUrl, ...extraIndexUrls] = indexes.indexUrls;
    const cacheDir = join(work, 'cache');

    // lambda-deps, fresh: resolve + measure + download + install + slim + verify + smoke import + pack.
    const fresh = await timed(async () => {
      const { lock } = await measureRequirements({
        requirementsPath: requirements,
        target,
        cliIndexOptions: {
          ...(indexUrl ? { indexUrl } : { noIndex: true }),
          extraIndexUrls,
          findLinks: indexes.findLinks,
        },
        cacheDir,
      });
      const index = createPackageIndex({
        indexUrl: null,
        extraIndexUrls: [],
        findLinks: [],
        pre: false,
        cacheDir,
      });
      try {
        const manifest = await buildDependencySet({
          lock,
          index,
          outDir: join(work, 'out'),
          strategy: 'auto',
          cacheDir,
        });
        return { lock, manifest };
      } finally {
        await index.close();
      }
    });
    const { lock, manifest } = fresh.value;
    const lockPath = join(work, 'set.lock.json');
    await writeFile(lockPath, serializeLock(lock));

    // lambda-deps, rebuild of the unchanged lock: the CLI as a user runs it, process start included.
    const rebuilds: number[] = [];
    for (let run = 0; run < 3; run++) {
      const { ms } = await timeProcess(process.execPath, [
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
    }

    // The anchor: pip --platform --target, then zip -r (one zip, as the AWS docs do it).
    const anchor = await timed(async () => {
      const site = join(work, 'anchor', 'python');
      await mkdir(site, { recursive: true });
      await execFileAsync(
        'python3',
        [
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
          '3.11',
          '--only-binary=:all:',
          ...pipIndexArguments(indexes),
          ...packages,
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      await execFileAsync('zip', ['-q', '-r', join(work, 'anchor', 'layer.zip'), 'python'], {
        cwd: join(work, 'anchor'),
      });
    });

    const set = `${name}: ${packages.join(' ')} (python3.11 x86_64, ${lock.packages.length} packages)`;
    const smoke = manifest.smokeImport.ran ? (manifest.smokeImport.ok ? 'ok' : 'FAILED') : 'skipped';
    return [
      {
        set,
        tool: 'pip install --platform --only-binary=:all: --target + zip -r (anchor)',
        timesMs: [anchor.ms],
        result: 'one zip, not verified, not slimmed',
        anchor: true,
      },
      {
        set,
        tool: 'lambda-deps build (fresh caches; goal ≤ 0.25 × anchor)',
        timesMs: [fresh.ms],
        result: `${manifest.strategy}: ${manifest.layers.length} layer(s), ${(manifest.sizes.slimmed / 1e6).toFixed(1)} MB unzipped, verification ${manifest.verification.ok ? 'ok' : 'FAILED'}, smoke import ${smoke}`,
      },
      {
        set,
        tool: 'lambda-deps build LOCK, unchanged lock (CLI incl. process start; goal < 1 s)',
        timesMs: rebuilds,
        result: 'served from the build cache',
      },
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
    const rows: BenchRow[] = [];
    for (const [name, packages] of Object.entries(SETS))
      rows.push(...(await benchSet(name, packages, indexes)));
    return rows;
  },
};
