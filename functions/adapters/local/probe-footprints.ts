// The local probe's reuse of earlier passed imports (core/verify/import-footprints.ts): a new
// artifact that differs from one probed before by a package added keeps the other modules'
// results, since every file they loaded is unchanged, from the same folder, and nothing they
// looked for and missed has appeared. Unlike the build's tree, an artifact comes out of the
// pipeline's store, so each distribution a footprint names is first checked against its RECORD.
import { join } from 'node:path';
import type { ProbedModule, Target } from '../../core/shared/types.ts';
import {
  footprintOf,
  ImportFootprintStore,
  indexTree,
  recordMatchesFiles,
  type TreeIndex,
} from '../../core/verify/import-footprints.ts';
import { outsidePathOf, type Sandbox } from '../../core/verify/index.ts';

/** A module's result as probe.py gives it to the twin: with what it loaded and missed (cell paths). */
export type TracedModule = ProbedModule & { files?: string[]; missing?: string[] };

export interface ProbeReuse {
  /** The modules an earlier probe's footprint stands for. */
  reusable(modules: readonly string[]): Promise<Set<string>>;
  /** Keep the footprints of the passed imports of one probe process, in import order. */
  record(results: readonly TracedModule[]): Promise<void>;
}

/**
 * The reuse of one probe: `folders` are the sys.path folders, in order, as bound into `cell`;
 * `digests`, files whose sha256 is known without reading them (written from or into a kept layer).
 */
export async function openProbeReuse(
  cacheDir: string,
  interpreter: string,
  target: Target,
  cell: Sandbox,
  folders: readonly string[],
  digests: Promise<ReadonlyMap<string, string>> = Promise.resolve(new Map()),
): Promise<ProbeReuse> {
  const store = await ImportFootprintStore.open(
    join(cacheDir, 'probe-footprints'),
    interpreter,
    target,
    cell.isolation,
  );
  // Indexed while the probe imports when no footprint is on record (a first probe waits for nothing).
  const indexed: Promise<TreeIndex> = indexTree(folders);
  const checked = new Map<string, Promise<boolean>>();
  const checkRecord = async (distribution: string): Promise<boolean> => {
    const known = checked.get(distribution) ?? recordMatchesFiles(await indexed, distribution, await digests);
    checked.set(distribution, known);
    return known;
  };
  return {
    reusable: (modules) => store.reusable(modules, indexed, checkRecord),
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
 * passed imports of 0 ms marked `reused`.
 */
export function mergeProbed(
  modules: readonly string[],
  imported: readonly TracedModule[],
  reused: ReadonlySet<string>,
): ProbedModule[] {
  const byName = new Map(
    imported.map(({ files: _files, missing: _missing, ...result }) => [result.module, result]),
  );
  return modules.flatMap((module): ProbedModule[] => {
    const result = byName.get(module);
    if (result) return [result];
    return reused.has(module) ? [{ module, ok: true, error: null, ms: 0, reused: true }] : [];
  });
}
