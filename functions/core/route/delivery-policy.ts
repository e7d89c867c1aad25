// The one description of every build choice a run makes: slimming, precompiling, stripping,
// leaving out what the runtime provides, the layer budget, the strategy, index switches, sdist
// permission and the cache. CLI flags, the console's execution input and the construct's
// defaults all parse into it; Measure passes it to Build as a stored JSON object, never as
// shell text; its hash (of the fields that change the bytes) is part of every artifact key.
import { z } from 'zod';
import { InputError } from '../shared/errors.ts';
import { LAMBDA_MAX_LAYERS, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../shared/types.ts';
import { DEFAULT_DELIVERY_POLICY as DEFAULTS } from './policy-defaults.ts';

export * from './policy-defaults.ts';

const MAX_LIST = 64;
/** An extra or group name (PEP 685 / PEP 735 names, before normalization). */
const GROUP_NAME = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/, 'a group name such as "dev"');
/** A format-control value as pip takes it. */
const FORMAT_VALUE = z
  .string()
  .regex(
    /^(?::all:|:none:|[A-Za-z0-9][A-Za-z0-9._-]*(?:,[A-Za-z0-9][A-Za-z0-9._-]*)*)$/,
    '":all:", ":none:" or package names',
  )
  .max(4096);

export const deliveryPolicySchema = z.strictObject({
  /** Apply the slimming rules (tests, caches, docs…). `--no-slim` turns them off. */
  slim: z.boolean().default(DEFAULTS.slim),
  /** Add `.pyc` compiled by the target's Python. */
  precompile: z.boolean().default(DEFAULTS.precompile),
  /** Strip symbols from extension modules (never `*.libs`). */
  stripSymbols: z.boolean().default(DEFAULTS.stripSymbols),
  /** Leave out boto3, botocore and their dependencies (the runtime has them). */
  excludeRuntimeProvided: z.boolean().default(DEFAULTS.excludeRuntimeProvided),
  /** Layers the function already uses. */
  existingLayers: z
    .number()
    .int()
    .min(0)
    .max(LAMBDA_MAX_LAYERS - 1)
    .default(DEFAULTS.existingLayers),
  /** Layer slots left free for layers the function adds later (one is still used when nothing else is left). */
  keepFreeLayers: z.number().int().min(0).max(LAMBDA_MAX_LAYERS).default(DEFAULTS.keepFreeLayers),
  /** Unzipped bytes kept free for the function's own code. */
  reserveBytesForFunctionCode: z
    .number()
    .int()
    .nonnegative()
    .max(LAMBDA_UNZIPPED_LIMIT_BYTES - 1)
    .default(DEFAULTS.reserveBytesForFunctionCode),
  /** Take this route whatever the size (an error when the set cannot fit it); absent: decided by size. */
  forceStrategy: z.enum(['layers', 'image', 'efs']).optional(),
  /** Allow pre-releases everywhere. */
  pre: z.boolean().default(DEFAULTS.pre),
  /** Ignore package indexes (find-links only). */
  noIndex: z.boolean().default(DEFAULTS.noIndex),
  /** Reuse a cached build of the same lock and policy. */
  cache: z.boolean().default(DEFAULTS.cache),
  /** A probe that cannot run here (arm64 on x86_64, a Python this machine lacks) fails the run. */
  requireProbe: z.boolean().default(DEFAULTS.requireProbe),
  /** pyproject.toml or lock optional-dependency groups (`--extra`). */
  extras: z.array(GROUP_NAME).max(MAX_LIST).default([]),
  /** PEP 735 dependency groups, a lock's groups or Pipfile categories (`--group`). */
  groups: z.array(GROUP_NAME).max(MAX_LIST).default([]),
  /** pip's `--only-binary`: `:all:`, `:none:` or comma-separated names. */
  onlyBinary: z.array(FORMAT_VALUE).max(MAX_LIST).default([]),
  /** pip's `--no-binary`, as `onlyBinary`. */
  noBinary: z.array(FORMAT_VALUE).max(MAX_LIST).default([]),
  /** pip's `--prefer-binary`: an older wheel over a newer sdist. */
  preferBinary: z.boolean().default(DEFAULTS.preferBinary),
});

/** A complete policy (every default filled in). */
export type DeliveryPolicy = z.output<typeof deliveryPolicySchema>;
/** What a caller may give: any subset of the fields. */
export type DeliveryPolicyInput = z.input<typeof deliveryPolicySchema>;

/**
 * The policy from any subset of its fields; an InputError naming the field and the file (or
 * input) it came from when a value is wrong or unknown.
 * @example parseDeliveryPolicy({ slim: false }).keepFreeLayers // 1
 */
export function parseDeliveryPolicy(value: unknown = {}, origin = 'the delivery policy'): DeliveryPolicy {
  const parsed = deliveryPolicySchema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map(
    (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
  );
  throw new InputError(`${origin} is not valid: ${issues.join('; ')}.`, {
    hint: `Valid fields: ${Object.keys(deliveryPolicySchema.shape).join(', ')}.`,
  });
}
