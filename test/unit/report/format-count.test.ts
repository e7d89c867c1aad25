// formatCount writes numbers as toLocaleString('en-US') does, without loading ICU's locale data.
import { describe, expect, it } from 'vitest';
import { formatCount } from '../../../functions/core/report/html.ts';

describe('formatCount', () => {
  it('groups thousands and keeps at most three decimals, as en-US does', () => {
    const samples = [
      0, 7, 999, 1000, 3633, 12345, 1234567, 262144000, 1234.5678, 0.0004, 2.5, 999999.9996, -1234.5,
    ];
    for (const count of samples)
      expect(formatCount(count), String(count)).toBe(count.toLocaleString('en-US'));
  });
});
