// The last step of a build: the installed tree packed for its route. Layer zips are written in
// parallel by raw copy of the wheels' compressed bytes (no recompression); the EFS route gets a
// tree tar, the image route an OCI image layout.
//
// What a written zip unzips to is known without inflating it: each raw copy is the very bytes
// the install inflated, CRC- and RECORD-checked and hashed (InstalledFile's source.sha256), out
// of a wheel whose sha256 the install checked; the wheel is hashed again here as it is read, so
// a wheel changed since the install is refused. Each zip's directory is read back and matched
// against what was meant to be written. The tree check (packed-tree-check.ts) then compares
// these digests with the tree as it is after the smoke import.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { parentDirectories, writeDeterministicZip } from '../pack/deterministic-zip.ts';
import type { DeterministicZipEntry } from '../pack/deterministic-zip.ts';
import type { LayerPlan } from '../route/layer-packer.ts';
import type { BuildManifest, LayerArtifact, Lock, Strategy } from '../shared/types.ts';
import { SITE_DIR } from './tree-files.ts';
import type { InstalledPackage } from './wheel-installer.ts';
import { layerZipKey, type KeptLayerZip, type LayerZipCache } from '../pack/layer-zip-cache.ts';
import { openZip } from '../pack/zip-reader.ts';
import { IntegrityError } from '../shared/errors.ts';
import { sha256Hex } from '../shared/hash.ts';
import { whileUnchangedSync } from '../shared/file-identity.ts';

export interface PackedArtifacts {
  readonly layers: LayerArtifact[];
  /** Package name → the layer zip it went to. */
  readonly layerOf: Map<string, string>;
  readonly efs: BuildManifest['efs'];
  readonly image: BuildManifest['image'];
  /** Layer zips (by file) copied from the cache, with the digests they were checked by. */
  readonly reusedZips?: ReadonlyMap<string, KeptLayerZip>;
  /** The cache key of each layer zip (by file), when packing could reuse. */
  readonly zipKeys?: ReadonlyMap<string, string>;
  /** Each layer zip's files (by zip file), as packed from the tree, with what they unzip to. */
  readonly zipFiles?: ReadonlyMap<string, readonly PackedFile[]>;
  /** What the image's layer unpacks to, by tree path, hashed as it was written (image route). */
  readonly imageFiles?: ReadonlyMap<string, string>;
  /** The image's layer: its blob's sha256 (hex) and its regular files by path in the layer (`var/task/…`). */
  readonly imageLayer?: { readonly sha256: string; readonly files: readonly PackedFile[] };
}

/** One file of a layer zip: its path in the zip (and the tree), mode and the sha256 it unzips to. */
export interface PackedFile {
  readonly path: string;
  readonly size: number;
  readonly executable: boolean;
  readonly sha256: string;
}

export const NO_ARTIFACTS: PackedArtifacts = { layers: [], layerOf: new Map(), efs: null, image: null };

/** One file of a layer, and the package it comes from. */
interface LayerMember {
  readonly installed: InstalledPackage;
  readonly file: InstalledPackage['files'][number];
}

/** The files of one layer, each path once (the first package's copy), in the packages' order. */
function layerMembers(packages: readonly InstalledPackage[], warn: (message: string) => void): LayerMember[] {
  const members = new Map<string, LayerMember>();
  for (const installed of packages)
    for (const file of installed.files) {
      if (members.has(file.path)) {
        warn(
          `${file.path} is installed by more than one package in the same layer; ${installed.name}'s copy is left out.`,
        );
        continue;
      }
      members.set(file.path, { installed, file });
    }
  return [...members.values()];
}

/**
 * What the zip of these members is a function of (layer-zip-cache.ts): each file's name, mode,
 * and its wheel bytes by the wheel's sha256 and the entry's place, or its generated content's sha256.
 */
function describeMembers(
  members: readonly LayerMember[],
  wheelSha256: ReadonlyMap<string, string>,
): unknown[] {
  return members.map(({ installed, file }) =>
    file.source.kind === 'generated'
      ? [file.path, file.executable, sha256Hex(file.source.content)]
      : [
          file.path,
          file.executable,
          wheelSha256.get(installed.name) ?? null,
          file.source.dataOffset,
          file.source.compressedSize,
          file.source.method,
          file.source.crc32,
          file.size,
        ],
  );
}

