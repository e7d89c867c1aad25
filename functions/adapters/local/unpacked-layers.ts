// The local probe's layers. Lambda extracts a function's layers in order into one /opt; the
// probe does the same in a scratch folder, and inflating the seed set's four layers took it about
// 2 s of every run, though a package added changes only one of them. So each layer is kept in the
// run's cache by its zip's sha256 (core/pack/kept-layers.ts: listed by the build that packed it,
// with only its dist-info files' bytes, or whole by the first probe that inflated it), and a later
// probe writes a whole kept layer's files from there instead of inflating the zip, in the same
// order, later layers over earlier. When every layer is kept, what /opt would hold is known
// without writing it (`known`): a probe whose every module a smoke import's footprint stands for
// needs nothing more than those lists and the RECORD files.
//
// A kept layer is trusted as kept-layers.ts says (its pack is the very file it was written as).
// A layer inflated now is hashed as it is written, so its digests are known at once too, and
// keeping it later reads its files but hashes nothing.
import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  isWholeLayer,
  keepLayerFrom,
  keptLayersRoot,
  readKeptFiles,
  readKeptLayer,
  writeKeptLayer,
  type KeptFile,
  type KeptLayer,
} from '../../core/pack/kept-layers.ts';
import { extractZip, openZip } from '../../core/pack/zip-reader.ts';
import { sha256OfFiles } from '../../core/shared/hash.ts';
import { objectDigestsBelow, recallObjectDigest, rememberObjectDigest } from './object-digests.ts';
import { diskTreeFiles, type TreeEntry, type TreeFiles } from '../../core/verify/import-footprints.ts';

/** The layers as unpacked into /opt, and how to keep the ones inflated now for the next probe. */
export interface UnpackedLayers {
  /** sha256 (hex) of each file written (from a kept layer, or inflated now), by its path in /opt. */
  readonly digests: ReadonlyMap<string, string>;
  /** How many layers came from the cache, of how many. */
  readonly reused: number;
  /** Keep each layer inflated now whose files no later layer replaced (errors are dropped). */
  keep(): Promise<void>;
}

/** What /opt would hold, known from kept layers without writing it. */
export interface KnownOpt {
  /** The tree read through what is known of /opt, and from the disk elsewhere. */
  readonly files: TreeFiles;
  /** Whether a folder would be there (below /opt: holding some file; elsewhere: on disk). */
  hasFolder(path: string): boolean;
}

/** A function's layers, about to go into /opt. */
export interface LayersForOpt {
  /** When every layer is kept: what /opt would hold, without writing it. */
  readonly known: KnownOpt | null;
  /** Write /opt: kept layers from the cache, the others inflated (and hashed on the way). */
  unpack(): Promise<UnpackedLayers>;
}

/** A layer zip on disk (or to be copied there), and the store object it comes from when the store can name one. */
export interface LayerZip {
  readonly path: string;
  /** The store's key and that object's identity (ObjectStore `identity`). */
  readonly source: { readonly key: string; readonly identity: string } | null;
  /** Puts the zip at `path` (once) before its bytes are read; absent when it is there already. */
  readonly fetch?: () => Promise<void>;
}

/** A layer inflated from its zip this time: its files, in the zip's order. */
interface InflatedLayer {
  readonly index: number;
  readonly zipSha256: string;
  /** Its files in the zip's order, each with the size, mode and sha256 it was written with. */
  readonly files: readonly KeptFile[];
}

/** Each zip's sha256 and kept layer (with `cacheDir`; without it, neither). */
interface LayerSource {
  readonly zip: LayerZip;
  readonly zipSha256: string | null;
  readonly kept: KeptLayer | null;
}

/**
 * The layer zips, in order, for `opt` (later layers replace earlier layers' files, as Lambda's
 * extraction does). With `cacheDir`, layers kept by a build or an earlier probe come from there;
 * without it every zip is inflated and nothing is kept.
 */
