// An OCI image layout (image-spec `image-layout.md`) holding the dependency set as ONE gzip
// layer under the folder the runtime imports from, with its config and manifest. It is the
// image step's local artifact: `pushLambdaImage` puts it on top of a Lambda base image, and
// `skopeo copy oci:DIR docker://…` can push it too. Same tree, same digests: the layer is a
// deterministic tar, and the config carries no timestamps.
import { sha256Hex } from '../../shared/hash.ts';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, IntegrityError } from '../../shared/errors.ts';
import type { Target } from '../../shared/types.ts';
import { writeTreeTar, type ArchivedFile } from '../../pack/tree-archive.ts';

import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from './media-types.ts';

export * from './media-types.ts';

/** The annotation naming a manifest inside index.json (what `oci:DIR:NAME` refers to). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Where Lambda's Python base images keep function code; it is on sys.path already. */
export const LAMBDA_TASK_ROOT = '/var/task';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly architecture: string; readonly os: string; readonly variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The parts of an image config (image-spec `config.md`) lambda-deps reads or writes. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    [key: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  [key: string]: unknown;
}

/**
 * The dependency layer's gzip level. Level 1 against zlib's default 6, on torch's 447 MiB lib
 * folder here: 7.9 s and 142 MB against 22.6 s and 124 MB. The layer is compressed on every
 * image build and uploaded once, in-region; 14 % more bytes cost far less than 15 s of one core.
 */
export const IMAGE_LAYER_GZIP_LEVEL = 1;

export interface CreateDependencyImageLayoutOptions {
  /** The installed dependencies (what goes on sys.path). */
  readonly treeDir: string;
  /** The layout folder to write (created; must not hold another layout). */
  readonly outDir: string;
  readonly target: Target;
  /** Where the tree lands in the image: `/var/task` (on sys.path in Lambda images) or e.g. `/opt/python`. */
  readonly installPrefix: string;
  /** gzip level for the layer, 1 (fast) to 9 (small). Default {@link IMAGE_LAYER_GZIP_LEVEL}. */
  readonly gzipLevel?: number;
  /** Name of the image inside the layout (`oci:DIR:NAME`). Default `latest`. */
  readonly referenceName?: string;
}

export interface DependencyImageLayout {
  readonly layoutDir: string;
  readonly manifestDigest: string;
  readonly layerDigest: string;
  readonly configDigest: string;
  /** sha256 of the uncompressed layer tar (the config's rootfs.diff_ids entry). */
  readonly diffId: string;
  /** Bytes of the gzip layer. */
  readonly layerSize: number;
  /** Bytes of the uncompressed layer tar. */
  readonly layerTarSize: number;
  /**
   * What the layer unpacks to, taken as it was written: each file's sha256 by its path in the
   * tree (under the install prefix), each symlink as `symlink -> <target>`.
   */
  readonly layerFiles: ReadonlyMap<string, string>;
  /** The layer's regular files in its order, by their path in the layer (`var/task/…`). */
  readonly layerFileList: readonly ArchivedFile[];
}

/** The OCI/Go name of a Lambda architecture. */
export function ociArchitecture(target: Target): 'amd64' | 'arm64' {
  return target.architecture === 'arm64' ? 'arm64' : 'amd64';
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** The blob file of a digest inside a layout. */
export function blobPath(layoutDir: string, digest: string): string {
  const match = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!match)
    throw new InputError(`"${digest}" is not a sha256 digest.`, {
      hint: 'Digests look like sha256:<64 hex>.',
    });
  return join(layoutDir, 'blobs', 'sha256', match[1] ?? '');
}

/** JSON as the image spec expects it: compact, keys in the order written, so digests are stable. */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function checkInstallPrefix(prefix: string): string {
  if (!prefix.startsWith('/') || prefix.split('/').includes('..') || prefix === '/') {
    throw new InputError(`Install prefix "${prefix}" is not an absolute folder inside the image.`, {
      hint: 'Use /var/task (Lambda function code, on sys.path) or e.g. /opt/python.',
    });
  }
  return prefix.replace(/\/+$/, '');
}

/** The dependency layer's config: no timestamps, so the same tree gives the same digest. */
export function dependencyImageConfig(options: {
  target: Target;
  installPrefix: string;
  diffId: string;
}): ImageConfig {
  const prefix = checkInstallPrefix(options.installPrefix);
  const env = prefix === LAMBDA_TASK_ROOT ? [] : [`PYTHONPATH=${prefix}`];
  return {
    architecture: ociArchitecture(options.target),
    os: 'linux',
    ...(options.target.architecture === 'arm64' ? { variant: 'v8' } : {}),
    config: env.length > 0 ? { Env: env } : {},
    rootfs: { type: 'layers', diff_ids: [options.diffId] },
    history: [{ created_by: dependencyLayerHistory(options.target, prefix) }],
  };
}

