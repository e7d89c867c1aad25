import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BIG_PACKAGE_BYTES,
  planLayers,
  type PackableItem,
  type PlannedLayer,
} from '../../../functions/core/route/layer-packer.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES } from '../../../functions/core/shared/types.ts';

const MB = 1_000_000;

/** A deterministic pseudo-random set: a few big packages and many small ones. */
function testSet(seed: number, count: number): PackableItem[] {
  let state = seed;
  const next = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const items: PackableItem[] = [];
  for (let index = 0; index < count; index++) {
    const big = index < 3;
    items.push({
      name: `pkg-${seed}-${index}`,
      bytes: Math.round((big ? 25 + next() * 40 : 0.05 + next() * 4) * MB),
    });
  }
  return items;
}

function contents(layers: readonly PlannedLayer[]): Map<string, string> {
  return new Map(layers.map((layer) => [layer.id, layer.packages.join(',')]));
}

describe('planLayers', () => {
  it('changes exactly one layer when one package is upgraded (its size changes), over many sets', () => {
    // Prepare
    let checked = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const before = testSet(seed, 30);
      const planBefore = planLayers(before);
      if (!planBefore.fits) throw new Error('test set should fit');
      for (const [index, item] of before.entries()) {
        // An upgrade: same name, size changed by up to ±15 % (staying on its side of the big threshold).
        const factor = index % 2 === 0 ? 1.15 : 0.85;
        const upgraded = before.map((other) =>
          other.name === item.name ? { ...other, bytes: Math.round(other.bytes * factor) } : other,
        );
        if (item.bytes >= DEFAULT_BIG_PACKAGE_BYTES !== item.bytes * factor >= DEFAULT_BIG_PACKAGE_BYTES)
          continue;

        // Act
        const planAfter = planLayers(upgraded);

        // Assess
        if (!planAfter.fits) throw new Error('upgraded set should fit');
        const a = contents(planBefore.layers);
        const b = contents(planAfter.layers);
        expect([...a.keys()]).toEqual([...b.keys()]);
        const changedLayers = planAfter.layers.filter(
          (layer) => layer.bytes !== planBefore.layers.find((old) => old.id === layer.id)?.bytes,
        );
        expect(changedLayers).toHaveLength(1);
        expect(changedLayers[0]?.packages).toContain(item.name);
        expect(b).toEqual(a);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('moves no other package when a package is added or removed', () => {
    // Prepare
    const set = testSet(7, 30);
    const before = planLayers(set);
    const after = planLayers([...set, { name: 'newcomer', bytes: 2 * MB }]);

    // Act
    const layerOf = (plan: typeof before, name: string): string | undefined =>
      plan.fits ? plan.layers.find((layer) => layer.packages.includes(name))?.id : undefined;

    // Assess
    for (const item of set) expect(layerOf(after, item.name)).toBe(layerOf(before, item.name));
  });

  it('gives big packages their own layer and respects the layers the function already has', () => {
    // Prepare
    const set = [
      { name: 'scipy', bytes: 100 * MB },
      { name: 'numpy', bytes: 50 * MB },
      { name: 'pandas', bytes: 30 * MB },
      { name: 'six', bytes: 40_000 },
      { name: 'requests', bytes: 230_000 },
    ];

    // Act
    const free = planLayers(set);
    const crowded = planLayers(set, { existingLayers: 3, keepFreeLayers: 0 });
    const crowdedKeepingOneFree = planLayers(set, { existingLayers: 3 });

    // Assess
    expect(free.fits && free.layers.map((layer) => layer.id)).toEqual([
      'numpy',
      'pandas',
      'scipy',
      expect.stringMatching(/^shared-/),
    ]);
    expect(crowded.fits && crowded.layers.length).toBe(2);
    expect(crowded.fits && crowded.layers[0]?.id).toBe('scipy');
    expect(crowdedKeepingOneFree.fits && crowdedKeepingOneFree.layers.length).toBe(1);
  });

  it('keeps one layer slot free by default, and uses it only when nothing else is left', () => {
    // Prepare
    const set = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, bytes: 30 * MB }));

    // Act
    const byDefault = planLayers(set);
    const lastSlot = planLayers(set, { existingLayers: 4 });

    // Assess
    expect(byDefault.fits && byDefault.layers.length).toBe(4);
    expect(lastSlot.fits && lastSlot.layers.length).toBe(1);
  });

  it('says why a set does not fit: over the budget, or no free layer', () => {
    // Act
    const tooBig = planLayers([{ name: 'torch', bytes: LAMBDA_UNZIPPED_LIMIT_BYTES }]);
    const noSlot = planLayers([{ name: 'six', bytes: 1 }], { existingLayers: 5 });

    // Assess
    expect(tooBig).toMatchObject({
      fits: false,
      reason: expect.stringMatching(/over the 256\d+-byte budget/),
    });
    expect(noSlot).toMatchObject({ fits: false, reason: expect.stringMatching(/already uses 5 layers/) });
  });
});
