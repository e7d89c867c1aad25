// What an execution may start with: the console input (README.md), or an EventBridge
// `Object Created` event for an upload under `requirements/`, each wrapped by the state
// machine's NormalizeInput as `{ source, input }`. Unknown console fields are refused by
// name, so a typo (`runtim`) is not silently ignored.
import { z } from 'zod';
import { deliveryPolicySchema } from '../core/route/delivery-policy.ts';

const SET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

export const requirementsSourceSchema = z.union([
  z.strictObject({
    bucket: z.string().min(3, 'a bucket name').max(63),
    key: z.string().min(1, 'an object key').max(1024),
  }),
  z.strictObject({
    inline: z
      .string()
      .min(1, 'the requirements text')
      .max(256 * 1024, 'at most 256 KiB (upload a bigger file to the bucket instead)'),
  }),
]);

export const consoleInputSchema = z
  .strictObject({
    requirements: requirementsSourceSchema,
    runtime: z
      .string()
      .regex(/^python3\.\d{1,2}$/, 'a Lambda Python runtime such as python3.12')
      .optional(),
    architecture: z.enum(['x86_64', 'arm64']).optional(),
    /** Custom target (an image on another base): Python version and glibc ceiling. */
    python: z
      .string()
      .regex(/^3\.\d{1,2}$/, 'a Python version such as 3.11')
      .optional(),
    glibc: z
      .string()
      .regex(/^2\.\d{1,2}$/, 'a glibc version such as 2.34')
      .optional(),
    name: z
      .string()
      .regex(SET_NAME, 'letters, digits, ".", "_" and "-", at most 64, not starting with a symbol')
      .optional(),
    /** Every build choice (functions/core/route/delivery-policy.ts); absent fields take the construct's defaults. */
    policy: deliveryPolicySchema.optional(),
  })
  .superRefine((value, context) => {
    if (value.runtime && (value.python || value.glibc)) {
      context.addIssue({
        code: 'custom',
        path: ['python'],
        message: 'give either runtime, or python with glibc for a custom target, not both',
      });
    }
    if (Boolean(value.python) !== Boolean(value.glibc)) {
      context.addIssue({
        code: 'custom',
        path: [value.python ? 'glibc' : 'python'],
        message: 'a custom target needs both python and glibc',
      });
    }
  });
export type ConsoleInput = z.output<typeof consoleInputSchema>;

export const s3EventSchema = z.looseObject({
  source: z.string().optional(),
  'detail-type': z.string().optional(),
  detail: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(3) }),
    object: z.looseObject({
      key: z.string().min(1).max(1024),
      size: z.number().int().nonnegative().optional(),
      etag: z.string().optional(),
      'version-id': z.string().optional(),
    }),
  }),
});
export type S3ObjectCreatedEvent = z.output<typeof s3EventSchema>;

export const measureInputSchema = z.discriminatedUnion('source', [
  z.looseObject({ source: z.literal('console'), input: consoleInputSchema }),
  z.looseObject({ source: z.literal('s3'), input: s3EventSchema }),
]);
export type MeasureInput = z.output<typeof measureInputSchema>;
