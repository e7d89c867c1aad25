// Smoke-import results an earlier build can stand for: with one package added to a set, the
// other modules need not be imported again. What an import did is decided by what it could
// see: the files it loaded (Python modules, and the shared libraries mapped into the process)
// and the names it looked for and did not find (an optional `import attrs`). Each passed
// import records that as its footprint:
//   - the distributions owning a loaded file, each by the sha256 of its RECORD (the installer
//     writes RECORD from content it checked, so RECORD's digest stands for every file's bytes);
//   - loaded files no RECORD lists, by their own sha256;
//   - the names looked for and not found;
//   - the dotted names loaded, each with the root it came from (a file that appears in an
//     earlier root would shadow it).
// A later import of the module by the same interpreter, for the same target and isolation, is
// skipped when one of its footprints still holds: every distribution and file unchanged, and no
// missing name importable now. A footprint counts everything its process loaded before the
// module too (imports share a process), which only ever costs reuse. Failed imports are never
// recorded. What a footprint cannot see: a file read with open() at import time from a
// distribution none of whose modules or libraries was loaded.

import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import pLimit from 'p-limit';
import { z } from 'zod';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import { listTree, resolverBelow } from '../shared/tree-listing.ts';
import { sha256Hex, sha256OfFile } from '../shared/hash.ts';
import type { Target } from '../shared/types.ts';
import { recordPath } from './artifact-verifier.ts';
import type { SandboxIsolation } from './sandbox.ts';

/** Bumped when what a footprint records changes, so older ones are never trusted. */
const FOOTPRINT_FORMAT = 1;
/** Footprints kept per module (newest first): a set switched back and forth stays reusable. */
const KEPT_PER_MODULE = 4;
/** Far more than the footprints of one module ever take; a bigger file is not one of ours. */
const MAX_FOOTPRINT_FILE_BYTES = 16 * 1024 ** 2;

const SHA256 = z.string().regex(/^[0-9a-f]{64}$/);
const footprintSchema = z.object({
  /** `<root index>:<dist-info folder>` → sha256 of its RECORD. */
  dists: z.record(z.string(), SHA256),
  /** `<root index>:<path under the root>` → sha256 of a loaded file no RECORD lists. */
  files: z.record(z.string(), SHA256),
  /** Dotted names looked for and not found. */
  missing: z.array(z.string()),
  /** `<root index>:<dotted name>` of each module loaded from a root. */
  found: z.array(z.string()),
});
const entrySchema = z.object({
  module: z.string(),
  footprints: z.array(footprintSchema).max(KEPT_PER_MODULE),
});

export type ImportFootprint = z.infer<typeof footprintSchema>;

/** What one import process reported up to a module: real paths it loaded, names it missed. */
export interface ImportTrace {
  readonly files: readonly string[];
  readonly missing: readonly string[];
}

/** The roots' distributions (by RECORD) and every dotted name their files make importable. */
export interface TreeIndex {
  readonly roots: readonly string[];
  /** How the tree's files are read. */
  readonly files: TreeFiles;
  /** The distribution listing an absolute path in its RECORD. */
  ownerOf(path: string): string | undefined;
  recordDigest(distribution: string): string | undefined;
  /** The first root (sys.path order) with a file or folder importable as `name`. */
  firstProvider(name: string): number | undefined;
}

/**
 * Python run before the imports it watches (the smoke import's processes; the local probe).
 * `Watch`, first on sys.meta_path, asks the finders after it in their order, as the import
 * system would, and notes each name none of them found (an optional import) and each file they
 * found (a module whose import then fails is not in sys.modules, but was read). `trace()` returns
 * what was loaded (modules' files and the shared libraries mapped into the process) and missed
 * since its last call.
 */
