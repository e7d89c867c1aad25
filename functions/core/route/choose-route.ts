// The route rule, once: layers when the set fits the layer plan (budget and free slots), a
// container image below 10 GB, EFS above; or what the policy forces, when the set fits it.
// Measure calls it with the wheels' unzipped sizes, Build with the slimmed sizes, so both
// count layers and free slots the same way.
import { InputError } from '../shared/errors.ts';
import { LAMBDA_IMAGE_LIMIT_BYTES, LAMBDA_MAX_LAYERS, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../shared/types.ts';
import type { BuildManifest, Strategy, Target, Verdict } from '../shared/types.ts';
import { formatBytes } from '../shared/units.ts';
import type { DeliveryPolicy } from './delivery-policy.ts';
import { planLayers, type LayerPlan, type PackableItem } from './layer-packer.ts';

export interface Route extends Verdict {
  /** The layer plan the sizes give (also when the route is not layers: it says why not). */
  readonly plan: LayerPlan;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function dominantPackages(sizes: readonly PackableItem[]): string[] {
  return [...sizes]
    .sort((left, right) => right.bytes - left.bytes || (left.name < right.name ? -1 : 1))
    .slice(0, 5)
    .map((entry) => entry.name);
}

/** The layer plan the policy allows for these sizes. */
export function planFor(sizes: readonly PackableItem[], policy: DeliveryPolicy): LayerPlan {
  return planLayers(sizes, {
    existingLayers: policy.existingLayers,
    keepFreeLayers: policy.keepFreeLayers,
    reserveBytes: policy.reserveBytesForFunctionCode,
  });
}

/** Layers need a Lambda runtime to sit on: a custom target (an image base) takes the image route. */
function withoutRuntime(plan: LayerPlan): LayerPlan {
  if (!plan.fits) return plan;
  const { budgetBytes, totalBytes, slots } = plan;
  const reason = 'a custom target (no Lambda runtime) cannot use layers';
  return { fits: false, reason, budgetBytes, totalBytes, slots };
}

/**
 * Where a set of packages (name and unzipped bytes each) goes under the policy; `target`,
 * when given, rules layers out for a custom target.
 * @example chooseRoute([{ name: 'numpy', bytes: 60e6 }], parseDeliveryPolicy()).strategy // 'layers'
 */
export function chooseRoute(
  sizes: readonly PackableItem[],
  policy: DeliveryPolicy,
  target?: Pick<Target, 'runtime'>,
): Route {
  const planned = planFor(sizes, policy);
  const plan = target && target.runtime === null ? withoutRuntime(planned) : planned;
  const reserve = policy.reserveBytesForFunctionCode;
  const total = plan.totalBytes;
  const size = formatBytes(total);
  const dominant = dominantPackages(sizes);
  const biggest = dominant.length > 0 ? `; biggest: ${dominant.slice(0, 3).join(', ')}` : '';
  const budgetText = `${formatBytes(plan.budgetBytes)} (the ${formatBytes(LAMBDA_UNZIPPED_LIMIT_BYTES)} limit minus ${formatBytes(reserve)} kept for function code)`;
  const fitsImage = total + reserve < LAMBDA_IMAGE_LIMIT_BYTES;
  const route = (strategy: Strategy, reason: string): Route => ({
    strategy,
    reason,
    layerCount: strategy === 'layers' && plan.fits ? plan.layers.length : 0,
    budgetBytes: plan.budgetBytes,
    slots: plan.slots,
    dominantPackages: dominant,
    plan,
  });
  const forced = policy.forceStrategy;
  if (forced === 'layers' && !plan.fits) {
    throw new InputError(`Layers were forced, but the set does not fit: ${plan.reason}.`, {
      hint: `Let lambda-deps choose (drop the forced strategy), --exclude-runtime-provided, slim the set${biggest.replace('; biggest:', ' (biggest:')}${biggest ? ')' : ''}, or lower --reserve-mb/--existing-layers/--keep-free-layers.`,
    });
  }
  if (forced === 'image' && !fitsImage) {
    throw new InputError(`An image was forced, but ${size} unzipped exceeds the 10 GB image limit.`, {
      hint: 'Use EFS for a set this large.',
    });
  }
  if (forced) return route(forced, `${forced} (forced by policy); the set is ${size} unzipped${biggest}`);
  if (plan.fits) {
    return route(
      'layers',
      `${size} unzipped fits ${budgetText} in ${plan.layers.length} of ${plural(plan.slots, 'free layer slot')} (${LAMBDA_MAX_LAYERS} − ${policy.existingLayers} used by the function − ${policy.keepFreeLayers} kept free)${biggest}`,
    );
  }
  if (fitsImage)
    return route('image', `not layers: ${plan.reason}; a container image holds up to 10 GB${biggest}`);
  return route(
    'efs',
    `not layers: ${plan.reason}, and over the 10 GB image limit; EFS has no size limit${biggest}`,
  );
}

/** Whether a build may be published: verification passed and the smoke import (when it ran) too. */
export function isPublishable(manifest: Pick<BuildManifest, 'verification' | 'smokeImport'>): boolean {
  return manifest.verification.ok && (!manifest.smokeImport.ran || manifest.smokeImport.ok);
}
