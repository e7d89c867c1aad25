// SyncEfs (Lambda, in the VPC with the access point mounted under /mnt/…): unpacks the
// built tree beside the live one and switches `<set>/current` atomically (the core's
// versioned layout), keeps the configured number of old versions, and reports the
// PYTHONPATH and what a function must mount.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import {
  awsDependenciesWhenInLambda,
  type StepDependencies,
  type StepDependenciesProvider,
} from '../adapters/aws/aws-adapters.ts';
import type { FileSystemMount } from '../adapters/ports.ts';
import { syncVersionedTree } from '../core/deliver/efs-tree.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';
import type { ProbeResult } from '../core/probe/index.ts';
import { executionNameOf, probeBeforeSwitch } from '../pipeline-probe.ts';

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
  /** The probe that ran before `current` was switched. */
  readonly probe?: ProbeResult;
}

async function syncEfsStep(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  logger: Logger,
): Promise<EfsDelivery> {
  const { measure } = input;
  const manifest = await readManifest(adapters.store, input.route.manifestKey);
  const tarKey = artifactKey(measure.artifactPrefix, manifest.efs?.tree ?? 'efs/site-packages.tar');
  const workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-efs-'));
  try {
    const tarPath = join(workDir, 'tree.tar');
    await adapters.store.getToFile(tarKey, tarPath);
    // The tar may hold the packages under a folder (`site-packages/`): the manifest names it.
    const inside = manifest.efs?.pythonPath ?? '';
    let probe: ProbeResult | undefined;
    const result = await syncVersionedTree({
      // The Probe imports the new version through the PYTHONPATH a function would set, before `current` moves.
      beforeSwitch: async () => {
        const versionPath = posix.join(settings.efsMountPath, measure.name, measure.lockHash);
        probe = await probeBeforeSwitch({
          adapters,
          manifest,
          artifact: {
            kind: 'efs',
            mountRoot: adapters.fileSystem.mountRoot,
            mountPath: settings.efsMountPath,
            pythonPath: inside ? posix.join(versionPath, inside) : versionPath,
          },
          probeId: `${executionNameOf(input)}/${measure.name}`,
          requireProbe: false,
        });
      },
      mountRoot: adapters.fileSystem.mountRoot,
      setName: measure.name,
      lockHash: measure.lockHash,
      tarPath,
      keep: settings.keepEfsVersions,
      functionMountPath: settings.efsMountPath,
    });
    const mount = await adapters.fileSystem.describe();
    logger.info('EFS tree switched', { currentPath: result.currentPath, reused: result.reused });
    return {
      strategy: 'efs',
      versionDir: result.versionDir,
      currentPath: result.currentPath,
      pythonPath: inside ? posix.join(result.pythonPath, inside) : result.pythonPath,
      currentPythonPath: inside ? posix.join(result.currentPythonPath, inside) : result.currentPythonPath,
      importPath: inside ? join(result.currentPath, inside) : result.currentPath,
      reused: result.reused,
      removedVersions: result.removed,
      mount,
      ...(probe ? { probe } : {}),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'sync-efs', inputSchema: deliveryInputSchema, run: syncEfsStep },
    provide,
    logger,
  );
}

export const handler = createHandler(awsDependenciesWhenInLambda(['EFS_MOUNT_PATH']));
