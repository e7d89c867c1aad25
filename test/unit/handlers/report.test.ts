import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { PutParameterCommand, SSMClient, type PutParameterCommandInput } from '@aws-sdk/client-ssm';
import { BatchGetBuildsCommand, CodeBuildClient } from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import { CodeBuildBuildService } from '../../../functions/adapters/aws/codebuild-build-service.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeEventBus } from '../../../functions/adapters/aws/eventbridge-event-bus.ts';
import { SsmParameterStore } from '../../../functions/adapters/aws/ssm-parameter-store.ts';
import { silentLogger } from '../../../functions/middleware/step-handler.ts';
import { keys } from '../../../functions/pipeline-state.ts';
import { failureReason } from '../../../functions/report/failure-reason.ts';
import { createHandler, type DeliveryReport } from '../../../functions/report/handler.ts';
import {
  createLocalFixture,
  deliveryState,
  LOCK_HASH,
  storeBuild,
  withAdapters,
  type LocalFixture,
} from './handler-fixtures.ts';

const eventsMock = mockClient(EventBridgeClient);
const ssmMock = mockClient(SSMClient);

describe('report handler', () => {
  let fixture: LocalFixture;

  beforeEach(async () => {
    eventsMock.reset();
    ssmMock.reset();
    fixture = await createLocalFixture();
    await storeBuild(fixture.dependencies.adapters);
  });
  afterEach(() => fixture.cleanup());

  describe('on success, with local adapters', () => {
    it('writes the report and the delivered marker, and records the event and parameters', async () => {
      // Prepare
      const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
      const delivery = {
        strategy: 'layers',
        layers: [{ layerVersionArn: 'arn:aws:lambda:local:000000000000:layer:x:1' }],
      };

      // Act
      const result = await handler({ ...deliveryState(), delivery, executionName: 'exec-1' });

      // Assess
      expect(result).toMatchObject({
        ok: true,
        status: 'SUCCEEDED',
        reportKey: 'reports/exec-1.json',
        cached: false,
      });
      const store = fixture.dependencies.adapters.store;
      const delivered = JSON.parse(
        (await store.getBytes(keys.delivered(LOCK_HASH))).toString(),
      ) as DeliveryReport;
      expect(delivered.delivery).toEqual(delivery);
      expect(delivered.manifest?.lockHash).toBe(LOCK_HASH);
      expect(await store.exists('reports/exec-1.json')).toBe(true);
      const events = (await readFile(join(fixture.outDir, 'events.jsonl'), 'utf8')).trim().split('\n');
      expect(events).toHaveLength(1);
      expect(JSON.parse(events[0] ?? '{}')).toMatchObject({
        source: 'lambda-deps',
        'detail-type': 'Dependency Set Ready',
        detail: { name: 'web', lockHash: LOCK_HASH, strategy: 'layers' },
      });
      const parameters = JSON.parse(
        await readFile(join(fixture.outDir, 'parameters.json'), 'utf8'),
      ) as Record<string, { value: string }>;
      expect(parameters['/lambda-deps/web/lock-hash']?.value).toBe(LOCK_HASH);
    });

    it('reports a cached lock with what the earlier execution delivered, without rewriting the marker', async () => {
      // Prepare
      const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
      const delivery = { strategy: 'layers', layers: [] };
      await handler({ ...deliveryState(), delivery, executionName: 'first' });
      const marker = await fixture.dependencies.adapters.store.getBytes(keys.delivered(LOCK_HASH));
      const cachedState = {
        source: 'console',
        input: {},
        measure: { ...deliveryState().measure, cached: true },
      };

      // Act
      const result = await handler({ ...cachedState, executionName: 'second' });

      // Assess
      expect(result).toMatchObject({ cached: true, delivery, strategy: 'layers' });
      expect(await fixture.dependencies.adapters.store.getBytes(keys.delivered(LOCK_HASH))).toEqual(marker);
    });
    it("reports a lock delivered again (a rollback, another set name) with this execution's delivery", async () => {
      // Prepare
      const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
      await handler({
        ...deliveryState(),
        delivery: { strategy: 'layers', layers: ['old'] },
        executionName: 'first',
      });
      const again = { strategy: 'layers', layers: ['again'] };
      const state = deliveryState({ measure: { cached: true, name: 'api' } });

      // Act
      const result = await handler({ ...state, delivery: again, executionName: 'second' });

      // Assess
      expect(result).toMatchObject({ cached: true, delivery: again, name: 'api', strategy: 'layers' });
      expect(await fixture.dependencies.adapters.parameters.get?.('/lambda-deps/api/lock-hash')).toBe(
        LOCK_HASH,
      );
    });
  });

  describe('a build that broke', () => {
    it('names the failing phase, its message and the log link from BatchGetBuilds, not the raw .sync error', async () => {
      // Prepare
      const codeBuild = mockClient(CodeBuildClient);
      codeBuild.on(BatchGetBuildsCommand, { ids: ['lambda-deps:b-1'] }).resolves({
        builds: [
          {
            id: 'lambda-deps:b-1',
            buildStatus: 'FAILED',
            phases: [
              { phaseType: 'INSTALL', phaseStatus: 'SUCCEEDED' },
              {
                phaseType: 'BUILD',
                phaseStatus: 'FAILED',
                contexts: [
                  {
                    statusCode: 'COMMAND_EXECUTION_ERROR',
                    message: 'Error while executing command: bin/lambda-deps build. Reason: exit status 1',
                  },
                ],
              },
            ],
            logs: {
              deepLink:
                'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/build/log-events/b-1',
            },
          },
        ],
      });
      const fixture = await createLocalFixture();
      const dependencies = withAdapters(fixture.dependencies, {
        builds: new CodeBuildBuildService(new CodeBuildClient({ region: 'eu-west-1' })),
      });
      const {
        route: _route,
        delivery: _delivery,
        ...state
      } = { ...deliveryState(), route: undefined, delivery: undefined };
      const error = {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({ Build: { Id: 'lambda-deps:b-1', BuildStatus: 'FAILED' } }),
      };

      // Act
      const result = await createHandler(
        () => dependencies,
        silentLogger('test'),
      )({ ...state, build: undefined, error });
      await fixture.cleanup();
      codeBuild.restore();

      // Assess
      expect(result).toMatchObject({ failedStep: 'Build' });
      expect(String((result as { reason?: string }).reason)).toBe(
        'Build failed. The build lambda-deps:b-1 failed in phase BUILD (FAILED): COMMAND_EXECUTION_ERROR: Error while executing command: bin/lambda-deps build. Reason: exit status 1. Log: https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/build/log-events/b-1',
      );
    });
  });

  describe('execution names', () => {
    it.each(['web+1', 'me@example', 'rev=3', 'a.b_c-d'])(
      'accepts the name %s, as Step Functions does',
      async (executionName) => {
        // Prepare
        const fixture = await createLocalFixture();
        await storeBuild(fixture.dependencies.adapters);
        const handler = createHandler(() => fixture.dependencies, silentLogger('test'));

        // Act
        const result = await handler({ ...deliveryState(), delivery: { strategy: 'layers' }, executionName });
        await fixture.cleanup();

        // Assess
        expect(result).toMatchObject({ ok: true, reportKey: `reports/${executionName}.json` });
      },
    );

    it.each(['a/b', 'has space', 'x'.repeat(81), 'q?', 'semi;colon'])(
      'refuses the name %s, which Step Functions never gives',
      async (executionName) => {
        // Prepare
        const fixture = await createLocalFixture();
        const handler = createHandler(() => fixture.dependencies, silentLogger('test'));

        // Act
        const attempt = handler({ ...deliveryState(), delivery: { strategy: 'layers' }, executionName });

        // Assess
        await expect(attempt).rejects.toThrow(/executionName/);
        await fixture.cleanup();
      },
    );
  });

  describe('on success, with the AWS adapters', () => {
    it('sends PutEvents with source lambda-deps and PutParameter for the lock hash', async () => {
      // Prepare
      eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
      ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
      const dependencies = withAdapters(fixture.dependencies, {
        events: new EventBridgeEventBus('deps-bus', new EventBridgeClient({ region: 'eu-west-1' })),
        parameters: new SsmParameterStore(new SSMClient({ region: 'eu-west-1' })),
      });
      const handler = createHandler(() => dependencies, silentLogger('test'));
      const delivery = { strategy: 'layers', layers: [] };

      // Act
      await handler({ ...deliveryState(), delivery, executionName: 'exec-2' });

      // Assess
      const sent = eventsMock.commandCalls(PutEventsCommand)[0]?.args[0].input as PutEventsCommandInput;
      expect(sent.Entries).toHaveLength(1);
      expect(sent.Entries?.[0]).toMatchObject({
        EventBusName: 'deps-bus',
        Source: 'lambda-deps',
        DetailType: 'Dependency Set Ready',
      });
      expect(JSON.parse(sent.Entries?.[0]?.Detail ?? '{}')).toEqual({
        name: 'web',
        lockHash: LOCK_HASH,
        strategy: 'layers',
        cached: false,
        delivery,
        report: `${fixture.dependencies.adapters.store.location}/reports/exec-2.json`,
      });
      expect(ssmMock.commandCalls(PutParameterCommand)[0]?.args[0].input).toEqual<PutParameterCommandInput>({
        Name: '/lambda-deps/web/lock-hash',
        Value: LOCK_HASH,
        Description: 'Lock hash of the latest delivered lambda-deps set web',
        Type: 'String',
        Overwrite: true,
      });
    });

    it('fails loudly when EventBridge refuses the entry', async () => {
      // Prepare
      eventsMock.on(PutEventsCommand).resolves({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try later' }],
      });
      const dependencies = withAdapters(fixture.dependencies, {
        events: new EventBridgeEventBus('deps-bus', new EventBridgeClient({ region: 'eu-west-1' })),
      });

      // Act
      const attempt = createHandler(
        () => dependencies,
        silentLogger('test'),
      )({ ...deliveryState(), delivery: { strategy: 'layers' } });

      // Assess
      await expect(attempt).rejects.toThrow(
        /EventBridge refused the "Dependency Set Ready" event: InternalFailure/,
      );
    });
  });

  describe('on failure', () => {
    it('returns the reason from a Lambda error Cause, names the failed step and sends Dependency Set Failed', async () => {
      // Prepare
      const handler = createHandler(() => fixture.dependencies, silentLogger('test'));
      const cause = JSON.stringify({
        errorType: 'ResolutionError',
        errorMessage:
          'numpy: no wheel for cp312 manylinux_2_34_aarch64 satisfies ==1.21.0\n  hint: pin a newer numpy',
        trace: [],
      });

      // Act
      const result = await handler({
        source: 'console',
        input: {},
        error: { Error: 'ResolutionError', Cause: cause },
        executionName: 'failed-1',
      });

      // Assess
      expect(result).toMatchObject({
        status: 'FAILED',
        failedStep: 'Measure',
        packageName: 'numpy',
        reportKey: 'reports/failed-1.json',
      });
      expect(result.reason).toMatch(/^Measure failed\. ResolutionError: numpy: no wheel/);
      const events = (await readFile(join(fixture.outDir, 'events.jsonl'), 'utf8')).trim().split('\n');
      expect(JSON.parse(events[0] ?? '{}')['detail-type']).toBe('Dependency Set Failed');
    });

    it('lists the layer versions a half-way publish left behind', async () => {
      // Prepare
      const { createHandler: createPublishHandler } =
        await import('../../../functions/publish-layers/handler.ts');
      const failing = withAdapters(fixture.dependencies, {
        layers: {
          ...fixture.dependencies.adapters.layers,
          publishLayerVersion: async (request) => {
            if (request.layerName.endsWith('-2'))
              throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
            return fixture.dependencies.adapters.layers.publishLayerVersion(request);
          },
          addPermission: (request) => fixture.dependencies.adapters.layers.addPermission(request),
          updateFunctionLayers: (request) =>
            fixture.dependencies.adapters.layers.updateFunctionLayers(request),
        },
      });
      const publishError = await createPublishHandler(
        () => failing,
        silentLogger('test'),
      )(deliveryState()).then(
        () => null,
        (caught: unknown) => caught as Error,
      );
      const cause = JSON.stringify({
        errorType: publishError?.name,
        errorMessage: publishError?.message,
        trace: [],
      });

      // Act
      const result = await createHandler(
        () => fixture.dependencies,
        silentLogger('test'),
      )({
        ...deliveryState(),
        error: { Error: 'LayerPublishError', Cause: cause },
      });

      // Assess
      expect(result).toMatchObject({
        status: 'FAILED',
        failedStep: 'PublishLayers',
        published: ['arn:aws:lambda:local:000000000000:layer:lambda-deps-web-1:1'],
      });
      expect(result.reason).toContain('No function was updated');
    });

    it('gives the problems of a build that refused its result, from the manifest it left under failed/', async () => {
      // Prepare
      const { buildManifest } = await import('./handler-fixtures.ts');
      await fixture.dependencies.adapters.store.putBytes(
        `${keys.artifactPrefix(LOCK_HASH)}failed/manifest.json`,
        JSON.stringify(
          buildManifest({
            reason: 'not published: verification found 1 problem(s)',
            verification: {
              ok: false,
              problems: [{ package: 'cffi', file: 'python/_cffi_backend.so', message: 'built for aarch64' }],
            },
          }),
        ),
      );
      const { route: _route, ...state } = deliveryState();
      const cause = JSON.stringify({ Build: { Id: 'b:1', BuildStatus: 'FAILED', Phases: [] } });

      // Act
      const result = await createHandler(
        () => fixture.dependencies,
        silentLogger('test'),
      )({
        ...state,
        build: undefined,
        error: { Error: 'States.TaskFailed', Cause: cause },
      });

      // Assess
      expect(result).toMatchObject({ failedStep: 'Build', packageName: 'cffi' });
      expect(result.reason).toBe(
        'Build failed. The build refused its result: not published: verification found 1 problem(s). cffi (python/_cffi_backend.so): built for aarch64',
      );
    });

    it('still returns the reason when the failure report cannot be stored', async () => {
      // Prepare
      const broken = withAdapters(fixture.dependencies, {
        events: { putEvent: () => Promise.reject(new Error('bus down')) },
      });

      // Act
      const result = await createHandler(
        () => broken,
        silentLogger('test'),
      )({
        ...deliveryState(),
        error: { Error: 'States.Timeout', Cause: '' },
      });

      // Assess
      expect(result).toMatchObject({ status: 'FAILED', failedStep: 'PublishLayers', reportKey: null });
      expect(result.reason).toBe(
        'PublishLayers failed. States.Timeout: A step took longer than its timeout.',
      );
    });
  });
});

