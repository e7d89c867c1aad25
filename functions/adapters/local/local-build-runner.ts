// Runs a CodeBuild buildspec (version 0.2) on this machine, so the local mode builds with the
// very same recipe as the cloud. CodeBuild's semantics, as its docs describe them:
// - `env.variables` first, then the variables the caller passes (the pipeline's overrides);
// - phases in order install → pre_build → build → post_build; within a phase the first failing
//   command fails the phase and the rest are skipped; `finally` commands always run;
// - a failed install or pre_build ends the build (later phases are skipped) unless the phase
//   says `on-failure: CONTINUE`; post_build runs after a failed build (unless the build phase
//   says `on-failure: ABORT`), with CODEBUILD_BUILD_SUCCEEDING=0;
// - environment variables (and the working folder) persist from one command to the next;
// - `exported-variables` are read from the environment at the end.
// Each command is the buildspec's own text run with `bash -c`; user data reaches it only
// through environment variables, never by being spliced into a command. `runtime-versions`
// is skipped (this machine's node and python are used) and the log says so.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { InputError } from '../../core/shared/errors.ts';

export type PhaseName = 'install' | 'pre_build' | 'build' | 'post_build';
const PHASES: readonly PhaseName[] = ['install', 'pre_build', 'build', 'post_build'];

export interface RunBuildspecOptions {
  readonly buildspecPath: string;
  /** Where commands run (CodeBuild's source folder); created by the caller. */
  readonly workDir: string;
  /** Variables the pipeline passes (override `env.variables`). */
  readonly env: Record<string, string>;
  /** The repository root, given to commands as CODEBUILD_SRC_DIR. */
  readonly sourceDir: string;
  /** Each line of output, and the runner's own log lines. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr' | 'runner') => void;
  /** Per command. @default 60 minutes */
  readonly commandTimeoutMs?: number;
}

export interface PhaseResult {
  readonly name: PhaseName;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  readonly durationMs: number;
}

export interface RunBuildspecResult {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly phases: PhaseResult[];
  readonly exportedVariables: Record<string, string>;
}

const commandList = z.array(z.string()).optional();
const phaseSchema = z
  .object({
    'run-as': z.string().optional(),
    'on-failure': z.enum(['ABORT', 'CONTINUE']).optional(),
    'runtime-versions': z.record(z.string(), z.unknown()).optional(),
    commands: commandList,
    finally: commandList,
  })
  .nullable()
  .optional();

