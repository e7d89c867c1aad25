// The shape every benchmark suite returns (test/bench/suites/*.ts), and a wall-clock timer for
// child processes. run-bench.ts turns the rows into docs/benchmarks.md.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One tool on one set: its wall times and what it produced. */
export interface BenchRow {
  /** The input, e.g. `transformers (python3.11)`. */
  readonly set: string;
  /** e.g. `lambda-deps measure (cold cache)` or `pip install --dry-run`. */
  readonly tool: string;
  /** Wall time of each run, in milliseconds. */
  readonly timesMs: readonly number[];
  /** What the run produced, e.g. `27 packages / 155 MB unzipped`. */
  readonly result: string;
  /** The reference the other tools on the same set are compared with (ratio = tool / anchor). */
  readonly anchor?: boolean;
  /** Peak RSS of each run in KiB (the largest process of its tree, as GNU time reports it). */
  readonly peakRssKb?: readonly number[];
}

/** A suite of benchmarks: `export default { name, run }` from a file in test/bench/suites/. */
export interface BenchSuite {
  readonly name: string;
  run(): Promise<BenchRow[]>;
}

/** GNU time, which reports a child's peak RSS (`%M`, of the largest process in its tree). */
const GNU_TIME = '/usr/bin/time';

/**
 * Run a command (argument array, no shell) and return its wall time and, where GNU time exists,
 * its peak RSS in KiB; rejects when it fails.
 */
export async function timeProcess(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<{ ms: number; stdout: string; stderr: string; peakRssKb: number | null }> {
  const measureMemory = existsSync(GNU_TIME);
  const scratch = measureMemory ? await mkdtemp(join(tmpdir(), 'lambda-deps-bench-time-')) : null;
  const rssFile = scratch ? join(scratch, 'rss') : null;
  const [file, argv] = rssFile
    ? [GNU_TIME, ['-f', '%M', '-o', rssFile, command, ...args]]
    : [command, [...args]];
  const started = performance.now();
  try {
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        file,
        argv,
        { env: { ...process.env, ...options.env }, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 },
        (error, out, err) => {
          if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${err || error.message}`));
          else resolve({ stdout: out, stderr: err });
        },
      );
    });
    const ms = performance.now() - started;
    const rss = rssFile ? Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop()) : NaN;
    return { ms, stdout, stderr, peakRssKb: Number.isFinite(rss) ? rss : null };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** The anchor's interpreter: the pip 26 venv (.ci/install-pip-oracle), never the machine's pip. */
export async function anchorPython(): Promise<string> {
  const { pipOraclePython, pipOracleUnavailable } = await import('../support/pip-oracle.ts');
  const python = await pipOraclePython();
  if (!python) throw new Error(pipOracleUnavailable());
  return python;
}

/** `BENCH_SETS=a,b` keeps only those sets (a quick check); `BENCH_RUNS=n` overrides the run count. */
export function selectedSets<T>(sets: Readonly<Record<string, T>>): [string, T][] {
  const wanted =
    process.env.BENCH_SETS?.split(',')
      .map((name) => name.trim())
      .filter(Boolean) ?? [];
  return Object.entries(sets).filter(([name]) => wanted.length === 0 || wanted.includes(name));
}

export function runCount(fallback: number): number {
  const runs = Number(process.env.BENCH_RUNS);
  return Number.isInteger(runs) && runs > 0 ? runs : fallback;
}
