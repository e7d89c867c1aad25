import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { createHandler } from '../../../functions/read-build-manifest/handler.ts';
import {
  buildManifest,
  createLocalFixture,
  deliveryState,
  storeBuild,
  type LocalFixture,
} from './handler-fixtures.ts';

describe('read-build-manifest handler', () => {
  let fixture: LocalFixture;

  beforeEach(async () => {
    fixture = await createLocalFixture();
  });
  afterEach(() => fixture.cleanup());

  it('returns the route the build chose', async () => {
    // Prepare
    await storeBuild(fixture.dependencies.adapters, buildManifest({ strategy: 'efs' }));
    const { measure } = deliveryState();

    // Act
    const route = await createHandler(() => fixture.dependencies, silentLogger('test'))({ measure });

    // Assess
    expect(route).toEqual({ strategy: 'efs', manifestKey: measure.manifestKey, ok: true });
  });

  it('stops a build whose verification failed, naming the package', async () => {
    // Prepare
    await storeBuild(
      fixture.dependencies.adapters,
      buildManifest({
        verification: {
          ok: false,
          problems: [
            { package: 'cffi', message: '_cffi_backend.so is built for x86_64, the target is aarch64' },
          ],
        },
      }),
    );

    // Act
    const attempt = createHandler(
      () => fixture.dependencies,
      silentLogger('test'),
    )({ measure: deliveryState().measure });

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'BuildRejectedError',
      message: expect.stringMatching(
        /^cffi: The build of web did not pass its checks: cffi: _cffi_backend\.so is built for x86_64/,
      ),
    });
  });

  it('stops a build whose smoke import failed', async () => {
    // Prepare
    await storeBuild(
      fixture.dependencies.adapters,
      buildManifest({
        smokeImport: {
          ran: true,
          ok: false,
          modules: 1,
          failures: [{ module: 'yaml', package: 'pyyaml', error: 'ImportError' }],
        },
      }),
    );

    // Act
    const attempt = createHandler(
      () => fixture.dependencies,
      silentLogger('test'),
    )({ measure: deliveryState().measure });

    // Assess
    await expect(attempt).rejects.toThrow(/pyyaml: import yaml failed: ImportError/);
  });

  it('refuses a manifest written for another lock', async () => {
    // Prepare
    await storeBuild(fixture.dependencies.adapters, buildManifest());
    const measure = { ...deliveryState().measure, lockHash: 'f'.repeat(64) };

    // Act
    const attempt = createHandler(() => fixture.dependencies, silentLogger('test'))({ measure });

    // Assess
    await expect(attempt).rejects.toThrow(/is for lock a{64}, not f{64}/);
  });
});
