// Layer delivery over the ports: publish a set's layer zips (reusing a version whose content is
// unchanged), record them once per lock and set, then always bring the set to what was asked —
// its SSM parameter names these versions and the listed functions use them, replacing exactly
// this set's layers (by name), never another set's. A rollback or a second set name for one
// lock is therefore delivered like any other run.
import type {
  LayerRegistry,
  LeasingObjectStore,
  ParameterStore,
  PublishedLayerVersion,
} from '../../adapters/ports.ts';
import type { BuildManifest, LayerArtifact } from '../shared/types.ts';

/** One delivered layer version, as the record and the result list it. */
export type DeliveredLayer = PublishedLayerVersion & { readonly file: string; readonly reused?: boolean };

/**
 * `<prefix>-<set>[-<id or n>]`, at most 140 characters of letters, digits, `-` and `_`. A prefix
 * that already ends with `-` or `_` is not given a second separator. A layer the packer gave a
 * stable id (`numpy`, `shared-1`) is named by it, so upgrading one package publishes a new
 * version of that one layer name only; a single layer takes the set's name.
 */
export function layerNameFor(
  prefix: string,
  setName: string,
  index: number,
  count: number,
  layerId?: string,
): string {
  const separator = /[-_]$/.test(prefix) || prefix === '' ? '' : '-';
  const base = `${prefix}${separator}${setName}`.replace(/[^a-zA-Z0-9_-]+/g, '-');
  const suffix =
    count === 1 ? '' : layerId ? `-${layerId.replace(/[^a-zA-Z0-9_-]+/g, '-')}` : `-${index + 1}`;
  return `${base.slice(0, 140 - suffix.length)}${suffix}`;
}

/** The layer name inside a layer version ARN (`arn:aws:lambda:r:a:layer:NAME:3` → NAME). */
export function layerNameOfArn(arn: string): string {
  return arn.split(':')[6] ?? '';
}

/** The description carries the lock and the zip's content hash (256 characters at most). */
export function layerDescription(
  lockHash: string,
  setName: string,
  index: number,
  layer: LayerArtifact,
  count: number,
): string {
  return `lambda-deps ${lockHash} ${setName} ${index + 1}/${count} sha256:${layer.sha256}`.slice(0, 256);
}

/**
 * The earlier version of the same layer name whose zip had the same content, if the set's
 * parameter still names one: publishing it again would only make an identical version.
 */
export async function unchangedVersion(
  layers: LayerRegistry,
  layerName: string,
  layer: LayerArtifact,
  previousArns: readonly string[],
): Promise<PublishedLayerVersion | null> {
  const previous = previousArns.find((arn) => layerNameOfArn(arn) === layerName);
  if (!previous || !layers.getLayerVersion) return null;
  const found = await layers.getLayerVersion(previous);
  return found?.description.includes(`sha256:${layer.sha256}`) ? found : null;
}

/** Writes the set's parameter: the layer version ARNs it uses now, comma-separated. */
export async function writeSetParameter(
  parameters: ParameterStore,
  parameterName: string,
  delivered: readonly DeliveredLayer[],
  description: string,
): Promise<void> {
  await parameters.put(parameterName, delivered.map((layer) => layer.layerVersionArn).join(','), description);
}

/**
 * Re-points the functions at the set's versions: the layers replaced are exactly the ones this
 * set delivered before (from its parameter) and delivers now, matched by whole name, so set
 * `web` never strips set `webapp`'s layers.
 */
export async function repointFunctions(
  layers: LayerRegistry,
  functionNames: readonly string[],
  delivered: readonly DeliveredLayer[],
  previousArns: readonly string[],
): Promise<string[]> {
  const layerVersionArns = delivered.map((layer) => layer.layerVersionArn);
  const replaceNames = [
    ...new Set([...previousArns.map(layerNameOfArn), ...delivered.map((layer) => layer.layerName)]),
  ];
  const updated: string[] = [];
  for (const functionName of functionNames) {
    await layers.updateFunctionLayers({ functionName, layerVersionArns, replaceNames });
    updated.push(functionName);
  }
  return updated;
}

/** The set's layer versions as its parameter names them now (empty for a new set). */
export async function previousLayerArns(
  parameters: ParameterStore,
  parameterName: string,
): Promise<string[]> {
  const value = parameters.get ? await parameters.get(parameterName) : null;
  return (value ?? '')
    .split(',')
    .map((arn) => arn.trim())
    .filter(Boolean);
}

/** What the publishing record under `<artifactPrefix>delivery/` holds. */
export interface LayersRecord {
  readonly layers: DeliveredLayer[];
}

/** A manifest's layers with the names they are published under. */
export function namedLayers(
  manifest: BuildManifest,
  prefix: string,
  setName: string,
): { layer: LayerArtifact; layerName: string; index: number }[] {
  return manifest.layers.map((layer, index) => ({
    layer,
    index,
    layerName: layerNameFor(prefix, setName, index, manifest.layers.length, layer.id),
  }));
}

/** Reads the publishing record (written by whichever execution published). */
export async function readLayersRecord(store: LeasingObjectStore, recordKey: string): Promise<LayersRecord> {
  return JSON.parse((await store.getBytes(recordKey)).toString('utf8')) as LayersRecord;
}

/**
 * Deletes the older versions of each layer name beyond the newest `keep`, never one that
 * `inUse` lists (the set's parameter, the functions' layers): a function can keep using a
 * deleted version, but it could no longer be rolled back to or added elsewhere. Returns the
 * ARNs deleted; a registry that cannot list or delete retires nothing.
 */
export async function retireOldVersions(
  layers: LayerRegistry,
  layerNames: readonly string[],
  keep: number,
  inUse: readonly string[],
): Promise<string[]> {
  if (!layers.listLayerVersions || !layers.deleteLayerVersion || keep < 1) return [];
  const used = new Set(inUse);
  const deleted: string[] = [];
  for (const layerName of new Set(layerNames)) {
    const newestFirst = [...(await layers.listLayerVersions(layerName))].sort(
      (a, b) => b.version - a.version,
    );
    for (const old of newestFirst.slice(keep)) {
      if (used.has(old.layerVersionArn)) continue;
      await layers.deleteLayerVersion({ layerName, version: old.version });
      deleted.push(old.layerVersionArn);
    }
  }
  return deleted;
}

/** Every layer version ARN still in use: the set's parameter and each listed function's layers. */
export async function layerArnsInUse(
  layers: LayerRegistry,
  parameters: ParameterStore,
  parameterName: string,
  functionNames: readonly string[],
): Promise<string[]> {
  const arns = await previousLayerArns(parameters, parameterName);
  for (const functionName of functionNames) {
    if (layers.getFunctionLayers) arns.push(...(await layers.getFunctionLayers(functionName)));
  }
  return arns;
}
