import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { measureDependencySet, verdictFor } from '../../../functions/core/measure/measure.ts';
import { chooseRoute } from '../../../functions/core/route/choose-route.ts';
import { parseDeliveryPolicy } from '../../../functions/core/route/delivery-policy.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES, type Lock } from '../../../functions/core/shared/types.ts';
import { createFakePackageIndex } from '../../support/fake-package-index.ts';

const MB = 1_000_000;
const MiB = 1024 * 1024;

const packages = (sizes: Record<string, number>) =>
  Object.entries(sizes).map(([name, bytes]) => ({ name, bytes }));

describe('chooseRoute', () => {
  it('fits a set in layers within 250 MB minus the 5 MiB default reserve, with the numbers in the reason', () => {
    // Act
    const route = chooseRoute(packages({ numpy: 120 * MB, pandas: 80 * MB }), parseDeliveryPolicy());

    // Assess
    expect(route).toMatchObject({
      strategy: 'layers',
      layerCount: 2,
      slots: 4,
      budgetBytes: LAMBDA_UNZIPPED_LIMIT_BYTES - 5 * MiB,
    });
    expect(route.dominantPackages).toEqual(['numpy', 'pandas']);
    expect(route.reason).toContain('191 MiB unzipped fits 245 MiB (the 250 MiB limit minus 5.0 MiB');
    expect(route.reason).toContain('in 2 of 4 free layer slots (5 − 0 used by the function − 1 kept free)');
  });

  it('counts the free slots from the existing layers and those kept free', () => {
    // Act
    const crowded = chooseRoute(
      packages({ a: MB }),
      parseDeliveryPolicy({ existingLayers: 2, keepFreeLayers: 2 }),
    );
    const open = chooseRoute(packages({ a: MB }), parseDeliveryPolicy({ keepFreeLayers: 0 }));

    // Assess
    expect(crowded.slots).toBe(1);
    expect(open.slots).toBe(5);
  });

  it('chooses an image when the set is over the budget left by the reserve', () => {
    // Prepare
    const policy = parseDeliveryPolicy({ reserveBytesForFunctionCode: 20 * MiB });

    // Act
    const justFits = chooseRoute(packages({ a: LAMBDA_UNZIPPED_LIMIT_BYTES - 20 * MiB }), policy);
    const tooBig = chooseRoute(packages({ a: LAMBDA_UNZIPPED_LIMIT_BYTES - 20 * MiB + 1 }), policy);

    // Assess
    expect(justFits.strategy).toBe('layers');
    expect(tooBig.strategy).toBe('image');
    expect(tooBig.reason).toContain('over the');
  });

  it('chooses EFS above the 10 GB image limit, and when forced', () => {
    // Act
    const huge = chooseRoute(packages({ a: 11 * 1024 ** 3 }), parseDeliveryPolicy());
    const forced = chooseRoute(packages({ a: 10 * MB }), parseDeliveryPolicy({ forceStrategy: 'efs' }));

    // Assess
    expect(huge.strategy).toBe('efs');
    expect(forced).toMatchObject({ strategy: 'efs', layerCount: 0 });
    expect(forced.reason).toContain('forced');
  });

  it('refuses to force layers for a set that cannot fit them, and bad policy numbers', () => {
    // Act
    const forceTooBig = (): unknown =>
      chooseRoute(packages({ a: 300 * MB }), parseDeliveryPolicy({ forceStrategy: 'layers' }));
    const badLayers = (): unknown => parseDeliveryPolicy({ existingLayers: 6 });

    // Assess
    expect(forceTooBig).toThrow(InputError);
    expect(badLayers).toThrow(/existingLayers: /);
  });

  it('leaves what the runtime provides out of the measured route when the policy says so', () => {
    // Prepare
    const measured = [
      {
        name: 'botocore',
        version: '1',
        filename: 'b.whl',
        tag: 'py3-none-any',
        size: 1,
        unzippedSize: 258 * MB,
      },
      { name: 'requests', version: '1', filename: 'r.whl', tag: 'py3-none-any', size: 1, unzippedSize: MB },
    ];

    // Act
    const shipped = verdictFor(measured, parseDeliveryPolicy());
    const excluded = verdictFor(measured, parseDeliveryPolicy({ excludeRuntimeProvided: true }));

    // Assess
    expect(shipped.strategy).toBe('image');
    expect(excluded).toMatchObject({ strategy: 'layers', dominantPackages: ['requests'] });
  });
});

describe('measureDependencySet', () => {
  const lock: Lock = {
    lockVersion: 1,
    target: lambdaTarget('python3.11', 'x86_64'),
    packages: [
      {
        name: 'six',
        version: '1.16.0',
        filename: 'six-1.16.0-py3-none-any.whl',
        url: 'https://fake.test/files/six-1.16.0-py3-none-any.whl',
        sha256: 'a'.repeat(64),
        size: 11_053,
        unzippedSize: 36_000,
        tag: 'py3-none-any',
        requiredBy: ['<requirements>'],
      },
    ],
  };

  it('totals the lock sizes and decides the route', async () => {
    // Act
    const result = await measureDependencySet({ lock });

    // Assess
    expect(result.totals).toEqual({ size: 11_053, unzippedSize: 36_000 });
    expect(result.verdict?.strategy).toBe('layers');
    expect(result.lockHash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.packages[0]).toEqual({
      name: 'six',
      version: '1.16.0',
      filename: 'six-1.16.0-py3-none-any.whl',
      tag: 'py3-none-any',
      size: 11_053,
      unzippedSize: 36_000,
    });
  });

  it('measures again through the index when one is given', async () => {
    // Prepare
    const index = createFakePackageIndex({
      six: [{ version: '1.16.0', files: [{ tag: 'py3-none-any', size: 2000 }] }],
    });

    // Act
    const result = await measureDependencySet({ lock, index });

    // Assess
    expect(index.calls.measureWheel).toEqual(['six-1.16.0-py3-none-any.whl']);
    expect(result.totals).toEqual({ size: 11_053, unzippedSize: 33_159 });
  });
});
