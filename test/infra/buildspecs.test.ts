// The two buildspecs (Amazon Linux 2023 and Amazon Linux 2 images) differ only in how Node.js and
// Python get onto the image: every later phase is the same text, so a fix in one cannot miss the other.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AL2_BUILDSPEC_PATH, BUILDSPEC_PATH } from '../../infra/constructs/dependency-build-project.ts';

interface Buildspec {
  readonly env: { readonly variables: Record<string, string>; readonly 'exported-variables': string[] };
  readonly phases: Record<string, { 'runtime-versions'?: unknown; commands: string[] }>;
}

const read = (path: string): Buildspec => parse(readFileSync(path, 'utf8')) as Buildspec;

describe('the buildspecs', () => {
  it('run the same pre_build, build and post_build phases on both images', () => {
    // Prepare
    const al2023 = read(BUILDSPEC_PATH);
    const al2 = read(AL2_BUILDSPEC_PATH);

    // Act & Assess
    for (const phase of ['pre_build', 'build', 'post_build'])
      expect(al2.phases[phase], phase).toEqual(al2023.phases[phase]);
    expect(al2.env['exported-variables']).toEqual(al2023.env['exported-variables']);
  });

  it('install Node.js on the AL2 image from a pinned glibc 2.17 build, checked against its SHASUMS256', () => {
    // Prepare
    const al2 = read(AL2_BUILDSPEC_PATH);
    const install = al2.phases.install?.commands.join('\n') ?? '';

    // Act & Assess
    expect(al2.phases.install?.['runtime-versions']).toBeUndefined();
    expect(al2.env.variables.NODE_VERSION).toMatch(/^22\.\d+\.\d+$/);
    expect(install).toContain('linux-x64-glibc-217');
    expect(install).toMatch(/SHASUMS256\.txt \| sha256sum -c -/);
  });

  it('pick the newest pyenv install of the target Python from its versions folder, starting no pyenv', () => {
    // Prepare: a pyenv root with other versions around 3.11's, and a PATH with no pyenv on it
    const pick = read(BUILDSPEC_PATH).phases.pre_build?.commands.find((command) =>
      command.includes('PYENV_VERSION'),
    );
    const root = mkdtempSync(join(tmpdir(), 'lambda-deps-pyenv-'));
    for (const version of ['3.11.2', '3.11.10', '3.11.9', '3.12.1', '3.1.1', '3.11-dev', 'system'])
      mkdirSync(join(root, 'versions', version), { recursive: true });
    const run = (env: Record<string, string>) =>
      execFileSync('bash', ['-c', `${pick ?? 'exit 9'}\nprintf '%s' "\${PYENV_VERSION:-unset}"`], {
        // (HOME: a folder with no .bashrc, which bash may read even when not interactive.)
        env: { PATH: '/usr/bin:/bin', HOME: root, ...env },
        encoding: 'utf8',
      });

    try {
      // Act & Assess
      expect(run({ PYENV_ROOT: root, PYTHON_VERSION: '3.11' })).toBe('3.11.10');
      expect(run({ PYENV_ROOT: root, PYTHON_VERSION: '3.13' })).toBe('unset');
      expect(run({ PYTHON_VERSION: '3.11' })).toBe('unset');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('start node once in the build step: its first log line names the node, no `node --version` before it', () => {
    // Prepare
    const install = read(BUILDSPEC_PATH).phases.install?.commands ?? [];
    const store = readFileSync(new URL('../../functions/cli/commands/store.ts', import.meta.url), 'utf8');

    // Act & Assess
    expect(install.filter((command) => /\bnode\b/.test(command) && !command.includes('npm ci'))).toEqual([]);
    expect(store).toContain('lambda-deps store build on node ${process.version}');
  });

  it('refuse hostile build inputs before any command uses them, and take well-formed ones', () => {
    // Prepare: the pre_build check, run as CodeBuild would with the pipeline's variables
    const check = read(BUILDSPEC_PATH).phases.pre_build?.commands[0] ?? 'exit 9';
    const good = {
      LAMBDA_DEPS_STORE: 's3://lambda-deps-artifacts-123',
      LOCK_KEY: 'locks/5d565d90.json',
      ARTIFACT_PREFIX: 'artifacts/5d565d90-a0122381/',
      STRATEGY: 'auto',
      PYTHON_VERSION: '3.11',
    };
    const status = (env: Partial<typeof good>): number => {
      try {
        execFileSync('bash', ['-c', check], {
          env: { PATH: '/usr/bin:/bin', HOME: tmpdir(), ...good, ...env },
          stdio: 'ignore',
        });
        return 0;
      } catch (error) {
        return (error as { status: number }).status;
      }
    };
    const long = 'a'.repeat(901);

    // Act & Assess
    expect(status({})).toBe(0);
    expect(status({ LAMBDA_DEPS_STORE: 'file:///tmp/store' })).toBe(0);
    expect(status({ LOCK_KEY: `${long}.json` })).toBe(0);
    expect(status({ ARTIFACT_PREFIX: `${long}/` })).toBe(0);
    for (const hostile of [
      { LAMBDA_DEPS_STORE: 's3://bucket; curl evil' },
      { LOCK_KEY: '../locks/x.json' },
      { LOCK_KEY: 'locks/$(id).json' },
      { LOCK_KEY: `a${long}.json` },
      { ARTIFACT_PREFIX: 'artifacts/x' },
      { ARTIFACT_PREFIX: `a${long}/` },
      { ARTIFACT_PREFIX: 'artifacts/../x/' },
      { STRATEGY: 'layers && true' },
      { PYTHON_VERSION: '3.11; id' },
    ])
      expect(status(hostile), JSON.stringify(hostile)).toBe(1);
  });
});
