// Push a Lambda container image with no Docker: the base image's single-architecture manifest
// (e.g. public.ecr.aws/lambda/python:3.12-arm64) plus the dependency layer from an OCI image
// layout, with a new config (base config + the layer's diff_id + history). Blobs go first and
// only when missing; the manifest (and so the tag) is PUT only after every blob it references
// is confirmed present, so the tag never points at an image with missing blobs, and a second
// attempt after a failure picks up where the first stopped.
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { InputError } from '../../shared/errors.ts';
import { assertBaseGlibc } from './base-image.ts';
import type { Target } from '../../shared/types.ts';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  blobPath,
  canonicalJson,
  ociArchitecture,
  readLayoutImage,
  sha256Digest,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
} from './image-layout.ts';
import {
  RegistryClient,
  RegistryError,
  type BlobSource,
  type RegistryCredentials,
} from './registry-client.ts';

export interface ImageReference {
  /** `public.ecr.aws`, `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `http://127.0.0.1:5000` */
  readonly registryUrl: string;
  readonly repository: string;
  readonly credentials?: RegistryCredentials | null;
}

export type PushEvent =
  | { readonly type: 'blob-skipped'; readonly digest: string; readonly size: number }
  | { readonly type: 'blob-mounted'; readonly digest: string; readonly size: number }
  | { readonly type: 'blob-uploaded'; readonly digest: string; readonly size: number }
  | { readonly type: 'manifest-pushed'; readonly digest: string; readonly tag: string };

export interface PushLambdaImageOptions {
  /** The layout createDependencyImageLayout wrote. */
  readonly layoutDir: string;
  readonly target: Target;
  /**
   * The Lambda base image, or null to push the dependency layer alone. Such an image is only
   * a layer set (no runtime, no entry point): useful in tests, or as a `FROM` for a user's own
   * Dockerfile, but not runnable on Lambda as it is.
   */
  readonly base: (ImageReference & { readonly reference: string }) | null;
  /** Refuse a base whose libc.so.6 is older than this glibc (a base the user named). @default null */
  readonly requireGlibc?: string | null;
  readonly destination: ImageReference & { readonly tag: string };
  readonly onEvent?: (event: PushEvent) => void;
  /** Blobs moved at once. Default 3. */
  readonly concurrency?: number;
  /** Passed to both registry clients (tests shorten the retries). */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** Upload sizing for the destination (see RegistryClientOptions); defaults suit ECR. */
  readonly monolithicMaxBytes?: number;
  readonly chunkSize?: number;
}

export interface PushLambdaImageResult {
  /** `host/repository@sha256:…`, what Lambda's ImageUri takes. */
  readonly imageUri: string;
  /** Manifest digest. */
  readonly digest: string;
  readonly uploadedBlobs: number;
  readonly skippedBlobs: number;
  readonly mountedBlobs: number;
}

/** What ECR's GetAuthorizationToken returns, as registry credentials. */
export interface EcrRegistryCredentials extends RegistryCredentials {
  /** `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com`, when the proxy endpoint was given. */
  readonly registryUrl: string | null;
}

/**
 * Decode ECR's `authorizationData[].authorizationToken` (base64 of `AWS:password`).
 *
 * @example
 *   const { authorizationData } = await ecr.send(new GetAuthorizationTokenCommand({}));
 *   const credentials = ecrRegistryCredentials(authorizationData[0].authorizationToken, authorizationData[0].proxyEndpoint);
 */
export function ecrRegistryCredentials(
  authorizationToken: string,
  proxyEndpoint?: string,
): EcrRegistryCredentials {
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(authorizationToken.trim())
    ? Buffer.from(authorizationToken.trim(), 'base64').toString('utf8')
    : '';
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) {
    throw new InputError('The ECR authorization token is not base64 of "user:password".', {
      hint: 'Pass authorizationData[0].authorizationToken from ECR GetAuthorizationToken as it is.',
    });
  }
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
    registryUrl: proxyEndpoint ?? null,
  };
}

/** A blob the new image references, and where to get it when the destination lacks it. */
interface PlannedBlob {
  readonly digest: string;
  readonly size: number;
  readonly source:
    BlobSource | { readonly kind: 'registry'; readonly client: RegistryClient; readonly repository: string };
}

/**
 * The new image's config: the base config, its layers plus ours in rootfs.diff_ids, a history
 * entry, and PYTHONPATH prepended when the dependency config sets one.
 */
