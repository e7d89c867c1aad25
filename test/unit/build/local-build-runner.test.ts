import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBuildspec, runBuildspecLocally } from '../../../functions/adapters/local/local-build-runner.ts';
import { recordReliability } from '../../support/reliability-log.ts';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-runner-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function run(
  name: string,
  buildspec: string,
  env: Record<string, string> = {},
  sourceDir = '/src/repo',
) {
  const path = join(work, `${name}.yml`);
  await writeFile(path, buildspec);
  const workDir = await mkdtemp(join(work, `${name}-`));
  const lines: string[] = [];
  const result = await runBuildspecLocally({
    buildspecPath: path,
    workDir,
    env,
    sourceDir,
    onLine: (line) => lines.push(line),
  });
  return { result, lines, workDir };
}

describe('runBuildspecLocally', () => {
  it('runs the phases in order with env.variables, caller overrides, and env and folder kept between commands', async () => {
    // Prepare
    const spec = `version: 0.2
env:
  variables:
    GREETING: hello
    NAME: declared
  exported-variables: [RESULT, MISSING]
phases:
  install:
    runtime-versions:
      nodejs: 20
    commands:
      - export STEP=installed
  pre_build:
    commands:
      - mkdir -p sub && cd sub
  build:
    commands:
      - echo "$GREETING $NAME $STEP $CODEBUILD_SRC_DIR" > out.txt
      - export RESULT="$(cat out.txt)"
`;

    // Act
    const { result, lines, workDir } = await run('order', spec, { NAME: 'caller' });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.phases.map((phase) => [phase.name, phase.status])).toEqual([
      ['install', 'SUCCEEDED'],
      ['pre_build', 'SUCCEEDED'],
      ['build', 'SUCCEEDED'],
    ]);
    expect(await readFile(join(workDir, 'sub', 'out.txt'), 'utf8')).toBe(
      'hello caller installed /src/repo\n',
    );
    expect(result.exportedVariables).toEqual({ RESULT: 'hello caller installed /src/repo' });
    expect(lines.some((line) => /runtime-versions skipped locally/.test(line))).toBe(true);
  });

  it('skips the rest of a failed build phase, runs finally, then post_build with CODEBUILD_BUILD_SUCCEEDING=0', async () => {
    // Prepare
    const spec = `version: 0.2
env:
  exported-variables: [SEEN, AFTER, CLEANED]
phases:
  build:
    commands:
      - "false"
      - export AFTER=ran
    finally:
      - export CLEANED=yes
  post_build:
    commands:
      - export SEEN="$CODEBUILD_BUILD_SUCCEEDING"
`;

    // Act
    const { result } = await run('build-fails', spec);

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.phases.map((phase) => phase.status)).toEqual(['FAILED', 'SUCCEEDED']);
    expect(result.exportedVariables).toEqual({ SEEN: '0', CLEANED: 'yes' });
  });

  it('ends the build when pre_build fails, unless the phase says on-failure: CONTINUE', async () => {
    // Prepare
    const spec = (onFailure: string) => `version: 0.2
env:
  exported-variables: [BUILT]
phases:
  pre_build:
    ${onFailure}
    commands:
      - exit 3
  build:
    commands:
      - export BUILT=yes
  post_build:
    commands:
      - "true"
`;

    // Act
    const aborted = await run('abort', spec(''));
    const continued = await run('continue', spec('on-failure: CONTINUE'));

    // Assess
    expect(aborted.result.phases.map((phase) => phase.status)).toEqual(['FAILED', 'SKIPPED', 'SKIPPED']);
    expect(aborted.result.exportedVariables).toEqual({});
    expect(continued.result.status).toBe('FAILED');
    expect(continued.result.phases.map((phase) => phase.status)).toEqual([
      'FAILED',
      'SUCCEEDED',
      'SUCCEEDED',
    ]);
    expect(continued.result.exportedVariables).toEqual({ BUILT: 'yes' });
  });

  it('passes hostile values only as data: command substitutions in variables are never executed', async () => {
    // Prepare
    const marker = join(work, 'pwned');
    const hostile = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `"; touch ${marker}; echo "`,
      `x\ntouch ${marker}`,
    ];
    const spec = `version: 0.2
env:
  exported-variables: [ECHOED]
phases:
  build:
    commands:
      - printf '%s' "$LOCK_KEY" > value.txt
      - export ECHOED="$LOCK_KEY"
`;

    for (const value of hostile) {
      // Act
      const { result, workDir } = await run('hostile', spec, { LOCK_KEY: value });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(await readFile(join(workDir, 'value.txt'), 'utf8')).toBe(value);
      expect(result.exportedVariables.ECHOED).toBe(value);
      expect(existsSync(marker)).toBe(false);
    }
    recordReliability({
      area: 'build input',
      experiment:
        'hostile environment values through the local buildspec runner (command substitution, backticks, quote breaking, newlines)',
      cases: hostile.length,
      faultsInjected: hostile.length,
      runs: 1,
      lost: 'nothing',
    });
  });

  it("stops the repository's buildspec in pre_build when an input fails validation, before any build command", async () => {
    // Prepare
    const spec = await readFile(join(process.cwd(), 'buildspecs', 'build.yml'), 'utf8');

    // Act
    const { result } = await run(
      'real-spec',
      spec,
      {
        LAMBDA_DEPS_STORE: 'file:///tmp/store',
        LOCK_KEY: '../../etc/passwd.json',
        ARTIFACT_PREFIX: 'artifacts/x/',
        PYTHON_VERSION: '3.11',
      },
      process.cwd(),
    );

    // Assess
    expect(result.phases.map((phase) => [phase.name, phase.status])).toEqual([
      ['install', 'SUCCEEDED'],
      ['pre_build', 'FAILED'],
      ['build', 'SKIPPED'],
      ['post_build', 'SKIPPED'],
    ]);
  });
});

describe('parseBuildspec', () => {
  it('refuses what cannot be honoured locally and what is not version 0.2', () => {
    // Act
    const secrets = () =>
      parseBuildspec('version: 0.2\nenv:\n  secrets-manager:\n    X: y\nphases: {}\n', 'a.yml');
    const oldVersion = () => parseBuildspec('version: 0.1\nphases: {}\n', 'b.yml');

    // Assess
    expect(secrets).toThrow(/secrets-manager cannot be resolved locally/);
    expect(oldVersion).toThrow(/b\.yml: version/);
  });
});
