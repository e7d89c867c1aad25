// The synthesized definition runs as it is in aws-local-stepfunctions (the engine of the local
// pipeline), each Task served by a stub that records what it was given: every branch visits
// the contract's states in order, the Build state receives the contract's variables, retries
// absorb transient errors, and a failure ends in Failed with the report's reason as the cause.
import { StateMachine } from 'aws-local-stepfunctions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractStateMachineDefinition } from '../../infra/state-machine-definition.ts';
import { recordReliability } from '../support/reliability-log.ts';
import { synthesizeApp } from './synthesized-app.ts';
import type { SynthesizedApp } from './synthesized-app.ts';

// aws-local-stepfunctions v3 calls Promise.withResolvers, which Node 20 lacks.
const promiseStatics = Promise as unknown as { withResolvers?: () => unknown };
promiseStatics.withResolvers ??= () => {
  let resolve: unknown;
  let reject: unknown;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

type Json = Record<string, unknown>;
type Handler = (input: Json) => Promise<Json> | Json;

let synthesized: SynthesizedApp;
let definition: StateMachineDefinition;

beforeAll(() => {
  synthesized = synthesizeApp({ nagChecks: false });
  definition = extractStateMachineDefinition(synthesized.json)
    .definition as unknown as StateMachineDefinition;
});
afterAll(() => synthesized.cleanup());

const S3_EVENT = {
  version: '0',
  id: 'e-1',
  source: 'aws.s3',
  'detail-type': 'Object Created',
  detail: {
    bucket: { name: 'artifacts' },
    object: { key: 'requirements/web.txt', etag: 'abc', 'version-id': 'v1' },
    reason: 'PutObject',
  },
};

function measureResult(overrides: Json = {}): Json {
  return {
    name: 'web',
    lockHash: 'f00d',
    lockKey: 'locks/f00d.json',
    artifactPrefix: 'artifacts/f00d/',
    strategy: 'layers',
    pythonVersion: '3.12',
    runtime: 'python3.12',
    architecture: 'arm64',
    cached: false,
    manifestKey: 'artifacts/f00d/manifest.json',
    computeType: 'BUILD_GENERAL1_SMALL',
    verdict: { strategy: 'layers' },
    ...overrides,
  };
}

/** Stubs for every Task; `received` keeps each state's input, in call order. */
function stubs(overrides: Record<string, Handler> = {}): {
  handlers: Record<string, Handler>;
  received: [string, Json][];
} {
  const received: [string, Json][] = [];
  const defaults: Record<string, Handler> = {
    Measure: () => measureResult(),
    Build: () => ({ Build: { Id: 'build:1', BuildStatus: 'SUCCEEDED', Logs: {} } }),
    ReadBuildManifest: (input) => ({
      strategy: (input.measure as Json).strategy,
      manifestKey: 'artifacts/f00d/manifest.json',
      ok: true,
    }),
    PublishLayers: () => ({ layers: ['arn:aws:lambda:us-east-1:123456789012:layer:lambda-deps-web-1:1'] }),
    SyncEfs: () => ({ pythonPath: '/mnt/deps/web/current/python' }),
    PushImage: () => ({ imageUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/deps:f00d' }),
    Probe: () => ({ ran: true, ok: true, modules: [{ module: 'six', ok: true }] }),
    SwitchLayers: (input) => ({ ...(input.delivery as Json), switched: true }),
    SwitchEfs: (input) => ({ ...(input.delivery as Json), switched: true }),
    Report: () => ({ ok: true, reportKey: 'reports/x.json' }),
    ReportFailure: (input) => ({
      ok: false,
      reason: `web: ${String((input.error as Json | undefined)?.Cause ?? 'unknown')}`,
    }),
  };
  const handlers: Record<string, Handler> = {};
  for (const [name, handler] of Object.entries({ ...defaults, ...overrides })) {
    handlers[name] = async (input) => {
      received.push([name, input]);
      return handler(input);
    };
  }
  return { handlers, received };
}

async function run(input: Json, handlers: Record<string, Handler>) {
  const machine = new StateMachine(definition);
  const execution = machine.run(input as never, {
    // The Pass states read $$.Execution.Name, as Step Functions provides it.
    context: { Execution: { Name: 'local-test-execution', Input: input } } as never,
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((name) => [name, 0])),
    },
  });
  const entered: string[] = [];
  let failure: { Error: string; Cause: unknown } | null = null;
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') entered.push(event.state.name);
      if (event.type === 'ExecutionFailed') failure = { Error: event.Error, Cause: event.Cause };
    }
  })();
  const outcome = await execution.result.then(
    (output) => ({ output: output as Json, error: null }),
    (error: unknown) => ({ output: null, error: error as Error }),
  );
  await collecting;
  return { ...outcome, entered, failure: failure as { Error: string; Cause: unknown } | null };
}

