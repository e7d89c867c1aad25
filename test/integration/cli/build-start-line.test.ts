// `lambda-deps build` on the default path says at once, once, that the build has started (before
// the pipeline's code loads), and --json keeps stdout to the JSON alone.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/run-cli.ts';

let work = '';
let requirements = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-start-line-'));
  requirements = join(work, 'requirements.txt');
  // Refused when read (exit 2), so the run ends right after its start line.
  await writeFile(requirements, 'requests[\n');
});
afterAll(() => rm(work, { recursive: true, force: true }));

const build = (extra: string[]) =>
  runCli(
    ['build', requirements, '--runtime', 'python3.11', '--out', join(work, 'out'), '--no-index', ...extra],
    {
      timeoutMs: 60_000,
    },
  );

describe('the start line of a default-path build', () => {
  it('comes first, once', async () => {
    // Act
    const run = await build([]);

    // Assess
    expect(run.code).toBe(2);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`building ${requirements} through the local pipeline …`);
    expect(lines.filter((line) => line.includes('through the local pipeline'))).toHaveLength(1);
  });

  it('is not printed with --json', async () => {
    // Act
    const run = await build(['--json']);

    // Assess
    expect(run.stdout).not.toContain('through the local pipeline');
  });
});