/** The history line the dependency layer carries (also appended to a base image's history). */
export function dependencyLayerHistory(target: Target, installPrefix: string): string {
  const runtime = target.runtime ?? `python${target.pythonVersion}`;
  return `lambda-deps: Python dependencies for ${runtime} ${target.architecture} (glibc ${target.glibc}) under ${installPrefix}`;
}

async function writeBlob(layoutDir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256Digest(bytes);
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { digest, size: bytes.length };
}

/**
 * Write an OCI image layout with the dependency tree as one gzip layer.
 *
 * @example
 *   const layout = await createDependencyImageLayout({ treeDir, outDir: 'out/image', target, installPrefix: '/var/task' });
 *   // skopeo copy oci:out/image:latest docker://…, or pushLambdaImage({ layoutDir: layout.layoutDir, … })
 */
export async function createDependencyImageLayout(
  options: CreateDependencyImageLayoutOptions,
): Promise<DependencyImageLayout> {
  const prefix = checkInstallPrefix(options.installPrefix);
  const layoutDir = options.outDir;
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const scratch = await mkdtemp(join(layoutDir, '.layer-'));
  try {
    const layerFile = join(scratch, 'layer.tar.gz');
    const layer = await writeTreeTar(options.treeDir, layerFile, {
      prefix,
      gzip: true,
      gzipLevel: options.gzipLevel ?? IMAGE_LAYER_GZIP_LEVEL,
      digestEntries: true,
    });
    const diffId = layer.diffId ?? '';
    await rename(layerFile, blobPath(layoutDir, layer.sha256));

    const config = await writeBlob(
      layoutDir,
      canonicalJson(dependencyImageConfig({ target: options.target, installPrefix: prefix, diffId })),
    );
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: layer.sha256, size: layer.size }],
    };
    const manifestBlob = await writeBlob(layoutDir, canonicalJson(manifest));
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: manifestBlob.digest,
          size: manifestBlob.size,
          platform: { architecture: ociArchitecture(options.target), os: 'linux' },
          annotations: { [REF_NAME_ANNOTATION]: options.referenceName ?? 'latest' },
        },
      ],
    };
    await writeFile(join(layoutDir, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layoutDir, 'index.json'), canonicalJson(index));
    return {
      layoutDir,
      manifestDigest: manifestBlob.digest,
      layerDigest: layer.sha256,
      configDigest: config.digest,
      diffId,
      layerSize: layer.size,
      layerTarSize: layer.tarSize,
      layerFiles: layer.entryDigests ?? new Map(),
      layerFileList: (layer.entryFiles ?? []).map((file) => ({
        ...file,
        path: `${prefix.slice(1)}/${file.path}`,
      })),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The image a layout holds: its manifest (bytes and parsed), config and the layout folder. */
export interface LayoutImage {
  readonly layoutDir: string;
  readonly manifestDigest: string;
  readonly manifestBytes: Buffer;
  readonly manifest: ImageManifest;
  readonly configBytes: Buffer;
  readonly config: ImageConfig;
}

/** Read the (first, or the named) image of a layout, checking every digest it reads. */
export async function readLayoutImage(layoutDir: string, referenceName?: string): Promise<LayoutImage> {
  const indexText = await readFile(join(layoutDir, 'index.json'), 'utf8').catch((error: unknown) => {
    throw new InputError(`${layoutDir} is not an OCI image layout (no index.json).`, {
      hint: 'Give the folder createDependencyImageLayout wrote.',
      cause: error,
    });
  });
  const index = JSON.parse(indexText) as { manifests?: Descriptor[] };
  const entry = (index.manifests ?? []).find(
    (candidate) =>
      referenceName === undefined || candidate.annotations?.[REF_NAME_ANNOTATION] === referenceName,
  );
  if (!entry) {
    throw new InputError(
      `${layoutDir}/index.json names no image${referenceName ? ` "${referenceName}"` : ''}.`,
      {
        hint: 'Rebuild the image layout.',
      },
    );
  }
  const manifestBytes = await readVerifiedBlob(layoutDir, entry.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  const configBytes = await readVerifiedBlob(layoutDir, manifest.config.digest);
  return {
    layoutDir,
    manifestDigest: entry.digest,
    manifestBytes,
    manifest,
    configBytes,
    config: JSON.parse(configBytes.toString('utf8')) as ImageConfig,
  };
}

async function readVerifiedBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(blobPath(layoutDir, digest));
  if (sha256Digest(bytes) !== digest) {
    throw new IntegrityError(`Blob ${digest} in ${layoutDir} does not match its digest.`, {
      hint: 'The layout was modified after it was written; rebuild it.',
    });
  }
  return bytes;
}
