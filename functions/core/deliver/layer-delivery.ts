// The two phases of layer delivery over the ports, for the PublishLayers/SwitchLayers handler:
// publish every layer zip of a set as a version (keeping a version whose zip is unchanged),
// share it and record the versions; then, after the Probe passed, write the set's parameter,
// re-point the listed functions and retire old versions. A failure half-way updates no function
// and names what was published.
import type { LayerRegistry, LeasingObjectStore, ParameterStore } from '../../adapters/ports.ts';
import { isTransient, LayerPublishError, TransientError } from '../../pipeline-errors.ts';
import type { BuildManifest } from '../shared/types.ts';
import {
  layerArnsInUse,
  layerDescription,
  namedLayers,
  previousLayerArns,
  readLayersRecord,
  repointFunctions,
  retireOldVersions,
  unchangedVersion,
  writeSetParameter,
  type DeliveredLayer,
} from './layers.ts';

export const LICENSE_INFO =
  'Third-party Python packages under their own licenses; each one is in its *.dist-info folder inside the layer.';

/** The ports layer delivery works through. */
export interface LayerDeliveryPorts {
  readonly store: LeasingObjectStore;
  readonly layers: LayerRegistry;
  readonly parameters: ParameterStore;
}

/** The stack's settings layer delivery reads. */
export interface LayerDeliverySettings {
  readonly layerNamePrefix: string;
  readonly layerPrincipals: readonly string[];
  readonly layerOrganizationId: string | null;
  readonly functionsToUpdate: readonly string[];
  readonly keepLayerVersions?: number;
}

/** Where the delivery logs (a handler passes its logger). */
export interface DeliveryLog {
  info(message: string, details: Record<string, unknown>): void;
  warn(message: string, details: Record<string, unknown>): void;
}

