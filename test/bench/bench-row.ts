// The shape every benchmark suite returns (test/bench/suites/*.ts), and a wall-clock timer for
// child processes. run-bench.ts turns the rows into docs/benchmarks.md.
import { execFile } from 'node:child_process';

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
}

/** A suite of benchmarks: `export default { name, run }` from a file in test/bench/suites/. */
export interface BenchSuite {
  readonly name: string;
  run(): Promise<BenchRow[]>;
}

/** Run a command (argument array, no shell) and return its wall time; rejects when it fails. */
export function timeProcess(
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<{ ms: number; stdout: string; stderr: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { env: { ...process.env, ...options.env }, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const ms = performance.now() - started;
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || error.message}`));
        else resolve({ ms, stdout, stderr });
      },
    );
  });
}
