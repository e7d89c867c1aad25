// The CLI's start-up promises, checked on real processes: `--help` and `--version` load no command
// module and no AWS SDK, a command loads only its own module, nothing prints the SDK's Node-version
// warning, and the bundle that bin/lambda-deps prefers answers quickly. Module loads are recorded by
// a resolve hook (record-module-loads.mjs); both the TypeScript source (tsx) and the bundle
// (dist/cli, made by `npm ci`'s prepare script) are checked.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { indexFlags, localIndexes, NO_LOCAL_INDEXES_REASON } from '../support/pip-indexes.ts';

const REPOSITORY = resolve(import.meta.dirname, '..', '..');
const BIN = join(REPOSITORY, 'bin', 'lambda-deps');
const RECORDER = join(import.meta.dirname, 'record-module-loads.mjs');
const VERSION = (JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { version: string })
  .version;
const COMMAND_MODULES = ['measure', 'build', 'verify', 'store', 'submit', 'graph', 'export'];
const work = mkdtempSync(join(tmpdir(), 'lambda-deps-startup-'));
let recordings = 0;

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Whether dist/cli is newer than every file it was bundled from (bin/lambda-deps runs it then). */
function bundleIsCurrent(): boolean {
  try {
    const stamp = join(REPOSITORY, 'dist', 'bundle-inputs.json');
    const builtAt = statSync(stamp).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(stamp, 'utf8')) as { inputs: string[] };
    return inputs.every((input) => statSync(join(REPOSITORY, input)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

interface Launch {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  /** Every module URL the process resolved. */
  readonly loaded: string[];
  readonly seconds: number;
}

function launch(args: readonly string[], mode: 'source' | 'bundle', recordLoads = true): Promise<Launch> {
  const record = join(work, `loads-${recordings++}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', LAMBDA_DEPS_RECORD_LOADS: record };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  if (mode === 'source') env.LAMBDA_DEPS_FROM_SOURCE = '1';
  else delete env.LAMBDA_DEPS_FROM_SOURCE;
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [...(recordLoads ? ['--import', RECORDER] : []), BIN, ...args],
      { cwd: REPOSITORY, env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        let loaded: string[] = [];
        try {
          loaded = readFileSync(record, 'utf8').split('\n').filter(Boolean);
        } catch {
          // Nothing recorded: the assertions below say so.
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ stdout, stderr, code, loaded, seconds });
      },
    );
  });
}

/** The command modules a run loaded: source files under commands/, or their chunks in dist/cli/. */
function commandModulesLoaded(loaded: readonly string[]): string[] {
  const names = new Set<string>();
  for (const url of loaded) {
    const source = /\/functions\/cli\/commands\/([a-z-]+)\.ts$/.exec(url);
    const chunk = /\/dist\/cli\/([a-z-]+)-[A-Z0-9]{8}\.mjs$/.exec(url);
    const name = source?.[1] ?? chunk?.[1];
    if (name && COMMAND_MODULES.includes(name)) names.add(name);
  }
  return [...names].sort();
}

const bundleCurrent = bundleIsCurrent();
const modes = [
  { mode: 'source' as const, skip: false, why: '' },
  {
    mode: 'bundle' as const,
    skip: !bundleCurrent,
    why: bundleCurrent
      ? ''
      : ' (skipped: dist/cli is missing or older than the source; run `npm run prepare`)',
  },
];

describe.each(modes)('the CLI from $mode', ({ mode, skip, why }) => {
  it.skipIf(skip)(
    `answers --version with package.json's version, loading no command and no AWS SDK${why}`,
    async () => {
      // Act
      const result = await launch(['--version'], mode);

      // Assess
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(VERSION);
      expect(result.stderr).toBe('');
      expect(result.loaded.length).toBeGreaterThan(0);
      expect(commandModulesLoaded(result.loaded)).toEqual([]);
      expect(result.loaded.filter((url) => url.includes('@aws-sdk'))).toEqual([]);
    },
  );

  it.skipIf(skip)(`lists every command for --help without loading any of them${why}`, async () => {
    // Act
    const result = await launch(['--help'], mode);

    // Assess
    expect(result.code).toBe(0);
    for (const name of COMMAND_MODULES) expect(result.stdout).toContain(`  ${name}`);
    expect(result.stderr).toBe('');
    expect(commandModulesLoaded(result.loaded)).toEqual([]);
    expect(result.loaded.filter((url) => url.includes('@aws-sdk'))).toEqual([]);
  });

  it.skipIf(skip)(`loads only the chosen command's module, and no AWS SDK for measure${why}`, async () => {
    // Act
    const result = await launch(['measure', '--help'], mode);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: lambda-deps measure/);
    expect(commandModulesLoaded(result.loaded)).toEqual(['measure']);
    expect(result.loaded.filter((url) => url.includes('@aws-sdk'))).toEqual([]);
  });

  it.skipIf(skip)(`prints no AWS SDK warning from submit, which loads the SDK${why}`, async () => {
    // Act
    const result = await launch(['submit', '--help'], mode);

    // Assess
    expect(result.code).toBe(0);
    expect(commandModulesLoaded(result.loaded)).toEqual(['submit']);
    expect(result.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});

const CPU_REPORTER = join(import.meta.dirname, 'report-cpu-at-exit.mjs');

/** CPU seconds (user + system) a node process spends on `args`, from the reporter it loads. */
async function cpuSeconds(args: readonly string[]): Promise<number> {
  const file = join(work, `cpu-${recordings++}.txt`);
  await new Promise((done) =>
    execFile(
      process.execPath,
      ['--import', CPU_REPORTER, ...args],
      {
        cwd: REPOSITORY,
        env: { ...process.env, LAMBDA_DEPS_CPU_FILE: file },
        timeout: 60_000,
      },
      done,
    ),
  );
  return Number(readFileSync(file, 'utf8').trim());
}

describe('the bundle bin/lambda-deps prefers', () => {
  const inputsFile = join(REPOSITORY, 'dist', 'bundle-inputs.json');
  const hasInputs = (() => {
    try {
      statSync(inputsFile);
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!hasInputs)(
    `lists only real files as its inputs, or bin would always fall back to the TypeScript source${hasInputs ? '' : ' (skipped: no dist/bundle-inputs.json; run `npm run prepare`)'}`,
    () => {
      // Prepare
      const { inputs } = JSON.parse(readFileSync(inputsFile, 'utf8')) as { inputs: string[] };

      // Act
      const missing = inputs.filter((input) => {
        try {
          return !statSync(join(REPOSITORY, input)).isFile();
        } catch {
          return true;
        }
      });

      // Assess
      expect(inputs.length).toBeGreaterThan(50);
      expect(missing).toEqual([]);
    },
  );

  it.skipIf(!bundleCurrent)(
    `spends under 0.1 s of CPU beyond a bare node start-up on --version and --help (median of 5)${bundleCurrent ? '' : ' (skipped: no current dist/cli)'}`,
    async () => {
      // Prepare: CPU time, not wall time, so a busy machine does not decide the result.
      const median = (values: number[]): number => [...values].sort((a, b) => a - b)[2] ?? Number.NaN;
      const bare: number[] = [];
      const version: number[] = [];
      const help: number[] = [];

      // Act
      for (let run = 0; run < 5; run++) {
        bare.push(await cpuSeconds(['-e', '0']));
        version.push(await cpuSeconds([BIN, '--version']));
        help.push(await cpuSeconds([BIN, '--help']));
      }

      // Assess
      expect(median(version) - median(bare)).toBeLessThan(0.1);
      expect(median(help) - median(bare)).toBeLessThan(0.1);
    },
  );
});

/**
 * The npm packages whose code the loaded modules hold: a bundle chunk's source map names the
 * files it was made of (the SDK is bundled into chunks, so URLs alone would not show it).
 */
function packagesIn(loaded: readonly string[]): string[] {
  const names = new Set<string>();
  for (const url of loaded) {
    if (!url.startsWith('file:')) continue;
    const file = fileURLToPath(url);
    const sources = existsSync(`${file}.map`)
      ? (JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] }).sources
      : [file];
    for (const source of sources) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
      if (match?.[1]) names.add(match[1]);
    }
  }
  return [...names].sort();
}

describe('a first local build from the bundle', () => {
  const indexes = localIndexes();
  const why = !bundleCurrent
    ? ' (skipped: no current dist/cli)'
    : indexes === null
      ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})`
      : '';
  it.skipIf(why !== '')(
    `runs the shipped state machine with an empty cache, loading neither the CDK nor the AWS SDK${why}`,
    async () => {
      // Prepare
      const folder = mkdtempSync(join(work, 'first-build-'));
      writeFileSync(join(folder, 'requirements.txt'), 'six\n');
      const cacheDir = join(folder, 'cache');
      const args = ['build', join(folder, 'requirements.txt'), '--runtime', 'python3.11', '--arch'];
      args.push(process.arch === 'arm64' ? 'arm64' : 'x86_64', '--out', join(folder, 'out'));
      args.push(
        '--cache-dir',
        cacheDir,
        '--json',
        ...indexFlags(indexes ?? { indexUrls: [], findLinks: [] }),
      );

      // Act
      const run = await launch(args, 'bundle');

      // Assess
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as { delivery?: { strategy?: string } }).delivery?.strategy).toBe(
        'layers',
      );
      // Nothing was synthesized: the cache holds no definition and the CDK never loaded.
      expect(existsSync(join(cacheDir, 'pipeline-definition'))).toBe(false);
      expect(run.loaded.filter((url) => url.includes('/aws-cdk-lib/'))).toEqual([]);
      expect(packagesIn(run.loaded).filter((name) => /^@aws-sdk\/client-|^@smithy\//.test(name))).toEqual([]);
      // file:// indexes and no image: the HTTP client (1 MB) is never needed, so never loaded.
      expect(packagesIn(run.loaded)).not.toContain('undici');
      expect(packagesIn(run.loaded)).toContain('commander');
    },
    120_000,
  );
});
