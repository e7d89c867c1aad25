// PublishLayers and SwitchLayers (one Lambda, two states). Publish: one layer version per layer
// zip, published from the artifact bucket (S3Bucket/S3Key/S3ObjectVersion), tagged with the
// lock hash, shared with the configured accounts or organization; nothing reads them yet. Then
// the Probe imports the set from exactly these versions on the target. Switch: the latest ARNs
// written to SSM and only then the configured functions re-pointed. A failure half-way updates
// no function and names what was published.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import { runOnce } from '../adapters/store-lease.ts';
import { publishLayerSet, switchLayerSet, type LayerSet } from '../core/deliver/layer-delivery.ts';
import { readLayersRecord, type DeliveredLayer } from '../core/deliver/layers.ts';
import type { ProbeResult } from '../core/probe/index.ts';
import { InputError } from '../core/shared/errors.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { probePassedBeforeSwitch } from '../pipeline-probe.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';

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
export { LICENSE_INFO } from '../core/deliver/layer-delivery.ts';

type DeliveryInput = z.output<typeof deliveryInputSchema>;

/** The names a set's layers are delivered under; two executions of one lock share the record. */
function setNames(input: DeliveryInput, settings: StepDependencies['settings']) {
  const { measure } = input;
  return {
    name: measure.name,
    lockHash: measure.lockHash,
    parameterName: `${settings.ssmParameterPrefix}${measure.name}/layers`,
    recordKey: `${measure.artifactPrefix}delivery/layers-${measure.name}.json`,
  };
}

/** The set to publish, from its checked build manifest. */
async function layerSet(input: DeliveryInput, { settings, adapters }: StepDependencies): Promise<LayerSet> {
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
  return {
    ...setNames(input, settings),
    manifest,
    runtime,
    objectKeyOf: (file) => artifactKey(measure.artifactPrefix, file),
  };
}

async function publishLayersStep(
  input: DeliveryInput,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<LayersDelivery> {
  const { settings, adapters } = dependencies;
  // The switch works from the publish phase's record: the manifest was checked then.
  if (input.phase === 'switch') {
    const probe = probePassedBeforeSwitch(input);
    const names = setNames(input, settings);
    const { layers, updatedFunctions } = await switchLayerSet(adapters, settings, names, logger);
    const reused = (input.delivery as { reused?: unknown } | undefined)?.reused === true;
    return { ...publishedResult(layers, names.parameterName, updatedFunctions, reused, true), probe };
  }
  const set = await layerSet(input, dependencies);
  const outcome = await runOnce(
    adapters.store,
    {
      leaseKey: set.recordKey.replace(/\.json$/, '.lease'),
      doneKey: set.recordKey,
      pollMs: 500,
      waitMs: 120_000,
      staleMs: 15 * 60_000,
    },
    () => publishLayerSet(adapters, settings, set),
  );
  const record = await readLayersRecord(adapters.store, set.recordKey);
  if (outcome === 'reused')
    logger.info('layers already published for this lock and set', { recordKey: set.recordKey });
  return publishedResult(record.layers, set.parameterName, [], outcome === 'reused', false);
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

export const handler = createHandler(await awsDependenciesWhenInLambda(['LAYER_NAME_PREFIX']));
