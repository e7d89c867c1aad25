// The package as a user gets it: `npm pack`, a fresh CDK app (TypeScript, CommonJS, compiled by
// tsc, as `cdk init app --language typescript` sets it up) in a temporary folder, the tarball
// installed next to aws-cdk-lib and constructs, then `tsc` and `node dist/app.js` synthesizing
// examples/cdk-app/app.ts with cdk-nag's checks. The repository's own node_modules stand in for the
// registry for aws-cdk-lib, constructs, cdk-nag and typescript (linked, as `file:` dependencies);
// everything else comes from npm's cache (`--prefer-offline`), ts-node from the registry too. esbuild
// is deleted from the app before synth: the package's functions must arrive prebuilt. The same
// tarball also serves a TypeScript ESM app and a global install (`npm i -g --prefix`).
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../support/pip-indexes.ts';

const REPOSITORY = resolve(import.meta.dirname, '..', '..');
const EXAMPLE = join(REPOSITORY, 'examples', 'cdk-app');
const VERSION = (JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')) as { version: string })
  .version;

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program (argv array, never a shell) and resolves with its exit code and output. */
function run(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      [...args],
      {
        cwd: options.cwd,
        env: { ...process.env, NO_COLOR: '1', ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function expectSuccess(result: RunResult, what: string): void {
  if (result.code !== 0) {
    throw new Error(
      `${what} exited ${result.code}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`,
    );
  }
}

/** A dependency of this repository, by its real path, for a `file:` dependency of the app. */
function linkedDependency(name: string): string {
  return `file:${realpathSync(join(REPOSITORY, 'node_modules', name))}`;
}

let work: string;
let app: string;
let tarball: string;
const indexes = localIndexes();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lambda-deps-consumer-'));
  // npm pack runs prepack (tsc: library and .d.ts) and prepare (esbuild: handlers and CLI).
  expectSuccess(
    await run('npm', ['pack', '--pack-destination', work], { cwd: REPOSITORY, timeoutMs: 240_000 }),
    'npm pack',
  );
  const packed = readdirSync(work).filter((file) => file.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = join(work, packed[0] ?? '');

  app = join(work, 'app');
  cpSync(EXAMPLE, app, { recursive: true, filter: (source) => !/node_modules|cdk\.out|dist/.test(source) });
  // The example's package.json names registry versions; the app here installs the tarball instead.
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'consumer-app', version: '0.0.0', private: true })}\n`,
  );
  const install = await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      tarball,
      linkedDependency('aws-cdk-lib'),
      linkedDependency('constructs'),
      linkedDependency('cdk-nag'),
      linkedDependency('typescript'),
      linkedDependency('@types/node'),
      // cdk init's own runner (`npx ts-node --prefer-ts-exts bin/app.ts`).
      'ts-node@10.9.2',
    ],
    { cwd: app, timeoutMs: 240_000 },
  );
  expectSuccess(install, 'npm install');
  // Nothing in a consumer's synth may bundle: without esbuild, a bundling attempt fails loudly.
  for (const folder of ['esbuild', '@esbuild'])
    rmSync(join(app, 'node_modules', folder), { recursive: true, force: true });
}, 480_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package in a fresh CommonJS CDK app', () => {
  it('ships compiled JavaScript, declarations and prebuilt assets, and no TypeScript source', async () => {
    // Act
    const listing = await run('tar', ['-tzf', tarball], { cwd: work });

    // Assess
    expectSuccess(listing, 'tar');
    const files = listing.stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/dist/infra/index.js');
    expect(files).toContain('package/dist/infra/index.d.ts');
    expect(files).toContain('package/dist/functions/core/index.d.ts');
    expect(files).toContain('package/dist/assets/measure/index.mjs');
    expect(files).toContain('package/dist/cli/main.mjs');
    expect(files).toContain('package/buildspecs/build.yml');
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('compiles with tsc into CommonJS that requires lambda-deps', async () => {
    // Act
    const compiled = await run(
      process.execPath,
      [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app],
      {
        cwd: app,
      },
    );

    // Assess
    expectSuccess(compiled, 'tsc');
    expect(readFileSync(join(app, 'dist', 'app.js'), 'utf8')).toContain('require("lambda-deps")');
    // tsc type-checks all of aws-cdk-lib: about 35 s alone, more on a loaded machine.
  }, 180_000);

  it('synthesizes with node, without esbuild, Docker or a lock file, cdk-nag clean, the function on the set’s layers', async () => {
    // Prepare
    const outdir = join(app, 'cdk.out');

    // Act
    const synth = await run(process.execPath, [join(app, 'dist', 'app.js')], {
      cwd: app,
      env: { CDK_OUTDIR: outdir },
    });

    // Assess
    expectSuccess(synth, 'node dist/app.js');
    const template = JSON.parse(readFileSync(join(outdir, 'ExampleApp.template.json'), 'utf8')) as {
      Parameters: Record<string, { Type: string; Default?: string }>;
      Resources: Record<
        string,
        { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }
      >;
    };
    const functions = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::Function',
    );
    const pipelineFunctions = functions.filter((resource) => resource.Metadata?.['lambda-deps:entry']);
    // measure, read-build-manifest, publish-layers, probe, report, start-execution
    expect(pipelineFunctions.length).toBe(6);
    // Each function's code is a staged asset holding the prebuilt bundle (the S3 key names it).
    const assets = JSON.parse(readFileSync(join(outdir, 'ExampleApp.assets.json'), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    for (const fn of pipelineFunctions) {
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      const key = String((fn.Properties.Code as { S3Key?: unknown }).S3Key ?? '');
      const staged = assets.files[key.replace(/\.zip$/, '')]?.source.path ?? 'missing';
      expect(readdirSync(join(outdir, staged)).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    }
    // The example deploys the layers route only.
    const types = new Set(Object.values(template.Resources).map((resource) => resource.Type));
    for (const type of ['AWS::EC2::VPC', 'AWS::EFS::FileSystem', 'AWS::ECR::Repository'])
      expect(types.has(type)).toBe(false);
    const python = functions.find((resource) => resource.Properties.Runtime === 'python3.12');
    const layerParameter = Object.entries(template.Parameters).find(
      ([, parameter]) => parameter.Default === '/lambda-deps/web-api/layers',
    );
    expect(layerParameter?.[1].Type).toBe('AWS::SSM::Parameter::Value<List<String>>');
    expect(python?.Properties.Layers).toEqual({ Ref: layerParameter?.[0] });

    // The second stack: a function on a set's EFS tree, one on a set's image, each from SSM.
    const full = JSON.parse(
      readFileSync(join(outdir, 'ExampleAppEfsAndImage.template.json'), 'utf8'),
    ) as typeof template;
    const parameterRef = (name: string): unknown => ({
      Ref: Object.entries(full.Parameters).find(([, parameter]) => parameter.Default === name)?.[0],
    });
    const fullFunctions = Object.values(full.Resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::Function',
    );
    const worker = fullFunctions.find((resource) => resource.Properties.Runtime === 'python3.12');
    expect(
      (worker?.Properties.Environment as { Variables: Record<string, unknown> }).Variables.PYTHONPATH,
    ).toEqual(parameterRef('/lambda-deps/ml/efs-python-path'));
    expect(worker?.Properties.FileSystemConfigs).toEqual([
      expect.objectContaining({ LocalMountPath: '/mnt/deps' }),
    ]);
    const job = fullFunctions.find((resource) => resource.Properties.PackageType === 'Image');
    expect(job?.Properties.Code).toEqual({ ImageUri: parameterRef('/lambda-deps/jobs/image') });
  });

  it('synthesizes the same app through ts-node, as cdk init runs it', async () => {
    // Act
    const synth = await run(
      process.execPath,
      [join(app, 'node_modules', 'ts-node', 'dist', 'bin.js'), '--prefer-ts-exts', join(app, 'app.ts')],
      { cwd: app, env: { CDK_OUTDIR: join(work, 'ts-node.out') } },
    );

    // Assess
    expectSuccess(synth, 'ts-node app.ts');
    expect(existsSync(join(work, 'ts-node.out', 'ExampleApp.template.json'))).toBe(true);
  }, 180_000);

  it('compiles and synthesizes a TypeScript ES module app', async () => {
    // Prepare
    writeFileSync(
      join(app, 'esm-app.mts'),
      [
        "import { App, Stack } from 'aws-cdk-lib';",
        "import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';",
        "import { LambdaDeps, useDependencySetLayers, type LambdaDepsProps } from 'lambda-deps';",
        'const app = new App();',
        "const stack = new Stack(app, 'EsmApp');",
        'const props: LambdaDepsProps = { routes: { layers: true, efs: false, image: false } };',
        "const deps = new LambdaDeps(stack, 'Deps', props);",
        "const fn = new LambdaFunction(stack, 'Fn', { runtime: Runtime.PYTHON_3_12, handler: 'app.handler', code: Code.fromInline('x = 1') });",
        "useDependencySetLayers(fn, { set: 'web-api', from: deps });",
        'app.synth();',
      ].join('\n'),
    );
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = [
      '--module',
      'nodenext',
      '--target',
      'es2022',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
    ];

    // Act
    const compiled = await run(process.execPath, [tsc, ...flags, '--outDir', 'dist-esm', 'esm-app.mts'], {
      cwd: app,
    });
    expectSuccess(compiled, 'tsc esm-app.mts');
    const synth = await run(process.execPath, [join(app, 'dist-esm', 'esm-app.mjs')], {
      cwd: app,
      env: { CDK_OUTDIR: join(work, 'esm.out') },
    });

    // Assess
    expectSuccess(synth, 'node dist-esm/esm-app.mjs');
    expect(readFileSync(join(app, 'dist-esm', 'esm-app.mjs'), 'utf8')).toMatch(/from 'lambda-deps'/);
    const template = readFileSync(join(work, 'esm.out', 'EsmApp.template.json'), 'utf8');
    expect(template).toContain('/lambda-deps/web-api/layers');
  }, 180_000);

  it('installs globally from the tarball (npm i -g), and the CLI on that PATH answers --version', async () => {
    // Prepare
    const prefix = join(work, 'global');

    // Act
    const install = await run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
      { cwd: work, timeoutMs: 240_000 },
    );
    expectSuccess(install, 'npm i -g');
    const version = await run(join(prefix, 'bin', 'lambda-deps'), ['--version'], { cwd: work });

    // Assess
    expectSuccess(version, 'lambda-deps --version (global)');
    expect(version.stdout.trim()).toBe(VERSION);
    expect(version.stderr).toBe('');
  }, 300_000);

  it('fails the same synth on a cdk-nag finding, so the clean result above means something', async () => {
    // Prepare: the same plugin, one unencrypted queue without TLS enforcement.
    const control = join(app, 'nag-control.js');
    writeFileSync(
      control,
      [
        "const { App, Stack, Validations } = require('aws-cdk-lib');",
        "const { Queue } = require('aws-cdk-lib/aws-sqs');",
        "const { AwsSolutionsChecks } = require('cdk-nag');",
        'const app = new App();',
        'Validations.of(app).addPlugins(new AwsSolutionsChecks(app));',
        "new Queue(new Stack(app, 'Control'), 'Queue');",
        'app.synth();',
      ].join('\n'),
    );

    // Act
    const synth = await run(process.execPath, [control], {
      cwd: app,
      env: { CDK_OUTDIR: join(work, 'control.out') },
    });

    // Assess
    expect(synth.code).not.toBe(0);
    expect(`${synth.stdout}${synth.stderr}`).toMatch(/AwsSolutions-SQS/);
  });

  it('imports the construct and the core API from an ES module too', async () => {
    // Prepare
    const esm = join(app, 'esm-check.mjs');
    writeFileSync(
      esm,
      [
        "import { LambdaDeps, useDependencySetLayers } from 'lambda-deps';",
        "import * as core from 'lambda-deps/core';",
        "import { parseLock } from 'lambda-deps/core/resolve';",
        'console.log(JSON.stringify([typeof LambdaDeps, typeof useDependencySetLayers, typeof core.parseLock, parseLock === core.parseLock]));',
      ].join('\n'),
    );

    // Act
    const result = await run(process.execPath, [esm], { cwd: app });

    // Assess
    expectSuccess(result, 'node esm-check.mjs');
    expect(JSON.parse(result.stdout)).toEqual(['function', 'function', 'function', true]);
  });

  it('runs the installed CLI through npx: --version prints the package version, nothing on stderr', async () => {
    // Act
    const version = await run('npx', ['--no-install', 'lambda-deps', '--version'], { cwd: app });
    const help = await run('npx', ['--no-install', 'lambda-deps', '--help'], { cwd: app });

    // Assess
    expectSuccess(version, 'npx lambda-deps --version');
    expect(version.stdout.trim()).toBe(VERSION);
    expect(version.stderr).toBe('');
    expectSuccess(help, 'npx lambda-deps --help');
    expect(help.stdout).toMatch(/measure \[options\] <requirements>/);
    expect(help.stderr).toBe('');
  });

  it.skipIf(!indexes)(
    `ships a CodeBuild source that builds a lock with no node_modules and nothing installed${indexes ? '' : ` (skipped: ${NO_LOCAL_INDEXES_REASON})`}`,
    async () => {
      // Prepare: the staged build source of the synth above, copied where no node_modules can be found.
      const outdir = join(app, 'cdk.out');
      const staged = readdirSync(outdir).find((name) =>
        existsSync(join(outdir, name, 'buildspecs', 'build.yml')),
      );
      expect(staged).toBeDefined();
      const source = mkdtempSync(join(tmpdir(), 'lambda-deps-build-source-'));
      cpSync(join(outdir, staged ?? ''), source, { recursive: true });
      const requirements = join(work, 'requirements.txt');
      writeFileSync(requirements, 'six\n');
      const [first, ...extra] = indexes?.indexUrls ?? [];
      const indexFlags = [
        ...(first ? ['--index-url', first] : ['--no-index']),
        ...extra.flatMap((url) => ['--extra-index-url', url]),
        ...(indexes?.findLinks ?? []).flatMap((location) => ['--find-links', location]),
      ];
      const lock = join(work, 'six.lock.json');
      const target = ['--runtime', 'python3.11', '--arch', 'x86_64'];
      expectSuccess(
        await run(
          process.execPath,
          [
            join(REPOSITORY, 'bin', 'lambda-deps'),
            'measure',
            requirements,
            ...target,
            '--lock-out',
            lock,
            ...indexFlags,
          ],
          {
            cwd: work,
          },
        ),
        'measure --lock-out',
      );

      try {
        // Act: what buildspecs/build.yml runs, from the staged source.
        const built = await run(
          process.execPath,
          [
            join(source, 'bin', 'lambda-deps'),
            'build',
            lock,
            '--out',
            join(source, 'out'),
            '--json',
            '--cache-dir',
            join(work, 'cache'),
            ...indexFlags,
          ],
          { cwd: source },
        );

        // Assess
        expectSuccess(built, 'the staged CLI: build LOCK');
        expect(readdirSync(source).sort()).toEqual(['bin', 'buildspecs', 'dist', 'out', 'package.json']);
        const manifest = JSON.parse(readFileSync(join(source, 'out', 'manifest.json'), 'utf8')) as {
          strategy: string;
        };
        expect(manifest.strategy).toBe('layers');
      } finally {
        rmSync(source, { recursive: true, force: true });
      }
    },
  );
});
