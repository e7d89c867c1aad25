// Probe (Lambda): runs between publishing and switching. It imports every top-level module of
// the set from what ships (the new layer versions attached, the staged EFS version mounted, the
// pushed image) on the target's runtime and architecture, and a failure stops the switch. In
// AWS the probe is a short-lived function on the real runtime; locally the twin unpacks the
// artifact exactly as Lambda would and imports it with the target's Python.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import { describeProbe, type ProbeArtifact, type ProbeResult } from '../core/probe/index.ts';
import { parseDeliveryPolicy } from '../core/route/delivery-policy.ts';
import { InputError } from '../core/shared/errors.ts';
import type { BuildManifest } from '../core/shared/types.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import { executionNameOf, probeBeforeSwitch } from '../pipeline-probe.ts';
import { artifactKey, deliveryInputSchema, readManifest } from '../pipeline-state.ts';

type ProbeInput = z.output<typeof deliveryInputSchema>;

interface PublishedLayers {
  readonly layers?: readonly { readonly layerVersionArn?: unknown; readonly file?: unknown }[];
}
interface StagedEfs {
  readonly pythonPath?: unknown;
}
interface PushedImage {
  readonly imageUri?: unknown;
  /** The set's image plus probe.py, which the AWS probe function runs. */
  readonly probeImageUri?: unknown;
}

/** What the publish phase made, as the probe receives it. */
function artifactOf(
  input: ProbeInput,
  manifest: BuildManifest,
  { settings, adapters }: StepDependencies,
): ProbeArtifact {
  const { measure, delivery } = input;
  if (!delivery) {
    throw new InputError('The Probe got no delivery: it runs after PublishLayers, SyncEfs or PushImage.', {
      hint: 'Run the whole state machine; the Probe reads `$.delivery`.',
    });
  }
  if (delivery.strategy === 'layers') {
    const layers = (delivery as PublishedLayers).layers ?? [];
    return {
      kind: 'layers',
      zips: [],
      objectKeys: layers.map((layer) => artifactKey(measure.artifactPrefix, String(layer.file))),
      layerVersionArns: layers.map((layer) => String(layer.layerVersionArn)),
    };
  }
  if (delivery.strategy === 'efs') {
    return {
      kind: 'efs',
      mountRoot: adapters.fileSystem.mountRoot,
      mountPath: settings.efsMountPath,
      pythonPath: String((delivery as StagedEfs).pythonPath),
    };
  }
  const pushed = delivery as PushedImage;
  const imageUri = String(pushed.imageUri);
  const probeImageUri = typeof pushed.probeImageUri === 'string' ? pushed.probeImageUri : imageUri;
  return {
    kind: 'image',
    // A local run without a registry delivers the OCI layout folder itself.
    ...(imageUri.startsWith('oci:')
      ? { layoutDir: imageUri.slice('oci:'.length) }
      : { imageUri: probeImageUri }),
    layoutPrefix: artifactKey(measure.artifactPrefix, manifest.image?.layout ?? 'image/').replace(
      /\/?$/,
      '/',
    ),
    unpackedBytes: manifest.sizes.slimmed,
  };
}

/**
 * What the run asked of the probe (stored by Measure with the policy): `--require-probe` (or the
 * stack's setting), and whether its cache is on (`--no-cache` probes again).
 */
async function probeChoices(
  input: ProbeInput,
  { settings, adapters }: StepDependencies,
): Promise<{ requireProbe: boolean; reuse: boolean }> {
  const key = `${input.measure.artifactPrefix}policy.json`;
  const policy = (await adapters.store.exists(key))
    ? parseDeliveryPolicy(JSON.parse((await adapters.store.getBytes(key)).toString()) as unknown, key)
    : null;
  return {
    requireProbe: settings.requireProbe === true || policy?.requireProbe === true,
    reuse: policy?.cache ?? true,
  };
}

async function probeStep(
  input: ProbeInput,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<ProbeResult> {
  const manifest = await readManifest(dependencies.adapters.store, input.route.manifestKey);
  const result = await probeBeforeSwitch({
    adapters: dependencies.adapters,
    manifest,
    artifact: artifactOf(input, manifest, dependencies),
    probeId: `${executionNameOf(input)}/${input.measure.name}`,
    ...(await probeChoices(input, dependencies)),
  });
  logger.info(describeProbe(result), { ran: result.ran, ok: result.ok, importMs: result.importMs });
  return result;
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler(
    { step: 'probe', inputSchema: deliveryInputSchema, run: probeStep },
    provide,
    logger,
  );
}

export const handler = createHandler(await awsDependenciesWhenInLambda());
