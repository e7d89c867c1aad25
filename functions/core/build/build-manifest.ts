// The build manifest: what was built and why, assembled from the steps' results: sizes,
// slimming per rule, verification, smoke import, the route and its artifacts, per-package bytes.
import { isPublishable, type Route } from '../route/choose-route.ts';
import type { DeliveryPolicy } from '../route/delivery-policy.ts';
import { deliveryPolicyHash } from '../route/delivery-policy.ts';
import { lockHash } from '../resolve/lock.ts';
import type { BuildManifest, Lock, PackageBreakdown, Strategy } from '../shared/types.ts';
import { formatBytes } from '../shared/units.ts';
import type { VerifyArtifactResult } from '../verify/artifact-verifier.ts';
import type { SmokeImportResult } from '../verify/smoke-import.ts';
import type { BuildContext } from './build-events.ts';
import type { InstalledEntry } from './install-set.ts';
import type { PackedArtifacts } from './pack-artifacts.ts';
import { isRuntimeProvided } from './slim-policy.ts';
import { SITE_DIR } from './tree-files.ts';
import type { InstalledPackage } from './wheel-installer.ts';

export interface ManifestInput {
  readonly lock: Lock;
  readonly policy: DeliveryPolicy;
  readonly installed: readonly InstalledEntry[];
  readonly packed: readonly InstalledPackage[];
  readonly strategy: Strategy;
  readonly route: Route;
  readonly artifacts: PackedArtifacts;
  readonly verification: VerifyArtifactResult;
  readonly smoke: SmokeImportResult;
  readonly context: BuildContext;
}

function biggestFolders(installed: InstalledPackage): { path: string; bytes: number }[] {
  const folders = new Map<string, number>();
  for (const file of installed.files) {
    const parts = file.path.split('/');
    const key =
      parts[0] === SITE_DIR ? parts.slice(1, Math.min(parts.length - 1, 3)).join('/') : (parts[0] ?? '');
    if (key === '') continue;
    folders.set(key, (folders.get(key) ?? 0) + file.size);
  }
  return [...folders.entries()]
    .map(([path, bytes]) => ({ path, bytes }))
    .sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path))
    .slice(0, 5);
}

/** Files and bytes each slimming rule removed (and what the runtime provides, when left out). */
function slimmingOf(input: ManifestInput): BuildManifest['slimming'] {
  const rules = new Map<string, { files: number; bytes: number }>();
  for (const pkg of input.packed) {
    for (const removed of pkg.removed) {
      const current = rules.get(removed.rule) ?? { files: 0, bytes: 0 };
      rules.set(removed.rule, { files: current.files + removed.files, bytes: current.bytes + removed.bytes });
    }
  }
  const excluded = input.installed.filter((entry) => entry.runtimeProvided).map((entry) => entry.result);
  if (excluded.length > 0) {
    rules.set('runtime-provided', {
      files: excluded.reduce((sum, pkg) => sum + pkg.files.length, 0),
      bytes: excluded.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0),
    });
  }
  const ruleList = [...rules.entries()]
    .map(([rule, totals]) => ({ rule, ...totals }))
    .sort((a, b) => a.rule.localeCompare(b.rule));
  return {
    removedFiles: ruleList.reduce((sum, rule) => sum + rule.files, 0),
    removedBytes: ruleList.reduce((sum, rule) => sum + rule.bytes, 0),
    rules: ruleList,
  };
}

/** Packed packages as shipped (after any precompiling or stripping); excluded ones as installed. */
function breakdownOf(input: ManifestInput): PackageBreakdown[] {
  const shipped = new Map(input.packed.map((pkg) => [pkg.name, pkg]));
  return input.installed.map(({ result }) => {
    const final = shipped.get(result.name) ?? result;
    return {
      name: final.name,
      version: final.version,
      installedBytes: final.installedBytes,
      slimmedBytes: final.slimmedBytes,
      folders: biggestFolders(final),
      layer: input.artifacts.layerOf.get(final.name) ?? null,
    };
  });
}

/** Says how much of the set the runtime already has, when it is shipped anyway. */
export function warnAboutRuntimeProvided(input: ManifestInput): void {
  const bytes = input.installed
    .filter((entry) => isRuntimeProvided(entry.result.name))
    .reduce((sum, entry) => sum + entry.result.slimmedBytes, 0);
  if (!input.policy.excludeRuntimeProvided && bytes > 0) {
    input.context.warn(
      `${formatBytes(bytes)} of this set is what the Lambda runtime already provides (boto3 and its dependencies); --exclude-runtime-provided would leave it out.`,
    );
  }
}

export function assembleManifest(input: ManifestInput, totalMs: number): BuildManifest {
  const { lock, verification, smoke, artifacts } = input;
  const ok = isPublishable({ verification, smokeImport: smoke });
  const problems = [...verification.problems];
  const builtFromSdist = input.installed.flatMap((entry) =>
    entry.builtFromSdist ? [entry.builtFromSdist] : [],
  );
  return {
    lockHash: lockHash(lock),
    ...(builtFromSdist.length > 0 ? { builtFromSdist } : {}),
    policyHash: deliveryPolicyHash(input.policy),
    policy: input.policy,
    lock,
    target: lock.target,
    strategy: input.strategy,
    route: {
      layerCount: input.route.layerCount,
      slots: input.route.slots ?? 0,
      budgetBytes: input.route.budgetBytes,
    },
    reason: ok
      ? input.route.reason
      : `not published: ${!verification.ok ? `verification found ${problems.length} problem(s)` : `smoke import failed for ${smoke.failures.length} module(s)`}`,
    sizes: {
      wheels: lock.packages.reduce((sum, locked) => sum + locked.size, 0),
      installed: input.installed.reduce((sum, entry) => sum + entry.result.installedBytes, 0),
      slimmed: input.packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0),
    },
    slimming: slimmingOf(input),
    layers: artifacts.layers,
    efs: artifacts.efs,
    image: artifacts.image,
    verification: {
      ok: verification.ok,
      problems,
      filesChecked: verification.filesChecked,
      elfFiles: verification.elfFiles,
      symbolVersionsChecked: verification.symbolVersionsChecked,
    },
    smokeImport: {
      ran: smoke.ran,
      ok: smoke.ok,
      ...(smoke.reason ? { reason: smoke.reason } : {}),
      ...(smoke.isolation ? { isolation: smoke.isolation } : {}),
      modules: smoke.modules,
      ...(smoke.reused ? { reused: smoke.reused } : {}),
      ...(smoke.moduleNames ? { moduleNames: [...smoke.moduleNames] } : {}),
      failures: smoke.failures.map((failure) => ({
        module: failure.module,
        package: failure.package,
        error: failure.error,
      })),
    },
    timings: { ...input.context.timings, total: totalMs },
    packages: breakdownOf(input),
    warnings: input.context.warnings,
  };
}
