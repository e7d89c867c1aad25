// PublishLayers and SwitchLayers (one Lambda, two states). Publish: one layer version per layer
// zip, published from the artifact bucket (S3Bucket/S3Key/S3ObjectVersion), tagged with the
// lock hash, shared with the configured accounts or organization; nothing reads them yet. Then
// the Probe imports the set from exactly these versions on the target. Switch: the latest ARNs
// written to SSM and only then the configured functions re-pointed. A failure half-way updates
// no function and names what was published.
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  awsDependenciesWhenInLambda,
  type StepDependencies,
  type StepDependenciesProvider,
} from '../adapters/aws/aws-adapters.ts';
import {
  layerArnsInUse,
  layerDescription,
  namedLayers,
  repointFunctions,
  previousLayerArns,
  readLayersRecord,
  retireOldVersions,
  unchangedVersion,
  writeSetParameter,
  type DeliveredLayer,
} from '../core/deliver/layers.ts';
import { InputError } from '../core/shared/errors.ts';
import { runOnce } from '../adapters/store-lease.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { isTransient, LayerPublishError, TransientError } from '../pipeline-errors.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';
import type { z } from 'zod';
import type { ProbeResult } from '../core/probe/index.ts';
import { probePassedBeforeSwitch } from '../pipeline-probe.ts';
import type { BuildManifest } from '../core/shared/types.ts';

/** What PublishLayers returns (lands at `$.delivery`). */
export interface LayersDelivery {
  readonly strategy: 'layers';
  readonly layers: readonly { layerName: string; version: number; layerVersionArn: string; file: string }[];
  readonly parameters: readonly string[];
  readonly updatedFunctions: readonly string[];
  /** True when another execution of the same lock had published them. */
  readonly reused: boolean;
  /** False after the publish phase; true once the parameter and the functions name these versions. */
  readonly switched: boolean;
  /** The probe that passed between publishing and switching (the switch phase's result). */
  readonly probe?: ProbeResult;
}

export { layerNameFor } from '../core/deliver/layers.ts';

export const LICENSE_INFO =
  'Third-party Python packages under their own licenses; each one is in its *.dist-info folder inside the layer.';

/** The names a set's layers are delivered under. */
interface SetNames {
  readonly parameterName: string;
  /** Two executions of the same lock may both publish: one does, the other uses its record. */
  readonly recordKey: string;
}

interface LayersContext extends SetNames {
  readonly manifest: BuildManifest;
  readonly runtime: string;
}

function setNames(
  input: z.output<typeof deliveryInputSchema>,
  settings: StepDependencies['settings'],
): SetNames {
  const { measure } = input;
  return {
    parameterName: `${settings.ssmParameterPrefix}${measure.name}/layers`,
    recordKey: `${measure.artifactPrefix}delivery/layers-${measure.name}.json`,
  };
}

async function layersContext(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
): Promise<LayersContext> {
  const { measure } = input;
  const manifest = await readManifest(adapters.store, input.route.manifestKey);
  const runtime = manifest.target.runtime;
  if (!runtime) {
    throw new InputError(
      `The set ${measure.name} was built for a custom target, which no Lambda runtime layer can serve.`,
      {
        hint: 'Use the image route for custom targets, or give a Lambda runtime.',
      },
    );
  }
  if (manifest.layers.length === 0) {
    throw new InputError(`The build manifest ${input.route.manifestKey} lists no layer zips.`, {
      hint: 'The build chose the layers route but packed nothing; look at the build log.',
    });
  }
  return { manifest, runtime, ...setNames(input, settings) };
}

