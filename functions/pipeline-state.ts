// The execution state as the steps after Measure see it (`$.measure`, `$.route`,
// `$.delivery`), with the object keys the contract fixes. Shared by the handlers so each
// one validates the part of the state it reads.
import { z } from 'zod';
import type { ObjectStore } from './adapters/ports.ts';
import { InputError } from './core/shared/errors.ts';
import type { BuildManifest } from './core/shared/types.ts';

const LOCK_HASH = /^[0-9a-f]{64}$/;

/**
 * Step Functions' rule for execution names: 1–80 characters, no whitespace, no `< > { } [ ]`,
 * no `? *`, none of `" # % \ ^ | ~ \` $ & , ; : /`, no control characters. So `+`, `@`, `=`
 * and `.` are fine.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what the rule forbids
export const EXECUTION_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;
export const executionNameSchema = z
  .string()
  .regex(
    EXECUTION_NAME,
    'is not a Step Functions execution name (1-80 characters, no whitespace or <>{}[]?*"#%\\^|~`$&,;:/)',
  );

export const measureOutputSchema = z.object({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/),
  lockHash: z.string().regex(LOCK_HASH, 'a sha256 hex digest'),
  lockKey: z.string().min(1),
  artifactPrefix: z.string().regex(/^artifacts\/[0-9a-f]{64}\/$/),
  /** What the build is told: `auto` (it decides on the slimmed size) or the strategy the user forced. */
  strategy: z.enum(['auto', 'layers', 'efs', 'image']),
  pythonVersion: z.string().regex(/^3\.\d{1,2}$/),
  runtime: z.string().nullable(),
  architecture: z.enum(['x86_64', 'arm64']),
  cached: z.boolean(),
  manifestKey: z.string().min(1),
  computeType: z.string().optional(),
  verdict: z.unknown().optional(),
  /** What a person should know that did not stop the run (e.g. an index host that does not resolve was left out). */
  warnings: z.array(z.string()).optional(),
});
export type MeasureOutput = z.output<typeof measureOutputSchema>;

export const routeOutputSchema = z.object({
  strategy: z.enum(['layers', 'efs', 'image']),
  manifestKey: z.string().min(1),
  /** True only when verification passed and the smoke import ran and passed. */
  ok: z.boolean(),
  /** Why the set is delivered unverified (a local host without the target's interpreter). */
  unverified: z.string().optional(),
});
export type RouteOutput = z.output<typeof routeOutputSchema>;

/** State after a build was read: what the delivery steps get. */
/**
 * The delivery steps run twice: `publish` makes the artifact (layer versions, the staged EFS
 * version, the pushed image) without anything reading it yet; after the Probe passed, `switch`
 * points the set at it (its parameter, `current`, its functions).
 */
export const deliveryPhaseSchema = z.enum(['publish', 'switch']);
export type DeliveryPhase = z.output<typeof deliveryPhaseSchema>;

export const deliveryInputSchema = z.looseObject({
  measure: measureOutputSchema,
  route: routeOutputSchema,
  phase: deliveryPhaseSchema.default('publish'),
  /** The publish phase's result, for the Probe and the switch phase. */
  delivery: z.looseObject({ strategy: z.enum(['layers', 'efs', 'image']) }).optional(),
  /** The Probe's result, for the switch phase. */
  probe: z.looseObject({ ran: z.boolean(), ok: z.boolean() }).optional(),
});

export const keys = {
  lock: (lockHash: string) => `locks/${lockHash}.json`,
  artifactPrefix: (lockHash: string) => `artifacts/${lockHash}/`,
  manifest: (lockHash: string) => `artifacts/${lockHash}/manifest.json`,
  buildLease: (lockHash: string) => `artifacts/${lockHash}/.build-lease`,
  delivered: (lockHash: string) => `delivered/${lockHash}.json`,
  report: (reportName: string) => `reports/${reportName}.json`,
};

/**
 * The key a delivery is recorded under (`delivered/<key>.json`): the artifact key Measure named
 * (lock hash and delivery policy hash), so the same lock under another policy is built again.
 */
export function deliveryKeyOf(measure: Pick<MeasureOutput, 'artifactPrefix'>): string {
  return measure.artifactPrefix.slice('artifacts/'.length, -1);
}

/** An artifact path from the manifest (`layers/a.zip`) as a store key under the set's prefix. */
export function artifactKey(artifactPrefix: string, file: string): string {
  const relative = file.replace(/^\.?\/+/, '');
  return relative.startsWith(artifactPrefix) ? relative : `${artifactPrefix}${relative}`;
}

/** The build manifest the build wrote (not re-validated in full: the build is ours). */
export async function readManifest(store: ObjectStore, manifestKey: string): Promise<BuildManifest> {
  const bytes = await store.getBytes(manifestKey).catch((error: unknown) => {
    throw new InputError(`The build manifest ${manifestKey} could not be read.`, {
      hint: 'The Build step writes it; look at the build log for why it did not.',
      cause: error,
    });
  });
  return JSON.parse(bytes.toString('utf8')) as BuildManifest;
}