describe('failureReason', () => {
  it.each([
    {
      case: 'a Lambda error',
      error: {
        Error: 'InputError',
        Cause: JSON.stringify({ errorType: 'InputError', errorMessage: 'bad field' }),
      },
      reason: 'InputError: bad field',
    },
    {
      case: 'a failed CodeBuild build',
      error: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({
          Build: {
            Id: 'proj:1',
            BuildStatus: 'FAILED',
            Phases: [
              { PhaseType: 'INSTALL', PhaseStatus: 'SUCCEEDED' },
              {
                PhaseType: 'BUILD',
                PhaseStatus: 'FAILED',
                Contexts: [{ Message: 'COMMAND_EXECUTION_ERROR: exit status 1' }],
              },
            ],
          },
        }),
      },
      reason:
        'States.TaskFailed: The build proj:1 ended FAILED (BUILD FAILED: COMMAND_EXECUTION_ERROR: exit status 1). Its log has the details.',
    },
    {
      case: 'a plain text cause',
      error: { Error: 'States.Runtime', Cause: 'path $.x not found' },
      reason: 'States.Runtime: path $.x not found',
    },
    { case: 'no cause at all', error: { Error: 'Oops' }, reason: 'Oops: No cause was given.' },
  ])('reads $case', ({ error, reason }) => {
    // Act
    const result = failureReason(error);

    // Assess
    expect(result.reason).toBe(reason);
  });

  it.each([
    { message: 'numpy: no wheel for cp312', packageName: 'numpy' },
    {
      message: 'No set of wheels satisfies the requirements:\n  - requests==0.0.999: no version matches',
      packageName: 'requests',
    },
    {
      message: 'No set of wheels satisfies the requirements:\n  - zope.interface[test]>=5: missing',
      packageName: 'zope.interface',
    },
    { message: 'The build failed.', packageName: null },
  ])('finds the package named in "$message"', ({ message, packageName }) => {
    // Act
    const result = failureReason({
      Error: 'ResolutionError',
      Cause: JSON.stringify({ errorType: 'ResolutionError', errorMessage: message }),
    });

    // Assess
    expect(result.packageName).toBe(packageName);
  });
});
