// SyncEfs and SwitchEfs (one Lambda in the VPC with the access point mounted under /mnt/…, two
// states). Publish: unpacks the built tree as a complete version beside the live one, which
// nothing reads yet (the Probe imports it there). Switch: points `<set>/current` at it
// atomically (the core's versioned layout), keeps the configured number of old versions, and
// reports the PYTHONPATH and what a function must mount.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import type { FileSystemMount } from '../adapters/ports.ts';
import { stageVersionedTree, switchToVersion } from '../core/deliver/efs-tree.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';
import type { ProbeResult } from '../core/probe/index.ts';
import { probePassedBeforeSwitch } from '../pipeline-probe.ts';

export interface EfsDelivery {
  readonly strategy: 'efs';
  readonly versionDir: string;
  readonly currentPath: string;
  /** Set this as PYTHONPATH on the function (it mounts the access point at the same path): the version folder. */
  readonly pythonPath: string;
  /** The same through `current` (follows each switch; a warm function could mix versions). */
  readonly currentPythonPath: string;
  /** The same folder through this step's own mount (a local folder in local runs). */
  readonly importPath: string;
  readonly reused: boolean;
  readonly removedVersions: readonly string[];
  readonly mount: FileSystemMount;
  /** False after the publish phase (staged); true once `current` points at the version. */
  readonly switched: boolean;
  /** The probe that passed before `current` was switched (the switch phase's result). */
  readonly probe?: ProbeResult;
}

async function syncEfsStep(
  input: z.output<typeof deliveryInputSchema>,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<EfsDelivery> {
  const manifest = await readManifest(dependencies.adapters.store, input.route.manifestKey);
  // The tar may hold the packages under a folder (`site-packages/`): the manifest names it.
  const inside = manifest.efs?.pythonPath ?? '';
  return input.phase === 'switch'
    ? switchEfs(input, dependencies, inside, logger)
    : stageEfs(input, dependencies, manifest, inside, logger);
}

/** Unpacks the tree as a complete version beside the live one; `current` stays where it is. */
async function stageEfs(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  manifest: Awaited<ReturnType<typeof readManifest>>,
  inside: string,
  logger: Logger,
): Promise<EfsDelivery> {
  const { measure } = input;
  const tarKey = artifactKey(measure.artifactPrefix, manifest.efs?.tree ?? 'efs/site-packages.tar');
  const workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-efs-'));
  try {
    const tarPath = join(workDir, 'tree.tar');
    await adapters.store.getToFile(tarKey, tarPath);
    const staged = await stageVersionedTree({
      mountRoot: adapters.fileSystem.mountRoot,
      setName: measure.name,
      lockHash: measure.lockHash,
      tarPath,
      keep: settings.keepEfsVersions,
      functionMountPath: settings.efsMountPath,
    });
    logger.info('EFS version staged', { versionDir: staged.versionDir, reused: staged.reused });
    return efsDelivery(staged, inside, [], await adapters.fileSystem.describe(), false);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** After the Probe passed: `current` points at the staged version, and old versions beyond `keep` go. */
async function switchEfs(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  inside: string,
  logger: Logger,
): Promise<EfsDelivery> {
  const { measure } = input;
  const probe = probePassedBeforeSwitch(input);
  const { removed, ...paths } = await switchToVersion({
    mountRoot: adapters.fileSystem.mountRoot,
    setName: measure.name,
    lockHash: measure.lockHash,
    keep: settings.keepEfsVersions,
    functionMountPath: settings.efsMountPath,
  });
  const staged = { ...paths, reused: (input.delivery as { reused?: unknown } | undefined)?.reused === true };
  logger.info('EFS tree switched', { currentPath: staged.currentPath, removed });
  return { ...efsDelivery(staged, inside, removed, await adapters.fileSystem.describe(), true), probe };
}

function efsDelivery(
  staged: Omit<EfsDelivery, 'strategy' | 'importPath' | 'removedVersions' | 'mount' | 'switched'>,
  inside: string,
  removedVersions: readonly string[],
  mount: FileSystemMount,
  switched: boolean,
): EfsDelivery {
  return {
    strategy: 'efs',
    versionDir: staged.versionDir,
    currentPath: staged.currentPath,
    pythonPath: inside ? posix.join(staged.pythonPath, inside) : staged.pythonPath,
    currentPythonPath: inside ? posix.join(staged.currentPythonPath, inside) : staged.currentPythonPath,
    // Before the switch, the version itself; after it, through `current` (as a reader would).
    importPath: join(switched ? staged.currentPath : staged.versionDir, inside),
    reused: staged.reused,
    removedVersions,
    mount,
    switched,
  };
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'sync-efs', inputSchema: deliveryInputSchema, run: syncEfsStep },
    provide,
    logger,
  );
}

export const handler = createHandler(await awsDependenciesWhenInLambda(['EFS_MOUNT_PATH']));
