// The Probe's contract: what it is asked to import from which artifact, and what it found.
// The same shapes serve the AWS probe (a short-lived function on the real runtime) and the
// local twin (the artifact unpacked as Lambda would, imported with the target's Python).
import { isRuntimeProvided } from '../build/slim-policy.ts';
import { sha256Hex } from '../shared/hash.ts';
import type { BuildManifest, Lock, ProbeResult, Target } from '../shared/types.ts';

/** What ships, as the Probe receives it: the published layers, the staged EFS version or the image. */
export type ProbeArtifact =
  | {
      readonly kind: 'layers';
      /** Layer zips in the order a function lists them (later layers overwrite earlier files in /opt). */
      readonly zips: readonly string[];
      /** Layer zips in the pipeline's store, in the same order (read after `zips`). */
      readonly objectKeys?: readonly string[];
      /** The layer version ARNs, for the AWS probe. */
      readonly layerVersionArns?: readonly string[];
    }
  | {
      readonly kind: 'efs';
      /** The folder that stands for the function's mount path (`/mnt/deps`). */
      readonly mountRoot: string;
      /** The function's mount path. */
      readonly mountPath: string;
      /** The PYTHONPATH a function sets: absolute paths under `mountPath`. */
      readonly pythonPath: string;
    }
  | {
      readonly kind: 'image';
      /** An OCI image layout folder holding the image. */
      readonly layoutDir?: string;
      /** The same layout in the pipeline's store (read when there is no `layoutDir`). */
      readonly layoutPrefix?: string;
      /** The image URI, for the AWS probe. */
      readonly imageUri?: string;
      /**
       * About what the image's dependency layer holds unpacked (the build's slimmed bytes): the
       * local probe unpacks it in RAM when there is room for twice that.
       */
      readonly unpackedBytes?: number;
    };

/**
 * The Lambda runtime's own packages a build left out (`--exclude-runtime-provided`): in Lambda
 * they sit in /var/runtime, on sys.path after the layers. The local probe, whose interpreter has
 * none of them, installs these (the lock's resolved versions, the build's delivery policy) and
 * puts them after the artifact, as the build's smoke import does; the AWS probe ignores them.
 */
export interface RuntimeStandIn {
  /** The set's lock with only the excluded packages. */
  readonly lock: Lock;
  /** The delivery policy the build followed (its slimming applies to them too). */
  readonly policy: Readonly<Record<string, unknown>>;
}

export interface ProbeRequest {
  readonly target: Target;
  /** The smoke-import list: every top-level module of every distribution in the set. */
  readonly modules: readonly string[];
  readonly artifact: ProbeArtifact;
  /**
   * The local twin may answer with its earlier passed probe of the identical, immutable artifact
   * (the run's cache is on). The AWS probe always runs.
   */
  readonly reuse?: boolean;
  /** What stands in for /var/runtime in a local probe; absent when the build excluded nothing. */
  readonly runtimeStandIn?: RuntimeStandIn;
}

/** The excluded runtime-provided packages of a build, or undefined when it shipped them all. */
export function runtimeStandInOf(manifest: BuildManifest): RuntimeStandIn | undefined {
  const policy = manifest.policy ?? {};
  if (policy['excludeRuntimeProvided'] !== true) return undefined;
  const packages = manifest.lock.packages.filter((locked) => isRuntimeProvided(locked.name));
  return packages.length > 0 ? { lock: { ...manifest.lock, packages }, policy } : undefined;
}

/** What a local probe's result says about its stand-ins: the lock's versions, not the runtime's. */
export function standInNote(standIn: RuntimeStandIn): NonNullable<ProbeResult['runtimeStandIn']> {
  return {
    packages: standIn.lock.packages.map((locked) => ({ name: locked.name, version: locked.version })),
    note: "installed from the set's lock after the artifact, where Lambda's /var/runtime is: these are the versions the lock resolved, not confirmed as the runtime's own",
  };
}

// The result shapes live with the manifest (shared/types.ts), which carries them.
export type { ProbedModule, ProbeResult } from '../shared/types.ts';

/** A result for a probe that could not run here; never counted as ok. */
export function probeNotRun(target: Target, reason: string, where: ProbeResult['where']): ProbeResult {
  return {
    ran: false,
    ok: false,
    from: 'artifact',
    python: null,
    arch: target.architecture,
    modules: [],
    importMs: null,
    reason,
    where,
  };
}

/** One line a person reads: `probe: 14 modules imported on Python 3.11.14 in 812 ms`. */
export function describeProbe(result: ProbeResult): string {
  if (!result.ran) return `not probed: ${result.reason ?? 'no reason given'}`;
  const failed = result.modules.filter((module) => !module.ok);
  const standIn = result.runtimeStandIn?.packages.map((entry) => `${entry.name} ${entry.version}`);
  const where = `${result.where === 'lambda' ? 'on Lambda' : 'from the artifact'}${standIn?.length ? ` (the runtime's packages stood in for by the lock's ${standIn.join(', ')})` : ''}`;
  if (failed.length === 0)
    return `probe: ${result.modules.length} modules imported ${where} on Python ${result.python ?? '?'} in ${Math.round(result.importMs ?? 0)} ms`;
  const first = failed[0];
  return `probe failed: ${failed.length} of ${result.modules.length} modules did not import ${where} on Python ${result.python ?? '?'}; first: ${first?.module}: ${first?.error ?? ''}`;
}

/** The probe function's name: at most 64 characters, unique per probe id (the execution and set). */
export function probeFunctionName(prefix: string, probeId: string): string {
  const digest = sha256Hex(probeId).slice(0, 16);
  return `${prefix.slice(0, 64 - 17)}-${digest}`;
}
