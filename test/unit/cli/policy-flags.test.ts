// The delivery policy a command's flags make. Flags at their defaults skip the schema (so
// `measure` loads no schema library): that shortcut must give exactly what the schema gives,
// and anything else must still be validated by it.
import { describe, expect, it } from 'vitest';
import { policyFromFlags } from '../../../functions/cli/target-options.ts';
import { parseDeliveryPolicy } from '../../../functions/core/route/delivery-policy.ts';
import { defaultDeliveryPolicy, onlyDefaults } from '../../../functions/core/route/policy-defaults.ts';
import { InputError } from '../../../functions/core/shared/errors.ts';

describe('the delivery policy from flags', () => {
  it('has the defaults the schema fills in, field for field', () => {
    // Act
    const fromSchema = parseDeliveryPolicy({});

    // Assess
    expect(defaultDeliveryPolicy()).toEqual(fromSchema);
  });

  it('gives the schema’s policy for the flags commander fills in when nothing is passed', async () => {
    // Prepare: what `--no-slim`, `--no-cache`, `--no-index` and friends default to.
    const untouched = { slim: true, cache: true, index: true, precompile: false, strategy: 'auto' as const };

    // Act
    const policy = await policyFromFlags(untouched);

    // Assess
    expect(policy).toEqual(
      parseDeliveryPolicy({ slim: true, cache: true, noIndex: false, precompile: false }),
    );
  });

  it('still validates a value that is not a default, naming the flag', async () => {
    // Act
    const refused = policyFromFlags({ existingLayers: 9 }).catch((error: unknown) => error);

    // Assess
    const error = await refused;
    expect(error).toBeInstanceOf(InputError);
    expect(String(error)).toMatch(/existingLayers/);
    expect(await policyFromFlags({ existingLayers: 2, slim: false })).toMatchObject({
      existingLayers: 2,
      slim: false,
    });
  });

  it('treats a field the defaults do not have as something to validate', () => {
    expect(onlyDefaults({ slim: true })).toBe(true);
    expect(onlyDefaults({ slim: false })).toBe(false);
    expect(onlyDefaults({ forceStrategy: 'layers' })).toBe(false);
    expect(onlyDefaults({ notAField: true })).toBe(false);
  });
});
