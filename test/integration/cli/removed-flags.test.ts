// Flags that had no effect were removed rather than kept as no-ops (issue 11): a user passing one
// gets commander's unknown-option error and exit 2, before anything is read or built.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../../support/run-cli.ts';

const run = (args: readonly string[]): Promise<CliRun> => runCli(args, { timeoutMs: 60_000 });

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
