// Runs bin/lambda-deps as a user types it, in a child process (NO_COLOR, the test's environment
// plus `env`), and gives back its exit code and what it printed. Never rejects: a failing command
// is a result the test looks at.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'lambda-deps');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout, a newline, then stderr: what a user saw in the terminal. */
  readonly output: string;
}

/**
 * @example const { code, stderr } = await runCli(['build', 'requirements.txt', '--runtime', 'python3.12'], { timeoutMs: 60_000 });
 */
export function runCli(
  args: readonly string[],
  options: {
    readonly env?: Record<string, string | undefined>;
    readonly timeoutMs?: number;
    /** The folder it runs in (default: the test's). */
    readonly cwd?: string;
  } = {},
): Promise<CliRun> {
  return new Promise((done) => {
    execFile(
      BIN,
      [...args],
      {
        env: { ...process.env, NO_COLOR: '1', ...options.env },
        maxBuffer: 16 * 1024 * 1024,
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr, output: `${stdout}\n${stderr}` });
      },
    );
  });
}
