// The last step of a build: the installed tree packed for its route. Layer zips are written in
// parallel by raw copy of the wheels' compressed bytes (no recompression); the EFS route gets a
// tree tar, the image route an OCI image layout.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parentDirectories, writeDeterministicZip } from '../pack/deterministic-zip.ts';
import type { DeterministicZipEntry } from '../pack/deterministic-zip.ts';
import type { LayerPlan } from '../route/layer-packer.ts';
import type { BuildManifest, LayerArtifact, Lock, Strategy } from '../shared/types.ts';
import { SITE_DIR } from './tree-files.ts';
import type { InstalledPackage } from './wheel-installer.ts';

export interface PackedArtifacts {
  readonly layers: LayerArtifact[];
  /** Package name → the layer zip it went to. */
  readonly layerOf: Map<string, string>;
  readonly efs: BuildManifest['efs'];
  readonly image: BuildManifest['image'];
}

export const NO_ARTIFACTS: PackedArtifacts = { layers: [], layerOf: new Map(), efs: null, image: null };

/** The entries of one layer zip: raw copies from the wheels, generated files, directories. */
async function layerEntries(
  packages: readonly InstalledPackage[],
  warn: (message: string) => void,
): Promise<DeterministicZipEntry[]> {
  const entries = new Map<string, DeterministicZipEntry>();
  for (const installed of packages) {
    const wheel = installed.files.some((file) => file.source.kind === 'wheel')
      ? await readFile(installed.wheelPath)
      : null;
    for (const file of installed.files) {
      if (entries.has(file.path)) {
        warn(
          `${file.path} is installed by more than one package in the same layer; ${installed.name}'s copy is left out.`,
        );
        continue;
      }
      if (file.source.kind === 'generated') {
        entries.set(file.path, {
          name: file.path,
          kind: 'content',
          executable: file.executable,
          content: file.source.content,
        });
      } else if (wheel) {
        const { dataOffset, compressedSize, method, crc32 } = file.source;
        entries.set(file.path, {
          name: file.path,
          kind: 'raw',
          executable: file.executable,
          raw: {
            method,
            crc32,
            uncompressedSize: file.size,
            data: wheel.subarray(dataOffset, dataOffset + compressedSize),
          },
        });
      }
    }
  }
  for (const directory of parentDirectories(entries.keys()))
    entries.set(directory, { name: directory, kind: 'directory' });
  return [...entries.values()];
}

async function packLayers(
  plan: Extract<LayerPlan, { fits: true }>,
  packed: readonly InstalledPackage[],
  staging: string,
  warn: (message: string) => void,
): Promise<PackedArtifacts> {
  await mkdir(join(staging, 'layers'), { recursive: true });
  const byName = new Map(packed.map((pkg) => [pkg.name, pkg]));
  const layerOf = new Map<string, string>();
  const layers = await Promise.all(
    plan.layers.map(async (planned) => {
      const file = `layers/layer-${planned.id}.zip`;
      const members = planned.packages
        .map((name) => byName.get(name))
        .filter((pkg): pkg is InstalledPackage => pkg !== undefined);
      const result = await writeDeterministicZip(join(staging, file), await layerEntries(members, warn));
      for (const name of planned.packages) layerOf.set(name, file);
      return {
        id: planned.id,
        file,
        sha256: result.sha256,
        size: result.size,
        unzippedSize: result.unzippedSize,
        packages: planned.packages,
      };
    }),
  );
  return { layers, layerOf, efs: null, image: null };
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
}): Promise<PackedArtifacts> {
  const { strategy, plan, staging } = input;
  if (strategy === 'layers' && plan.fits) return packLayers(plan, input.packed, staging, input.warn);
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
  return { ...NO_ARTIFACTS, layerOf: new Map(), image: { layout: 'image', digest: layout.manifestDigest } };
}
