import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AddLayerVersionPermissionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
  type AddLayerVersionPermissionCommandInput,
  type PublishLayerVersionCommandInput,
  type UpdateFunctionConfigurationCommandInput,
} from '@aws-sdk/client-lambda';
import { PutParameterCommand, SSMClient, type PutParameterCommandInput } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LambdaLayerRegistry } from '../../../functions/adapters/aws/lambda-layer-registry.ts';
import { SsmParameterStore } from '../../../functions/adapters/aws/ssm-parameter-store.ts';
import type { LocalLayerVersionsFile } from '../../../functions/adapters/local/local-layer-registry.ts';
import type { LeasingObjectStore } from '../../../functions/adapters/ports.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { createHandler, LICENSE_INFO } from '../../../functions/publish-layers/handler.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import {
  createLocalFixture,
  deliveryState,
  PASSED_PROBE,
  publishThenSwitch,
  LOCK_HASH,
  storeBuild,
  withAdapters,
  type LocalFixture,
} from './handler-fixtures.ts';

const lambdaMock = mockClient(LambdaClient);
const ssmMock = mockClient(SSMClient);

/** The local store with object versions, as a versioned S3 bucket would answer HEAD. */
function versionedStore(store: LeasingObjectStore): LeasingObjectStore {
  return Object.assign(Object.create(store) as LeasingObjectStore, {
    head: async (key: string) => {
      const info = await store.head(key);
      return info && { ...info, versionId: `v-${key.split('/').pop()}` };
    },
  });
}

/** The measure fields of another lock. */
function lockFields(lockHash: string) {
  return {
    lockHash,
    artifactPrefix: `artifacts/${lockHash}/`,
    manifestKey: `artifacts/${lockHash}/manifest.json`,
  };
}

