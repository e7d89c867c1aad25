// The on-disk cache of the synthesized state machine: synthesizing the CDK app costs about two
// seconds of every local run, yet its result only changes when the sources that define it do.
// The package ships one entry (dist/pipeline-definition/, made with the bundles), so even a
// first run with an empty cache skips the synth.
// An entry is keyed by a sha256 of those sources and the synth options, and checked on read
// (schema, key, digest of its body); anything that does not check out is deleted and synthesized again.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../core/shared/hash.ts';

/** Bumped whenever the entry's shape changes, so an old entry is never read as a new one. */
export const DEFINITION_CACHE_SCHEMA = 2;

/**
 * One Task state's target as the synth described it. No absolute path is kept (the module that
 * serves an entry is found when the run binds it), so an entry holds wherever the package is.
 */
export interface CachedTaskTarget {
  readonly kind: 'lambda' | 'codebuild' | 'other';
  readonly logicalId: string | null;
  readonly entry: string | null;
}

/** What a synth yields that the local pipeline needs (plain JSON). */
export interface CachedPipelineParts {
  readonly definition: Record<string, unknown>;
  readonly template: Record<string, unknown>;
  readonly targets: Readonly<Record<string, CachedTaskTarget>>;
}

export interface DefinitionSources {
  /** The repository (or installed package) root: paths in the key are relative to it (it is not itself part of the key). */
  readonly root: string;
  /** Folders whose every file defines the template (infra/). Missing folders count as empty. */
  readonly folders: readonly string[];
  /** Folders searched for handler.ts entries (functions/). */
  readonly handlerFolders: readonly string[];
  /** Single files that define it too (package.json, the running module, the CLI bundle). */
  readonly files: readonly string[];
  /** The synth's options (functionsToUpdate, …): any JSON value. */
  readonly options: unknown;
}

async function filesUnder(folder: string, keep: (name: string) => boolean): Promise<string[]> {
  const names = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  return names
    .filter((item) => item.isFile() && keep(item.name))
    .map((item) => join(item.parentPath, item.name))
    .sort();
}

/** sha256 over the schema, the options and every source file's path (from the root) and content. */
export async function definitionSourcesKey(sources: DefinitionSources): Promise<string> {
  const paths: string[] = [];
  for (const folder of sources.folders) paths.push(...(await filesUnder(folder, () => true)));
  for (const folder of sources.handlerFolders)
    paths.push(...(await filesUnder(folder, (name) => name === 'handler.ts')));
  paths.push(...sources.files);
  const parts = [`schema ${DEFINITION_CACHE_SCHEMA}`, JSON.stringify(sources.options)];
  for (const path of paths) {
    // A missing file hashes as absent: it appearing later changes the key.
    const content = await readFile(path).catch(() => null);
    parts.push(`${relative(sources.root, path)} ${content === null ? 'absent' : sha256Hex(content)}`);
  }
  return sha256Hex(parts.join('\n'));
}

function entryPath(cacheDir: string, key: string): string {
  return join(cacheDir, 'pipeline-definition', `${key}.json`);
}

function isParts(value: unknown): value is CachedPipelineParts {
  const parts = value as Partial<CachedPipelineParts> | null;
  return (
    typeof parts === 'object' &&
    parts !== null &&
    typeof parts.definition === 'object' &&
    typeof parts.template === 'object' &&
    typeof parts.targets === 'object'
  );
}

/**
 * The cached parts for `key`, or null (a corrupt or foreign entry is deleted, unless `keep`: the
 * entry shipped in the package is read-only).
 */
export async function readCachedDefinition(
  cacheDir: string,
  key: string,
  { keep = false }: { readonly keep?: boolean } = {},
): Promise<CachedPipelineParts | null> {
  const path = entryPath(cacheDir, key);
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const entry = JSON.parse(text) as { schema?: unknown; key?: unknown; sha256?: unknown; parts?: unknown };
    if (
      entry.schema === DEFINITION_CACHE_SCHEMA &&
      entry.key === key &&
      isParts(entry.parts) &&
      entry.sha256 === sha256Hex(JSON.stringify(entry.parts))
    )
      return entry.parts;
  } catch {
    // Not JSON: discarded below like any entry that fails its checks.
  }
  if (!keep) await rm(path, { force: true });
  return null;
}

/** Stores the parts under `key`, atomically (a reader sees the whole entry or none). */
export async function writeCachedDefinition(
  cacheDir: string,
  key: string,
  parts: CachedPipelineParts,
): Promise<void> {
  const path = entryPath(cacheDir, key);
  await mkdir(join(cacheDir, 'pipeline-definition'), { recursive: true });
  const body = JSON.stringify({
    schema: DEFINITION_CACHE_SCHEMA,
    key,
    sha256: sha256Hex(JSON.stringify(parts)),
    parts,
  });
  const temporary = `${path}.${randomUUID()}.partial`;
  await writeFile(temporary, body);
  await rename(temporary, path);
}
