// A store object's digest remembered by its identity (functions/adapters/local/object-digests.ts):
// the build that uploads a layer zip remembers it, the local probe reads it instead of hashing
// the zip, and a publish, whose hard link moves the object's ctime, carries it to the new
// identity. Only the very file remembered, at that identity, is ever answered for.
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderObjectStore } from '../../../functions/adapters/local/folder-object-store.ts';
import { LocalLayerRegistry } from '../../../functions/adapters/local/local-layer-registry.ts';
import {
  carryObjectDigest,
  recallObjectDigest,
  rememberObjectDigest,
} from '../../../functions/adapters/local/object-digests.ts';

const DIGEST = 'a'.repeat(64);
let work = '';
let digests = '';
let store: FolderObjectStore;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-object-digests-'));
  digests = join(work, 'cache', 'objects');
  store = new FolderObjectStore(join(work, 'store'));
});
afterEach(() => rm(work, { recursive: true, force: true }));

/** A store object and its identity now. */
async function putObject(key: string, body: string): Promise<{ key: string; identity: string }> {
  await store.putBytes(key, body);
  return { key, identity: (await store.identity(key)) ?? '' };
}

describe('object digests', () => {
  it('answers only for the key and identity remembered, and only with a digest', async () => {
    // Prepare
    const object = await putObject('artifacts/k/layers/layer-1.zip', 'zip bytes');
    await rememberObjectDigest(digests, object, DIGEST);
    await rememberObjectDigest(digests, { ...object, key: 'artifacts/k/other.zip' }, 'not a digest');

    // Act
    const recalled = await recallObjectDigest(digests, object);
    const otherKey = await recallObjectDigest(digests, { ...object, key: 'artifacts/k/other.zip' });
    const otherIdentity = await recallObjectDigest(digests, { ...object, identity: `${object.identity}1` });

    // Assess
    expect([recalled, otherKey, otherIdentity]).toEqual([DIGEST, null, null]);
  });

  it('is carried across the hard link a publish makes, which moves the ctime', async () => {
    // Prepare
    const object = await putObject('artifacts/k/layers/layer-1.zip', 'zip bytes');
    await rememberObjectDigest(digests, object, DIGEST);
    const registry = new LocalLayerRegistry(join(work, 'layers'), store, digests);

    // Act
    await registry.publishLayerVersion({
      layerName: 'lambda-deps-seed-numpy',
      objectKey: object.key,
      objectVersion: null,
      compatibleRuntimes: ['python3.11'],
      compatibleArchitectures: ['x86_64'],
      description: 'numpy',
      licenseInfo: 'MIT',
    });

    // Assess
    const after = (await store.identity(object.key)) ?? '';
    expect(after).not.toBe(object.identity);
    expect(await recallObjectDigest(digests, { key: object.key, identity: after })).toBe(DIGEST);
  });

  it('is not carried to another file, nor across a change of bytes or mtime', async () => {
    // Prepare: one object remembered, then replaced by another file; one written in place
    const replaced = await putObject('artifacts/k/replaced.zip', 'zip bytes');
    await rememberObjectDigest(digests, replaced, DIGEST);
    const newFile = await putObject('artifacts/k/replaced.zip', 'zip bytes');
    const inPlace = await putObject('artifacts/k/in-place.zip', 'zip bytes');
    await rememberObjectDigest(digests, inPlace, DIGEST);
    await writeFile(join(work, 'store', 'artifacts', 'k', 'in-place.zip'), 'zip bytez');
    const later = new Date(Date.now() + 5_000);
    await utimes(join(work, 'store', 'artifacts', 'k', 'in-place.zip'), later, later);
    const rewritten = { key: inPlace.key, identity: (await store.identity(inPlace.key)) ?? '' };

    // Act
    await carryObjectDigest(digests, replaced.key, replaced.identity, newFile.identity);
    await carryObjectDigest(digests, inPlace.key, inPlace.identity, rewritten.identity);

    // Assess
    expect(await recallObjectDigest(digests, newFile)).toBeNull();
    expect(await recallObjectDigest(digests, rewritten)).toBeNull();
  });
});