export async function openLayers(
  zips: readonly (LayerZip | Promise<LayerZip>)[],
  opt: string,
  cacheDir: string | null,
): Promise<LayersForOpt> {
  const root = cacheDir ? keptLayersRoot(cacheDir) : null;
  const sources = await settledInOrder(
    zips.map(async (pending): Promise<LayerSource> => {
      const zip = await pending;
      const zipSha256 = root ? await zipDigest(root, zip) : null;
      return { zip, zipSha256, kept: root && zipSha256 ? await readKeptLayer(root, zipSha256) : null };
    }),
  );
  const kept = sources.flatMap(({ kept }) => (kept ? [kept] : []));
  return {
    known: root && kept.length === sources.length ? knownOpt(root, kept, opt) : null,
    unpack: () => writeLayers(sources, opt, root),
  };
}

/**
 * What an image's root would hold, known without unpacking it, when a build kept each of its
 * layers (core/build/build.ts keeps the image's layer as it keeps a zip, by the blob's sha256):
 * each blob is hashed first (torch's 210 MB in 0.1 s here), as a layer zip is. Null when one is
 * not kept: then the image is unpacked.
 */
export async function keptImageLayers(
  blobs: readonly { readonly digest: string; readonly path: string }[],
  root: string,
  cacheDir: string,
): Promise<KnownOpt | null> {
  const keptRoot = keptLayersRoot(cacheDir);
  const kept: KeptLayer[] = [];
  for (const blob of blobs) {
    const sha256 = blob.digest.replace(/^sha256:/, '');
    const layer = /^[0-9a-f]{64}$/.test(sha256) ? await readKeptLayer(keptRoot, sha256) : null;
    if (!layer) return null;
    if ((await zipDigest(keptRoot, { path: blob.path, source: null })) !== sha256) return null;
    kept.push(layer);
  }
  return kept.length > 0 ? knownOpt(keptRoot, kept, root) : null;
}

/**
 * Every promise's value, in order, once all have settled; the first failure is thrown only then,
 * so that no copy is still writing into a scratch folder its caller removes.
 */
async function settledInOrder<T>(pending: readonly Promise<T>[]): Promise<T[]> {
  const outcomes = await Promise.allSettled(pending);
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}

/** Each layer into `opt` in order, from its kept copy or its zip. */
async function writeLayers(
  sources: readonly LayerSource[],
  opt: string,
  root: string | null,
): Promise<UnpackedLayers> {
  const lastWriter = new Map<string, number>();
  const digests = new Map<string, string>();
  const inflated: InflatedLayer[] = [];
  let reused = 0;
  for (const [index, source] of sources.entries()) {
    const layer = await unpackLayer(source, opt, root, lastWriter);
    for (const file of layer.files) {
      lastWriter.set(file.path, index);
      digests.set(join(opt, file.path), file.sha256);
    }
    if (layer.fromKept) reused++;
    else if (source.zipSha256) inflated.push({ index, zipSha256: source.zipSha256, files: layer.files });
  }
  return {
    digests,
    reused,
    keep: async () => {
      if (!root) return;
      for (const layer of inflated) {
        const replaced = layer.files.some(({ path }) => lastWriter.get(path) !== layer.index);
        if (!replaced) await keepLayerFrom(root, layer, opt).catch(() => null);
      }
    },
  };
}

/**
 * One layer into `opt`, over what earlier layers wrote (`written`): from its kept copy when the
 * cache holds it whole, else inflated from the zip and hashed on the way. Its files in the zip's order.
 */
async function unpackLayer(
  { zip, kept }: LayerSource,
  opt: string,
  root: string | null,
  written: ReadonlyMap<string, number>,
): Promise<{ files: readonly KeptFile[]; fromKept: boolean }> {
  if (root && kept && isWholeLayer(kept)) {
    await writeKeptLayer(root, kept, opt, written);
    return { files: kept.files, fromKept: true };
  }
  const files = new Map<string, KeptFile>();
  await zip.fetch?.();
  await extractZip(zip.path, opt, {
    replaceExisting: true,
    onFile: ({ name, size, executable, sha256 }) => files.set(name, { path: name, size, executable, sha256 }),
  });
  const inZipOrder = (await fileNamesOf(zip.path)).flatMap((path) => files.get(path) ?? []);
  return { files: inZipOrder, fromKept: false };
}

