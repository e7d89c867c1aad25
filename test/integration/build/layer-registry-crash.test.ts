// The local layer registry publishes a zip and then names it in layers/versions.json. A failure
// injected at each of its writes and renames in turn must never leave a version that names a
// missing zip (which used to make later runs time out after 122 s), and the next publish must
// succeed with the same bytes.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import {
  LocalLayerRegistry,
  type LocalLayerVersionsFile,
} from '../../../functions/adapters/local/local-layer-registry.ts';
import {
  InjectedFailure,
  injectFailureAt,
  publishingSteps,
} from '../../../functions/core/shared/atomic-write.ts';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import { recordReliability } from '../../support/reliability-log.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-registry-'));
});
afterAll(async () => {
  injectFailureAt(null);
  await rm(work, { recursive: true, force: true });
});

const request = {
  layerName: 'numpy',
  objectKey: 'artifacts/x/layers/layer-numpy.zip',
  objectVersion: null,
  description: 'numpy',
  compatibleRuntimes: ['python3.11'],
  compatibleArchitectures: ['x86_64' as const],
  licenseInfo: 'BSD',
};

/** Every version in versions.json whose zip is missing. */
async function dangling(registry: LocalLayerRegistry): Promise<string[]> {
  const text = await readFile(registry.versionsPath, 'utf8').catch(() => '{"layers":{}}');
  const file = JSON.parse(text) as LocalLayerVersionsFile;
  const missing: string[] = [];
  for (const record of Object.values(file.layers).flat())
    if (!(await stat(record.file).catch(() => null))) missing.push(record.layerVersionArn);
  return missing;
}

describe('the local layer registry', () => {
  it('never names a missing zip when publishing fails at any write or rename, and the next publish succeeds', async () => {
    // Prepare
    const zip = Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'));
    const storeDir = await mkdtemp(join(work, 'store-'));
    const store = new FolderObjectStore(storeDir);
    await store.putBytes(request.objectKey, zip);
    injectFailureAt(null);
    await new LocalLayerRegistry(await mkdtemp(join(work, 'count-')), store).publishLayerVersion(request);
    const steps = publishingSteps();
    expect(steps).toBeGreaterThanOrEqual(3);

    for (let step = 1; step <= steps; step++) {
      const registry = new LocalLayerRegistry(await mkdtemp(join(work, 'layers-')), store);
      // Act
      injectFailureAt(step);
      const failed = await registry.publishLayerVersion(request).catch((error: unknown) => error);
      injectFailureAt(null);
      const afterFailure = await dangling(registry);
      const published = await registry.publishLayerVersion(request);

      // Assess
      expect(failed).toBeInstanceOf(InjectedFailure);
      expect(afterFailure).toEqual([]);
      expect(await dangling(registry)).toEqual([]);
      const file = JSON.parse(await readFile(registry.versionsPath, 'utf8')) as LocalLayerVersionsFile;
      const record = file.layers.numpy?.find((entry) => entry.version === published.version);
      expect(sha256Hex(await readFile(record?.file ?? ''))).toBe(sha256Hex(zip));
    }
    recordReliability({
      area: 'interrupted runs',
      experiment: `local layer registry: a failure at each of ${steps} write/rename steps of publishing; no version names a missing zip, the next publish succeeds with the same bytes`,
      cases: steps,
      faultsInjected: steps,
      runs: steps * 2,
      lost: 'nothing',
    });
  });

  it('keeps a published version byte for byte when its object is replaced or deleted, sharing the object file until then', async () => {
    // Prepare
    const original = Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'));
    const store = new FolderObjectStore(await mkdtemp(join(work, 'store-')));
    await store.putBytes(request.objectKey, original);
    const registry = new LocalLayerRegistry(await mkdtemp(join(work, 'immutable-')), store);
    const versionFile = async (version: number): Promise<string> => {
      const file = JSON.parse(await readFile(registry.versionsPath, 'utf8')) as LocalLayerVersionsFile;
      return file.layers.numpy?.find((entry) => entry.version === version)?.file ?? '';
    };

    // Act
    const first = await registry.publishLayerVersion(request);
    const linked = (await stat(await versionFile(first.version))).ino;
    const objectFile = (await stat(join(store.root, ...request.objectKey.split('/')))).ino;
    await store.putBytes(request.objectKey, Buffer.from('other bytes under the same key'));
    const second = await registry.publishLayerVersion(request);
    await store.delete(request.objectKey);

    // Assess
    expect(linked).toBe(objectFile);
    expect(sha256Hex(await readFile(await versionFile(first.version)))).toBe(sha256Hex(original));
    expect((await readFile(await versionFile(second.version))).toString()).toBe(
      'other bytes under the same key',
    );
  });
});
