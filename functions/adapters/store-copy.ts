// Copying a store object to a file, with what the copy may be known by later: the object's
// identity (ObjectStore `identity`, the local folder store's file identity) when the store can
// tell one and it did not change while the copy ran. The --out delivery and the local probe's
// layer zips both remember a copy by it.
import type { LeasingObjectStore, ObjectStore } from './ports.ts';

/** A store that copies objects out, and may tell an object's identity. */
export type CopyingStore = Pick<ObjectStore, 'getToFile'> & Partial<Pick<LeasingObjectStore, 'identity'>>;

/**
 * Copy `key` to `path`; the object's identity when it held still across the copy, else null.
 * @example const identity = await copyObjectToFile(store, 'artifacts/k/layers/layer-1.zip', 'out/layer-1.zip');
 */
export async function copyObjectToFile(
  store: CopyingStore,
  key: string,
  path: string,
): Promise<string | null> {
  const before = (await store.identity?.(key)) ?? null;
  await store.getToFile(key, path);
  const after = (await store.identity?.(key)) ?? null;
  return before !== null && before === after ? before : null;
}