/**
 * /opt as the kept layers would write it, later over earlier: each file's sha256 from its list,
 * its bytes (only RECORD files are ever asked for) read out of its layer's pack.
 */
function knownOpt(root: string, layers: readonly KeptLayer[], opt: string): KnownOpt {
  const files = new Map<string, { layer: KeptLayer; file: KeptFile }>();
  for (const layer of layers) for (const file of layer.files) files.set(file.path, { layer, file });
  const folders = new Set<string>();
  for (const path of files.keys()) {
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth++) folders.add(parts.slice(0, depth).join('/'));
  }
  const inOpt = `${opt}${sep}`;
  const below = (path: string): string | null => {
    // (Paths below opt as resolve() gives them are sliced: relative() per file was a tenth of the reuse check.)
    const rest =
      path.startsWith(inOpt) && !path.includes(`${sep}..`) ? path.slice(inOpt.length) : relative(opt, path);
    if (rest === '' || rest.startsWith('..')) return null;
    return sep === '/' ? rest : rest.split(sep).join('/');
  };
  const disk = diskTreeFiles();
  const readsOf = new Map<string, Promise<Buffer | null>>();
  const knownDigest = (path: string): string | null | undefined => {
    const known = below(path);
    return known === null ? undefined : (files.get(known)?.file.sha256 ?? null);
  };
  const list = (root: string): TreeEntry[] => {
    const base = root === opt ? '' : below(root);
    if (base === null) return disk.list(root) as TreeEntry[];
    const prefix = base === '' ? '' : `${base}/`;
    const entries: TreeEntry[] = [];
    const add = (path: string, isDirectory: boolean) => {
      if (path.startsWith(prefix))
        entries.push({ path: path.slice(prefix.length).split('/').join(sep), isDirectory });
    };
    for (const path of files.keys()) add(path, false);
    for (const folder of folders) add(folder, true);
    return entries;
  };
  return {
    hasFolder: (path) => {
      if (path === opt) return true;
      const rest = below(path);
      return rest === null ? existsSync(path) : folders.has(rest);
    },
    files: {
      list,
      read: (path) => {
        const known = below(path);
        if (known === null) return disk.read(path);
        const found = files.get(known);
        if (!found) return Promise.resolve(null);
        // The reuse check reads each RECORD twice (to index the tree, then to check it).
        let reading = readsOf.get(known);
        if (!reading) {
          reading = readKeptFiles(root, found.layer, new Set([known])).then(
            (read) => read.get(known) ?? null,
          );
          readsOf.set(known, reading);
        }
        return reading;
      },
      digest: async (path) => {
        const known = knownDigest(path);
        return known === undefined ? disk.digest(path) : known;
      },
      knownDigest,
    },
  };
}

/**
 * The sha256 of a layer zip, remembered by the identity of the store object it was copied from
 * (an object whose identity is unchanged holds the same bytes: file-identity.ts), else hashed.
 */
async function zipDigest(root: string, { path, source, fetch }: LayerZip): Promise<string> {
  const folder = objectDigestsBelow(root);
  const known = source ? await recallObjectDigest(folder, source) : null;
  if (known !== null) return known;
  await fetch?.();
  // Blocking reads through one buffer: the seed set's 71 MB of zips in 57 ms here, against
  // 75-140 ms streamed (the probe has nothing else to do meanwhile).
  const [digest = ''] = await sha256OfFiles([path]);
  if (source) await rememberObjectDigest(folder, source, digest).catch(() => undefined);
  return digest;
}

/** The file entries of a zip (its folders are made as their files are written). */
async function fileNamesOf(zip: string): Promise<string[]> {
  const archive = await openZip(zip, { name: zip });
  try {
    return archive.entries.filter((entry) => !entry.name.endsWith('/')).map((entry) => entry.name);
  } finally {
    await archive.close();
  }
}

/** Unpack the layer zips, in order, into `opt` (openLayers, then `unpack`). */
export async function unpackLayers(
  zips: readonly LayerZip[],
  opt: string,
  cacheDir: string | null,
): Promise<UnpackedLayers> {
  return (await openLayers(zips, opt, cacheDir)).unpack();
}
