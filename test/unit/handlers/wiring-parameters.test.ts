// The Report step records what a user's own stack reads at deploy time (infra/dependency-set-wiring.ts):
// the EFS version folder's PYTHONPATH and the image URI pinned to its digest, once the set is ready.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { createHandler } from '../../../functions/report/handler.ts';
import { createLocalFixture, deliveryState, storeBuild, type LocalFixture } from './handler-fixtures.ts';

const DIGEST = `sha256:${'b'.repeat(64)}`;

describe('the parameters the wiring helpers read', () => {
  let fixture: LocalFixture;
  beforeEach(async () => {
    fixture = await createLocalFixture();
    await storeBuild(fixture.dependencies.adapters);
  });
  afterEach(() => fixture.cleanup());

  async function parametersAfter(delivery: Record<string, unknown>): Promise<Record<string, string>> {
    const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
    await handler({ ...deliveryState(), delivery, executionName: 'exec-wiring' });
    const stored = JSON.parse(await readFile(join(fixture.outDir, 'parameters.json'), 'utf8')) as Record<
      string,
      { value: string }
    >;
    return Object.fromEntries(Object.entries(stored).map(([name, { value }]) => [name, value]));
  }

  it("records the EFS version folder's PYTHONPATH of an EFS delivery", async () => {
    // Act
    const parameters = await parametersAfter({ strategy: 'efs', pythonPath: '/mnt/deps/web/f00d/python' });

    // Assess
    expect(parameters['/lambda-deps/web/efs-python-path']).toBe('/mnt/deps/web/f00d/python');
    expect(parameters).not.toHaveProperty(['/lambda-deps/web/image']);
  });

  it('records the image URI pinned to its digest of an image delivery', async () => {
    // Act
    const parameters = await parametersAfter({
      strategy: 'image',
      imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/deps',
      digest: DIGEST,
    });

    // Assess
    expect(parameters['/lambda-deps/web/image']).toBe(
      `123456789012.dkr.ecr.eu-west-1.amazonaws.com/deps@${DIGEST}`,
    );
  });

  it('records no image for a local OCI layout, which no function can run', async () => {
    // Act
    const parameters = await parametersAfter({
      strategy: 'image',
      imageUri: 'oci:/tmp/layout',
      digest: DIGEST,
    });

    // Assess
    expect(parameters).not.toHaveProperty(['/lambda-deps/web/image']);
    expect(parameters['/lambda-deps/web/lock-hash']).toBeDefined();
  });
});
