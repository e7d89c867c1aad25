// Flags that had no effect were removed rather than kept as no-ops (issue 11): a user passing one
// gets commander's unknown-option error and exit 2, before anything is read or built.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve('bin/lambda-deps');

function run(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(
      BIN,
      [...args],
      { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
      (error, _out, stderr) => {
        done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr });
      },
    );
  });
}

describe('a removed flag', () => {
  const out = join(tmpdir(), 'lambda-deps-removed-flag-never-written');
  it.each(['build --out OUT', 'build --no-pipeline --out OUT', 'measure'])(
    '%s --allow-local-sdist-build exits 2 naming the unknown option',
    async (command) => {
      // Act
      const result = await run([
        ...command.split(' ').map((word) => (word === 'OUT' ? out : word)),
        'requirements.txt',
        '--allow-local-sdist-build',
      ]);

      // Assess
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("error: unknown option '--allow-local-sdist-build'");
      expect(result.stderr).toContain('--help');
      expect(existsSync(out)).toBe(false);
    },
    60_000,
  );
});