describe('publish-layers handler', () => {
  let fixture: LocalFixture;

  beforeEach(async () => {
    lambdaMock.reset();
    ssmMock.reset();
    fixture = await createLocalFixture({ functionsToUpdate: ['consumer'] });
    await storeBuild(fixture.dependencies.adapters);
  });
  afterEach(() => fixture.cleanup());

  describe('with local adapters', () => {
    it('publishes in the publish phase without writing the parameter or touching a function, and switches only after a passed probe', async () => {
      // Prepare
      const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
      const { adapters } = fixture.dependencies;

      // Act
      const published = await handler(deliveryState());
      const parameterBeforeSwitch = await adapters.parameters.get?.('/lambda-deps/web/layers');
      const refused = await handler({
        ...deliveryState(),
        phase: 'switch',
        delivery: published,
        probe: {
          ...PASSED_PROBE,
          ok: false,
          modules: [{ module: 'cffi', ok: false, error: "No module named '_cffi_backend'" }],
        },
      }).then(
        () => null,
        (error: unknown) => error as Error,
      );
      const parameterAfterRefusal = await adapters.parameters.get?.('/lambda-deps/web/layers');
      const switched = await handler({
        ...deliveryState(),
        phase: 'switch',
        delivery: published,
        probe: PASSED_PROBE,
      });

      // Assess
      expect(published.switched).toBe(false);
      expect(published.updatedFunctions).toEqual([]);
      expect(parameterBeforeSwitch ?? null).toBeNull();
      expect(refused?.name).toBe('ProbeFailedError');
      expect(refused?.message).toContain("cffi: No module named '_cffi_backend'");
      expect(parameterAfterRefusal ?? null).toBeNull();
      expect(switched.switched).toBe(true);
      expect(switched.updatedFunctions).toEqual(['consumer']);
      expect(switched.probe).toEqual(PASSED_PROBE);
      expect(await adapters.parameters.get?.('/lambda-deps/web/layers')).toBe(
        published.layers.map((layer) => layer.layerVersionArn).join(','),
      );
    });

    it('publishes every layer zip with increasing versions per name, records the SSM parameter and updates the function', async () => {
      // Prepare
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
      const { buildManifest } = await import('./handler-fixtures.ts');
      const nextLock = 'b'.repeat(64);
      // A new lock whose zips differ from the first one's (an unchanged zip is not republished).
      const changed = buildManifest().layers.map((layer) => ({ ...layer, sha256: 'd'.repeat(64) }));
      await storeBuild(fixture.dependencies.adapters, buildManifest({ lockHash: nextLock, layers: changed }));
      const nextState = deliveryState({
        measure: {
          lockHash: nextLock,
          artifactPrefix: `artifacts/${nextLock}/`,
          manifestKey: `artifacts/${nextLock}/manifest.json`,
        },
      });

      // Act
      const first = await handler(deliveryState());
      const second = await handler(nextState);

      // Assess
      expect(first.layers.map((layer) => layer.layerVersionArn)).toEqual([
        'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:1',
        'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-2:1',
      ]);
      expect(second.layers.map((layer) => layer.version)).toEqual([2, 2]);
      const versions = JSON.parse(
        await readFile(join(fixture.outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(versions.layers['lambda-deps-web-1']?.[0]?.description).toContain(LOCK_HASH);
      expect(versions.layers['lambda-deps-web-1']?.[1]?.description).toContain(nextLock);
      expect(versions.functions.consumer).toEqual(second.layers.map((layer) => layer.layerVersionArn));
      expect(await readFile(join(fixture.outDir, 'layers', 'lambda-deps-web-2', '2.zip'), 'utf8')).toBe(
        'zip:layers/web-2.zip',
      );
      const parameters = JSON.parse(
        await readFile(join(fixture.outDir, 'parameters.json'), 'utf8'),
      ) as Record<string, { value: string; version: number }>;
      expect(parameters['/lambda-deps/web/layers']).toMatchObject({
        value: second.layers.map((layer) => layer.layerVersionArn).join(','),
        version: 2,
      });
    });

    it('publishes once when two executions of the same lock reach it together; the other reuses the versions', async () => {
      // Prepare
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));

      // Act
      const [first, second] = await Promise.all([handler(deliveryState()), handler(deliveryState())]);

      // Assess
      expect([first.reused, second.reused].sort()).toEqual([false, true]);
      expect(second.layers).toEqual(first.layers);
      const versions = JSON.parse(
        await readFile(join(fixture.outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(Object.values(versions.layers).map((list) => list.length)).toEqual([1, 1]);
    });

    it('keeps the version of a layer whose zip is unchanged and publishes only the changed one', async () => {
      // Prepare
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
      const { buildManifest } = await import('./handler-fixtures.ts');
      const nextLock = 'e'.repeat(64);
      const [first, second] = buildManifest().layers;
      await storeBuild(
        fixture.dependencies.adapters,
        buildManifest({ lockHash: nextLock, layers: [first!, { ...second!, sha256: 'f'.repeat(64) }] }),
      );
      await handler(deliveryState());

      // Act
      const upgraded = await handler(deliveryState({ measure: lockFields(nextLock) }));

      // Assess
      expect(upgraded.layers.map((layer) => layer.layerVersionArn)).toEqual([
        'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:1',
        'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-2:2',
      ]);
    });

    it('brings the set back to A on a rollback A, B, A: parameter and function', async () => {
      // Prepare
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
      const { buildManifest } = await import('./handler-fixtures.ts');
      const lockB = 'b'.repeat(64);
      const changed = buildManifest().layers.map((layer) => ({ ...layer, sha256: 'd'.repeat(64) }));
      await storeBuild(fixture.dependencies.adapters, buildManifest({ lockHash: lockB, layers: changed }));
      const a = await handler(deliveryState());
      await handler(deliveryState({ measure: lockFields(lockB) }));

      // Act
      const rolledBack = await handler(deliveryState());

      // Assess
      const arnsOfA = a.layers.map((layer) => layer.layerVersionArn);
      expect(rolledBack.layers.map((layer) => layer.layerVersionArn)).toEqual(arnsOfA);
      expect(rolledBack.updatedFunctions).toEqual(['consumer']);
      const versions = JSON.parse(
        await readFile(join(fixture.outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(versions.functions.consumer).toEqual(arnsOfA);
      expect(await fixture.dependencies.adapters.parameters.get?.('/lambda-deps/web/layers')).toBe(
        arnsOfA.join(','),
      );
    });

    it('gives a second set name for the same lock its own layers and parameter', async () => {
      // Prepare
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
      await handler(deliveryState());

      // Act
      const other = await handler(deliveryState({ measure: { name: 'api' } }));

      // Assess
      expect(other.layers.map((layer) => layer.layerName)).toEqual([
        'lambda-deps-api-1',
        'lambda-deps-api-2',
      ]);
      expect(await fixture.dependencies.adapters.parameters.get?.('/lambda-deps/api/layers')).toBe(
        other.layers.map((layer) => layer.layerVersionArn).join(','),
      );
      expect(await fixture.dependencies.adapters.parameters.get?.('/lambda-deps/web/layers')).toContain(
        'lambda-deps-web-1',
      );
    });

    it("replaces only its own set's layers on a function that also uses set webapp's", async () => {
      // Prepare
      const { buildManifest } = await import('./handler-fixtures.ts');
      const single = buildManifest().layers.slice(0, 1);
      await storeBuild(fixture.dependencies.adapters, buildManifest({ layers: single }));
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));
      const webapp = await handler(deliveryState({ measure: { name: 'webapp' } }));

      // Act
      const web = await handler(deliveryState({ measure: { name: 'web' } }));

      // Assess
      expect(webapp.layers[0]?.layerName).toBe('lambda-deps-webapp');
      expect(web.layers[0]?.layerName).toBe('lambda-deps-web');
      const versions = JSON.parse(
        await readFile(join(fixture.outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(versions.functions.consumer).toEqual([
        webapp.layers[0]?.layerVersionArn,
        web.layers[0]?.layerVersionArn,
      ]);
    });

    it('refuses a build made for a custom target, which no runtime layer can serve', async () => {
      // Prepare
      const { buildManifest } = await import('./handler-fixtures.ts');
      await storeBuild(
        fixture.dependencies.adapters,
        buildManifest({
          target: {
            runtime: null,
            pythonVersion: '3.11',
            glibc: '2.34',
            architecture: 'x86_64',
            os: 'custom',
          },
        }),
      );
      const handler = publishThenSwitch(createHandler(() => fixture.dependencies, silentLogger('test')));

      // Act
      const attempt = handler(deliveryState());

      // Assess
      await expect(attempt).rejects.toThrow(/custom target/);
    });
  });

  describe('with the AWS adapters', () => {
    it('sends PublishLayerVersion from S3 with runtimes, architectures, the lock hash and the license, then permissions, SSM and the function update', async () => {
      // Prepare
      lambdaMock
        .on(PublishLayerVersionCommand)
        .callsFake((input: PublishLayerVersionCommandInput) => ({
          LayerArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}`,
          LayerVersionArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}:7`,
          Version: 7,
        }))
        .on(GetFunctionConfigurationCommand)
        .resolves({
          RevisionId: 'rev-1',
          Layers: [
            { Arn: 'arn:aws:lambda:eu-west-1:111111111111:layer:own-tools:3' },
            { Arn: 'arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web-1:6' },
          ],
        })
        .on(AddLayerVersionPermissionCommand)
        .resolves({})
        .on(UpdateFunctionConfigurationCommand)
        .resolves({});
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      const base = fixture.dependencies;
      const dependencies = {
        settings: {
          ...base.settings,
          layerPrincipals: ['222222222222'],
          layerOrganizationId: 'o-abcdefghij',
        },
        adapters: {
          ...base.adapters,
          store: versionedStore(base.adapters.store),
          layers: new LambdaLayerRegistry('artifacts-bucket', new LambdaClient({ region: 'eu-west-1' })),
          parameters: new SsmParameterStore(new SSMClient({ region: 'eu-west-1' })),
        },
      };
      const handler = publishThenSwitch(createHandler(() => dependencies, silentLogger('test')));

      // Act
      await handler(deliveryState());

      // Assess
      const publishes = lambdaMock.commandCalls(PublishLayerVersionCommand).map((call) => call.args[0].input);
      expect(publishes[0]).toEqual<PublishLayerVersionCommandInput>({
        LayerName: 'lambda-deps-web-1',
        Description: `lambda-deps ${LOCK_HASH} web 1/2 sha256:${'b'.repeat(64)}`,
        Content: {
          S3Bucket: 'artifacts-bucket',
          S3Key: `artifacts/${LOCK_HASH}/layers/web-1.zip`,
          S3ObjectVersion: 'v-web-1.zip',
        },
        CompatibleRuntimes: ['python3.12'],
        CompatibleArchitectures: ['arm64'],
        LicenseInfo: LICENSE_INFO,
      });
      expect(publishes).toHaveLength(2);
      const permissions = lambdaMock
        .commandCalls(AddLayerVersionPermissionCommand)
        .map((call) => call.args[0].input);
      expect(permissions).toContainEqual<AddLayerVersionPermissionCommandInput>({
        LayerName: 'lambda-deps-web-2',
        VersionNumber: 7,
        StatementId: 'lambda-deps-222222222222',
        Action: 'lambda:GetLayerVersion',
        Principal: '222222222222',
      });
      expect(permissions).toContainEqual<AddLayerVersionPermissionCommandInput>({
        LayerName: 'lambda-deps-web-1',
        VersionNumber: 7,
        StatementId: 'lambda-deps-o-abcdefghij',
        Action: 'lambda:GetLayerVersion',
        Principal: '*',
        OrganizationId: 'o-abcdefghij',
      });
      expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toEqual<PutParameterCommandInput>({
        Name: '/lambda-deps/web/layers',
        Value:
          'arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web-1:7,arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web-2:7',
        Description: `Latest lambda-deps layer versions of web (lock ${LOCK_HASH})`,
        Type: 'String',
        Overwrite: true,
      });
      expect(
        lambdaMock.commandCalls(UpdateFunctionConfigurationCommand)[0]?.args[0].input,
      ).toEqual<UpdateFunctionConfigurationCommandInput>({
        FunctionName: 'consumer',
        RevisionId: 'rev-1',
        Layers: [
          'arn:aws:lambda:eu-west-1:111111111111:layer:own-tools:3',
          'arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web-1:7',
          'arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web-2:7',
        ],
      });
    });

    it.each([
      { failingCall: 'the second PublishLayerVersion', publishedCount: 1 },
      { failingCall: 'the first PublishLayerVersion', publishedCount: 0 },
      { failingCall: 'AddLayerVersionPermission', publishedCount: 2 },
      { failingCall: 'PutParameter', publishedCount: 2 },
    ])(
      'updates no function and lists what was published when $failingCall fails',
      async ({ failingCall, publishedCount }) => {
        // Prepare
        let publishCount = 0;
        lambdaMock.on(PublishLayerVersionCommand).callsFake((input: PublishLayerVersionCommandInput) => {
          publishCount += 1;
          if (
            (failingCall === 'the second PublishLayerVersion' && publishCount === 2) ||
            (failingCall === 'the first PublishLayerVersion' && publishCount === 1)
          ) {
            throw Object.assign(new Error('Layer storage quota reached'), {
              name: 'CodeStorageExceededException',
            });
          }
          return {
            LayerArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}`,
            LayerVersionArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}:1`,
            Version: 1,
          };
        });
        lambdaMock.on(AddLayerVersionPermissionCommand).callsFake(() => {
          if (failingCall === 'AddLayerVersionPermission')
            throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
          return {};
        });
        ssmMock.on(PutParameterCommand).callsFake(() => {
          if (failingCall === 'PutParameter')
            throw Object.assign(new Error('too many'), { name: 'ThrottlingException' });
          return {};
        });
        const base = fixture.dependencies;
        const dependencies = withAdapters(
          { ...base, settings: { ...base.settings, layerPrincipals: ['222222222222'] } },
          {
            layers: new LambdaLayerRegistry('artifacts-bucket', new LambdaClient({ region: 'eu-west-1' })),
            parameters: new SsmParameterStore(new SSMClient({ region: 'eu-west-1' })),
          },
        );
        const handler = publishThenSwitch(createHandler(() => dependencies, silentLogger('test')));

        // Act
        const error = await handler(deliveryState()).then(
          () => null,
          (caught: unknown) => caught as Error & { published?: string[] },
        );

        // Assess
        expect(error?.name, error?.message).toBe('LayerPublishError');
        expect(error?.published).toHaveLength(publishedCount);
        expect(error?.message).toContain(`after publishing ${publishedCount} of 2 layer(s)`);
        for (const arn of error?.published ?? []) expect(error?.message).toContain(arn);
        expect(error?.message).toContain('No function was updated');
        expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand)).toHaveLength(0);
        expect(lambdaMock.commandCalls(UpdateFunctionConfigurationCommand)).toHaveLength(0);
      },
    );
  });
});

describe('publish-layers handler retries', () => {
  it('asks the state machine to retry (TransientError) when throttled before anything was published', async () => {
    // Prepare
    lambdaMock.reset();
    lambdaMock
      .on(PublishLayerVersionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    const fixture = await createLocalFixture();
    await storeBuild(fixture.dependencies.adapters);
    const dependencies = withAdapters(fixture.dependencies, {
      layers: new LambdaLayerRegistry('artifacts-bucket', new LambdaClient({ region: 'eu-west-1' })),
    });

    // Act
    const error = await createHandler(
      () => dependencies,
      silentLogger('test'),
    )(deliveryState()).then(
      () => null,
      (caught: unknown) => caught as Error,
    );
    await fixture.cleanup();

    // Assess
    expect(error?.name).toBe('TransientError');
    expect(error?.message).toContain('TooManyRequestsException');
  });
});

describe('layer publishing faults (reliability record)', () => {
  it('never updates a consumer across every failure point and repeated runs', async () => {
    // Prepare
    const fixture = await createLocalFixture({ functionsToUpdate: ['consumer'] });
    await storeBuild(fixture.dependencies.adapters);
    const failurePoints = ['publish-1', 'publish-2', 'permission', 'parameter'] as const;
    const runsPerPoint = 5;
    let updates = 0;
    let faults = 0;

    // Act
    for (const point of failurePoints) {
      for (let run = 0; run < runsPerPoint; run++) {
        lambdaMock.reset();
        ssmMock.reset();
        let publishCount = 0;
        lambdaMock.on(PublishLayerVersionCommand).callsFake((input: PublishLayerVersionCommandInput) => {
          publishCount += 1;
          if (point === `publish-${publishCount}`) {
            faults += 1;
            throw Object.assign(new Error('Service unavailable'), { name: 'ServiceException' });
          }
          return {
            LayerArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}`,
            LayerVersionArn: `arn:aws:lambda:eu-west-1:111111111111:layer:${input.LayerName}:${run + 1}`,
            Version: run + 1,
          };
        });
        lambdaMock.on(AddLayerVersionPermissionCommand).callsFake(() => {
          if (point === 'permission') {
            faults += 1;
            throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
          }
          return {};
        });
        lambdaMock.on(UpdateFunctionConfigurationCommand).callsFake(() => {
          updates += 1;
          return {};
        });
        ssmMock.on(PutParameterCommand).callsFake(() => {
          if (point === 'parameter') {
            faults += 1;
            throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
          }
          return {};
        });
        const base = fixture.dependencies;
        const dependencies = withAdapters(
          { ...base, settings: { ...base.settings, layerPrincipals: ['222222222222'] } },
          {
            layers: new LambdaLayerRegistry('artifacts-bucket', new LambdaClient({ region: 'eu-west-1' })),
            parameters: new SsmParameterStore(new SSMClient({ region: 'eu-west-1' })),
          },
        );
        await publishThenSwitch(createHandler(() => dependencies, silentLogger('test')))(
          deliveryState(),
        ).catch(() => undefined);
      }
    }
    await fixture.cleanup();

    // Assess
    expect(updates).toBe(0);
    expect(faults).toBe(failurePoints.length * runsPerPoint);
    recordReliability({
      area: 'layer publishing',
      experiment:
        'publish fails half-way (each call in turn): no consumer updated, published versions listed',
      cases: failurePoints.length,
      faultsInjected: faults,
      runs: failurePoints.length * runsPerPoint,
      lost: 'nothing',
    });
  });
});
