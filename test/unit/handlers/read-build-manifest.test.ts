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

  it('never counts a skipped smoke import as passed in AWS', async () => {
    // Prepare: an x86_64 set built on an arm64 host could not be imported there.
    await fixture.cleanup();
    fixture = await createLocalFixture({ allowSkippedSmokeImport: false });
    await storeBuild(
      fixture.dependencies.adapters,
      buildManifest({
        smokeImport: {
          ran: false,
          ok: false,
          reason: 'no python3.12 for x86_64 here',
          modules: 0,
          failures: [],
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
      message: expect.stringContaining('smoke import did not run: no python3.12 for x86_64 here'),
    });
  });

  it('lets a local run deliver without a smoke import, saying so in the route', async () => {
    // Prepare
    await fixture.cleanup();
    fixture = await createLocalFixture({ allowSkippedSmokeImport: true });
    await storeBuild(
      fixture.dependencies.adapters,
      buildManifest({
        smokeImport: {
          ran: false,
          ok: false,
          reason: 'no python3.12 for arm64 here',
          modules: 0,
          failures: [],
        },
      }),
    );

    // Act
    const route = await createHandler(
      () => fixture.dependencies,
      silentLogger('test'),
    )({ measure: deliveryState().measure });

    // Assess
    expect(route).toMatchObject({
      ok: false,
      unverified: 'smoke import did not run: no python3.12 for arm64 here',
    });
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
