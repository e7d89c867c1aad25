// What a finished run adds to its build manifest, read defensively: the delivery (layer ARNs,
// parameters, the EFS path, the image URI) and the probe. Both arrive as untyped JSON from the
// pipeline's JSON files, so they are parsed, and anything missing simply leaves a line out.
import { z } from 'zod';
import type { BuildManifest } from '../shared/types.ts';

const deliverySchema = z.looseObject({
  strategy: z.string().optional(),
  layers: z
    .array(
      z.looseObject({
        layerName: z.string().optional(),
        version: z.number().optional(),
        layerVersionArn: z.string(),
        file: z.string().optional(),
      }),
    )
    .optional(),
  parameters: z.array(z.string()).optional(),
  updatedFunctions: z.array(z.string()).optional(),
  pythonPath: z.string().optional(),
  currentPath: z.string().optional(),
  mount: z
    .looseObject({
      accessPointArn: z.string().nullable().optional(),
      fileSystemId: z.string().nullable().optional(),
      mountPath: z.string().optional(),
    })
    .optional(),
  imageUri: z.string().optional(),
  digest: z.string().optional(),
  tag: z.string().optional(),
});

/** Where the set went, as the delivery steps recorded it. */
export type DeliveryFacts = z.output<typeof deliverySchema>;

const probeSchema = z.looseObject({
  ran: z.boolean(),
  ok: z.boolean().optional(),
  reason: z.string().optional(),
  python: z.string().nullable().optional(),
  arch: z.string().optional(),
  where: z.string().optional(),
  importMs: z.number().nullable().optional(),
  reusedFrom: z.string().optional(),
  unpacked: z.boolean().optional(),
  modules: z
    .array(
      z.looseObject({
        module: z.string(),
        ok: z.boolean(),
        error: z.string().nullable().optional(),
        reused: z.boolean().optional(),
        reusedFromBuild: z.boolean().optional(),
      }),
    )
    .optional(),
});

/** The Probe step's result (`manifest.probe`): imports on the target runtime, or why not. */
export type ProbeFacts = z.output<typeof probeSchema>;

/** A build manifest as a run leaves it: the manifest plus whatever delivery and probe recorded. */
export type RunManifest = BuildManifest & { readonly delivery?: unknown; readonly probe?: unknown };

export function deliveryOf(manifest: object, delivery?: unknown): DeliveryFacts | null {
  const parsed = deliverySchema.safeParse(delivery ?? (manifest as { delivery?: unknown }).delivery);
  return parsed.success ? parsed.data : null;
}

export function probeOf(manifest: RunManifest): ProbeFacts | null {
  const parsed = probeSchema.safeParse(manifest.probe);
  return parsed.success ? parsed.data : null;
}