export function stackConfig(base: ImageConfig, dependencies: ImageConfig): ImageConfig {
  const env = [...(base.config?.Env ?? [])];
  for (const entry of dependencies.config?.Env ?? []) {
    const name = entry.slice(0, entry.indexOf('='));
    const value = entry.slice(entry.indexOf('=') + 1);
    const existing = env.findIndex((candidate) => candidate.startsWith(`${name}=`));
    if (existing === -1) env.push(entry);
    else if (name === 'PYTHONPATH')
      env[existing] = `${name}=${value}:${(env[existing] ?? '').slice(name.length + 1)}`;
    else env[existing] = entry;
  }
  return {
    ...base,
    config: { ...(base.config ?? {}), ...(env.length > 0 ? { Env: env } : {}) },
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...dependencies.rootfs.diff_ids] },
    history: [...(base.history ?? []), ...(dependencies.history ?? [])],
  };
}

/** The new manifest, in the base's media type family (Docker schema 2 or OCI). */
export function stackManifest(
  base: ImageManifest & { mediaType: string },
  config: { digest: string; size: number },
  layer: Descriptor,
): ImageManifest {
  const docker = base.mediaType === DOCKER_MANIFEST;
  return {
    schemaVersion: 2,
    mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: config.digest, size: config.size },
    layers: [
      ...base.layers,
      { mediaType: docker ? DOCKER_LAYER_GZIP : OCI_LAYER_GZIP, digest: layer.digest, size: layer.size },
    ],
  };
}

function checkArchitecture(config: ImageConfig, target: Target, where: string): void {
  const wanted = ociArchitecture(target);
  if (config.architecture !== wanted || config.os !== 'linux') {
    throw new InputError(
      `${where} is a ${config.os}/${config.architecture} image; the target needs linux/${wanted}.`,
      {
        hint: `Use the base image for ${target.architecture}, e.g. public.ecr.aws/lambda/python:${target.pythonVersion}-${target.architecture}.`,
      },
    );
  }
}

/**
 * Push the dependency image (on a base, or alone) to a registry; idempotent and resumable.
 * It runs past 150 lines on purpose: it is the push's order of operations written as one
 * sequence (base manifest and checks, blobs mounted or uploaded, config and manifest last, so a
 * tag never names an incomplete image), and its steps share the clients, the progress events
 * and the retry tuning; split apart, the order that makes the push safe would be spread out.
 *
 * @example
 *   await pushLambdaImage({
 *     layoutDir, target,
 *     base: { registryUrl: 'public.ecr.aws', repository: 'lambda/python', reference: '3.12-arm64' },
 *     destination: { registryUrl: ecrUrl, repository: 'deps', tag: lockHash, credentials: ecrRegistryCredentials(token) },
 *   });
 */
