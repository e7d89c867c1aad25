// Where the package and its handler code are, without the CDK: the local pipeline needs these
// paths on every run (also one served from a cached synth, which must not load aws-cdk-lib), and
// the constructs need them at synth.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The nearest folder above `from` that holds a package.json: the repository or the installed package. */
export function findPackageRoot(from: string): string {
  for (let dir = from, depth = 0; depth < 8; dir = dirname(dir), depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`lambda-deps: no package.json above ${from}; the package is incomplete, reinstall it.`);
}

/**
 * The repository root, or the installed package's root. Found by walking up rather than by a
 * fixed `../..`, because this module also runs from dist/ and from inside the CLI bundle.
 */
export const REPOSITORY_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/**
 * Whether this module runs as TypeScript source (tsx, vitest): then functions are bundled from
 * source. Compiled JavaScript (the published package, the CLI bundle) uses the prebuilt assets.
 */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

/** Where `prepack` puts the prebuilt handler bundles, one folder per step. */
export const PREBUILT_ASSETS_DIR = join(REPOSITORY_ROOT, 'dist', 'assets');

/** The step's asset folder name: `functions/measure/handler.ts` → `measure`. */
export function stepNameOfEntry(entry: string): string {
  return basename(dirname(entry));
}

/** The prebuilt bundle folder of a handler entry (holds index.mjs and its source map). */
export function prebuiltAssetDir(entry: string): string {
  const dir = join(PREBUILT_ASSETS_DIR, stepNameOfEntry(entry));
  if (!existsSync(join(dir, 'index.mjs'))) {
    throw new Error(
      `lambda-deps: the prebuilt bundle ${join(dir, 'index.mjs')} is missing; the package was packed without \`npm run build:package\`, reinstall it.`,
    );
  }
  return dir;
}

/**
 * The module the local pipeline imports for a handler entry (it calls its `createHandler`):
 * the TypeScript source when running from source, else the CLI bundle's handler (or the Lambda asset).
 */
export function handlerModuleUrl(entry: string): string {
  if (RUNNING_FROM_SOURCE) return pathToFileURL(join(REPOSITORY_ROOT, entry)).href;
  // The CLI bundle's copy shares its chunks with the CLI already loaded; a Lambda asset bundles
  // everything again (about 0.5–1.4 MB each to compile on every local run).
  const shared = join(REPOSITORY_ROOT, 'dist', 'cli', 'handlers', `${stepNameOfEntry(entry)}.mjs`);
  const file = existsSync(shared) ? shared : join(prebuiltAssetDir(entry), 'index.mjs');
  return pathToFileURL(file).href;
}