/** A member's files as packed: what a raw copy unzips to is what the install hashed. */
function packedFilesOf(members: readonly LayerMember[]): PackedFile[] {
  return members
    .map(({ file }) => ({
      path: file.path,
      size: file.size,
      executable: file.executable,
      sha256: file.source.kind === 'wheel' ? file.source.sha256 : sha256Hex(file.source.content),
    }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The wheel's bytes, refused unless they are still the wheel the install checked (the lock's, or
 * the one built from its sdist): hashed again unless the file is, before and after the read,
 * the very file the install checked (its identity). Read on this thread: queued in libuv's pool,
 * behind the copies of reused layer zips, each wheel of a shared layer waited its turn (attrs's
 * 67 KB took 0.1 s, botocore's 16 MB 0.2 s), and the layer a set with one package added changes
 * was written 0.3 s late. The install has just read these files: they are in the page cache.
 */
function readInstalledWheel(installed: InstalledPackage): Buffer {
  const { value: bytes, identity } = whileUnchangedSync(installed.wheelPath, () =>
    readFileSync(installed.wheelPath),
  );
  const heldStill = identity !== null && identity === installed.wheelIdentity;
  if (!heldStill && sha256Hex(bytes) !== installed.wheelSha256)
    throw new IntegrityError(
      `${installed.wheelPath} changed after it was installed: its sha256 is no longer ${installed.wheelSha256}, which the install checked.`,
      { hint: 'Something rewrote the download cache during the build; nothing was published. Build again.' },
    );
  return bytes;
}

/** The entries of one layer zip: raw copies from the wheels, generated files, directories. */
function layerEntries(members: readonly LayerMember[]): DeterministicZipEntry[] {
  const wheels = new Map<string, Buffer>();
  const wheelOf = (installed: InstalledPackage): Buffer => {
    const read = wheels.get(installed.wheelPath) ?? readInstalledWheel(installed);
    wheels.set(installed.wheelPath, read);
    return read;
  };
  const entries: DeterministicZipEntry[] = [];
  for (const { installed, file } of members) {
    if (file.source.kind === 'generated') {
      entries.push({
        name: file.path,
        kind: 'content',
        executable: file.executable,
        content: file.source.content,
      });
      continue;
    }
    const { dataOffset, compressedSize, method, crc32 } = file.source;
    const data = wheelOf(installed).subarray(dataOffset, dataOffset + compressedSize);
    const raw = { method, crc32, uncompressedSize: file.size, data };
    entries.push({ name: file.path, kind: 'raw', executable: file.executable, raw });
  }
  for (const directory of parentDirectories(entries.map((entry) => entry.name)))
    entries.push({ name: directory, kind: 'directory' });
  return entries;
}

/** Where packing keeps and finds layer zips, and the wheels' sha256 by package (from the lock). */
export interface LayerZipReuse {
  readonly cache: LayerZipCache;
  readonly wheelSha256: ReadonlyMap<string, string>;
}

/**
 * Read back the directory of a zip just written: every entry meant is there once, with the
 * method, CRC and sizes meant, and nothing else (a writer bug or a short write ships nothing).
 */
export async function checkWrittenZip(
  path: string,
  entries: readonly DeterministicZipEntry[],
): Promise<void> {
  const zip = await openZip(path, { name: path });
  try {
    const meant = new Map(entries.map((entry) => [entry.name, entry]));
    const wrong = zip.entries.filter((written) => {
      const entry = meant.get(written.name);
      meant.delete(written.name);
      if (!entry) return true;
      if (entry.kind === 'content')
        return written.uncompressedSize !== entry.content.length || written.crc32 !== crc32(entry.content);
      if (entry.kind !== 'raw') return false;
      const { raw } = entry;
      return (
        written.method !== raw.method ||
        written.crc32 !== raw.crc32 ||
        written.compressedSize !== raw.data.length ||
        written.uncompressedSize !== raw.uncompressedSize
      );
    });
    const names = [...wrong.map((entry) => entry.name), ...meant.keys()];
    if (names.length > 0)
      throw new IntegrityError(`${path} was not written as meant: ${names.slice(0, 5).join(', ')}.`, {
        hint: 'This is a bug in lambda-deps (or a full disk); nothing was published.',
      });
  } finally {
    await zip.close();
  }
}

/** One layer's zip: copied from the cache when it kept one of the same entries, else written. */
async function packLayer(
  members: readonly LayerMember[],
  target: string,
  reuse: LayerZipReuse | null,
): Promise<{
  written: { sha256: string; size: number; unzippedSize: number };
  kept: KeptLayerZip | null;
  key: string | null;
}> {
  const key = reuse ? layerZipKey(describeMembers(members, reuse.wheelSha256)) : null;
  const kept = reuse && key ? await reuse.cache.copyTo(key, target) : null;
  if (kept) return { written: kept, kept, key };
  const entries = layerEntries(members);
  const written = await writeDeterministicZip(target, entries);
  await checkWrittenZip(target, entries);
  return { written, kept: null, key };
}

async function packLayers(
  plan: Extract<LayerPlan, { fits: true }>,
  packed: readonly InstalledPackage[],
  staging: string,
  options: { warn: (message: string) => void; reuse: LayerZipReuse | null },
): Promise<PackedArtifacts> {
  await mkdir(join(staging, 'layers'), { recursive: true });
  const byName = new Map(packed.map((pkg) => [pkg.name, pkg]));
  const layerOf = new Map<string, string>();
  const reusedZips = new Map<string, KeptLayerZip>();
  const keys = new Map<string, string>();
  const zipFiles = new Map<string, readonly PackedFile[]>();
  const layers = await Promise.all(
    plan.layers.map(async (planned) => {
      const file = `layers/layer-${planned.id}.zip`;
      const members = layerMembers(
        planned.packages
          .map((name) => byName.get(name))
          .filter((pkg): pkg is InstalledPackage => pkg !== undefined),
        options.warn,
      );
      const { written, kept, key } = await packLayer(members, join(staging, file), options.reuse);
      zipFiles.set(file, packedFilesOf(members));
      if (kept) reusedZips.set(file, kept);
      if (key) keys.set(file, key);
      for (const name of planned.packages) layerOf.set(name, file);
      const { sha256, size, unzippedSize } = written;
      return { id: planned.id, file, sha256, size, unzippedSize, packages: planned.packages };
    }),
  );
  return { layers, layerOf, efs: null, image: null, reusedZips, zipKeys: keys, zipFiles };
}

/** Pack the tree (`treeDir/python`) for the route into `staging`. */
export async function packArtifacts(input: {
  readonly strategy: Strategy;
  readonly plan: LayerPlan;
  readonly packed: readonly InstalledPackage[];
  readonly treeDir: string;
  readonly staging: string;
  readonly lock: Lock;
  readonly warn: (message: string) => void;
  /** Kept layer zips to copy instead of writing them (null: write every zip). */
  readonly reuse?: LayerZipReuse | null;
}): Promise<PackedArtifacts> {
  const { strategy, plan, staging } = input;
  if (strategy === 'layers' && plan.fits)
    return packLayers(plan, input.packed, staging, { warn: input.warn, reuse: input.reuse ?? null });
  const site = join(input.treeDir, SITE_DIR);
  if (strategy === 'efs') {
    const { writeTreeTar } = await import('../pack/tree-archive.ts');
    await mkdir(join(staging, 'efs'), { recursive: true });
    await writeTreeTar(site, join(staging, 'efs', 'site-packages.tar'), { prefix: 'site-packages' });
    return {
      ...NO_ARTIFACTS,
      layerOf: new Map(),
      efs: { tree: 'efs/site-packages.tar', pythonPath: 'site-packages' },
    };
  }
  const { createDependencyImageLayout, LAMBDA_TASK_ROOT } = await import('../deliver/oci/image-layout.ts');
  const layout = await createDependencyImageLayout({
    treeDir: site,
    outDir: join(staging, 'image'),
    target: input.lock.target,
    installPrefix: LAMBDA_TASK_ROOT,
  });
  return {
    ...NO_ARTIFACTS,
    layerOf: new Map(),
    image: { layout: 'image', digest: layout.manifestDigest },
    imageFiles: layout.layerFiles,
    imageLayer: { sha256: layout.layerDigest.replace(/^sha256:/, ''), files: layout.layerFileList },
  };
}