export const IMPORT_WATCH_PY = String.raw`
import sys
not_found, found, told_files, told_missing = set(), set(), set(), set()
class Watch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        for finder in list(sys.meta_path):
            if finder is Watch or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if isinstance(spec.origin, str):
                    found.add(spec.origin)
                return spec
        not_found.add(name)
        return None
sys.meta_path.insert(0, Watch)
def loaded_files():
    files = {f for f in (getattr(m, "__file__", None) for m in list(sys.modules.values())) if isinstance(f, str)}
    files.update(found)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    files.add(fields[5].rstrip("\n"))
    except OSError:
        pass
    return files
def trace():
    files = loaded_files() - told_files
    missed = not_found - told_missing
    told_files.update(files)
    told_missing.update(missed)
    return sorted(files), sorted(missed)
`;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The dotted name a path under a root imports as (`a/b/__init__.py` → `a.b`), if any. */
function dottedNameOf(path: string, isDirectory: boolean): string | null {
  const parts = path.split(sep);
  if (!isDirectory) {
    const file = parts.pop() ?? '';
    const stem = file.split('.')[0] ?? '';
    if (!/\.(py|pyc|so)$/.test(file) || parts.includes('__pycache__')) return null;
    if (stem !== '__init__') parts.push(stem);
  }
  return parts.length > 0 && parts.every((part) => IDENTIFIER.test(part)) ? parts.join('.') : null;
}

/** A file or folder below a root, by its path relative to the root. */
export interface TreeEntry {
  readonly path: string;
  readonly isDirectory: boolean;
}

/**
 * How a tree's files are read: from the disk, or (for a probe whose layers are known without
 * unpacking them: core/pack/kept-layers.ts) from what is known of them. Paths are absolute.
 */
export interface TreeFiles {
  /** Every file and folder below `root` (none when it is not there). */
  list(root: string): TreeEntry[] | Promise<TreeEntry[]>;
  /** A file's bytes; null when it is not there. */
  read(path: string): Promise<Buffer | null>;
  /** A file's sha256 (hex); null when it is not there. */
  digest(path: string): Promise<string | null>;
  /** A file's sha256 (hex) when it is known without reading the file; undefined when it is not. */
  knownDigest?(path: string): string | null | undefined;
}

/**
 * The tree as it is on disk. Listed and its RECORDs read without queueing on libuv's pool, which
 * a concurrent copy of hundreds of megabytes holds for a second; `known` are sha256 digests (hex,
 * by path) of files hashed as they were written.
 */
export function diskTreeFiles(known: ReadonlyMap<string, string> = new Map()): TreeFiles {
  return {
    list: (root) => {
      try {
        return listTree(root);
      } catch {
        return [];
      }
    },
    read: async (path) => {
      try {
        return readFileSync(path);
      } catch {
        return null;
      }
    },
    digest: async (path) => known.get(path) ?? (await sha256OfFile(path).catch(() => null)),
    knownDigest: (path) => known.get(path),
  };
}

async function indexRoot(root: string, index: number, tree: MutableTree, files: TreeFiles): Promise<void> {
  const below = resolverBelow(root);
  for (const entry of await files.list(root)) {
    const { path } = entry;
    const name = dottedNameOf(path, entry.isDirectory);
    if (name && !tree.providers.has(name)) tree.providers.set(name, index);
    if (!entry.isDirectory || !path.endsWith('.dist-info') || path.includes(sep)) continue;
    const record = await files.read(join(root, path, 'RECORD'));
    if (!record) continue;
    const distribution = `${index}:${path}`;
    tree.digests.set(distribution, sha256Hex(record));
    for (const line of record.toString('utf8').split(/\r?\n/)) {
      const listed = recordPath(line);
      if (listed) tree.owners.set(below(listed), distribution);
    }
  }
}

interface MutableTree {
  readonly owners: Map<string, string>;
  readonly digests: Map<string, string>;
  /** Dotted name → the first root providing it. */
  readonly providers: Map<string, number>;
}

/** Index the roots (absolute paths, in sys.path order), read through `files` (the disk by default). */
export async function indexTree(
  roots: readonly string[],
  files: TreeFiles = diskTreeFiles(),
): Promise<TreeIndex> {
  const tree: MutableTree = { owners: new Map(), digests: new Map(), providers: new Map() };
  for (const [index, root] of roots.entries()) await indexRoot(root, index, tree, files);
  return {
    roots,
    files,
    ownerOf: (path) => tree.owners.get(path),
    recordDigest: (distribution) => tree.digests.get(distribution),
    firstProvider: (name) => tree.providers.get(name),
  };
}

/** The root a path lies under (the deepest, when roots nest) and the path below it; null outside them (the stdlib). */
function placeOf(roots: readonly string[], path: string): { index: number; below: string } | null {
  let best: { index: number; below: string } | null = null;
  roots.forEach((root, index) => {
    const below = path.startsWith(`${root}${sep}`) ? path.slice(root.length + 1) : null;
    if (below !== null && (best === null || below.length < best.below.length)) best = { index, below };
  });
  return best;
}

