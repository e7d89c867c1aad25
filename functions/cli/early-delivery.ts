// The default path's `--out`, copied while the execution still runs. When the Probe starts, the
// artifacts its input's manifest names are in the store, published, and never change again: they
// are copied beside the outputs while the Probe runs (about 0.1 s for the seed set's 71 MB, which
// the run used to spend after the execution ended), and swapped in only when the execution
// succeeded with that very manifest. A failed run throws the copies away. (Not earlier: a
// published layer version is a hard link to its object, and linking moves the object's ctime,
// so a copy recorded before it would never be found unchanged by the next rebuild.)
import type { LeasingObjectStore } from '../adapters/ports.ts';
import { artifactKeyFromHashes } from '../core/route/delivery-policy.ts';
import type { BuildManifest } from '../core/shared/types.ts';
import { keys, readManifest } from '../pipeline-state.ts';
import { deliverStoredArtifacts, stageStoredArtifacts, type StagedArtifacts } from './artifacts-out.ts';

/** The state during which --out is copied; its input names the build's manifest at `route.manifestKey`. */
export const COPY_OUT_STATE = 'Probe';

/** The store prefix and the files (relative to it) that `manifest` delivers into --out. */
export async function artifactFilesOf(
  store: LeasingObjectStore,
  manifest: BuildManifest,
): Promise<{ prefix: string; files: string[] } | null> {
  if (!manifest.policyHash) return null;
  const prefix = keys.artifactPrefix(artifactKeyFromHashes(manifest.lockHash, manifest.policyHash));
  const files = [...manifest.layers.map((layer) => layer.file), ...(manifest.efs ? [manifest.efs.tree] : [])];
  if (manifest.image) {
    const imageKeys = await store.list(`${prefix}${manifest.image.layout}/`);
    files.push(...imageKeys.map((key) => key.slice(prefix.length)));
  }
  return { prefix, files };
}

/** The manifest key in a state's JSON (`$.route.manifestKey`, from ReadBuildManifest), if it holds one. */
export function manifestKeyOf(state: unknown): string | null {
  const route = (state as { route?: { manifestKey?: unknown } } | null)?.route;
  return typeof route?.manifestKey === 'string' ? route.manifestKey : null;
}

interface Staging {
  readonly prefix: string;
  readonly files: readonly string[];
  readonly staged: StagedArtifacts;
}

export class EarlyDelivery {
  private staging: Promise<Staging | null> | null = null;

  constructor(
    private readonly store: LeasingObjectStore,
    private readonly outDir: string,
  ) {}

  /** The build's manifest is at `manifestKey`: start copying what it names (once per run). */
  start(manifestKey: string): void {
    this.staging ??= this.stage(manifestKey);
  }

  private async stage(manifestKey: string): Promise<Staging | null> {
    try {
      const named = await artifactFilesOf(this.store, await readManifest(this.store, manifestKey));
      if (!named) return null;
      return {
        ...named,
        staged: await stageStoredArtifacts(this.store, named.prefix, named.files, this.outDir),
      };
    } catch {
      // Only a head start: the delivery after the execution copies again and reports what fails.
      return null;
    }
  }

  /** Deliver `manifest`'s artifacts into --out: the staged copies when they are of it, else copied now. */
  async deliver(manifest: BuildManifest): Promise<void> {
    const named = await artifactFilesOf(this.store, manifest);
    const early = await this.take();
    if (!named) return await early?.staged.discard();
    const same =
      early !== null &&
      early.prefix === named.prefix &&
      early.files.length === named.files.length &&
      early.files.every((file, index) => file === named.files[index]);
    if (same) return await early.staged.commit();
    await early?.staged.discard();
    await deliverStoredArtifacts(this.store, named.prefix, named.files, this.outDir);
  }

  /** Throw away whatever was staged (the execution failed, or the run ended early). */
  async discard(): Promise<void> {
    await (await this.take())?.staged.discard();
  }

  private async take(): Promise<Staging | null> {
    const staging = this.staging;
    this.staging = Promise.resolve(null);
    return (await staging) ?? null;
  }
}
