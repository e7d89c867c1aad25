// Probe (Lambda): runs between publishing and switching. It imports every top-level module of
// the set from what ships (the new layer versions attached, the staged EFS version mounted, the
// pushed image) on the target's runtime and architecture, and a failure stops the switch. In
// AWS the probe is a short-lived function on the real runtime; locally the twin unpacks the
// artifact exactly as Lambda would and imports it with the target's Python.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { z } from 'zod';
import {
  awsDependenciesWhenInLambda,
  type StepDependencies,
  type StepDependenciesProvider,
} from '../adapters/aws/aws-adapters.ts';
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
  };
}

/** The run's own ask (`--require-probe`, stored by Measure with the policy), or the stack's. */
async function probeRequired(input: ProbeInput, { settings, adapters }: StepDependencies): Promise<boolean> {
  if (settings.requireProbe) return true;
  const key = `${input.measure.artifactPrefix}policy.json`;
  if (!(await adapters.store.exists(key))) return false;
  const text = (await adapters.store.getBytes(key)).toString();
  return parseDeliveryPolicy(JSON.parse(text) as unknown, key).requireProbe;
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
    requireProbe: await probeRequired(input, dependencies),
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

export const handler = createHandler(awsDependenciesWhenInLambda());
