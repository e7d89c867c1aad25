// The local probe's reuse of earlier passed imports (core/verify/import-footprints.ts): a new
// artifact that differs from one probed before by a package added keeps the other modules'
// results, since every file they loaded is unchanged, from the same folder, and nothing they
// looked for and missed has appeared. Unlike the build's tree, an artifact comes out of the
// pipeline's store, so each distribution a footprint names is first checked against its RECORD.
// The build's own smoke import stands for the probe too (a fresh build's probe imports nothing
// again): it ran the same interpreter, target and cell on the tree the artifact was checked to
// hold byte for byte, and its footprints are read with the build's site folder where the
// artifact put it (/opt/python for layers, /var/task in an image), against the unpacked files.
import { join } from 'node:path';
import type { ProbedModule, Target } from '../../core/shared/types.ts';
import {
  diskTreeFiles,
  footprintOf,
  ImportFootprintStore,
  indexTree,
  recordMatchesFiles,
  type TreeFiles,
  type TreeIndex,
} from '../../core/verify/import-footprints.ts';
import { outsidePathOf, type Sandbox } from '../../core/verify/index.ts';

/** A module's result as probe.py gives it to the twin: with what it loaded and missed (cell paths). */
export type TracedModule = ProbedModule & { files?: string[]; missing?: string[] };

/** Which earlier import stands for a module: a probe's, or the build's smoke import. */
export type ReusedFrom = 'probe' | 'build';

export interface ProbeReuse {
  /** The modules an earlier probe's footprint stands for, else the build's smoke import's. */
  reusable(modules: readonly string[]): Promise<Map<string, ReusedFrom>>;
  /** Keep the footprints of the passed imports of one probe process, in import order. */
  record(results: readonly TracedModule[]): Promise<void>;
}

/** Where the artifact put what the build's smoke import saw, and how its files are read. */
export interface ReuseContext {
  /** The artifact's files: on disk (with digests taken as they were unpacked), or known from kept layers. */
  readonly files?: TreeFiles;
  /** The sys.path folder holding the build tree's site folder (its only smoke-import root). */
  readonly buildSite?: string | null;
}

/**
 * The reuse of one probe: `folders` are the sys.path folders, in order, as bound into `cell`;
 * `context`, what the unpacking knows of them (ReuseContext).
 */
export async function openProbeReuse(
  cacheDir: string,
  interpreter: string,
  target: Target,
  cell: Sandbox,
  folders: readonly string[],
  { files = diskTreeFiles(), buildSite = null }: ReuseContext = {},
): Promise<ProbeReuse> {
  const open = (folder: string) =>
    ImportFootprintStore.open(join(cacheDir, folder), interpreter, target, cell.isolation);
  const store = await open('probe-footprints');
  const siteIndex = buildSite === null ? -1 : folders.indexOf(buildSite);
  // The smoke import's one root (index 0) is this probe's site folder.
  const fromBuild =
    siteIndex < 0 ? null : { store: await open('import-footprints'), roots: new Map([[0, siteIndex]]) };
  // Indexed while the probe imports when no footprint is on record (a first probe waits for nothing).
  const indexed: Promise<TreeIndex> = indexTree(folders, files);
  const checked = new Map<string, Promise<boolean>>();
  const checkRecord = async (distribution: string): Promise<boolean> => {
    const known = checked.get(distribution) ?? recordMatchesFiles(await indexed, distribution);
    checked.set(distribution, known);
    return known;
  };
  return {
    async reusable(modules) {
      const reused = new Map<string, ReusedFrom>();
      for (const module of await store.reusable(modules, indexed, checkRecord)) reused.set(module, 'probe');
      const rest = modules.filter((module) => !reused.has(module));
      if (fromBuild && rest.length > 0)
        for (const module of await fromBuild.store.reusable(rest, indexed, checkRecord, fromBuild.roots))
          reused.set(module, 'build');
      return reused;
    },
    async record(results) {
      // One process imported them in order: each module's footprint holds all that came before it.
      const tree = await indexed;
      const outside = outsidePathOf(cell, folders);
      const files: string[] = [];
      const missing: string[] = [];
      for (const result of results) {
        files.push(...(result.files ?? []).map(outside));
        missing.push(...(result.missing ?? []));
        if (result.ok) await store.record(result.module, await footprintOf({ files, missing }, tree));
      }
    },
  };
}

/**
 * The probe's module list in the order asked: what was imported now, and the reused ones as
 * passed imports of 0 ms marked `reused` (and `reusedFromBuild` when the smoke import's was).
 */
export function mergeProbed(
  modules: readonly string[],
  imported: readonly TracedModule[],
  reused: ReadonlyMap<string, ReusedFrom>,
): ProbedModule[] {
  const byName = new Map(
    imported.map(({ files: _files, missing: _missing, ...result }) => [result.module, result]),
  );
  return modules.flatMap((module): ProbedModule[] => {
    const result = byName.get(module);
    if (result) return [result];
    const from = reused.get(module);
    if (from === undefined) return [];
    return [
      {
        module,
        ok: true,
        error: null,
        ms: 0,
        reused: true,
        ...(from === 'build' ? { reusedFromBuild: true } : {}),
      },
    ];
  });
}
