// The delivery policy's defaults and its identity (the hash of the fields that change the bytes,
// the artifact key), without its schema: `measure` with no policy flags and every caller that
// only hashes a policy load no schema library (zod is a tenth of `measure`'s start-up). The
// schema in delivery-policy.ts takes its defaults from here, so the two cannot drift.
import { createHash } from 'node:crypto';
import type { DeliveryPolicy } from './delivery-policy.ts';

export const DEFAULT_RESERVE_BYTES = 5 * 1024 * 1024;
export const DEFAULT_KEEP_FREE_LAYERS = 1;

/** The policy of a run that sets nothing: what the schema fills in for every absent field.
 * (Not typed as DeliveryPolicy: that type is inferred from the schema, which reads these.) */
export const DEFAULT_DELIVERY_POLICY = Object.freeze({
  slim: true,
  precompile: false,
  stripSymbols: false,
  excludeRuntimeProvided: false,
  existingLayers: 0,
  keepFreeLayers: DEFAULT_KEEP_FREE_LAYERS,
  reserveBytesForFunctionCode: DEFAULT_RESERVE_BYTES,
  pre: false,
  noIndex: false,
  cache: true,
  requireProbe: false,
  // What Measure resolves (pyproject/lock groups and pip's format controls): they change the
  // lock, whose hash is already half of the artifact key, so they are not among BUILD_FIELDS.
  extras: Object.freeze([]) as readonly string[],
  groups: Object.freeze([]) as readonly string[],
  onlyBinary: Object.freeze([]) as readonly string[],
  noBinary: Object.freeze([]) as readonly string[],
  preferBinary: false,
});

const LIST_FIELDS = ['extras', 'groups', 'onlyBinary', 'noBinary'] as const;

/** A fresh copy of the defaults. @example defaultDeliveryPolicy().slim // true */
export function defaultDeliveryPolicy(): DeliveryPolicy {
  return {
    ...DEFAULT_DELIVERY_POLICY,
    ...Object.fromEntries(LIST_FIELDS.map((field) => [field, []])),
  } as DeliveryPolicy;
}

/** Whether `fields` only repeats defaults (so there is nothing to validate). */
export function onlyDefaults(fields: Readonly<Record<string, unknown>>): boolean {
  const defaults = DEFAULT_DELIVERY_POLICY as Readonly<Record<string, unknown>>;
  return Object.entries(fields).every(
    ([field, value]) =>
      field in defaults &&
      (defaults[field] === value ||
        ((LIST_FIELDS as readonly string[]).includes(field) && Array.isArray(value) && value.length === 0)),
  );
}

/** Fields that change what is built, hence the artifact key; the rest change how it is found or run. */
const BUILD_FIELDS = [
  'slim',
  'precompile',
  'stripSymbols',
  'excludeRuntimeProvided',
  'existingLayers',
  'keepFreeLayers',
  'reserveBytesForFunctionCode',
  'forceStrategy',
] as const satisfies readonly (keyof DeliveryPolicy)[];

/** sha256 (hex) of the fields that change the artifacts, in a fixed order. */
export function deliveryPolicyHash(policy: DeliveryPolicy): string {
  const fields = Object.fromEntries(BUILD_FIELDS.map((field) => [field, policy[field] ?? null]));
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/** The key artifacts are stored under: one per lock and policy. */
export function artifactKeyOf(lockHash: string, policy: DeliveryPolicy): string {
  return artifactKeyFromHashes(lockHash, deliveryPolicyHash(policy));
}

/** The artifact key from the two hashes (as a manifest records them). */
export function artifactKeyFromHashes(lockHash: string, policyHash: string): string {
  return createHash('sha256').update(`${lockHash}\0${policyHash}`).digest('hex');
}
