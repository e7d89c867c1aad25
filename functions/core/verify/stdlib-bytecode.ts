// The interpreter's own bytecode, seen through a cell's bytecode cache. The smoke import and the
// local probe run Python with `-X pycache_prefix` (so that nothing is written into the artifact),
// and Python then looks for every module's bytecode under that prefix, the standard library's
// included: each cell compiled json, re, email, decimal … from source again. Importing the seed
// set cold in one process took 2.38 s here, 0.83 s of it compiling the standard library. So a
// cell's cache is seeded with links to the .pyc files the installation ships, where Python
// looks for them under the prefix. Python still checks each against its source (size and
// mtime) and compiles in memory when one does not match; the links point into the installation,
// which the cell sees read-only.
import { chownSync, mkdirSync, readdirSync, symlinkSync, type Dirent } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SANDBOX_UID, type Sandbox } from './sandbox.ts';

/**
 * The cell's bytecode cache (`-X pycache_prefix`): in its scratch, never in the artifact, which
 * must stay as built; owned by the cell's unprivileged uid, and seeded with the installation's
 * standard-library bytecode. Made on first use.
 */
export async function cellBytecodeCache(
  cell: Sandbox,
  interpreter: { readonly prefix: string; readonly version: string },
): Promise<string> {
  const pycachePrefix = join(cell.home, 'pycache');
  const owner = cell.isolation.uid ? SANDBOX_UID : null;
  await mkdir(pycachePrefix, { recursive: true });
  if (owner !== null) await chown(pycachePrefix, owner, owner);
  seedStandardLibraryBytecode(pycachePrefix, interpreter, owner);
  return pycachePrefix;
}

/** Parts of the standard library no import of a package reaches, or that are not the standard library. */
const SKIPPED = new Set([
  'site-packages',
  'dist-packages',
  'test',
  'tests',
  'idlelib',
  'tkinter',
  'turtledemo',
  'lib2to3',
  'ensurepip',
]);

/** A .pyc file the installation ships (in a `__pycache__` folder), and the folder of its source. */
interface ShippedBytecode {
  readonly sourceFolder: string;
  /** `decoder.cpython-311.pyc`: under a pycache prefix, the same name beside the mirrored source. */
  readonly name: string;
  readonly pyc: string;
}

/** The standard library's shipped bytecode, by interpreter prefix and version (listed once per process). */
const listed = new Map<string, ShippedBytecode[]>();

/** The folder of the source a non-optimised .pyc in a `__pycache__` folder was compiled from; else null. */
function sourceFolderOf(entry: Dirent, tag: string): string | null {
  if (basename(entry.parentPath) !== '__pycache__') return null;
  return entry.name.endsWith(`.${tag}.pyc`) ? dirname(entry.parentPath) : null;
}

function standardLibraryBytecode(prefix: string, version: string): ShippedBytecode[] {
  const key = `${prefix}\0${version}`;
  const known = listed.get(key);
  if (known) return known;
  const tag = `cpython-${version.replace('.', '')}`;
  let found: ShippedBytecode[] = [];
  for (const lib of ['lib', 'lib64']) {
    found = shippedBytecodeBelow(join(prefix, lib, `python${version}`), tag);
    if (found.length > 0) break;
  }
  listed.set(key, found);
  return found;
}

/** The non-optimised .pyc files in `__pycache__` folders below `folder`, never descending into SKIPPED ones. */
function shippedBytecodeBelow(folder: string, tag: string): ShippedBytecode[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    return []; // (no such folder, or not readable)
  }
  const found: ShippedBytecode[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIPPED.has(entry.name))
      found.push(...shippedBytecodeBelow(join(folder, entry.name), tag));
    const sourceFolder = entry.isFile() ? sourceFolderOf(entry, tag) : null;
    if (sourceFolder) found.push({ sourceFolder, name: entry.name, pyc: join(folder, entry.name) });
  }
  return found;
}

/**
 * Link the installation's standard-library bytecode into `pycachePrefix` where Python looks for
 * it (`<prefix><source folder>/<module>.cpython-3X.pyc`). Its folders are made for `owner` (the
 * cell's uid, or null: this process's), so that Python may still replace a link it finds stale.
 * An installation without .pyc files seeds nothing; a link that cannot be made is left out.
 * Blocking calls, on purpose: the seed set's 562 links and 60 folders take about 10 ms so, while
 * a promise per call waited a slice of the verifier's and packer's work each (0.3 s in all,
 * on the smoke import's critical path).
 */
export function seedStandardLibraryBytecode(
  pycachePrefix: string,
  interpreter: { readonly prefix: string; readonly version: string },
  owner: number | null,
): void {
  const folders = new Set<string>();
  for (const { sourceFolder, name, pyc } of standardLibraryBytecode(
    interpreter.prefix,
    interpreter.version,
  )) {
    const folder = join(pycachePrefix, sourceFolder);
    if (!folders.has(folder)) {
      const first = mkdirSync(folder, { recursive: true });
      folders.add(folder);
      // mkdir tells the topmost folder it made: every folder from there down is the owner's.
      if (owner !== null && first)
        for (let below = folder; below.length >= first.length; below = dirname(below))
          chownSync(below, owner, owner);
    }
    try {
      symlinkSync(pyc, join(folder, name));
    } catch {
      // (Linked already, or not possible here: Python compiles that module itself.)
    }
  }
}
