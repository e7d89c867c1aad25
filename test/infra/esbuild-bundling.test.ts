// Real bundling: NodejsFunction runs the local esbuild (no Docker on this machine, none needed)
// and produces a minified ESM bundle with a source map, leaving the AWS SDK to the runtime.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterEach, describe, expect, it } from 'vitest';
import { createLambdaDepsApp } from '../../infra/app.ts';
import { createPipelineFunction } from '../../infra/constructs/lambda-defaults.ts';

/** What the build source asset may hold: the CLI and what it runs, nothing else. */
const SOURCE_ENTRIES = [
  'bin',
  'functions',
  'buildspecs',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

const outdirs: string[] = [];
afterEach(() => {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
});

function assetDirectories(outdir: string): string[] {
  return readdirSync(outdir)
    .filter((name) => name.startsWith('asset.'))
    .map((name) => join(outdir, name))
    .filter((path) => existsSync(join(path, 'index.mjs')));
}

describe('createPipelineFunction', () => {
  it('bundles a handler with the local esbuild into a minified ESM file with a source map', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'lambda-deps-bundle-'));
    outdirs.push(outdir);
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Bundled');
    createPipelineFunction(stack, 'StartExecution', {
      entry: 'functions/start-execution/handler.ts',
      description: 'bundling test',
      environment: {},
    });

    // Act
    app.synth();

    // Assess
    const [bundle] = assetDirectories(outdir);
    expect(bundle).toBeDefined();
    const code = readFileSync(join(bundle!, 'index.mjs'), 'utf8');
    expect(existsSync(join(bundle!, 'index.mjs.map'))).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*handler/);
    // The SDK stays external (the runtime provides it); our own code and zod are inside.
    expect(code).toMatch(/from\s*"@aws-sdk\/client-sfn"/);
    expect(code).toContain('ExecutionAlreadyExists');
    // Minified: long lines, not one statement per line.
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
  });

  it('bundles all eight functions and stages only the files the build needs', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'lambda-deps-bundle-'));
    outdirs.push(outdir);
    const { app } = createLambdaDepsApp({ outdir, nagChecks: false });

    // Act
    app.synth();

    // Assess
    expect(assetDirectories(outdir)).toHaveLength(8);
    const [source] = readdirSync(outdir)
      .map((name) => join(outdir, name))
      .filter((path) => existsSync(join(path, 'package.json')));
    expect(source).toBeDefined();
    expect(readdirSync(source!).sort()).toEqual(
      expect.arrayContaining(['bin', 'functions', 'package-lock.json', 'package.json', 'tsconfig.json']),
    );
    expect(readdirSync(source!).filter((name) => !SOURCE_ENTRIES.includes(name))).toEqual([]);
  });
});