describe('the synthesized state machine, run locally', () => {
  it('takes an S3 upload through measure, build and the layers delivery to the report', async () => {
    // Prepare
    const { handlers, received } = stubs();

    // Act
    const { output, error, entered } = await run(S3_EVENT, handlers);

    // Assess
    expect(error).toBeNull();
    expect(entered).toEqual([
      'NormalizeInput',
      'FromS3Event',
      'Measure',
      'IsCached',
      'BuildHost',
      'OnArm64',
      'Build',
      'ReadBuildManifest',
      'Route',
      'PublishLayers',
      'Probe',
      'Switch',
      'SwitchLayers',
      'Report',
      'Done',
    ]);
    expect(received[0]).toEqual([
      'Measure',
      { source: 's3', input: S3_EVENT, executionName: 'local-test-execution' },
    ]);
    const report = received.find(([name]) => name === 'Report')?.[1];
    expect(report).toMatchObject({
      source: 's3',
      measure: measureResult(),
      build: { buildId: 'build:1', status: 'SUCCEEDED' },
      route: { strategy: 'layers', ok: true },
      delivery: { layers: [expect.any(String)] },
    });
    expect(output?.report).toEqual({ ok: true, reportKey: 'reports/x.json' });
  });

  it('gives the Build state the measured compute size and the four contract variables', async () => {
    // Prepare
    const { handlers, received } = stubs({
      Measure: () => measureResult({ computeType: 'BUILD_GENERAL1_LARGE' }),
    });

    // Act
    await run(S3_EVENT, handlers);

    // Assess
    const build = received.find(([name]) => name === 'Build')?.[1];
    expect(build).toMatchObject({
      ComputeTypeOverride: 'BUILD_GENERAL1_LARGE',
      EnvironmentVariablesOverride: [
        { Name: 'LOCK_KEY', Type: 'PLAINTEXT', Value: 'locks/f00d.json' },
        { Name: 'ARTIFACT_PREFIX', Type: 'PLAINTEXT', Value: 'artifacts/f00d/' },
        { Name: 'STRATEGY', Type: 'PLAINTEXT', Value: 'layers' },
        { Name: 'PYTHON_VERSION', Type: 'PLAINTEXT', Value: '3.12' },
      ],
    });
  });

  it.each([
    ['efs', 'SyncEfs', ['SyncEfs', 'Probe', 'Switch', 'SwitchEfs']],
    ['image', 'PushImage', ['PushImage', 'Probe', 'Switch']],
  ])('routes a set built for %s to %s, then the Probe and the switch', async (strategy, _delivery, path) => {
    // Prepare
    const { handlers } = stubs({ Measure: () => measureResult({ strategy }) });

    // Act
    const { error, entered } = await run(S3_EVENT, handlers);

    // Assess
    expect(error).toBeNull();
    expect(entered.slice(-(path.length + 2))).toEqual([...path, 'Report', 'Done']);
  });

  it('delivers a set whose lock was delivered before again, to its own name, without building', async () => {
    // Prepare: a rollback to an earlier file, or a second set name for the same requirements.
    const { handlers, received } = stubs({ Measure: () => measureResult({ cached: true, name: 'web-2' }) });
    const input = { requirements: { inline: 'requests==2.32.3\n' }, runtime: 'python3.12', name: 'web-2' };

    // Act
    const { error, entered } = await run(input, handlers);

    // Assess
    expect(error).toBeNull();
    expect(entered).toEqual([
      'NormalizeInput',
      'FromConsole',
      'Measure',
      'IsCached',
      'ReadBuildManifest',
      'Route',
      'PublishLayers',
      'Probe',
      'Switch',
      'SwitchLayers',
      'Report',
      'Done',
    ]);
    expect(received[0]).toEqual([
      'Measure',
      { source: 'console', input, executionName: 'local-test-execution' },
    ]);
    expect(received.map(([name]) => name)).not.toContain('Build');
    expect(received.find(([name]) => name === 'PublishLayers')?.[1].measure).toMatchObject({ name: 'web-2' });
  });

  it.each([
    ['arm64', 'python3.12', 'ARM_CONTAINER', 'aws/codebuild/amazonlinux-aarch64-standard:3.0', 'build.yml'],
    ['x86_64', 'python3.12', 'LINUX_CONTAINER', 'aws/codebuild/amazonlinux-x86_64-standard:5.0', 'build.yml'],
    ['x86_64', 'python3.13', 'LINUX_CONTAINER', 'aws/codebuild/amazonlinux-x86_64-standard:5.0', 'build.yml'],
    [
      'x86_64',
      'python3.10',
      'LINUX_CONTAINER',
      'public.ecr.aws/sam/build-python3.10:latest',
      'build-al2.yml',
    ],
    [
      'x86_64',
      'python3.11',
      'LINUX_CONTAINER',
      'public.ecr.aws/sam/build-python3.11:latest',
      'build-al2.yml',
    ],
    ['arm64', 'python3.11', 'ARM_CONTAINER', 'aws/codebuild/amazonlinux-aarch64-standard:3.0', 'build.yml'],
    ['x86_64', undefined, 'LINUX_CONTAINER', 'aws/codebuild/amazonlinux-x86_64-standard:5.0', 'build.yml'],
  ])(
    'builds a %s set of %s on the image of its OS (%s, %s)',
    async (architecture, runtime, environmentType, image, buildspec) => {
      // Prepare: a custom target (python + glibc) has no runtime
      const { handlers, received } = stubs({ Measure: () => measureResult({ architecture, runtime }) });

      // Act
      const { error } = await run(S3_EVENT, handlers);

      // Assess
      expect(error).toBeNull();
      const build = received.find(([name]) => name === 'Build')?.[1];
      expect(build).toMatchObject({
        EnvironmentTypeOverride: environmentType,
        ImageOverride: image,
        BuildspecOverride: `buildspecs/${buildspec}`,
      });
    },
  );

  it('retries a sync that met a concurrent sync of the same set, as its message promises', async () => {
    // Prepare
    let failuresLeft = 1;
    const { handlers, received } = stubs({
      Measure: () => measureResult({ strategy: 'efs' }),
      SyncEfs: () => {
        if (failuresLeft-- > 0)
          throw Object.assign(new Error('another sync of web ran at the same time'), {
            name: 'ConcurrentSyncError',
          });
        return { pythonPath: '/mnt/deps/web/current/python' };
      },
    });

    // Act
    const { error, entered } = await run(S3_EVENT, handlers);

    // Assess
    expect(error).toBeNull();
    expect(received.filter(([name]) => name === 'SyncEfs')).toHaveLength(2);
    expect(entered).not.toContain('ReportFailure');
  });

  it('still fails with the original error when the failure report itself cannot be written', async () => {
    // Prepare
    const { handlers } = stubs({
      Measure: () => {
        throw Object.assign(new Error('no version of numpy matches numpy>=99'), { name: 'ResolutionError' });
      },
      ReportFailure: () => {
        throw Object.assign(new Error('executionName: invalid'), { name: 'InputError' });
      },
    });

    // Act
    const { entered, failure } = await run(S3_EVENT, handlers);

    // Assess
    expect(entered.slice(-2)).toEqual(['FailureUnreported', 'Failed']);
    expect(failure?.Error).toBe('LambdaDepsFailed');
    expect(String(failure?.Cause)).toContain('no version of numpy matches numpy>=99');
    expect(String(failure?.Cause)).toContain('InputError');
  });

  it('ends a failed step in ReportFailure and Failed, with the report reason as the cause', async () => {
    // Prepare
    const failure = Object.assign(new Error('no version of numpy matches numpy>=99'), {
      name: 'ResolutionError',
    });
    const { handlers, received } = stubs({
      Measure: () => {
        throw failure;
      },
    });

    // Act
    const { error, entered, failure: executionFailure } = await run(S3_EVENT, handlers);

    // Assess
    expect(entered).toEqual(['NormalizeInput', 'FromS3Event', 'Measure', 'ReportFailure', 'Failed']);
    const reportInput = received.find(([name]) => name === 'ReportFailure')?.[1];
    expect(reportInput?.error).toEqual({
      Error: 'ResolutionError',
      Cause: 'no version of numpy matches numpy>=99',
    });
    expect(executionFailure).toEqual({
      Error: 'LambdaDepsFailed',
      Cause: 'web: no version of numpy matches numpy>=99',
    });
    expect(error?.message).toContain('web: no version of numpy matches numpy>=99');
  });

  it('switches nothing when the Probe fails: the failure is reported and no switch state runs', async () => {
    // Prepare
    const { handlers, received } = stubs({
      Probe: () => {
        throw Object.assign(
          new Error(
            'probe failed: 1 of 1 modules did not import; first: cffi: No module named _cffi_backend',
          ),
          {
            name: 'ProbeFailedError',
          },
        );
      },
    });

    // Act
    const { error, entered, failure } = await run(S3_EVENT, handlers);

    // Assess
    expect(error).not.toBeNull();
    expect(entered).toContain('Probe');
    expect(entered).not.toContain('SwitchLayers');
    expect(entered).not.toContain('Report');
    expect(entered.slice(-2)).toEqual(['ReportFailure', 'Failed']);
    expect(received.filter(([name]) => name === 'Probe')).toHaveLength(1);
    expect(failure?.Cause).toContain('_cffi_backend');
  });

  it('retries a transient error and delivers as if nothing happened', async () => {
    // Prepare
    let failuresLeft = 2;
    const { handlers, received } = stubs({
      PublishLayers: () => {
        if (failuresLeft-- > 0)
          throw Object.assign(new Error('connection reset'), { name: 'TransientError' });
        return { layers: ['arn:aws:lambda:us-east-1:123456789012:layer:lambda-deps-web-1:1'] };
      },
    });

    // Act
    const { error, entered } = await run(S3_EVENT, handlers);

    // Assess
    expect(error).toBeNull();
    expect(received.filter(([name]) => name === 'PublishLayers')).toHaveLength(3);
    expect(entered).not.toContain('ReportFailure');
    recordReliability({
      area: 'state machine',
      experiment: 'transient task errors retried by the synthesized definition',
      cases: 1,
      faultsInjected: 2,
      runs: 1,
      lost: 'nothing',
    });
  });

  it('gives up after the retry budget and reports the failure', async () => {
    // Prepare
    const { handlers, received } = stubs({
      SyncEfs: () => {
        throw Object.assign(new Error('mount target unreachable'), { name: 'TransientError' });
      },
      Measure: () => measureResult({ strategy: 'efs' }),
    });

    // Act
    const { error, entered, failure: executionFailure } = await run(S3_EVENT, handlers);

    // Assess
    expect(received.filter(([name]) => name === 'SyncEfs')).toHaveLength(4);
    expect(entered.slice(-2)).toEqual(['ReportFailure', 'Failed']);
    expect(executionFailure?.Error).toBe('LambdaDepsFailed');
    expect(error?.message).toContain('mount target unreachable');
  });
});
