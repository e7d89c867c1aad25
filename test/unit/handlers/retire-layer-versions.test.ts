// Retiring old layer versions: the newest N per layer name are kept, and a version that the
// set's parameter or a listed function still uses is never deleted (local and AWS adapters).
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListLayerVersionsCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LambdaLayerRegistry } from '../../../functions/adapters/aws/lambda-layer-registry.ts';
import type { LocalLayerVersionsFile } from '../../../functions/adapters/local/local-layer-registry.ts';
import { layerArnsInUse, retireOldVersions } from '../../../functions/core/deliver/layers.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { createHandler } from '../../../functions/publish-layers/handler.ts';
import {
  buildManifest,
  createLocalFixture,
  deliveryState,
  publishThenSwitch,
  storeBuild,
  type LocalFixture,
} from './handler-fixtures.ts';

const lambdaMock = mockClient(LambdaClient);

/** Delivers `count` locks of set `web`, each with new zip contents, so each publishes new versions. */
async function deliverChangedLocks(fixture: LocalFixture, count: number, first = 0): Promise<void> {
  const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
  for (let run = first; run < first + count; run++) {
    const lockHash = String(run + 1).repeat(64);
    const layers = buildManifest().layers.map((layer, index) => ({
      ...layer,
      sha256: `${run}${index}`.padEnd(64, '0'),
    }));
    await storeBuild(fixture.dependencies.adapters, buildManifest({ lockHash, layers }));
    await handler(
      deliveryState({
        measure: {
          lockHash,
          artifactPrefix: `artifacts/${lockHash}/`,
          manifestKey: `artifacts/${lockHash}/manifest.json`,
        },
      }),
    );
  }
}

async function versionsFile(fixture: LocalFixture): Promise<LocalLayerVersionsFile> {
  return JSON.parse(
    await readFile(join(fixture.outDir, 'layers', 'versions.json'), 'utf8'),
  ) as LocalLayerVersionsFile;
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe('retiring old layer versions with local adapters', () => {
  let fixture: LocalFixture;

  afterEach(() => fixture.cleanup());

  it('keeps the newest 3 versions of each layer name after 5 deliveries and removes the older zips', async () => {
    // Prepare
    fixture = await createLocalFixture({ functionsToUpdate: ['consumer'] });

    // Act
    await deliverChangedLocks(fixture, 5);

    // Assess
    const versions = await versionsFile(fixture);
    for (const name of ['lambda-deps-web-1', 'lambda-deps-web-2']) {
      expect(versions.layers[name]?.map((record) => record.version)).toEqual([3, 4, 5]);
      expect(await exists(join(fixture.outDir, 'layers', name, '1.zip'))).toBe(false);
      expect(await exists(join(fixture.outDir, 'layers', name, '2.zip'))).toBe(false);
      expect(await exists(join(fixture.outDir, 'layers', name, '3.zip'))).toBe(true);
    }
    expect(versions.functions.consumer).toEqual([
      'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:5',
      'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-2:5',
    ]);
  });

  it('keeps as many versions as the setting asks', async () => {
    // Prepare
    fixture = await createLocalFixture({ keepLayerVersions: 1 });

    // Act
    await deliverChangedLocks(fixture, 3);

    // Assess
    const versions = await versionsFile(fixture);
    expect(versions.layers['lambda-deps-web-1']?.map((record) => record.version)).toEqual([3]);
  });

  it('never deletes an old version that a listed function still uses', async () => {
    // Prepare
    // The handler keeps everything here; the retirement under test is called by hand.
    fixture = await createLocalFixture({ functionsToUpdate: [], keepLayerVersions: 100 });
    await deliverChangedLocks(fixture, 2);
    const { layers, parameters } = fixture.dependencies.adapters;
    const pinned = 'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:1';
    // A function pinned by hand to version 1 of one layer, before more versions are published.
    await layers.updateFunctionLayers({
      functionName: 'pinned',
      layerVersionArns: [pinned],
      replaceNames: [],
    });
    await deliverChangedLocks(fixture, 3, 2);

    // Act
    const inUse = await layerArnsInUse(layers, parameters, '/lambda-deps/web/layers', ['pinned']);
    const retired = await retireOldVersions(layers, ['lambda-deps-web-1', 'lambda-deps-web-2'], 3, inUse);

    // Assess
    const versions = await versionsFile(fixture);
    expect(versions.layers['lambda-deps-web-1']?.map((record) => record.version)).toEqual([1, 3, 4, 5]);
    expect(versions.layers['lambda-deps-web-2']?.map((record) => record.version)).toEqual([3, 4, 5]);
    expect(retired).toEqual([
      'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:2',
      'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-2:2',
      'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-2:1',
    ]);
    expect(await exists(join(fixture.outDir, 'layers', 'lambda-deps-web-1', '1.zip'))).toBe(true);
  });

  it('never deletes a version the set parameter names, even beyond the newest N', async () => {
    // Prepare
    fixture = await createLocalFixture({ functionsToUpdate: [], keepLayerVersions: 100 });
    await deliverChangedLocks(fixture, 4);
    const { layers, parameters } = fixture.dependencies.adapters;
    const rolledBack = 'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:1';
    await parameters.put('/lambda-deps/web/layers', rolledBack, 'rolled back by hand');

    // Act
    const inUse = await layerArnsInUse(layers, parameters, '/lambda-deps/web/layers', []);
    await retireOldVersions(layers, ['lambda-deps-web-1'], 1, inUse);

    // Assess
    const versions = await versionsFile(fixture);
    expect(versions.layers['lambda-deps-web-1']?.map((record) => record.version)).toEqual([1, 4]);
  });
});

describe('retiring old layer versions with the AWS adapter', () => {
  beforeEach(() => lambdaMock.reset());

  const arn = (version: number): string =>
    `arn:aws:lambda:eu-west-1:123456789012:layer:lambda-deps-web-1:${version}`;

  it('lists every page of versions and deletes exactly the old ones not in use', async () => {
    // Prepare
    lambdaMock
      .on(ListLayerVersionsCommand, { LayerName: 'lambda-deps-web-1' })
      .resolvesOnce({
        LayerVersions: [5, 4, 3].map((version) => ({ Version: version, LayerVersionArn: arn(version) })),
        NextMarker: 'page-2',
      })
      .resolvesOnce({
        LayerVersions: [2, 1].map((version) => ({ Version: version, LayerVersionArn: arn(version) })),
      });
    lambdaMock.on(GetFunctionConfigurationCommand, { FunctionName: 'consumer' }).resolves({
      Layers: [{ Arn: arn(5) }, { Arn: arn(1) }],
    });
    lambdaMock.on(DeleteLayerVersionCommand).resolves({});
    const layers = new LambdaLayerRegistry('bucket', new LambdaClient({ region: 'eu-west-1' }));

    // Act
    const inUse = [...(await layers.getFunctionLayers('consumer'))];
    const retired = await retireOldVersions(layers, ['lambda-deps-web-1'], 3, inUse);

    // Assess
    const listCalls = lambdaMock.commandCalls(ListLayerVersionsCommand).map((call) => call.args[0].input);
    expect(listCalls).toEqual([
      { LayerName: 'lambda-deps-web-1' },
      { LayerName: 'lambda-deps-web-1', Marker: 'page-2' },
    ]);
    expect(lambdaMock.commandCalls(DeleteLayerVersionCommand).map((call) => call.args[0].input)).toEqual([
      { LayerName: 'lambda-deps-web-1', VersionNumber: 2 },
    ]);
    expect(retired).toEqual([arn(2)]);
  });
});
