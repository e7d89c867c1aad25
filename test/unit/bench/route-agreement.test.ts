// The bench's check that measure and build agree on a set's route and layer count.
import { describe, expect, it } from 'vitest';
import { routeAgreement } from '../../bench/suites/build.ts';
import type { Verdict } from '../../../functions/core/shared/types.ts';

function verdict(strategy: Verdict['strategy'], layerCount: number): Verdict {
  return { strategy, reason: '', layerCount, budgetBytes: 0, dominantPackages: [] };
}

const layers = (count: number) => Array.from({ length: count }, () => ({}) as never);

describe('routeAgreement', () => {
  it('agrees when both say layers with the same count', () => {
    expect(routeAgreement(verdict('layers', 2), { strategy: 'layers', layers: layers(2) })).toEqual({
      agrees: true,
      text: 'agree: layers, 2 layer(s)',
    });
  });

  it('disagrees on the layer count, naming both', () => {
    const outcome = routeAgreement(verdict('layers', 1), { strategy: 'layers', layers: layers(2) });
    expect(outcome.agrees).toBe(false);
    expect(outcome.text).toBe('DISAGREE: measure says layers, 1 layer(s); build made layers, 2 layer(s)');
  });

  it('disagrees on the route, and when measure gave no verdict', () => {
    expect(routeAgreement(verdict('image', 0), { strategy: 'efs', layers: [] }).agrees).toBe(false);
    expect(routeAgreement(null, { strategy: 'efs', layers: [] }).agrees).toBe(false);
    expect(routeAgreement(verdict('efs', 0), { strategy: 'efs', layers: [] }).agrees).toBe(true);
  });
});
