import { describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import { decideVerdict, measureDependencySet } from '../../../functions/core/measure/measure.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES, type Lock } from '../../../functions/core/shared/types.ts';
import { createFakePackageIndex } from '../../support/fake-package-index.ts';

const MB = 1_000_000;
const MiB = 1024 * 1024;

describe('decideVerdict', () => {
  it('fits a set in one layer within 250 MB minus the 5 MiB default reserve, with the numbers in the reason', () => {
    // Act
    const verdict = decideVerdict(200 * MB, {}, [
      { name: 'numpy', unzippedSize: 120 * MB },
      { name: 'pandas', unzippedSize: 80 * MB },
    ]);

    // Assess
    expect(verdict).toMatchObject({
      strategy: 'layers',
      layerCount: 1,
      budgetBytes: LAMBDA_UNZIPPED_LIMIT_BYTES - 5 * MiB,
    });
    expect(verdict.dominantPackages).toEqual(['numpy', 'pandas']);
    expect(verdict.reason).toContain('191 MiB unzipped fits in 1 layer');
    expect(verdict.reason).toContain('245 MiB (the 250 MiB limit minus 5.0 MiB');
  });

  it('splits by package into layers of at most maxLayerBytes', () => {
    // Act
    const verdict = decideVerdict(150 * MB, { maxLayerBytes: 60 * MB }, [
      { name: 'a', unzippedSize: 50 * MB },
      { name: 'b', unzippedSize: 50 * MB },
      { name: 'c', unzippedSize: 50 * MB },
    ]);

    // Assess
    expect(verdict).toMatchObject({ strategy: 'layers', layerCount: 3 });
  });

  it('chooses an image when the set is over the budget left by the reserve', () => {
    // Act
    const justFits = decideVerdict(LAMBDA_UNZIPPED_LIMIT_BYTES - 20 * MiB, {
      reserveBytesForFunctionCode: 20 * MiB,
    });
    const tooBig = decideVerdict(LAMBDA_UNZIPPED_LIMIT_BYTES - 20 * MiB + 1, {
      reserveBytesForFunctionCode: 20 * MiB,
    });

    // Assess
    expect(justFits.strategy).toBe('layers');
    expect(tooBig.strategy).toBe('image');
    expect(tooBig.reason).toContain('exceeds the layer budget');
  });

  it('chooses an image when the layers the function already has leave too few free', () => {
    // Act
    const verdict = decideVerdict(150 * MB, { existingLayers: 4, maxLayerBytes: 100 * MB }, [
      { name: 'a', unzippedSize: 75 * MB },
      { name: 'b', unzippedSize: 75 * MB },
    ]);

    // Assess
    expect(verdict.strategy).toBe('image');
    expect(verdict.reason).toContain('needs 2 layers but only 1 layer is free');
  });

  it('chooses EFS above the 10 GB image limit, and when forced', () => {
    // Act
    const huge = decideVerdict(11 * 1024 ** 3);
    const forced = decideVerdict(10 * MB, { forceStrategy: 'efs' });

    // Assess
    expect(huge.strategy).toBe('efs');
    expect(forced).toMatchObject({ strategy: 'efs', layerCount: 0 });
    expect(forced.reason).toContain('forced');
  });

  it('refuses to force layers for a set that cannot fit them, and bad policy numbers', () => {
    // Act
    const forceTooBig = (): unknown => decideVerdict(300 * MB, { forceStrategy: 'layers' });
    const badLayers = (): unknown => decideVerdict(1, { existingLayers: 6 });

    // Assess
    expect(forceTooBig).toThrow(InputError);
    expect(badLayers).toThrow(/existingLayers must be a whole number from 0 to 5/);
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
