// A small synthetic base image for --base-image tests: one amd64 layer whose lib64/libc.so.6
// carries glibc's banner for a chosen version, pushed to a registry on 127.0.0.1 as
// `base/custom:<tag>` (no public base can be fetched here).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  canonicalJson,
  sha256Digest,
  type ImageConfig,
  type ImageManifest,
} from '../../../functions/core/deliver/oci/image-layout.ts';
import { RegistryClient } from '../../../functions/core/deliver/oci/registry-client.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';

/** Push a one-layer amd64 base whose lib64/libc.so.6 carries glibc's banner for `glibc`; returns its layer digest. */
export async function pushSyntheticBase(
  registryUrl: string,
  work: string,
  tag: string,
  glibc: string,
): Promise<string> {
  const tree = join(work, `base-${tag}`);
  await mkdir(join(tree, 'lib64'), { recursive: true });
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc', 'os-release'), 'NAME="Synthetic"\n');
  await writeFile(
    join(tree, 'lib64', 'libc.so.6'),
    `\x7fELF…GNU C Library (GNU libc) stable release version ${glibc}.\n`,
  );
  const path = join(work, `base-${tag}.tar.gz`);
  const layer = await writeTreeTar(tree, path, { gzip: true });
  const client = new RegistryClient({ registryUrl });
  await client.uploadBlob('base/custom', { digest: layer.sha256, size: layer.size }, { kind: 'file', path });
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/bin'], WorkingDir: '/var/task' },
    rootfs: { type: 'layers', diff_ids: [layer.diffId ?? ''] },
    history: [{ created_by: 'synthetic base' }],
  };
  const configBytes = canonicalJson(config);
  const configDigest = sha256Digest(configBytes);
  await client.uploadBlob(
    'base/custom',
    { digest: configDigest, size: configBytes.length },
    { kind: 'bytes', bytes: configBytes },
  );
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: OCI_LAYER_GZIP, digest: layer.sha256, size: layer.size }],
  };
  await client.putManifest('base/custom', tag, canonicalJson(manifest), OCI_MANIFEST);
  return layer.sha256;
}
