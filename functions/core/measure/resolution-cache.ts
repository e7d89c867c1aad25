// The resolution cache: a rebuild of an unchanged requirements file gets the lock it resolved to
// before, without resolving again, when nothing the resolution was computed from can have
// changed. The key covers what it was given (requirements, constraints, index options, target,
// policy, …, plus what the index client reads from the environment); the entry lists every local
// source it read with that source's identity (resolution-sources.ts), and is used only while each
// is unchanged (an absent page still absent). A resolution that asked the network, opened an
// sdist or warned is never stored: nothing here can tell whether its answer would still hold.
// Entries live at <cacheDir>/resolutions/<key>.json and are checked when read (resolution-entry.ts).

import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ZIP_LIMITS } from '../index/zip-directory.ts';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import { canonicalJson } from '../shared/canonical-json.ts';
import { sha256Hex } from '../shared/hash.ts';
import type { Lock } from '../shared/types.ts';
import { parseResolutionEntry, RESOLUTION_ENTRY_FORMAT } from './resolution-entry.ts';
import type { ResolutionEntry } from './resolution-entry.ts';
import { createSourceRecorder, sourcesUnchanged } from './resolution-sources.ts';
import type { SourceRecorder } from './resolution-sources.ts';

/** Larger than any real entry (a lock of thousands of packages); a bigger file is not read. */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

/**
 * What the index client and the reading of paths depend on besides their arguments: the page
 * size limit (the client reads it from process.env when measure gives it no environment), the
 * zip limits (measure gives none, so the defaults), the home folder (which decides whether files
 * under /root may be read) and the working folder (which relative find-links resolve against).
 */
function ambientInputs(): Record<string, unknown> {
  return {
    maxPageBytes: process.env['LAMBDA_DEPS_MAX_PAGE_BYTES'] ?? null,
    zipLimits: DEFAULT_ZIP_LIMITS,
    home: homedir(),
    cwd: process.cwd(),
  };
}

/**
 * The key of a resolution: sha256 of the entry format, `inputs` (plain data: everything the
 * resolution and the measuring are given) and the ambient inputs.
 * @example resolutionKey({ requirements, constraints, target, policy, indexOptions })
 */
export function resolutionKey(inputs: Record<string, unknown>): string {
  return sha256Hex(canonicalJson({ format: RESOLUTION_ENTRY_FORMAT, inputs, ambient: ambientInputs() }));
}

/**
 * The file this code runs from: in the bundle, the whole program, so a new build of it never
 * serves an entry an older one wrote. (From the TypeScript sources, only this module.)
 */
function programFile(): string | null {
  try {
    return fileURLToPath(import.meta.url);
  } catch {
    return null;
  }
}

/**
 * A recorder for one resolution, with the program already among its sources, and the time it
 * started (ns since the epoch, before anything was read) for {@link storeResolution}.
 * @example const { recorder, startedNs } = await startRecording();
 */
export async function startRecording(): Promise<{ recorder: SourceRecorder; startedNs: bigint }> {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const recorder = createSourceRecorder();
  const program = programFile();
  if (program) await recorder.read(program);
  return { recorder, startedNs };
}

function entryPath(cacheDir: string, key: string): string {
  return join(cacheDir, 'resolutions', `${key}.json`);
}

/**
 * The entry filed under `key`, when it checks out and every source it lists is unchanged; else
 * null (then the set is resolved again and the entry overwritten).
 * @example const cached = await lookupResolution(cacheDir, key);
 */
export async function lookupResolution(cacheDir: string, key: string): Promise<ResolutionEntry | null> {
  const text = await readCacheFile(entryPath(cacheDir, key), MAX_ENTRY_BYTES);
  if (text === null) return null;
  const entry = parseResolutionEntry(text, key);
  if (typeof entry === 'string') return null;
  return (await sourcesUnchanged(entry.sources)) ? entry : null;
}

/**
 * Files the lock under `key` when the recorder proves its sources (see createSourceRecorder);
 * returns why not otherwise. A cache that cannot be written costs the next run a resolution, never
 * this one its result, so write errors are dropped.
 * @example await storeResolution(cacheDir, key, recorder, startedNs, { lock, lockHash: lockHash(lock) });
 */
export async function storeResolution(
  cacheDir: string,
  key: string,
  recorder: SourceRecorder,
  startedNs: bigint,
  resolved: { readonly lock: Lock; readonly lockHash: string },
): Promise<string | null> {
  const path = entryPath(cacheDir, key);
  const settled = await recorder.settle(startedNs);
  if ('refused' in settled) {
    // An entry from an earlier run would be checked and refused anyway; do not leave it to be read.
    await rm(path, { force: true }).catch(() => undefined);
    return settled.refused;
  }
  const entry: ResolutionEntry = {
    format: RESOLUTION_ENTRY_FORMAT,
    key,
    resolvedAt: new Date(Number(startedNs / 1_000_000n)).toISOString(),
    sources: settled.sources,
    ...resolved,
  };
  return writeCacheFile(path, JSON.stringify(entry)).then(
    () => null,
    (error: unknown) => `it could not be written (${(error as Error).message})`,
  );
}
