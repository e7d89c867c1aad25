// What the local pipeline loads before its first state: the twin and the pipeline runner must
// not pull in aws-cdk-lib (half a second of module loading) when the synthesized template comes
// from the cache. A regression here is invisible in every functional test and costs each run.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const repository = join(import.meta.dirname, '..', '..', '..');

/** The CommonJS packages loaded after importing `modules` in a fresh node (aws-cdk-lib is CommonJS). */
function packagesLoadedBy(modules: readonly string[]): string[] {
  const script = [
    ...modules.map((module) => `await import(${JSON.stringify(join(repository, module))});`),
    "const { createRequire } = await import('node:module');",
    'const cache = createRequire(import.meta.url).cache;',
    'const names = Object.keys(cache).map((path) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(path)?.[1]).filter(Boolean);',
    'process.stdout.write(JSON.stringify([...new Set(names)]));',
  ].join('\n');
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repository,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(output) as string[];
}

describe('start-up of the local pipeline', () => {
  it('loads the twin, the template reader and the runner without aws-cdk-lib', () => {
    // Act
    const loaded = packagesLoadedBy([
      'functions/adapters/twin/local-run.ts',
      'infra/state-machine-definition.ts',
      'functions/cli/local-pipeline.ts',
    ]);

    // Assess
    expect(loaded).not.toContain('aws-cdk-lib');
    expect(loaded).not.toContain('constructs');
  }, 60_000);

  it('keeps zod and the report renderers off the static imports of `measure` (loaded only when needed)', async () => {
    // Prepare: the modules `measure` imports before it runs, as the bundle resolves them.
    const result = await build({
      entryPoints: [join(repository, 'functions/cli/commands/measure.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      splitting: true,
      outdir: join(repository, '.work', 'start-up-imports'),
      logLevel: 'silent',
    });
    const inputs = result.metafile.inputs;
    const entry =
      Object.keys(inputs).find((path) => path.endsWith('functions/cli/commands/measure.ts')) ?? '';
    const reached = new Set([entry]);
    const queue = [entry];
    for (let next = queue.shift(); next !== undefined && reached.size < 5_000; next = queue.shift()) {
      for (const imported of inputs[next]?.imports ?? []) {
        if (imported.kind !== 'import-statement' || reached.has(imported.path)) continue;
        reached.add(imported.path);
        queue.push(imported.path);
      }
    }

    // Assess
    const paths = [...reached];
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((path) => path.includes('node_modules/zod/'))).toEqual([]);
    expect(
      paths.filter((path) => /route\/delivery-policy\.ts|report\/run-facts\.ts|lock-reader\.ts/.test(path)),
    ).toEqual([]);
  }, 60_000);
});
