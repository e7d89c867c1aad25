// The Build step's live counts as a user sees them: `bin/lambda-deps build <req> --runtime
// python3.11 --arch x86_64 --out DIR` run under a pseudo-terminal (script(1)) on a small real
// set from this machine's on-disk wheels shows the files and bytes installed and the modules
// imported while Build runs; the same command with its output piped shows no redraw at all.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROGRESS_LINE_PREFIX } from '../../../functions/core/build/build-events.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const BIN = resolve('bin/lambda-deps');
/** Small, on the on-disk index, and with a smoke import of several modules (requests and its four dependencies). */
const REQUIREMENTS = 'requests\n';
const RUN_TIMEOUT_MS = 150_000;

function works(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, [...args], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const skipReason =
  localIndexes() === null
    ? NO_LOCAL_INDEXES_REASON
    : !works('script', ['-qec', 'true', '/dev/null'])
      ? 'script(1), which gives the command a pseudo-terminal, is not installed'
      : !works('python3.11', ['-c', 'pass'])
        ? 'there is no python3.11 here to smoke-import with'
        : null;
const WHY = skipReason ? ` (skipped: ${skipReason})` : '';

// The paths reach the shell only as variables, always quoted: never spliced into the command text.
const TERMINAL_COMMAND =
  'exec "$LD_BIN" build "$LD_REQUIREMENTS" --runtime python3.11 --arch x86_64 --out "$LD_OUT" --cache-dir "$LD_CACHE"';

let root = '';
let requirements = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-progress-cli-'));
  requirements = join(root, 'requirements.txt');
  await writeFile(requirements, REQUIREMENTS);
});
afterAll(() => rm(root, { recursive: true, force: true }));

interface Run {
  readonly code: number;
  readonly output: string;
}

function finished(done: (run: Run) => void) {
  return (error: (Error & { code?: unknown }) | null, stdout: string, stderr: string): void => {
    const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
    done({ code, output: `${stdout}${stderr}` });
  };
}

/** The command under a pseudo-terminal: what the terminal received, redraws included. */
function runOnTerminal(name: string): Promise<Run> {
  const env = {
    ...process.env,
    NO_COLOR: '1',
    LD_BIN: BIN,
    LD_REQUIREMENTS: requirements,
    LD_OUT: join(root, `out-${name}`),
    // A cache of its own, so that Build really builds.
    LD_CACHE: join(root, `cache-${name}`),
  };
  return new Promise((done) => {
    execFile(
      'script',
      ['-qfec', TERMINAL_COMMAND, '/dev/null'],
      { env, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      finished(done),
    );
  });
}

function runPiped(name: string): Promise<Run> {
  const args = [
    'build',
    requirements,
    '--runtime',
    'python3.11',
    '--arch',
    'x86_64',
    '--out',
    join(root, `out-${name}`),
    '--cache-dir',
    join(root, `cache-${name}`),
  ];
  return new Promise((done) => {
    execFile(
      BIN,
      args,
      { env: { ...process.env, NO_COLOR: '1' }, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      finished(done),
    );
  });
}

/** Every state of the terminal's line, as a person would have seen it (escape codes removed). */
function screens(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').split(/\r\n|\r|\n/);
}

describe('bin/lambda-deps build shows the Build step’s live counts', () => {
  it.skipIf(skipReason !== null)(
    `draws files and bytes during install and modules during the smoke import on a terminal${WHY}`,
    async () => {
      // Act
      const run = await runOnTerminal('terminal');

      // Assess
      expect(run.code, run.output).toBe(0);
      const lines = screens(run.output);
      expect(
        lines.some((line) => /^… Build .* · install · [\d,]+ files?, [\d.]+ (B|KiB|MiB|GiB)\b/.test(line)),
        run.output,
      ).toBe(true);
      expect(
        lines.some((line) => /^… Build .* · smoke import · \d+ of \d+ modules$/.test(line)),
        run.output,
      ).toBe(true);
      expect(
        lines.some((line) => /^✓ Build \d/.test(line)),
        run.output,
      ).toBe(true);
      expect(run.output).not.toContain(PROGRESS_LINE_PREFIX.trim());
    },
    2 * RUN_TIMEOUT_MS,
  );

  it.skipIf(skipReason !== null)(
    `prints only the final lines, with no redraw, when the output is piped${WHY}`,
    async () => {
      // Act
      const run = await runPiped('piped');

      // Assess
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/^✓ Build \d/m);
      expect(run.output).not.toContain('\r');
      expect(run.output).not.toContain('\x1b[2K');
      expect(run.output).not.toContain('… Build');
      expect(run.output).not.toContain(PROGRESS_LINE_PREFIX.trim());
    },
    2 * RUN_TIMEOUT_MS,
  );
});
