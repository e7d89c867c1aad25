// Assigns the packages of a set to Lambda layers so that a one-package upgrade republishes as
// few layers as possible. Not a fresh bin-packing per build (that reshuffles everything when
// one size changes), but a fixed scheme that depends on names, not sizes, wherever it can:
//
//   1. Budget: all layers together must fit in 250 MB unzipped minus the reserve for function
//      code (Lambda counts code plus every layer); at most `5 - existingLayers - keepFreeLayers`
//      layers (one slot is kept free by default for layers a function adds later).
//   2. Big packages (≥ `bigPackageBytes` slimmed, default 20 MiB) get a layer of their own,
//      named after them (`numpy`), biggest first, leaving at least one slot for the rest.
//   3. Every other package goes to one of the shared layers (`shared-1` … `shared-N`, N ≤
//      `sharedLayers`, default 2) by rendezvous (highest random weight) hashing of its name:
//      its layer depends on its name and N only, so an upgrade of one small package changes
//      that one shared layer, and adding or removing a package moves no other package.
//
// A package only changes layers when it crosses the big threshold, or when more big packages
// compete for dedicated slots than there are (then the biggest win; sizes decide).
// Layers are published from S3, so the 50 MB zipped limit of direct uploads does not apply.
import { createHash } from 'node:crypto';
import { LAMBDA_MAX_LAYERS, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../shared/types.ts';
import { DEFAULT_KEEP_FREE_LAYERS, DEFAULT_RESERVE_BYTES } from './policy-defaults.ts';

export interface PackableItem {
  /** PEP 503 name. */
  readonly name: string;
  /** Unzipped bytes it adds to a layer. */
  readonly bytes: number;
}

export interface LayerPackingOptions {
  /** Layers the function already uses (its own), which the dependency layers must leave room for. @default 0 */
  readonly existingLayers?: number;
  /** Bytes kept free for the function's own code (as measure). @default 5 MiB */
  readonly reserveBytes?: number;
  /** Packages at least this big get a layer of their own. @default 20 MiB */
  readonly bigPackageBytes?: number;
  /** Most shared layers for the other packages. @default 2 */
  readonly sharedLayers?: number;
  /**
   * Layer slots left free for what a function usually adds later (Powertools, an observability
   * extension), so the dependency layers never use up Lambda's five on their own. A slot is still
   * used when nothing else is left. @default 1
   */
  readonly keepFreeLayers?: number;
}

export interface PlannedLayer {
  /** `numpy` (dedicated) or `shared-1`; the zip is `layer-<id>.zip`. */
  readonly id: string;
  readonly packages: readonly string[];
  readonly bytes: number;
}

export type LayerPlan =
  | {
      readonly fits: true;
      readonly layers: readonly PlannedLayer[];
      readonly budgetBytes: number;
      readonly totalBytes: number;
      readonly slots: number;
    }
  | {
      readonly fits: false;
      readonly reason: string;
      readonly budgetBytes: number;
      readonly totalBytes: number;
      readonly slots: number;
    };

export const DEFAULT_BIG_PACKAGE_BYTES = 20 * 1024 * 1024;
export const DEFAULT_SHARED_LAYERS = 2;

/** Rendezvous weight of a name for one layer slot. */
function weight(name: string, slot: string): bigint {
  return createHash('sha256').update(`${slot}\0${name}`).digest().readBigUInt64BE(0);
}

/** The shared layer (1-based) a package goes to among `count`, by name alone. */
export function sharedLayerOf(name: string, count: number): number {
  let best = 1;
  let bestWeight = -1n;
  for (let slot = 1; slot <= count; slot++) {
    const value = weight(name, `shared-${slot}`);
    if (value > bestWeight) {
      best = slot;
      bestWeight = value;
    }
  }
  return best;
}

/**
 * Plan the layers for a set; `fits: false` (with the reason and the numbers) when the set is
 * over the budget or there is no free layer slot.
 * @example planLayers([{ name: 'numpy', bytes: 50e6 }, { name: 'six', bytes: 4e4 }])
 *   // { fits: true, layers: [{ id: 'numpy', … }, { id: 'shared-2', packages: ['six'], … }], … }
 */
export function planLayers(items: readonly PackableItem[], options: LayerPackingOptions = {}): LayerPlan {
  const existing = options.existingLayers ?? 0;
  const free = LAMBDA_MAX_LAYERS - existing;
  const slots = free < 1 ? free : Math.max(1, free - (options.keepFreeLayers ?? DEFAULT_KEEP_FREE_LAYERS));
  const budgetBytes = LAMBDA_UNZIPPED_LIMIT_BYTES - (options.reserveBytes ?? DEFAULT_RESERVE_BYTES);
  const totalBytes = items.reduce((sum, item) => sum + item.bytes, 0);
  if (slots < 1) {
    return {
      fits: false,
      reason: `the function already uses ${existing} layers; Lambda allows ${LAMBDA_MAX_LAYERS}`,
      budgetBytes,
      totalBytes,
      slots,
    };
  }
  if (totalBytes > budgetBytes) {
    return {
      fits: false,
      reason: `${totalBytes} bytes unzipped is over the ${budgetBytes}-byte budget (${LAMBDA_UNZIPPED_LIMIT_BYTES} minus ${LAMBDA_UNZIPPED_LIMIT_BYTES - budgetBytes} kept for function code)`,
      budgetBytes,
      totalBytes,
      slots,
    };
  }
  const big = options.bigPackageBytes ?? DEFAULT_BIG_PACKAGE_BYTES;
  const byName = (a: PackableItem, b: PackableItem): number =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  const candidates = items
    .filter((item) => item.bytes >= big)
    .sort((a, b) => b.bytes - a.bytes || byName(a, b));
  const rest = items.length - candidates.length;
  // Leave one slot for the small packages when there are any.
  const dedicatedSlots = Math.max(0, rest > 0 || candidates.length > slots ? slots - 1 : slots);
  const dedicated = candidates.slice(0, dedicatedSlots);
  const dedicatedNames = new Set(dedicated.map((item) => item.name));
  const shared = items.filter((item) => !dedicatedNames.has(item.name));
  const sharedCount = Math.max(
    1,
    Math.min(slots - dedicated.length, options.sharedLayers ?? DEFAULT_SHARED_LAYERS),
  );
  const layers: PlannedLayer[] = dedicated
    .map((item) => ({ id: item.name, packages: [item.name], bytes: item.bytes }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const groups = new Map<number, PackableItem[]>();
  for (const item of shared) {
    const slot = sharedLayerOf(item.name, sharedCount);
    groups.set(slot, [...(groups.get(slot) ?? []), item]);
  }
  for (const slot of [...groups.keys()].sort((a, b) => a - b)) {
    const group = (groups.get(slot) ?? []).sort(byName);
    layers.push({
      id: `shared-${slot}`,
      packages: group.map((item) => item.name),
      bytes: group.reduce((sum, item) => sum + item.bytes, 0),
    });
  }
  return { fits: true, layers, budgetBytes, totalBytes, slots };
}