/** The footprint of a trace in the tree it ran on. */
export async function footprintOf(trace: ImportTrace, tree: TreeIndex): Promise<ImportFootprint> {
  const dists: Record<string, string> = {};
  const files: Record<string, string> = {};
  const found = new Set<string>();
  for (const path of new Set(trace.files)) {
    const place = placeOf(tree.roots, path);
    if (place === null) continue;
    const name = dottedNameOf(place.below, false);
    if (name) found.add(`${place.index}:${name}`);
    const owner = tree.ownerOf(path);
    const digest = owner ? tree.recordDigest(owner) : undefined;
    if (owner && digest) dists[owner] = digest;
    else files[`${place.index}:${place.below}`] = await sha256OfFile(path);
  }
  return { dists, files, missing: [...new Set(trace.missing)].sort(), found: [...found].sort() };
}

/** The file a `<root index>:<path>` names in this tree; null when it would leave its root. */
function placeIn(tree: TreeIndex, place: string): string | null {
  const [index, ...rest] = place.split(':');
  const root = tree.roots[Number(index)];
  const path = rest.join(':');
  if (root === undefined || path === '' || path.split(/[\\/]/).includes('..')) return null;
  return join(root, path);
}

/**
 * Whether everything a footprint saw is as it was, from the same roots, and nothing it missed is
 * there now. `checkRecord`, when given, must also find a distribution's files as its RECORD says
 * (for a tree this build did not install itself).
 */
export async function footprintHolds(
  footprint: ImportFootprint,
  tree: TreeIndex,
  checkRecord?: (distribution: string) => Promise<boolean>,
): Promise<boolean> {
  for (const [distribution, digest] of Object.entries(footprint.dists))
    if (tree.recordDigest(distribution) !== digest) return false;
  if (footprint.missing.some((name) => tree.firstProvider(name) !== undefined)) return false;
  for (const place of footprint.found) {
    const [index, name = ''] = place.split(':');
    if (tree.firstProvider(name) !== Number(index)) return false;
  }
  if (checkRecord)
    for (const distribution of Object.keys(footprint.dists))
      if (!(await checkRecord(distribution))) return false;
  for (const [place, digest] of Object.entries(footprint.files)) {
    const path = placeIn(tree, place);
    if (!path || (await tree.files.digest(path)) !== digest) return false;
  }
  return true;
}

/**
 * A footprint recorded in other roots, as it reads in a tree whose root `roots.get(i)` holds what
 * the recording's root `i` held (the build's site folder is the probe's /opt/python); null when
 * it names a root with no counterpart, which then cannot vouch for anything.
 */
export function footprintInRoots(
  footprint: ImportFootprint,
  roots: ReadonlyMap<number, number>,
): ImportFootprint | null {
  let unmapped = false;
  const moved = (place: string): string => {
    const colon = place.indexOf(':');
    const index = roots.get(Number(place.slice(0, colon)));
    if (colon <= 0 || index === undefined) unmapped = true;
    return `${index ?? ''}${place.slice(colon)}`;
  };
  const entries = (record: Record<string, string>) =>
    Object.fromEntries(Object.entries(record).map(([place, digest]) => [moved(place), digest]));
  const mapped: ImportFootprint = {
    dists: entries(footprint.dists),
    files: entries(footprint.files),
    missing: footprint.missing,
    found: footprint.found.map(moved),
  };
  return unmapped ? null : mapped;
}

/** An interpreter file as results that depend on it are keyed: its path, size and modification time. */
export async function interpreterIdentity(
  executable: string,
): Promise<{ executable: string; size: number; mtimeMs: number }> {
  const { size, mtimeMs } = await stat(executable);
  return { executable, size, mtimeMs };
}

/**
 * Footprints of passed imports, one file per module under a folder (a cache: a file that does
 * not parse, or names another module, counts as none), for imports by one interpreter file, for
 * one target, in a cell with one isolation: what the results also depend on.
 */
export class ImportFootprintStore {
  private constructor(
    private readonly folder: string,
    private readonly identity: unknown,
  ) {}

  static async open(
    folder: string,
    interpreter: string,
    target: Target,
    isolation: SandboxIsolation,
  ): Promise<ImportFootprintStore> {
    const { uid, network, filesystem, environment } = isolation;
    return new ImportFootprintStore(folder, {
      interpreter: await interpreterIdentity(interpreter),
      target,
      isolation: { uid, network, filesystem, environment },
    });
  }

