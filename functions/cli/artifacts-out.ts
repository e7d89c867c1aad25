// The default path's `--out`: the artifacts the manifest names, copied from the pipeline's store
// to the manifest's own paths, with the rules --no-pipeline keeps (core/pack/output-folder.ts).
// lambda-deps replaces only files its ownership list names, and refuses, before touching
// anything, a path it would replace that someone else wrote. Every file is copied into a folder
// beside the old ones first; only when all are complete are they renamed into place (each
// rename undone if a later one fails), so a failure mid-copy leaves the previous outputs whole.
// A file whose earlier copy is still the store object's bytes is not copied again: the list
// records both identities when it copies (file-identity.ts), and both unchanged means the same
// bytes (a rebuild of an unchanged set copied 70 MB of seed-set layers for nothing).
// Files are swapped one by one, not whole folders as --no-pipeline does: layers/ and efs/ of the
// default path also hold the local twin's published versions and EFS stand-in.
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { copyObjectToFile, type CopyingStore } from '../adapters/store-copy.ts';
import {
  deliveredCopies,
  filesBelow,
  ownedOutputs,
  writeOwnership,
  type DeliveredCopy,
} from '../core/pack/output-folder.ts';
import { renameCounted } from '../core/shared/atomic-write.ts';
import { eachSettled } from '../core/shared/each-settled.ts';
import { InputError } from '../core/shared/errors.ts';
import { atInterrupt } from '../core/shared/interrupt-cleanup.ts';
import { fileIdentity } from '../core/shared/file-identity.ts';

const INCOMING_PREFIX = '.lambda-deps-incoming-';
const REPLACED_PREFIX = '.lambda-deps-replaced-';

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );
const pathOf = (root: string, file: string): string => join(root, ...file.split('/'));

/** Refuse when a path the copy would replace holds a file lambda-deps did not write. */
async function refuseForeign(outDir: string, files: readonly string[], owned: ReadonlySet<string>) {
  for (const file of files) {
    if (owned.has(file) || !(await exists(pathOf(outDir, file)))) continue;
    throw new InputError(
      `${pathOf(outDir, file)} was not written by lambda-deps, and a build would replace it.`,
      {
        hint: 'lambda-deps deletes nothing it did not create. Move that file away, or build into another --out folder.',
      },
    );
  }
}

/**
 * Refuse, before a run starts, a file in --out at a place a delivery may write that lambda-deps
 * did not write: `layers/layer-*.zip`, `efs/site-packages.tar` and anything below `image/`.
 * Found only when the outputs were copied at the end, such a file used to stop a run whose
 * layers were already published and switched.
 */
export async function refuseForeignOutputs(outDir: string): Promise<void> {
  const layers = (await readdir(join(outDir, 'layers')).catch(() => [] as string[])).filter((name) =>
    /^layer-.+\.zip$/.test(name),
  );
  const candidates = [
    ...layers.map((name) => `layers/${name}`),
    'efs/site-packages.tar',
    // (An `image` that is a file, not a folder, is a layers build's to ignore, as before.)
    ...(await filesBelow(join(outDir, 'image'))).filter((file) => file !== '').map((file) => `image/${file}`),
  ];
  await refuseForeign(outDir, candidates, await ownedOutputs(outDir));
}