const buildspecSchema = z.object({
  version: z.union([z.literal(0.2), z.literal('0.2')]),
  env: z
    .object({
      shell: z.string().optional(),
      variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
      'exported-variables': z.array(z.string()).optional(),
      'parameter-store': z.record(z.string(), z.string()).optional(),
      'secrets-manager': z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  phases: z.object({
    install: phaseSchema,
    pre_build: phaseSchema,
    build: phaseSchema,
    post_build: phaseSchema,
  }),
  artifacts: z.unknown().optional(),
  reports: z.unknown().optional(),
  cache: z.unknown().optional(),
});

export type Buildspec = z.infer<typeof buildspecSchema>;

/** Parse and check a buildspec; refuses what this runner would otherwise silently ignore. */
export function parseBuildspec(text: string, origin: string): Buildspec {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    throw new InputError(`${origin} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  const parsed = buildspecSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      `${origin}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}.`,
      {
        hint: 'The local runner accepts CodeBuild buildspec version 0.2.',
      },
    );
  }
  const spec = parsed.data;
  if (spec.env?.['parameter-store'] || spec.env?.['secrets-manager']) {
    throw new InputError(`${origin}: env.parameter-store / env.secrets-manager cannot be resolved locally.`, {
      hint: 'Pass such values as environment variables instead.',
    });
  }
  return spec;
}

/** The fixed wrapper: runs the command text from `__LAMBDA_DEPS_COMMAND` and saves env and folder for the next one. */
const WRAPPER = [
  'trap \'__ld_status=$?; pwd > "$__LAMBDA_DEPS_STATE/pwd"; env -0 > "$__LAMBDA_DEPS_STATE/env"; exit $__ld_status\' EXIT',
  'eval "$__LAMBDA_DEPS_COMMAND"',
].join('\n');

const INTERNAL = /^__LAMBDA_DEPS_|^(_|SHLVL|PWD|OLDPWD)$/;

interface ShellState {
  env: Record<string, string>;
  cwd: string;
}

async function runCommand(
  command: string,
  state: ShellState,
  stateDir: string,
  options: RunBuildspecOptions,
): Promise<number> {
  const emit = options.onLine ?? (() => undefined);
  const child = spawn('bash', ['-c', WRAPPER], {
    cwd: state.cwd,
    env: { ...state.env, __LAMBDA_DEPS_COMMAND: command, __LAMBDA_DEPS_STATE: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const forward = (stream: 'stdout' | 'stderr') => {
    let pending = '';
    return (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) emit(line, stream);
    };
  };
  child.stdout.on('data', forward('stdout'));
  child.stderr.on('data', forward('stderr'));
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.commandTimeoutMs ?? 60 * 60 * 1000);
  const code = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
  });
  clearTimeout(timeout);
  const envText = await readFile(join(stateDir, 'env'), 'utf8').catch(() => null);
  if (envText !== null) {
    const next: Record<string, string> = {};
    for (const pair of envText.split('\0')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals);
      if (!INTERNAL.test(name)) next[name] = pair.slice(equals + 1);
    }
    state.env = next;
  }
  const cwd = (await readFile(join(stateDir, 'pwd'), 'utf8').catch(() => '')).trim();
  if (cwd) state.cwd = cwd;
  await rm(join(stateDir, 'env'), { force: true });
  await rm(join(stateDir, 'pwd'), { force: true });
  return code;
}

/**
 * Run a buildspec's phases locally with CodeBuild's semantics.
 * @example
 *   const result = await runBuildspecLocally({ buildspecPath: 'buildspecs/build.yml', workDir,
 *     sourceDir: process.cwd(), env: { LAMBDA_DEPS_STORE: 'file:///tmp/store', LOCK_KEY: 'locks/x.json', … } });
 */
export async function runBuildspecLocally(options: RunBuildspecOptions): Promise<RunBuildspecResult> {
  const emit = options.onLine ?? (() => undefined);
  const spec = parseBuildspec(await readFile(options.buildspecPath, 'utf8'), options.buildspecPath);
  const declared = Object.fromEntries(
    Object.entries(spec.env?.variables ?? {}).map(([name, value]) => [name, String(value)]),
  );
  const state: ShellState = {
    env: {
      ...(process.env as Record<string, string>),
      ...declared,
      ...options.env,
      CODEBUILD_SRC_DIR: options.sourceDir,
      CODEBUILD_BUILD_ID: `local:${Date.now()}`,
      CODEBUILD_BUILD_SUCCEEDING: '1',
      CODEBUILD_LOCAL_RUNNER: '1',
    },
    cwd: options.workDir,
  };
  const stateDir = await mkdtemp(join(tmpdir(), 'lambda-deps-buildspec-'));
  const phases: PhaseResult[] = [];
  let succeeding = true;
  let stopped = false;
  try {
    for (const name of PHASES) {
      const phase = spec.phases[name];
      if (!phase) continue;
      if (stopped) {
        phases.push({ name, status: 'SKIPPED', durationMs: 0 });
        emit(`[${name}] skipped: an earlier phase failed`, 'runner');
        continue;
      }
      const started = performance.now();
      if (phase['runtime-versions']) {
        emit(
          `[${name}] runtime-versions skipped locally (${JSON.stringify(phase['runtime-versions'])}): this machine's runtimes are used`,
          'runner',
        );
      }
      if (phase['run-as']) emit(`[${name}] run-as ignored locally`, 'runner');
      state.env.CODEBUILD_BUILD_SUCCEEDING = succeeding ? '1' : '0';
      let phaseOk = true;
      for (const command of phase.commands ?? []) {
        emit(`[${name}] running: ${command.split('\n')[0]}`, 'runner');
        const code = await runCommand(command, state, stateDir, options);
        if (code !== 0) {
          emit(`[${name}] command failed with exit status ${code}`, 'runner');
          phaseOk = false;
          break;
        }
      }
      for (const command of phase.finally ?? []) {
        emit(`[${name}] finally: ${command.split('\n')[0]}`, 'runner');
        const code = await runCommand(command, state, stateDir, options);
        if (code !== 0) {
          emit(`[${name}] finally command failed with exit status ${code}`, 'runner');
          phaseOk = false;
          break;
        }
      }
      phases.push({
        name,
        status: phaseOk ? 'SUCCEEDED' : 'FAILED',
        durationMs: Math.round(performance.now() - started),
      });
      if (!phaseOk) {
        succeeding = false;
        // An explicit ABORT ends the build; without it, install and pre_build failures end it
        // and a build failure still runs post_build; CONTINUE always goes on.
        const onFailure = phase['on-failure'];
        if (
          onFailure === 'ABORT' ||
          (onFailure === undefined && (name === 'install' || name === 'pre_build'))
        )
          stopped = true;
      }
    }
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
  const exportedVariables: Record<string, string> = {};
  for (const name of spec.env?.['exported-variables'] ?? []) {
    const value = state.env[name];
    if (value !== undefined) exportedVariables[name] = value;
  }
  return { status: succeeding ? 'SUCCEEDED' : 'FAILED', phases, exportedVariables };
}
