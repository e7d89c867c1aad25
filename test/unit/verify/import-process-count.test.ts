// How many interpreters a smoke import starts (importProcessCount in core/verify/smoke-import.ts):
// one per core, but never more than there are distributions left to import.
import { describe, expect, it } from 'vitest';
import { importProcessCount } from '../../../functions/core/verify/smoke-import.ts';

const distribution = (name: string, modules: string[]) => ({ name, modules, requires: [] });
const GROUPS = [
  distribution('attrs', ['attr', 'attrs']),
  distribution('six', ['six']),
  distribution('idna', ['idna']),
];
const OWNERS = new Map([
  ['attr', 'attrs'],
  ['attrs', 'attrs'],
  ['six', 'six'],
  ['idna', 'idna'],
]);

describe('importProcessCount', () => {
  it('starts one interpreter for one distribution, however many modules it has', () => {
    // Act
    const count = importProcessCount({ groups: GROUPS, owners: OWNERS, modules: ['attr', 'attrs'] }, 2);

    // Assess
    expect(count).toBe(1);
  });

  it('starts one per core while there are more distributions to import than cores', () => {
    // Act
    const all = importProcessCount({ groups: GROUPS, owners: OWNERS, modules: [...OWNERS.keys()] }, 2);
    const wide = importProcessCount({ groups: GROUPS, owners: OWNERS, modules: [...OWNERS.keys()] }, 8);
    const none = importProcessCount({ groups: GROUPS, owners: OWNERS, modules: [] }, 2);

    // Assess
    expect(all).toBe(2);
    expect(wide).toBe(3);
    expect(none).toBe(1);
  });
});
