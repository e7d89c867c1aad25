// The delivery policy a command's flags make. Flags at their defaults skip the schema (so
// `measure` loads no schema library): that shortcut must give exactly what the schema gives,
// and anything else must still be validated by it.
import { describe, expect, it } from 'vitest';
import { policyFromFlags } from '../../../functions/cli/target-options.ts';
import {
  artifactKeyOf,
  deliveryPolicySchema,
  parseDeliveryPolicy,
  type DeliveryPolicy,
} from '../../../functions/core/route/delivery-policy.ts';
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

describe('what the policy carries for Measure', () => {
  it('carries --extra, --group and pip’s format controls, with --no-binary read from commander’s own slot', async () => {
    // Prepare: commander stores `--no-binary X` as `binary: ['X']` (a `--no-` option loses its prefix).
    const flags = {
      extra: ['aws'],
      group: ['dev'],
      onlyBinary: [':all:'],
      binary: ['psycopg2'],
      preferBinary: true,
    };

    // Act
    const policy = await policyFromFlags(flags);

    // Assess
    expect(policy).toMatchObject({
      extras: ['aws'],
      groups: ['dev'],
      onlyBinary: [':all:'],
      noBinary: ['psycopg2'],
      preferBinary: true,
    });
  });

  it('reads `--no-binary` from the command line of measure and build into the policy', async () => {
    // Prepare
    const { createBuildCommand } = await import('../../../functions/cli/commands/build.ts');
    const command = createBuildCommand();
    command.exitOverride().action(() => undefined);

    // Act
    await command.parseAsync(['req.txt', '--out', 'out', '--no-binary', 'six', '--only-binary', 'idna'], {
      from: 'user',
    });
    const policy = await policyFromFlags(command.opts());

    // Assess
    expect(policy.noBinary).toEqual(['six']);
    expect(policy.onlyBinary).toEqual(['idna']);
  });

  it('refuses a group name or format value that pip would not take, naming the field', async () => {
    await expect(policyFromFlags({ group: ['dev; rm -rf /'] })).rejects.toThrow(/groups\.0/);
    await expect(policyFromFlags({ onlyBinary: ['a b'] })).rejects.toThrow(/onlyBinary\.0/);
  });
});

describe('the artifact key', () => {
  const lockHash = 'a'.repeat(64);
  const base = parseDeliveryPolicy({});
  const changed: Record<string, Partial<DeliveryPolicy>> = {
    slim: { slim: false },
    precompile: { precompile: true },
    stripSymbols: { stripSymbols: true },
    excludeRuntimeProvided: { excludeRuntimeProvided: true },
    existingLayers: { existingLayers: 1 },
    keepFreeLayers: { keepFreeLayers: 2 },
    reserveBytesForFunctionCode: { reserveBytesForFunctionCode: 1 },
    forceStrategy: { forceStrategy: 'efs' },
  };

  it.each(Object.entries(changed))('differs when the policy changes %s', (_field, change) => {
    // Act
    const other = artifactKeyOf(lockHash, parseDeliveryPolicy({ ...base, ...change }));

    // Assess
    expect(other).not.toBe(artifactKeyOf(lockHash, base));
  });

  it('stays the same for fields that change how a build is found or run, not its bytes', () => {
    // Prepare: the cache switch and the probe requirement; what is resolved changes the lock hash instead.
    const other = parseDeliveryPolicy({ ...base, cache: false, requireProbe: true, extras: ['aws'] });

    // Act & Assess
    expect(artifactKeyOf(lockHash, other)).toBe(artifactKeyOf(lockHash, base));
    expect(artifactKeyOf('b'.repeat(64), base)).not.toBe(artifactKeyOf(lockHash, base));
  });

  it('covers every field of the schema: each one either changes the key or is listed as not doing so', () => {
    // Assess: a field added to the policy must be placed in one group or the other.
    const notBytes = [
      'cache',
      'requireProbe',
      'pre',
      'noIndex',
      'extras',
      'groups',
      'onlyBinary',
      'noBinary',
      'preferBinary',
    ];
    expect([...Object.keys(changed), ...notBytes].sort()).toEqual(
      Object.keys(deliveryPolicySchema.shape).sort(),
    );
  });
});
