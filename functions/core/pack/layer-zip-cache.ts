// Layer zips a build already wrote and checked, kept for the next build that packs the same
// layer. A deterministic zip is a function of its entries: names, modes, and for each file the
// wheel bytes it copies (the wheel by its sha256, the entry by offset, size, method and CRC) or
// the content it deflates. With one package added to a set, most layers hold the same entries
// as before; writing them again, and inflating them to check them against the tree, was about a
// second of the rebuild's main thread.
//
// The cache folder is untrusted. An entry records the digest of each file the zip unpacks to,
// taken when the zip was checked against the tree it was packed from, and the zip's file
// identity (device, inode, size, mtime, ctime: file-identity.ts) once it lay in place. It is
// used only while the zip is that very file: a copy restored from elsewhere is a new inode with
// a new ctime, and a zip changed in place moves its mtime or ctime. The build still checks
// every recorded digest against the tree it hashed itself.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { evictLeastRecentlyUsed, touchEntry } from '../shared/cache-eviction.ts';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import { fileIdentity } from '../shared/file-identity.ts';
import { sha256Hex } from '../shared/hash.ts';

/** Bumped when the zip writer or what an entry records changes, so older entries never match. */
const FORMAT = 1;
const ZIP_FILE = 'layer.zip';
const ENTRY_FILE = 'entry.json';
/** More files than any layer holds; a bigger entry is not one of ours. */
const MAX_ENTRY_BYTES = 64 * 1024 ** 2;
/** Layers kept (newest first by modification time): a set switched back and forth stays fast. */
const KEPT_LAYERS = 16;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const entrySchema = z.strictObject({
  format: z.literal(FORMAT),
  key: hex64,
  identity: z.string(),
  sha256: hex64,
  size: z.number().int().nonnegative(),
  unzippedSize: z.number().int().nonnegative(),
  digests: z.array(z.tuple([z.string(), hex64])).max(200_000),
});

/** A kept layer zip: what its manifest entry says of it, and the digest of each file it unpacks to. */
export interface KeptLayerZip {
  readonly sha256: string;
  readonly size: number;
  readonly unzippedSize: number;
  readonly digests: ReadonlyMap<string, string>;
}

/** The key of a layer zip from what describes each of its entries (see the file comment). */
export function layerZipKey(entries: readonly unknown[]): string {
  return sha256Hex(JSON.stringify({ format: FORMAT, entries }));
}

export class LayerZipCache {
  constructor(private readonly folder: string) {}

  /** Copy the kept zip of `key` to `target`; null (nothing written) when none is kept or it changed. */
  async copyTo(key: string, target: string): Promise<KeptLayerZip | null> {
    const folder = join(this.folder, key);
    const entry = await this.readEntry(folder, key);
    if (!entry || (await fileIdentity(join(folder, ZIP_FILE))) !== entry.identity) return null;
    await copyFile(join(folder, ZIP_FILE), target);
    // A zip replaced while it was copied (another identity, or a copy of another size) is not taken.
    if (
      (await stat(target)).size !== entry.size ||
      (await fileIdentity(join(folder, ZIP_FILE))) !== entry.identity
    ) {
      await rm(target, { force: true });
      return null;
    }
    // Its folder's time says when it was last used (eviction keeps the newest); the zip's is untouched.
    await touchEntry(folder);
    return {
      sha256: entry.sha256,
      size: entry.size,
      unzippedSize: entry.unzippedSize,
      digests: new Map(entry.digests),
    };
  }

  /**
   * Keep a zip that passed the tree check, with the digests it was checked by. Errors are
   * dropped. (Call `evict` once the build's zips are kept.)
   */
  async keep(key: string, zip: string, kept: KeptLayerZip): Promise<void> {
    const staging = join(this.folder, `.staging-${randomUUID()}`);
    try {
      await mkdir(staging, { recursive: true });
      await copyFile(zip, join(staging, ZIP_FILE));
      await rm(join(this.folder, key), { recursive: true, force: true });
      await rename(staging, join(this.folder, key));
      // After the rename (which moves ctime): the identity the zip keeps while untouched.
      const identity = await fileIdentity(join(this.folder, key, ZIP_FILE));
      if (!identity) return;
      const { sha256, size, unzippedSize } = kept;
      const digests = [...kept.digests];
      const entry = { format: FORMAT, key, identity, sha256, size, unzippedSize, digests };
      await writeCacheFile(join(this.folder, key, ENTRY_FILE), JSON.stringify(entry));
    } catch {
      // A cache that cannot be written costs the next build its reuse, nothing else.
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async readEntry(folder: string, key: string): Promise<z.infer<typeof entrySchema> | null> {
    const text = await readCacheFile(join(folder, ENTRY_FILE), MAX_ENTRY_BYTES);
    if (text === null) return null;
    try {
      const entry = entrySchema.parse(JSON.parse(text));
      return entry.key === key ? entry : null;
    } catch {
      return null; // cut short, garbled, or of another shape
    }
  }

  /** Keep the KEPT_LAYERS layers used last (errors are dropped). */
  async evict(): Promise<void> {
    await evictLeastRecentlyUsed(this.folder, { entries: KEPT_LAYERS });
  }
}
