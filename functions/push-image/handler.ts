// PushImage (Lambda): pushes the built OCI layout as a Lambda image, the base image's
// single-architecture manifest plus the dependency layer, over the registry HTTP API with
// an ECR token (no Docker). Blobs already in the repository are not sent again, and the tag
// is written last. Locally the destination is a registry URL or an OCI layout folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import { pushLambdaImage, type ImageReference } from '../core/deliver/oci/push-image.ts';
import { chooseBaseImage, parseImageReference } from '../core/deliver/oci/base-image.ts';
import { pushProbeImage } from '../core/deliver/oci/probe-image.ts';
import { PROBE_SOURCE } from '../probe-runtime/probe-source.ts';
import { InputError } from '../core/shared/errors.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';

export interface ImageDelivery {
  readonly strategy: 'image';
  /** `host/repository@sha256:…` for a registry; the layout folder locally. */
  readonly imageUri: string;
  readonly digest: string;
  readonly tag: string;
  readonly uploadedBlobs: number;
  readonly skippedBlobs: number;
  /**
   * The same image plus probe.py in /var/task (tag `<tag>-probe`), which the AWS Probe runs; the
   * set's image itself carries no probe code. Absent for a layout folder (the local probe reads it).
   */
  readonly probeImageUri?: string;
}

/** `public.ecr.aws/lambda/python` + `3.12-arm64` → where the base image is (kept for callers). */
export function baseImageReference(
  repository: string,
  pythonVersion: string,
  architecture: string,
): (ImageReference & { reference: string }) | null {
  if (repository.trim() === '') return null;
  return parseImageReference(`${repository}:${pythonVersion}-${architecture}`);
}

async function pushImageStep(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  logger: Logger,
): Promise<ImageDelivery> {
  const { measure } = input;
  const manifest = await readManifest(adapters.store, input.route.manifestKey);
  const layoutPrefix = artifactKey(measure.artifactPrefix, manifest.image?.layout ?? 'image/').replace(
    /\/?$/,
    '/',
  );
  const tag = `${measure.name}-${measure.lockHash.slice(0, 12)}`;
  const workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-image-'));
  try {
    const layoutDir = join(workDir, 'layout');
    const layoutKeys = await adapters.store.list(layoutPrefix);
    if (layoutKeys.length === 0) {
      throw new InputError(`The build wrote no image layout under ${layoutPrefix}.`, {
        hint: 'The build chose the image route but packed nothing; look at the build log.',
      });
    }
    for (const key of layoutKeys)
      await adapters.store.getToFile(key, join(layoutDir, key.slice(layoutPrefix.length)));
    const destination = await adapters.images.destination(tag);
    if (destination.kind === 'layout') {
      // No registry: the OCI layout itself is the deliverable (skopeo/crane can push it later).
      // The local registry keeps ECR's rules there: immutable tags, single-architecture images.
      if (!adapters.images.putLayout) throw new Error('This image registry stores no layout folders.');
      await adapters.images.putLayout(tag, layoutDir);
      const digest = manifest.image?.digest ?? '';
      return {
        strategy: 'image',
        imageUri: `oci:${destination.layoutDir}`,
        digest,
        tag,
        uploadedBlobs: 0,
        skippedBlobs: 0,
      };
    }
    // Python 3.10/3.11 on Amazon Linux 2, 3.12+ on 2023; a custom glibc target on the named base.
    const chosen = chooseBaseImage(manifest.target, {
      repository: settings.baseImageRepository,
      customBaseImage: settings.customBaseImage ?? null,
    });
    const result = await pushLambdaImage({
      layoutDir,
      target: manifest.target,
      base: chosen?.base ?? null,
      requireGlibc: chosen?.requireGlibc ?? null,
      destination: {
        registryUrl: destination.registryUrl,
        repository: destination.repository,
        tag,
        credentials: destination.credentials.kind === 'basic' ? destination.credentials : null,
      },
    });
    const probeImage = await pushProbeImage({
      destination: {
        registryUrl: destination.registryUrl,
        repository: destination.repository,
        credentials: destination.credentials.kind === 'basic' ? destination.credentials : null,
      },
      imageDigest: result.digest,
      tag: `${tag}-probe`,
      probeSource: PROBE_SOURCE,
    });
    logger.info('image pushed', { imageUri: result.imageUri, probeImageUri: probeImage.imageUri });
    return {
      strategy: 'image',
      imageUri: result.imageUri,
      digest: result.digest,
      tag,
      uploadedBlobs: result.uploadedBlobs,
      skippedBlobs: result.skippedBlobs,
      probeImageUri: probeImage.imageUri,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'push-image', inputSchema: deliveryInputSchema, run: pushImageStep },
    provide,
    logger,
  );
}

export const handler = createHandler(await awsDependenciesWhenInLambda(['ECR_REPOSITORY_URI']));
