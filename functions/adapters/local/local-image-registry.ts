// Image destinations on a laptop: any registry reachable over HTTP(S) (`--registry
// http://127.0.0.1:5000`, anonymous), or else an OCI image layout folder per tag. The layout
// folders keep ECR's rules for the repository lambda-deps creates: a tag is immutable (the same
// image again is fine, another one is refused) and Lambda takes single-architecture images only.
import { cp, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { InputError } from '../../core/shared/errors.ts';
import type { Descriptor } from '../../core/deliver/oci/image-layout.ts';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../../core/deliver/oci/media-types.ts';
import type { ImageDestination, ImageRegistry } from '../ports.ts';
import { ServiceLimitError } from '../twin/service-limits.ts';

const SINGLE_IMAGE_MEDIA_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];

/** The one image manifest a layout's index.json names; a list, an index or several are refused. */
async function singleImageDigest(layoutDir: string): Promise<string> {
  const text = await readFile(join(layoutDir, 'index.json'), 'utf8').catch((error: unknown) => {
    throw new InputError(`${layoutDir} is not an OCI image layout (no index.json).`, {
      hint: 'Rebuild the image layout.',
      cause: error,
    });
  });
  const manifests = (JSON.parse(text) as { manifests?: Descriptor[] }).manifests ?? [];
  const [only] = manifests;
  if (manifests.length !== 1 || !only || !SINGLE_IMAGE_MEDIA_TYPES.includes(only.mediaType)) {
    const kinds = manifests.map((entry) => entry.mediaType).join(', ') || 'none';
    throw new ServiceLimitError(
      'InvalidParameterValueException',
      `${layoutDir} holds ${manifests.length} manifests (${kinds}); Lambda takes one single-architecture image manifest, not a manifest list or index.`,
      'Build the image for the function’s one architecture.',
    );
  }
  return only.digest;
}

/** The digest a layout folder already holds under a tag, or null when the tag is free. */
async function existingDigest(layoutDir: string): Promise<string | null> {
  try {
    await readFile(join(layoutDir, 'index.json'));
  } catch {
    return null;
  }
  return singleImageDigest(layoutDir);
}

function tagTaken(tag: string, held: string, offered: string): ServiceLimitError {
  return new ServiceLimitError(
    'ImageTagAlreadyExistsException',
    `The image tag '${tag}' already exists in this repository with ${held}, and the repository's tags are immutable; ${offered} was refused.`,
    'Tags carry the lock hash, so another digest means another build of the same lock: remove the old tag on purpose or keep the image it names.',
  );
}

export class LocalImageRegistry implements ImageRegistry {
  private readonly registryUrl: string | null;

  constructor(
    private readonly options: { registry?: string | null; layoutRoot: string; repository: string },
  ) {
    const registry = options.registry ?? null;
    if (registry !== null && !/^https?:\/\/[^/]+\/?$/.test(registry)) {
      throw new InputError(`Registry "${registry}" is not a URL like http://127.0.0.1:5000.`, {
        hint: 'Give --registry the registry root, without a repository path.',
      });
    }
    this.registryUrl = registry?.replace(/\/$/, '') ?? null;
  }

  async destination(tag: string): Promise<ImageDestination> {
    if (this.registryUrl) {
      return {
        kind: 'registry',
        registryUrl: this.registryUrl,
        repository: this.options.repository,
        tag,
        credentials: { kind: 'anonymous' },
      };
    }
    return { kind: 'layout', layoutDir: this.layoutDirOf(tag), tag };
  }

  private layoutDirOf(tag: string): string {
    return join(resolve(this.options.layoutRoot), tag);
  }

  /**
   * Stores a layout under `tag` as ECR would: one single-architecture manifest, and a tag that
   * already names an image keeps it (the same digest again succeeds, another is refused).
   */
  async putLayout(tag: string, sourceDir: string): Promise<{ layoutDir: string; digest: string }> {
    const digest = await singleImageDigest(sourceDir);
    const layoutDir = this.layoutDirOf(tag);
    const held = await existingDigest(layoutDir);
    if (held !== null) {
      if (held !== digest) throw tagTaken(tag, held, digest);
      return { layoutDir, digest };
    }
    // Copied beside, then renamed in: a tag names a whole layout or nothing.
    const staging = `${layoutDir}.${process.pid}-${Date.now()}.partial`;
    await mkdir(dirname(layoutDir), { recursive: true });
    await cp(sourceDir, staging, { recursive: true });
    try {
      await rm(layoutDir, { recursive: true, force: true });
      await rename(staging, layoutDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      // Another run put the tag in meanwhile: its digest decides, as ECR's PutImage would.
      const raced = await existingDigest(layoutDir);
      if (raced === digest) return { layoutDir, digest };
      if (raced !== null) throw tagTaken(tag, raced, digest);
      throw error;
    }
    return { layoutDir, digest };
  }
}
