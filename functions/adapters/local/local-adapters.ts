// The local side of every port, all under one output folder, as the design's table maps
// them: store = a folder, layers = zips + versions.json, EFS = a folder, ECR = a layout
// folder or a registry URL, SSM and EventBridge = files.
import { join, resolve } from 'node:path';
import type { PipelineSettings } from '../environment.ts';
import type { PipelineAdapters } from '../ports.ts';
import type { Target } from '../../core/shared/types.ts';
import { FolderObjectStore } from './folder-object-store.ts';
import { LocalEventBus } from './local-event-bus.ts';
import { LocalFileSystemTree } from './local-file-system-tree.ts';
import { LocalImageRegistry } from './local-image-registry.ts';
import { LocalLayerRegistry } from './local-layer-registry.ts';
import { LocalParameterStore } from './local-parameter-store.ts';
import { LocalProbeRunner } from './local-probe-runner.ts';
import { objectDigestsFolder } from './object-digests.ts';

export interface LocalAdapterOptions {
  /** Root of everything the local pipeline writes. */
  readonly outDir: string;
  /** The EFS stand-in; default `<outDir>/efs`. */
  readonly efsRoot?: string | null;
  /** A registry URL for images; default an OCI layout under `<outDir>/images`. */
  readonly registry?: string | null;
  /** Repository name in that registry. */
  readonly repository?: string;
  /** The interpreter the probe uses instead of python3.X from PATH. */
  readonly pythonExecutable?: string | null;
  /** The download cache the probe reads the lock's files from; default `<outDir>/cache`, as the settings'. */
  readonly cacheDir?: string;
  /** The target this run will probe, when known: its interpreter and cell are looked for at once. */
  readonly probeTarget?: Target;
}

/** Where each local adapter keeps its files. */
export function localPaths(outDir: string, efsRoot?: string | null) {
  const root = resolve(outDir);
  return {
    store: join(root, 'store'),
    layers: join(root, 'layers'),
    parameters: join(root, 'parameters.json'),
    events: join(root, 'events.jsonl'),
    efs: efsRoot ? resolve(efsRoot) : join(root, 'efs'),
    images: join(root, 'images'),
  };
}

/** The local ports, and `settle`: what they started in the background has ended (never rejects). */
export type LocalAdapters = PipelineAdapters & { readonly settle: () => Promise<void> };

export function localAdapters(options: LocalAdapterOptions): LocalAdapters {
  const paths = localPaths(options.outDir, options.efsRoot);
  const store = new FolderObjectStore(paths.store);
  const cacheDir = resolve(options.cacheDir ?? join(options.outDir, 'cache'));
  const probe = new LocalProbeRunner({ store, pythonExecutable: options.pythonExecutable ?? null, cacheDir });
  if (options.probeTarget) probe.prepare(options.probeTarget);
  return {
    settle: () => probe.settled(),
    probe,
    store,
    layers: new LocalLayerRegistry(paths.layers, store, objectDigestsFolder(cacheDir)),
    parameters: new LocalParameterStore(paths.parameters),
    events: new LocalEventBus(paths.events),
    fileSystem: new LocalFileSystemTree(paths.efs),
    images: new LocalImageRegistry({
      registry: options.registry ?? null,
      layoutRoot: paths.images,
      repository: options.repository ?? 'lambda-deps',
    }),
  };
}

/** The bucket name the local store answers to (console inputs name it). */
export const LOCAL_BUCKET = 'lambda-deps-local';

/** The settings a local run uses in place of the Lambda environment variables. */
export function localPipelineSettings(options: {
  outDir: string;
  bucket?: string;
  runtime?: string;
  arch?: 'x86_64' | 'arm64';
  indexUrl?: string | null;
  extraIndexUrls?: readonly string[];
  findLinks?: readonly string[];
  functionsToUpdate?: readonly string[];
  layerPrincipals?: readonly string[];
  layerOrganizationId?: string | null;
  cacheDir?: string;
  /** Base image for the image route; default none (the dependency layer alone: no network needed). */
  baseImageRepository?: string;
  /** Base of images for custom glibc targets (`--base-image`). */
  customBaseImage?: string | null;
}): PipelineSettings {
  return {
    artifactBucket: options.bucket ?? LOCAL_BUCKET,
    ssmParameterPrefix: '/lambda-deps/',
    eventBusName: 'local',
    layerNamePrefix: 'lambda-deps',
    layerPrincipals: [...(options.layerPrincipals ?? [])],
    layerOrganizationId: options.layerOrganizationId ?? null,
    functionsToUpdate: [...(options.functionsToUpdate ?? [])],
    efsMountPath: '/mnt/deps',
    efsAccessPointArn: null,
    efsFileSystemId: null,
    keepEfsVersions: 3,
    ecrRepositoryUri: null,
    ecrRepositoryName: null,
    baseImageRepository: options.baseImageRepository ?? '',
    customBaseImage: options.customBaseImage ?? null,
    defaultRuntime: options.runtime ?? 'python3.12',
    defaultArchitecture: options.arch ?? (process.arch === 'arm64' ? 'arm64' : 'x86_64'),
    indexUrl: options.indexUrl ?? null,
    extraIndexUrls: [...(options.extraIndexUrls ?? [])],
    findLinks: [...(options.findLinks ?? [])],
    cacheDir: resolve(options.cacheDir ?? join(options.outDir, 'cache')),
    // This machine may lack the target's interpreter (another CPU, another Python).
    allowSkippedSmokeImport: true,
  };
}
