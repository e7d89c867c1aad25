// The sha256 of a local store object, remembered by the object's identity (file-identity.ts:
// an unchanged identity is an unchanged file). The build that uploads a layer zip knows its
// digest; the local probe reads it from here instead of copying and hashing the zip (the seed
// set's 71 MB: about 120 ms). The memo is in the cache, which is untrusted: an entry names an
// identity down to the nanosecond of its ctime, so one written for another file never matches.
//
// Publishing a layer version hard-links the object (local-layer-registry.ts), and a link moves
// the object's ctime and so its identity: the registry carries the digest to the new identity
// when nothing else changed (same device, inode, size and mtime). What the link cannot tell is a
// write in place that reset the mtime in the moment between the registry's look and its link.
import { join } from 'node:path';
import { keptLayersRoot } from '../../core/pack/kept-layers.ts';
import { readCacheFile, writeCacheFile } from '../../core/shared/cache-file.ts';
import { sha256Hex } from '../../core/shared/hash.ts';

/** A store object at one identity (ObjectStore `identity`). */
export interface IdentifiedObject {
  readonly key: string;
  readonly identity: string;
}

/** Where a cache keeps the memo: beside the local probe's kept layers (kept-layers.ts). */
export function objectDigestsFolder(cacheDir: string): string {
  return objectDigestsBelow(keptLayersRoot(cacheDir));
}

/** {@link objectDigestsFolder} of a cache whose kept layers' root is `keptRoot`. */
export function objectDigestsBelow(keptRoot: string): string {
  return join(keptRoot, 'objects');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function memoPath(folder: string, object: IdentifiedObject): string {
  return join(folder, sha256Hex(JSON.stringify({ key: object.key, identity: object.identity })));
}

/** The remembered sha256 (hex) of the object at that identity, else null. */
export async function recallObjectDigest(folder: string, object: IdentifiedObject): Promise<string | null> {
  const known = await readCacheFile(memoPath(folder, object), 64);
  return known !== null && SHA256_HEX.test(known) ? known : null;
}

/** Remember `sha256` for the object at that identity (a digest that is not one is dropped). */
export async function rememberObjectDigest(
  folder: string,
  object: IdentifiedObject,
  sha256: string,
): Promise<void> {
  if (SHA256_HEX.test(sha256)) await writeCacheFile(memoPath(folder, object), sha256);
}

/** `dev:ino:size:mtimeNs` of an identity: what a hard link leaves as it was. */
const linkedPart = (identity: string): string => identity.split(':').slice(0, 4).join(':');

/**
 * After a hard link to `key` moved its ctime from `before` to `after`: the digest remembered
 * for `before`, remembered for `after` too, when only the ctime changed.
 */
export async function carryObjectDigest(
  folder: string,
  key: string,
  before: string,
  after: string | null,
): Promise<void> {
  if (after === null || after === before || linkedPart(after) !== linkedPart(before)) return;
  const digest = await recallObjectDigest(folder, { key, identity: before });
  if (digest !== null) await rememberObjectDigest(folder, { key, identity: after }, digest);
}