/** One set's layers to publish: its manifest, names and where its zips are stored. */
export interface LayerSet {
  readonly name: string;
  readonly lockHash: string;
  readonly manifest: BuildManifest;
  readonly runtime: string;
  readonly parameterName: string;
  readonly recordKey: string;
  /** The store key of a file the manifest names. */
  objectKeyOf(file: string): string;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What to throw when `what` failed after `published` were published (retryable when none were). */
function failedHalfWay(
  what: string,
  error: unknown,
  published: readonly DeliveredLayer[],
  of: number,
): Error {
  const list = published.map((layer) => layer.layerVersionArn);
  // Nothing exists yet and the cause may pass: safe for the state machine to retry the step.
  if (list.length === 0 && isTransient(error))
    return new TransientError(`${what} failed: ${describe(error)}`, { cause: error });
  return new LayerPublishError(
    `${what} failed after publishing ${list.length} of ${of} layer(s)${list.length ? `: ${list.join(', ')}` : ''}. No function was updated. Cause: ${describe(error)}`,
    list,
    {
      cause: error,
      hint: 'Run the execution again once the cause is fixed; the versions listed can be deleted or left (functions keep the version they use).',
    },
  );
}

/** One layer version of the set: the one it uses now when the zip is unchanged, else a new one. */
async function publishOne(
  ports: LayerDeliveryPorts,
  set: LayerSet,
  { layer, layerName, index }: ReturnType<typeof namedLayers>[number],
  previousArns: readonly string[],
): Promise<DeliveredLayer> {
  const unchanged = await unchangedVersion(ports.layers, layerName, layer, previousArns);
  if (unchanged) return { ...unchanged, file: layer.file, reused: true };
  const objectKey = set.objectKeyOf(layer.file);
  const head = await ports.store.head(objectKey);
  if (!head) throw new Error(`${objectKey} is missing from ${ports.store.location}`);
  const { manifest } = set;
  const version = await ports.layers.publishLayerVersion({
    layerName,
    objectKey,
    objectVersion: head.versionId,
    compatibleRuntimes: [set.runtime],
    compatibleArchitectures: [manifest.target.architecture],
    description: layerDescription(set.lockHash, set.name, index, layer, manifest.layers.length),
    licenseInfo: LICENSE_INFO,
  });
  return { ...version, file: layer.file };
}

/**
 * Publishes every layer version of the set (keeping those it already uses), shares the new ones
 * and writes the record the switch reads. Nothing reads the versions yet.
 * @example await publishLayerSet(adapters, settings, set);
 */
export async function publishLayerSet(
  ports: LayerDeliveryPorts,
  settings: LayerDeliverySettings,
  set: LayerSet,
): Promise<void> {
  const previousArns = await previousLayerArns(ports.parameters, set.parameterName);
  const published: DeliveredLayer[] = [];
  const of = set.manifest.layers.length;
  for (const named of namedLayers(set.manifest, settings.layerNamePrefix, set.name)) {
    try {
      published.push(await publishOne(ports, set, named, previousArns));
    } catch (error) {
      throw failedHalfWay(`Publishing layer ${named.layerName}`, error, published, of);
    }
  }
  try {
    await grantLayerPermissions(ports.layers, settings, published);
  } catch (error) {
    throw failedHalfWay('Granting layer permissions', error, published, of);
  }
  await ports.store.putBytes(set.recordKey, JSON.stringify({ layers: published }), 'application/json');
}

/** Shares each new version with the configured accounts and organization. */
async function grantLayerPermissions(
  layers: LayerRegistry,
  settings: LayerDeliverySettings,
  published: readonly DeliveredLayer[],
): Promise<void> {
  for (const layer of published.filter((item) => !item.reused)) {
    for (const principal of settings.layerPrincipals) {
      await layers.addPermission({
        layerName: layer.layerName,
        version: layer.version,
        statementId: `lambda-deps-${principal}`,
        principal,
        organizationId: null,
      });
    }
    if (settings.layerOrganizationId) {
      await layers.addPermission({
        layerName: layer.layerName,
        version: layer.version,
        statementId: `lambda-deps-${settings.layerOrganizationId}`,
        principal: '*',
        organizationId: settings.layerOrganizationId,
      });
    }
  }
}

/**
 * After the Probe passed: brings the set to the recorded versions, the parameter first, then the
 * functions; then retires old versions. Returns the recorded layers and the functions updated.
 * @example const { layers, updatedFunctions } = await switchLayerSet(adapters, settings, set, logger);
 */
export async function switchLayerSet(
  ports: LayerDeliveryPorts,
  settings: LayerDeliverySettings,
  set: Pick<LayerSet, 'name' | 'lockHash' | 'parameterName' | 'recordKey'>,
  log: DeliveryLog,
): Promise<{ layers: readonly DeliveredLayer[]; updatedFunctions: string[] }> {
  const record = await readLayersRecord(ports.store, set.recordKey);
  const previousArns = await previousLayerArns(ports.parameters, set.parameterName);
  const arns = record.layers.map((layer) => layer.layerVersionArn);
  try {
    await writeSetParameter(
      ports.parameters,
      set.parameterName,
      record.layers,
      `Latest lambda-deps layer versions of ${set.name} (lock ${set.lockHash})`,
    );
  } catch (error) {
    throw new LayerPublishError(
      `Writing SSM parameter ${set.parameterName} failed after publishing ${arns.length} of ${arns.length} layer(s): ${arns.join(', ')}. No function was updated. Cause: ${describe(error)}`,
      arns,
      { cause: error, hint: 'Run the execution again once the cause is fixed; the versions are published.' },
    );
  }
  // Only now, with every layer published and the parameter written, are consumers re-pointed.
  const updatedFunctions = await repointFunctions(
    ports.layers,
    settings.functionsToUpdate,
    record.layers,
    previousArns,
  );
  log.info('layers delivered', { arns, updatedFunctions });
  await retireLayerVersions(ports, settings, set.parameterName, record.layers, log);
  return { layers: record.layers, updatedFunctions };
}

/**
 * After the switch, the older versions of the set's layer names beyond the newest few are
 * deleted, except any the parameter or a listed function still names (read just before).
 * The set is delivered by now, so a failure here is logged and the next delivery retries.
 */
async function retireLayerVersions(
  ports: LayerDeliveryPorts,
  settings: LayerDeliverySettings,
  parameterName: string,
  delivered: readonly DeliveredLayer[],
  log: DeliveryLog,
): Promise<void> {
  try {
    const inUse = await layerArnsInUse(
      ports.layers,
      ports.parameters,
      parameterName,
      settings.functionsToUpdate,
    );
    const retired = await retireOldVersions(
      ports.layers,
      delivered.map((layer) => layer.layerName),
      settings.keepLayerVersions ?? 3,
      inUse,
    );
    if (retired.length > 0) log.info('old layer versions retired', { retired });
  } catch (error) {
    log.warn('retiring old layer versions failed; the next delivery tries again', { error: describe(error) });
  }
}