/** Rename each staged file into place, the old one aside; undone in reverse when a rename fails. */
async function swapFiles(outDir: string, incoming: string, files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  const replaced = await mkdtemp(join(outDir, REPLACED_PREFIX));
  const undo: (() => Promise<void>)[] = [];
  const move = async (from: string, to: string): Promise<void> => {
    await mkdir(dirname(to), { recursive: true });
    await renameCounted(from, to);
    undo.push(() => renameCounted(to, from));
  };
  try {
    for (const file of files) {
      if (await exists(pathOf(outDir, file))) await move(pathOf(outDir, file), pathOf(replaced, file));
      await move(pathOf(incoming, file), pathOf(outDir, file));
    }
  } catch (error) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw error;
  } finally {
    await rm(replaced, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The files whose recorded copy still holds the store object's bytes: both identities unchanged. */
async function stillDelivered(
  store: CopyingStore,
  prefix: string,
  files: readonly string[],
  outDir: string,
): Promise<Map<string, DeliveredCopy>> {
  const recorded = await deliveredCopies(outDir);
  const current = new Map<string, DeliveredCopy>();
  for (const file of files) {
    const copy = recorded.get(file);
    if (!copy || !store.identity) continue;
    const source = await store.identity(`${prefix}${file}`);
    if (source === copy.source && (await fileIdentity(pathOf(outDir, file))) === copy.copy)
      current.set(file, copy);
  }
  return current;
}

/** Copy one object into the staging folder; its source identity when unchanged across the copy. */
async function stageOne(store: CopyingStore, key: string, path: string): Promise<string | null> {
  await mkdir(dirname(path), { recursive: true });
  return copyObjectToFile(store, key, path);
}

/**
 * Copy the files into `incoming` a few at once (the seed set's four zips: one after the other,
 * the copy outlasted the Probe it runs beside), each source identity into `sources`; a failure
 * is thrown once every started copy has settled, so that none still writes into a folder being removed.
 */
async function stageAll(
  store: CopyingStore,
  prefix: string,
  files: readonly string[],
  incoming: string,
  sources: Map<string, string | null>,
): Promise<void> {
  await eachSettled(files, COPIES_AT_ONCE, async (file) => {
    sources.set(file, await stageOne(store, `${prefix}${file}`, pathOf(incoming, file)));
  });
}

/** Copies staged at once: a set's layer zips all together; an image layout's blobs a few at a time. */
const COPIES_AT_ONCE = 4;

/** What the list records for the swapped-in copies (identities taken after the rename). */
async function copiesAfterSwap(
  outDir: string,
  sources: ReadonlyMap<string, string | null>,
): Promise<Map<string, DeliveredCopy>> {
  const copies = new Map<string, DeliveredCopy>();
  for (const [file, source] of sources) {
    const copy = await fileIdentity(pathOf(outDir, file));
    if (source !== null && copy !== null) copies.set(file, { source, copy });
  }
  return copies;
}

/** Copies staged beside the outputs, to be swapped in (`commit`) or thrown away (`discard`). */
export interface StagedArtifacts {
  /**
   * Swap the staged copies in, checking the folder's rules again first (a file that appeared
   * or changed since staging is refused or copied now). At most once.
   */
  commit(): Promise<void>;
  /** Remove what is still staged; the outputs stay as they were. Safe after commit. */
  discard(): Promise<void>;
}

/**
 * Copy `files` (paths relative to `prefix` in the store, as the manifest names them) into a
 * folder inside `outDir`, touching no output: the default path copies while the Probe runs and
 * swaps in only once the execution has succeeded (the seed set's 71 MB: about 0.1 s).
 * @example const staged = await stageStoredArtifacts(store, 'artifacts/<key>/', ['layers/layer-1.zip'], 'out');
 */
export async function stageStoredArtifacts(
  store: CopyingStore,
  prefix: string,
  files: readonly string[],
  outDir: string,
): Promise<StagedArtifacts> {
  await mkdir(outDir, { recursive: true });
  await refuseForeign(outDir, files, await ownedOutputs(outDir));
  const incoming = await mkdtemp(join(outDir, INCOMING_PREFIX));
  // Ctrl-C while copying must not leave a copy of the set in the user's folder.
  const forget = atInterrupt(() => rm(incoming, { recursive: true, force: true }));
  const discard = async (): Promise<void> => {
    await rm(incoming, { recursive: true, force: true });
    forget();
  };
  const sources = new Map<string, string | null>();
  try {
    const unchanged = await stillDelivered(store, prefix, files, outDir);
    await stageAll(
      store,
      prefix,
      files.filter((file) => !unchanged.has(file)),
      incoming,
      sources,
    );
  } catch (error) {
    await discard();
    throw error;
  }
  let committed = false;
  return {
    discard,
    async commit() {
      if (committed) throw new Error('these staged artifacts were already swapped in');
      committed = true;
      try {
        await swapInStaged(store, { prefix, files, outDir, incoming }, sources);
      } finally {
        await discard();
      }
    },
  };
}

/** The swap of staged copies: the folder's rules again, what changed since staged copied now, then renames. */
async function swapInStaged(
  store: CopyingStore,
  staged: { prefix: string; files: readonly string[]; outDir: string; incoming: string },
  sources: Map<string, string | null>,
): Promise<void> {
  const { prefix, files, outDir, incoming } = staged;
  const owned = await ownedOutputs(outDir);
  await refuseForeign(outDir, files, owned);
  const unchanged = await stillDelivered(store, prefix, files, outDir);
  for (const file of files)
    if (!unchanged.has(file) && !sources.has(file))
      sources.set(file, await stageOne(store, `${prefix}${file}`, pathOf(incoming, file)));
  const changed = files.filter((file) => sources.has(file) && !unchanged.has(file));
  // Old and new are both ours while they swap, so a run killed now leaves nothing foreign.
  await writeOwnership(outDir, [...owned, ...files], unchanged);
  await swapFiles(outDir, incoming, changed);
  const stale = [...owned].filter((file) => !files.includes(file));
  for (const file of stale) await rm(pathOf(outDir, file), { force: true });
  const swapped = new Map([...sources].filter(([file]) => changed.includes(file)));
  const copies = new Map([...unchanged, ...(await copiesAfterSwap(outDir, swapped))]);
  await writeOwnership(outDir, files, copies);
}

/**
 * Copy `files` (paths relative to `prefix` in the store, as the manifest names them) into
 * `outDir`, complete before any is swapped in; earlier outputs of ours that this run does not
 * deliver are removed afterwards, foreign files are never touched.
 * @example await deliverStoredArtifacts(store, 'artifacts/<key>/', ['layers/layer-1.zip'], 'out');
 */
export async function deliverStoredArtifacts(
  store: CopyingStore,
  prefix: string,
  files: readonly string[],
  outDir: string,
): Promise<void> {
  // (commit removes what is left staged, whatever happens.)
  await (await stageStoredArtifacts(store, prefix, files, outDir)).commit();
}