export async function pushLambdaImage(options: PushLambdaImageOptions): Promise<PushLambdaImageResult> {
  const tuning = {
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
  };
  const destination = new RegistryClient({
    registryUrl: options.destination.registryUrl,
    credentials: options.destination.credentials ?? null,
    ...tuning,
    ...(options.monolithicMaxBytes !== undefined ? { monolithicMaxBytes: options.monolithicMaxBytes } : {}),
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
  });
  const repository = options.destination.repository;
  const layout = await readLayoutImage(options.layoutDir);
  checkArchitecture(layout.config, options.target, options.layoutDir);
  const dependencyLayer = layout.manifest.layers[layout.manifest.layers.length - 1];
  if (!dependencyLayer || layout.manifest.layers.length !== 1) {
    throw new InputError(`${options.layoutDir} does not hold a single-layer dependency image.`, {
      hint: 'Give the folder createDependencyImageLayout wrote.',
    });
  }
  const fromLayout = (digest: string): BlobSource => ({
    kind: 'file',
    path: blobPath(options.layoutDir, digest),
  });

  let manifestBytes: Buffer;
  let manifestMediaType: string;
  const blobs: PlannedBlob[] = [];
  if (options.base === null) {
    manifestBytes = layout.manifestBytes;
    manifestMediaType = layout.manifest.mediaType;
    blobs.push({
      digest: dependencyLayer.digest,
      size: dependencyLayer.size,
      source: fromLayout(dependencyLayer.digest),
    });
    blobs.push({
      digest: layout.manifest.config.digest,
      size: layout.manifest.config.size,
      source: { kind: 'bytes', bytes: layout.configBytes },
    });
  } else {
    const base = options.base;
    const sameRegistry = new RegistryClient({ registryUrl: base.registryUrl }).origin === destination.origin;
    const baseClient =
      sameRegistry && (base.credentials ?? null) === null
        ? destination
        : new RegistryClient({
            registryUrl: base.registryUrl,
            credentials: base.credentials ?? null,
            ...tuning,
          });
    const where = `${baseClient.host}/${base.repository}:${base.reference}`;
    const baseManifest = await baseClient.getPlatformManifest(
      base.repository,
      base.reference,
      options.target,
    );
    if (baseManifest.mediaType !== OCI_MANIFEST && baseManifest.mediaType !== DOCKER_MANIFEST) {
      throw new RegistryError(`${where} is a ${baseManifest.mediaType}, not an image manifest.`, {
        hint: 'Give a Lambda base image such as public.ecr.aws/lambda/python:3.12-x86_64.',
      });
    }
    const baseImage = { ...(baseManifest.json as ImageManifest), mediaType: baseManifest.mediaType };
    const baseConfig = JSON.parse(
      (await baseClient.getBlobBytes(base.repository, baseImage.config.digest)).toString('utf8'),
    ) as ImageConfig;
    checkArchitecture(baseConfig, options.target, where);
    if (options.requireGlibc) {
      const layers = baseImage.layers.map((layer) => ({
        open: (): Promise<Readable> => baseClient.getBlob(base.repository, layer.digest),
        gzipped: layer.mediaType.includes('gzip'),
      }));
      await assertBaseGlibc(where, layers, options.requireGlibc);
    }
    if (baseConfig.rootfs.diff_ids.length !== baseImage.layers.length) {
      throw new RegistryError(
        `${where} has ${baseImage.layers.length} layers but ${baseConfig.rootfs.diff_ids.length} diff_ids.`,
        {
          hint: 'The base image is malformed; choose another tag.',
        },
      );
    }
    const configBytes = canonicalJson(stackConfig(baseConfig, layout.config));
    const config = { digest: sha256Digest(configBytes), size: configBytes.length };
    const manifest = stackManifest(baseImage, config, dependencyLayer);
    manifestBytes = canonicalJson(manifest);
    manifestMediaType = manifest.mediaType;
    for (const layer of baseImage.layers) {
      blobs.push({
        digest: layer.digest,
        size: layer.size,
        source: { kind: 'registry', client: baseClient, repository: base.repository },
      });
    }
    blobs.push({
      digest: dependencyLayer.digest,
      size: dependencyLayer.size,
      source: fromLayout(dependencyLayer.digest),
    });
    blobs.push({ digest: config.digest, size: config.size, source: { kind: 'bytes', bytes: configBytes } });
  }

  const counts = { uploaded: 0, skipped: 0, mounted: 0 };
  const limit = pLimit(options.concurrency ?? 3);
  const emit = options.onEvent ?? ((): void => undefined);
  await Promise.all(
    blobs.map((blob) =>
      limit(async () => {
        if (await destination.blobExists(repository, blob.digest)) {
          counts.skipped++;
          emit({ type: 'blob-skipped', digest: blob.digest, size: blob.size });
          return;
        }
        const source = blob.source;
        if (source.kind === 'registry') {
          if (
            source.client === destination &&
            (await destination.mountBlob(repository, blob.digest, source.repository))
          ) {
            counts.mounted++;
            emit({ type: 'blob-mounted', digest: blob.digest, size: blob.size });
            return;
          }
          const streamed: BlobSource = {
            kind: 'stream',
            open: (): Promise<Readable> => source.client.getBlob(source.repository, blob.digest),
          };
          await destination.uploadBlob(repository, blob, streamed);
        } else {
          await destination.uploadBlob(repository, blob, source);
        }
        counts.uploaded++;
        emit({ type: 'blob-uploaded', digest: blob.digest, size: blob.size });
      }),
    ),
  );

  // The tag moves only when every blob the manifest names is confirmed in the repository.
  const missing: string[] = [];
  for (const blob of blobs)
    if (!(await destination.blobExists(repository, blob.digest))) missing.push(blob.digest);
  if (missing.length > 0) {
    throw new RegistryError(
      `${destination.host}/${repository} is missing ${missing.join(', ')} after the upload; the tag was not moved.`,
      {
        transient: true,
        hint: 'Run the push again: blobs already there are skipped.',
      },
    );
  }
  const digest = await destination.putManifest(
    repository,
    options.destination.tag,
    manifestBytes,
    manifestMediaType,
  );
  emit({ type: 'manifest-pushed', digest, tag: options.destination.tag });
  return {
    imageUri: `${destination.host}/${repository}@${digest}`,
    digest,
    uploadedBlobs: counts.uploaded,
    skippedBlobs: counts.skipped,
    mountedBlobs: counts.mounted,
  };
}