  /**
   * The modules one of whose footprints holds in `tree` (footprintHolds, with `checkRecord`);
   * `roots`, when the footprints were recorded in other roots: where each of those is in `tree`.
   */
  async reusable(
    modules: readonly string[],
    tree: Promise<TreeIndex>,
    checkRecord?: (distribution: string) => Promise<boolean>,
    roots?: ReadonlyMap<number, number>,
  ): Promise<Set<string>> {
    const recorded = await Promise.all(
      modules.map(async (module) => [module, await this.read(module)] as const),
    );
    const reusable = new Set<string>();
    for (const [module, footprints] of recorded)
      for (const recordedThere of footprints) {
        const footprint = roots ? footprintInRoots(recordedThere, roots) : recordedThere;
        if (footprint && (await footprintHolds(footprint, await tree, checkRecord))) {
          reusable.add(module);
          break;
        }
      }
    return reusable;
  }

  private fileOf(module: string): string {
    const key = sha256Hex(JSON.stringify({ format: FOOTPRINT_FORMAT, identity: this.identity, module }));
    return join(this.folder, `${key}.json`);
  }

  async read(module: string): Promise<ImportFootprint[]> {
    const text = await readCacheFile(this.fileOf(module), MAX_FOOTPRINT_FILE_BYTES);
    let value: unknown = null;
    try {
      value = text === null ? null : JSON.parse(text);
    } catch {
      return []; // cut short or garbled
    }
    const parsed = entrySchema.safeParse(value);
    return parsed.success && parsed.data.module === module ? parsed.data.footprints : [];
  }

  /** Put `footprint` first for the module (temporary file + rename: readers see old or new). */
  async record(module: string, footprint: ImportFootprint): Promise<void> {
    const same = (other: ImportFootprint): boolean => JSON.stringify(other) === JSON.stringify(footprint);
    const kept = (await this.read(module)).filter((other) => !same(other));
    const footprints = [footprint, ...kept].slice(0, KEPT_PER_MODULE);
    await writeCacheFile(this.fileOf(module), JSON.stringify({ module, footprints }));
  }
}

/**
 * Whether a distribution's files are as its RECORD says: every listed file with a sha256 is
 * there with that digest (RECORD's `sha256=<urlsafe base64>` form). For a tree that was not
 * installed by this build, such as a probe's unpacked artifact, before its RECORD stands for it.
 * Files are read and hashed through the tree's `files` (digests known as they were written count).
 */
export async function recordMatchesFiles(tree: TreeIndex, distribution: string): Promise<boolean> {
  const [index, distInfo = ''] = distribution.split(':');
  const root = tree.roots[Number(index)];
  if (root === undefined || distInfo.includes('/') || distInfo.startsWith('.')) return false;
  const record = (await tree.files.read(join(root, distInfo, 'RECORD')))?.toString('utf8') ?? null;
  if (record === null) return false;
  const matches = (digest: string | null, hash: string): boolean =>
    digest !== null && Buffer.from(digest, 'hex').toString('base64url') === hash;
  // Digests known without reading are compared at once (no promise per line: a RECORD lists
  // thousands); the others are read and hashed, a few at a time.
  const toRead: { file: string; hash: string }[] = [];
  const beside = `${dirname(root)}${sep}`;
  const below = resolverBelow(root);
  for (const line of record.split(/\r?\n/)) {
    const path = recordPath(line);
    const hash = /,sha256=([A-Za-z0-9_-]+),\d*$/.exec(line)?.[1];
    if (!path || !hash) continue; // RECORD itself, or a file listed without a digest
    const file = below(path);
    // Scripts sit beside the site folder (`../bin/x`); nothing a RECORD lists lies further out.
    if (!file.startsWith(beside)) return false;
    // A script is never imported, and an image or an EFS tree ships the site folder without
    // them: torch's and sympy's RECORDs (torchrun, isympy) failed there, and the probe imported
    // them again (3.4 s) though nothing importable had changed.
    if (!file.startsWith(`${root}${sep}`)) continue;
    const known = tree.files.knownDigest?.(file);
    if (known === undefined) toRead.push({ file, hash });
    else if (!matches(known, hash)) return false;
  }
  const limit = pLimit(8);
  const checks = toRead.map(({ file, hash }) =>
    limit(async () => matches(await tree.files.digest(file), hash)),
  );
  return (await Promise.all(checks)).every(Boolean);
}
