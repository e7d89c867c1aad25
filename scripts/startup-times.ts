// Start-up times of the CLI, for the bench and for checking the targets by hand:
// `npx tsx scripts/startup-times.ts [--runs N] [--json] [--bin PATH]`. Each case runs N times
// (default 9) as a real process; the median wall time is reported, and beside it the same for a
// bare `node -e 0`, because on a loaded machine node's own start-up dominates and moves.
// "build starts" is the time until a local build prints its first line (the measure state).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface StartupCase {
  readonly name: string;
  readonly args: readonly string[];
  /** Stop timing at the first output line instead of at exit. */
  readonly untilFirstLine?: boolean;
  /** Target in seconds, from issue 14. */
  readonly targetSeconds?: number;
}

export interface StartupResult {
  readonly name: string;
  readonly medianSeconds: number;
  readonly targetSeconds?: number;
}

/** The commands whose start-up is timed: the one list the script and the bench share. */
export function startupCases(requirements: string, outDir: string): StartupCase[] {
  return [
    { name: 'lambda-deps --version', args: ['--version'], targetSeconds: 0.15 },
    { name: 'lambda-deps --help', args: ['--help'], targetSeconds: 0.15 },
    { name: 'lambda-deps build --help', args: ['build', '--help'] },
    {
      name: 'lambda-deps build (first line)',
      args: ['build', requirements, '--runtime', 'python3.12', '--arch', 'x86_64', '--out', outDir],
      untilFirstLine: true,
      targetSeconds: 0.3,
    },
  ];
}

/** Wall time of one run: to exit, or to the first line on stdout or stderr (then the process is ended). */
function timeOnce(command: string, args: readonly string[], untilFirstLine: boolean): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    let settled = false;
    const finish = (seconds: number): void => {
      if (settled) return;
      settled = true;
      resolvePromise(seconds);
    };
    const onData = (): void => {
      if (!untilFirstLine) return;
      finish(elapsed());
      child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      finish(elapsed());
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function measureStartup(
  bin: string,
  cases: readonly StartupCase[],
  runs: number,
): Promise<StartupResult[]> {
  const results: StartupResult[] = [];
  const baseline: number[] = [];
  for (let run = 0; run < runs; run++) baseline.push(await timeOnce(process.execPath, ['-e', '0'], false));
  results.push({ name: 'node -e 0 (baseline)', medianSeconds: median(baseline) });
  for (const startupCase of cases) {
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      times.push(
        await timeOnce(process.execPath, [bin, ...startupCase.args], startupCase.untilFirstLine ?? false),
      );
    }
    results.push({
      name: startupCase.name,
      medianSeconds: median(times),
      targetSeconds: startupCase.targetSeconds,
    });
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '9' },
      json: { type: 'boolean', default: false },
      bin: { type: 'string' },
    },
  });
  const bin = resolve(values.bin ?? 'bin/lambda-deps');
  const work = mkdtempSync(join(tmpdir(), 'lambda-deps-startup-'));
  try {
    const requirements = join(work, 'requirements.txt');
    writeFileSync(requirements, 'six\n');
    const cases = startupCases(requirements, join(work, 'out'));
    const results = await measureStartup(bin, cases, Math.max(1, Number(values.runs)));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      return;
    }
    for (const result of results) {
      const target = result.targetSeconds === undefined ? '' : `  (target ≤ ${result.targetSeconds} s)`;
      process.stdout.write(`${result.name.padEnd(34)} ${result.medianSeconds.toFixed(3)} s${target}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename ?? '')) await main();