async function publishLayersStep(
  input: z.output<typeof deliveryInputSchema>,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<LayersDelivery> {
  // The switch works from the publish phase's record: the manifest was checked then.
  if (input.phase === 'switch')
    return switchLayers(input, dependencies, setNames(input, dependencies.settings), logger);
  const context = await layersContext(input, dependencies);
  const outcome = await runOnce(
    dependencies.adapters.store,
    {
      leaseKey: context.recordKey.replace(/\.json$/, '.lease'),
      doneKey: context.recordKey,
      pollMs: 500,
      waitMs: 120_000,
      staleMs: 15 * 60_000,
    },
    () => publishAll(input, dependencies, context),
  );
  const record = await readLayersRecord(dependencies.adapters.store, context.recordKey);
  if (outcome === 'reused')
    logger.info('layers already published for this lock and set', { recordKey: context.recordKey });
  return publishedResult(record.layers, context.parameterName, [], outcome === 'reused', false);
}

/** Publishes every layer version (keeping those the set already uses) and records them. */
async function publishAll(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  { manifest, runtime, parameterName, recordKey }: LayersContext,
): Promise<void> {
  const { measure } = input;
  const previousArns = await previousLayerArns(adapters.parameters, parameterName);
  const published: DeliveredLayer[] = [];
  const failHalfWay = (what: string, error: unknown): never => {
    const list = published.map((layer) => layer.layerVersionArn);
    // Nothing exists yet and the cause may pass: safe for the state machine to retry the step.
    if (list.length === 0 && isTransient(error)) {
      throw new TransientError(
        `${what} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        {
          cause: error,
        },
      );
    }
    throw new LayerPublishError(
      `${what} failed after publishing ${list.length} of ${manifest.layers.length} layer(s)${list.length ? `: ${list.join(', ')}` : ''}. No function was updated. Cause: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      list,
      {
        cause: error,
        hint: 'Run the execution again once the cause is fixed; the versions listed can be deleted or left (functions keep the version they use).',
      },
    );
  };

  for (const { layer, layerName, index } of namedLayers(manifest, settings.layerNamePrefix, measure.name)) {
    try {
      // The same zip as the version the set uses now: keep that version, publish nothing.
      const unchanged = await unchangedVersion(adapters.layers, layerName, layer, previousArns);
      if (unchanged) {
        published.push({ ...unchanged, file: layer.file, reused: true });
        continue;
      }
      const objectKey = artifactKey(measure.artifactPrefix, layer.file);
      const head = await adapters.store.head(objectKey);
      if (!head) throw new Error(`${objectKey} is missing from ${adapters.store.location}`);
      const version = await adapters.layers.publishLayerVersion({
        layerName,
        objectKey,
        objectVersion: head.versionId,
        compatibleRuntimes: [runtime],
        compatibleArchitectures: [manifest.target.architecture],
        description: layerDescription(measure.lockHash, measure.name, index, layer, manifest.layers.length),
        licenseInfo: LICENSE_INFO,
      });
      published.push({ ...version, file: layer.file });
    } catch (error) {
      failHalfWay(`Publishing layer ${layerName}`, error);
    }
  }

  try {
    await grantLayerPermissions(adapters, settings, published);
  } catch (error) {
    failHalfWay('Granting layer permissions', error);
  }
  await adapters.store.putBytes(recordKey, JSON.stringify({ layers: published }), 'application/json');
}

/** Shares each new version with the configured accounts and organization. */
async function grantLayerPermissions(
  adapters: StepDependencies['adapters'],
  settings: StepDependencies['settings'],
  published: readonly DeliveredLayer[],
): Promise<void> {
  for (const layer of published.filter((item) => !item.reused)) {
    for (const principal of settings.layerPrincipals) {
      await adapters.layers.addPermission({
        layerName: layer.layerName,
        version: layer.version,
        statementId: `lambda-deps-${principal}`,
        principal,
        organizationId: null,
      });
    }
    if (settings.layerOrganizationId) {
      await adapters.layers.addPermission({
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
 * After the Probe passed: every delivery, first or again (a rollback, a retry), brings the set
 * to the recorded versions: the parameter first, then the functions.
 */
async function switchLayers(
  input: z.output<typeof deliveryInputSchema>,
  { settings, adapters }: StepDependencies,
  { parameterName, recordKey }: SetNames,
  logger: Logger,
): Promise<LayersDelivery> {
  const { measure } = input;
  const probe = probePassedBeforeSwitch(input);
  const record = await readLayersRecord(adapters.store, recordKey);
  const previousArns = await previousLayerArns(adapters.parameters, parameterName);
  const arns = record.layers.map((layer) => layer.layerVersionArn);
  try {
    await writeSetParameter(
      adapters.parameters,
      parameterName,
      record.layers,
      `Latest lambda-deps layer versions of ${measure.name} (lock ${measure.lockHash})`,
    );
  } catch (error) {
    throw new LayerPublishError(
      `Writing SSM parameter ${parameterName} failed after publishing ${arns.length} of ${arns.length} layer(s): ${arns.join(', ')}. No function was updated. Cause: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      arns,
      { cause: error, hint: 'Run the execution again once the cause is fixed; the versions are published.' },
    );
  }
  // Only now, with every layer published and the parameter written, are consumers re-pointed.
  const updatedFunctions = await repointFunctions(
    adapters.layers,
    settings.functionsToUpdate,
    record.layers,
    previousArns,
  );
  logger.info('layers delivered', { arns, updatedFunctions });
  await retireLayerVersions(adapters, settings, parameterName, record.layers, logger);
  const reused = (input.delivery as { reused?: unknown } | undefined)?.reused === true;
  return { ...publishedResult(record.layers, parameterName, updatedFunctions, reused, true), probe };
}

/**
 * After the switch, the older versions of the set's layer names beyond the newest few are
 * deleted, except any the parameter or a listed function still names (read just before).
 * The set is delivered by now, so a failure here is logged and the next delivery retries.
 */
async function retireLayerVersions(
  adapters: StepDependencies['adapters'],
  settings: StepDependencies['settings'],
  parameterName: string,
  delivered: readonly DeliveredLayer[],
  logger: Logger,
): Promise<void> {
  try {
    const inUse = await layerArnsInUse(
      adapters.layers,
      adapters.parameters,
      parameterName,
      settings.functionsToUpdate,
    );
    const retired = await retireOldVersions(
      adapters.layers,
      delivered.map((layer) => layer.layerName),
      settings.keepLayerVersions ?? 3,
      inUse,
    );
    if (retired.length > 0) logger.info('old layer versions retired', { retired });
  } catch (error) {
    logger.warn('retiring old layer versions failed; the next delivery tries again', {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  }
}

function publishedResult(
  layers: readonly DeliveredLayer[],
  parameterName: string,
  updatedFunctions: string[],
  reused: boolean,
  switched: boolean,
): LayersDelivery {
  return {
    strategy: 'layers',
    layers: layers.map(({ layerName, version, layerVersionArn, file }) => ({
      layerName,
      version,
      layerVersionArn,
      file,
    })),
    parameters: [parameterName],
    updatedFunctions,
    reused,
    switched,
  };
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'publish-layers', inputSchema: deliveryInputSchema, run: publishLayersStep },
    provide,
    logger,
  );
}

export const handler = createHandler(awsDependenciesWhenInLambda(['LAYER_NAME_PREFIX']));
