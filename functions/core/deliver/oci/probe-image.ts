// The image the AWS Probe runs for the image route: the pushed set image plus one small layer
// holding probe.py in /var/task, tagged `<tag>-probe`. The set's own image stays exactly what
// was built (no probe code ships to users); the probe image shares every other blob with it, so
// the push costs one layer of a few kilobytes, its config and a manifest.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTreeTar } from '../../pack/tree-archive.ts';
import {
  canonicalJson,
  OCI_LAYER_GZIP,
  sha256Digest,
  type ImageConfig,
  type ImageManifest,
} from './image-layout.ts';
import { stackConfig, stackManifest, type ImageReference } from './push-image.ts';
import { RegistryClient, RegistryError } from './registry-client.ts';

export interface PushProbeImageOptions {
  readonly destination: ImageReference;
  /** The manifest digest of the set's image, already pushed to `destination`. */
  readonly imageDigest: string;
  /** The probe image's tag. */
  readonly tag: string;
  /** probe.py's text, which becomes /var/task/probe.py (the handler `probe.handler`). */
  readonly probeSource: string;
}

/** The probe layer as a gzipped tar in a scratch folder: var/task/probe.py, normalized. */
async function probeLayer(scratch: string, probeSource: string) {
  const tree = join(scratch, 'tree');
  await mkdir(tree, { recursive: true });
  await writeFile(join(tree, 'probe.py'), probeSource);
  const path = join(scratch, 'probe-layer.tar.gz');
  const layer = await writeTreeTar(tree, path, { prefix: 'var/task', gzip: true });
  return { path, digest: layer.sha256, size: layer.size, diffId: layer.diffId ?? '' };
}

/**
 * Pushes `<set image> + probe.py` under `tag` and returns its `host/repository@digest`.
 * @example await pushProbeImage({ destination, imageDigest: pushed.digest, tag: `${tag}-probe`, probeSource: PROBE_SOURCE })
 */
export async function pushProbeImage(
  options: PushProbeImageOptions,
): Promise<{ imageUri: string; digest: string }> {
  const { repository } = options.destination;
  const client = new RegistryClient({
    registryUrl: options.destination.registryUrl,
    credentials: options.destination.credentials ?? null,
  });
  const fetched = await client.getManifest(repository, options.imageDigest);
  const manifest = fetched.json as ImageManifest;
  if (!Array.isArray(manifest.layers) || !manifest.config) {
    throw new RegistryError(`${client.host}/${repository}@${options.imageDigest} is not an image manifest.`, {
      hint: 'Push the set image again; the probe image is made from it.',
    });
  }
  const config = JSON.parse(
    (await client.getBlobBytes(repository, manifest.config.digest)).toString('utf8'),
  ) as ImageConfig;
  const scratch = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-image-'));
  try {
    const layer = await probeLayer(scratch, options.probeSource);
    // The probe layer stacked on the set image the way the set's layer was stacked on its base.
    const configBytes = canonicalJson(
      stackConfig(config, {
        ...config,
        config: {},
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{ created_by: 'lambda-deps: probe.py in /var/task (probe only)' }],
      }),
    );
    const configDescriptor = { digest: sha256Digest(configBytes), size: configBytes.length };
    const probeManifest = stackManifest({ ...manifest, mediaType: fetched.mediaType }, configDescriptor, {
      mediaType: OCI_LAYER_GZIP,
      digest: layer.digest,
      size: layer.size,
    });
    await client.uploadBlob(repository, layer, { kind: 'file', path: layer.path });
    await client.uploadBlob(repository, configDescriptor, { kind: 'bytes', bytes: configBytes });
    const digest = await client.putManifest(
      repository,
      options.tag,
      canonicalJson(probeManifest),
      fetched.mediaType,
    );
    return { imageUri: `${client.host}/${repository}@${digest}`, digest };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
