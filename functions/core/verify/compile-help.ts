// Bytecode for the long pole. Once the import queue is empty, a smoke-import process would sit
// idle while another one still imports. In the seed set, pandas alone took 1.1 s of the 1.45 s,
// compiling its own modules, and the other process waited out the last 0.5 s. So the idle
// process compiles, into the bytecode cache the processes share, the .py files of the
// distributions still being imported. It starts from the end of their listing, since the
// importer goes from its __init__. The importer then loads what is compiled instead of compiling
// it. Importing pandas beside such a helper took 0.76 s here, against 1.16 s alone.
// Compiling runs no package code: it only parses the source. It runs in the same cell.
import { readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { canonicalizeName } from '../shared/names.ts';

/** Folders whose files no import of the package loads. */
const NEVER_IMPORTED = new Set(['tests', 'test', '__pycache__']);
/** Files handed to a helper at a time: it asks again between chunks, so it stops soon after the import ends. */
const CHUNK_FILES = 16;

export interface CompileHelpInput {
  /** Each distribution's top-level modules, by its name (any spelling). */
  readonly groups: readonly { readonly name: string; readonly modules: readonly string[] }[];
  /** The artifact's folders outside the cell, and the same folders as the cell sees them. */
  readonly roots: readonly string[];
  readonly cellRoots: readonly string[];
}

/** Hands out, a chunk at a time, source files of the distributions being imported, as the cell sees them. */
export class CompileHelp {
  readonly #modules = new Map<string, readonly string[]>();
  /** Files not yet handed out, per distribution (last first), listed on first need. */
  readonly #left = new Map<string, string[]>();

  constructor(private readonly input: CompileHelpInput) {
    for (const group of input.groups) this.#modules.set(canonicalizeName(group.name), group.modules);
  }

  /** Up to CHUNK_FILES files of the distributions in `importing` (canonical names); empty when none is left. */
  next(importing: readonly string[]): string[] {
    const chunk: string[] = [];
    for (const unit of importing) {
      const left = this.#left.get(unit) ?? this.#list(unit);
      this.#left.set(unit, left);
      while (chunk.length < CHUNK_FILES && left.length > 0) chunk.push(left.shift() ?? '');
      if (chunk.length >= CHUNK_FILES) break;
    }
    return chunk;
  }

  /** The distribution's .py files under each root, in the cell's paths, from the end of the listing. */
  #list(unit: string): string[] {
    const files: string[] = [];
    for (const module of this.#modules.get(unit) ?? []) {
      const parts = module.split('.');
      for (const [index, root] of this.input.roots.entries()) {
        const inside = this.input.cellRoots[index];
        if (inside === undefined) continue;
        for (const relative of sourcesOf(root, parts)) files.push(`${inside}/${relative}`);
      }
    }
    return [...new Set(files)].sort().reverse();
  }
}

/** The .py files of module `parts` below `root` (a package's, or the one module file), relative, `/`-separated. */
function sourcesOf(root: string, parts: readonly string[]): string[] {
  const base = parts.join('/');
  const single = `${base}.py`;
  const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  if (isFile(join(root, single))) return [single];
  let entries;
  try {
    entries = readdirSync(join(root, ...parts), { recursive: true, withFileTypes: true });
  } catch {
    return []; // (not a package folder, or not readable)
  }
  const sources: string[] = [];
  const folder = join(root, ...parts);
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.py')) continue;
    const relative = join(entry.parentPath, entry.name)
      .slice(folder.length + 1)
      .split(sep);
    if (relative.some((part) => NEVER_IMPORTED.has(part))) continue;
    sources.push(`${base}/${relative.join('/')}`);
  }
  return sources;
}
