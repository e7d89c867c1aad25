// The state machine as deployed: extracted from the synthesized template, valid ASL, exactly
// the contract's states and paths, Retry and Catch on every task, and nothing the local
// engine would ignore.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY_ROOT } from '../../infra/constructs/handler-modules.ts';
import {
  FAILURE_ERROR,
  STATE_NAMES,
  TRANSIENT_LAMBDA_ERRORS,
} from '../../infra/constructs/dependency-state-machine.ts';
import { describeTaskStates, extractStateMachineDefinition } from '../../infra/state-machine-definition.ts';
import { synthesizeApp } from './synthesized-app.ts';
import type { SynthesizedApp } from './synthesized-app.ts';

type State = Record<string, unknown> & { Type: string };

// asl-validator ships no type declarations; this is the part of its API the test uses.
const aslValidator = createRequire(import.meta.url)('asl-validator') as (definition: object) => {
  isValid: boolean;
  errorsText(separator?: string): string;
};

let synthesized: SynthesizedApp;
let states: Record<string, State>;
let definition: Record<string, unknown>;
let resources: Record<string, string>;

beforeAll(() => {
  synthesized = synthesizeApp({ nagChecks: false });
  ({ definition, resources } = extractStateMachineDefinition(synthesized.json));
  states = definition.States as Record<string, State>;
});
afterAll(() => synthesized.cleanup());

function keysDeep(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysDeep);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keysDeep(inner)]);
}

describe('the synthesized state machine', () => {
  it('is valid ASL according to asl-validator', () => {
    // Act (the validator fills in defaults, so it gets a copy)
    const result = aslValidator(structuredClone(definition));

    // Assess
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('has exactly the states of the pipeline contract', () => {
    // Act
    const names = Object.keys(states).sort();

    // Assess
    expect(names).toEqual([...STATE_NAMES].sort());
    expect(definition.StartAt).toBe('NormalizeInput');
  });

  it('uses no JSONata, Assign, ItemReader or other features the local engine ignores', () => {
    // Act
    const keys = new Set(keysDeep(definition));

    // Assess
    for (const forbidden of [
      'QueryLanguage',
      'Assign',
      'ItemReader',
      'ItemBatcher',
      'ResultWriter',
      'Arguments',
      'Output',
    ]) {
      expect(keys.has(forbidden), forbidden).toBe(false);
    }
    expect(JSON.stringify(definition)).not.toContain('{%');
  });

  it('retries transient errors with backoff and catches everything into ReportFailure on every task', () => {
    // Prepare
    const tasks = Object.entries(states).filter(
      ([name, state]) => state.Type === 'Task' && name !== 'ReportFailure',
    );

    // Act
    const problems = tasks.flatMap(([name, state]) => {
      const retry = (state.Retry ?? []) as {
        ErrorEquals: string[];
        BackoffRate?: number;
        MaxAttempts?: number;
      }[];
      const catchers = (state.Catch ?? []) as { ErrorEquals: string[]; Next: string; ResultPath: string }[];
      const found: string[] = [];
      if (
        retry.length === 0 ||
        retry.some((rule) => (rule.BackoffRate ?? 1) < 2 || (rule.MaxAttempts ?? 0) < 1)
      ) {
        found.push(`${name}: no retry with backoff`);
      }
      if (retry.some((rule) => rule.ErrorEquals.includes('States.ALL')))
        found.push(`${name}: retries everything`);
      if (
        !catchers.some(
          (c) =>
            c.ErrorEquals.includes('States.ALL') && c.Next === 'ReportFailure' && c.ResultPath === '$.error',
        )
      ) {
        found.push(`${name}: no catch-all to ReportFailure at $.error`);
      }
      return found;
    });

    // Assess
    expect(tasks.map(([name]) => name).sort()).toEqual(
      [
        'Build',
        'Measure',
        'Probe',
        'PublishLayers',
        'PushImage',
        'ReadBuildManifest',
        'Report',
        'SwitchEfs',
        'SwitchLayers',
        'SyncEfs',
      ].sort(),
    );
    expect(problems).toEqual([]);
    for (const name of [
      'Measure',
      'ReadBuildManifest',
      'PublishLayers',
      'SyncEfs',
      'PushImage',
      'Probe',
      'SwitchLayers',
      'SwitchEfs',
      'Report',
    ]) {
      const retry = states[name]?.Retry as { ErrorEquals: string[] }[];
      expect(retry[0]?.ErrorEquals).toEqual(TRANSIENT_LAMBDA_ERRORS);
    }
  });

  it('reports failures once, with retries, then fails with the report reason as the cause (or the original error when the report fails)', () => {
    // Prepare
    const reportFailure = states.ReportFailure;
    const failed = states.Failed;

    // Act & Assess
    expect(reportFailure).toMatchObject({ Type: 'Task', ResultPath: '$.report', Next: 'Failed' });
    expect(reportFailure?.Retry).toBeDefined();
    expect(reportFailure?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.reportError', Next: 'FailureUnreported' },
    ]);
    expect(states.FailureUnreported).toMatchObject({ Type: 'Pass', ResultPath: '$.report', Next: 'Failed' });
    expect(reportFailure?.Resource).toBe(states.Report?.Resource);
    expect(failed).toEqual({ Type: 'Fail', Error: FAILURE_ERROR, CausePath: '$.report.reason' });
  });

  it('normalizes S3 events and console input into one shape', () => {
    // Act & Assess
    expect(states.NormalizeInput).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.detail.object.key', IsPresent: true, Next: 'FromS3Event' }],
      Default: 'FromConsole',
    });
    expect(states.FromS3Event).toEqual({
      Type: 'Pass',
      Parameters: { source: 's3', 'input.$': '$', 'executionName.$': '$$.Execution.Name' },
      Next: 'Measure',
    });
    expect(states.FromConsole).toEqual({
      Type: 'Pass',
      Parameters: { source: 'console', 'input.$': '$', 'executionName.$': '$$.Execution.Name' },
      Next: 'Measure',
    });
  });

  it('puts each Lambda result, the plain returned object, at its contract path', () => {
    // Prepare
    const expected: Record<string, [string, string]> = {
      Measure: ['$.measure', 'IsCached'],
      ReadBuildManifest: ['$.route', 'Route'],
      PublishLayers: ['$.delivery', 'Probe'],
      SyncEfs: ['$.delivery', 'Probe'],
      PushImage: ['$.delivery', 'Probe'],
      Probe: ['$.probe', 'Switch'],
      SwitchLayers: ['$.delivery', 'Report'],
      SwitchEfs: ['$.delivery', 'Report'],
      Report: ['$.report', 'Done'],
    };

    // Act
    const actual = Object.fromEntries(
      Object.keys(expected).map((name) => [name, [states[name]?.ResultPath, states[name]?.Next]]),
    );

    // Assess
    expect(actual).toEqual(expected);
    for (const name of Object.keys(expected)) {
      // A function ARN as the resource returns the payload itself (no Payload/StatusCode wrapper).
      expect(String(states[name]?.Resource)).toMatch(/^arn:aws:lambda:[^:]+:\d{12}:function:/);
      expect(states[name]).not.toHaveProperty('OutputPath');
    }
  });

  it('skips only the build when Measure finds the lock delivered before: the set is delivered again', () => {
    // Act & Assess
    expect(states.IsCached).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.measure.cached', BooleanEquals: true, Next: 'ReadBuildManifest' }],
      Default: 'BuildHost',
    });
  });

  it("chooses the build host by the set's architecture, and Amazon Linux 2 for python3.10/3.11 on x86_64", () => {
    // Act & Assess
    const onRuntime = (runtime: string, next: string): unknown => ({
      And: [
        { Variable: '$.measure.runtime', IsPresent: true },
        { Variable: '$.measure.runtime', StringEquals: runtime },
      ],
      Next: next,
    });
    expect(states.BuildHost).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.measure.architecture', StringEquals: 'arm64', Next: 'OnArm64' },
        onRuntime('python3.10', 'OnX86_64Python310'),
        onRuntime('python3.11', 'OnX86_64Python311'),
      ],
      Default: 'OnX86_64',
    });
    expect(states.OnArm64).toMatchObject({
      Type: 'Pass',
      Result: { environmentType: 'ARM_CONTAINER', buildspec: 'buildspecs/build.yml' },
      ResultPath: '$.buildHost',
      Next: 'Build',
    });
    expect(states.OnX86_64).toMatchObject({
      Result: { environmentType: 'LINUX_CONTAINER', image: 'aws/codebuild/amazonlinux-x86_64-standard:5.0' },
      Next: 'Build',
    });
    for (const [state, version] of [
      ['OnX86_64Python310', '3.10'],
      ['OnX86_64Python311', '3.11'],
    ] as const) {
      expect(states[state]).toMatchObject({
        Type: 'Pass',
        Result: {
          environmentType: 'LINUX_CONTAINER',
          image: `public.ecr.aws/sam/build-python${version}:latest`,
          buildspec: 'buildspecs/build-al2.yml',
        },
        ResultPath: '$.buildHost',
        Next: 'Build',
      });
    }
  });

  it('retries ConcurrentSyncError on SyncEfs', () => {
    // Act
    const retried = (states.SyncEfs?.Retry as { ErrorEquals: string[] }[]).flatMap(
      (retry) => retry.ErrorEquals,
    );

    // Assess
    expect(retried).toContain('ConcurrentSyncError');
  });

  it('builds with startBuild.sync, the measured compute size and the four contract variables', () => {
    // Prepare
    const build = states.Build as Record<string, unknown>;
    const projectName = (build.Parameters as Record<string, unknown>).ProjectName as string;

    // Act & Assess
    expect(build.Resource).toBe('arn:aws:states:::codebuild:startBuild.sync');
    expect(synthesized.json.Resources[resources[projectName] ?? '']?.Type).toBe('AWS::CodeBuild::Project');
    expect(build.Parameters).toEqual({
      ProjectName: projectName,
      'ComputeTypeOverride.$': '$.measure.computeType',
      'EnvironmentTypeOverride.$': '$.buildHost.environmentType',
      'ImageOverride.$': '$.buildHost.image',
      ImagePullCredentialsTypeOverride: 'CODEBUILD',
      'BuildspecOverride.$': '$.buildHost.buildspec',
      EnvironmentVariablesOverride: [
        { Name: 'LOCK_KEY', Type: 'PLAINTEXT', 'Value.$': '$.measure.lockKey' },
        { Name: 'ARTIFACT_PREFIX', Type: 'PLAINTEXT', 'Value.$': '$.measure.artifactPrefix' },
        { Name: 'STRATEGY', Type: 'PLAINTEXT', 'Value.$': '$.measure.strategy' },
        { Name: 'PYTHON_VERSION', Type: 'PLAINTEXT', 'Value.$': '$.measure.pythonVersion' },
      ],
    });
    expect(build.ResultSelector).toEqual({ 'buildId.$': '$.Build.Id', 'status.$': '$.Build.BuildStatus' });
    expect(build.ResultPath).toBe('$.build');
    expect(build.Next).toBe('ReadBuildManifest');
    expect(build.TimeoutSeconds).toBe(70 * 60);
  });

  it('runs the Probe after every publishing step and before every switch: no path from publishing reaches the switch or the Report without it', () => {
    // Prepare
    const next = (name: string): string[] => {
      const state: Record<string, unknown> = states[name] ?? {};
      const choices = ((state.Choices as { Next: string }[] | undefined) ?? []).map((choice) => choice.Next);
      return [state.Next, state.Default, ...choices].filter(
        (value): value is string => typeof value === 'string',
      );
    };
    // Every state reachable from `start` without passing through `avoid` (catches lead to ReportFailure).
    const reachableAvoiding = (start: string, avoid: string): Set<string> => {
      const seen = new Set<string>();
      const queue = next(start);
      for (let steps = 0; queue.length > 0 && steps < 1000; steps++) {
        const name = queue.shift() as string;
        if (name === avoid || seen.has(name)) continue;
        seen.add(name);
        queue.push(...next(name));
      }
      return seen;
    };

    // Act
    const withoutProbe = ['PublishLayers', 'SyncEfs', 'PushImage'].map((start) => [
      start,
      [...reachableAvoiding(start, 'Probe')].filter((name) =>
        ['SwitchLayers', 'SwitchEfs', 'Report'].includes(name),
      ),
    ]);

    // Assess
    expect(withoutProbe).toEqual([
      ['PublishLayers', []],
      ['SyncEfs', []],
      ['PushImage', []],
    ]);
    expect(states.Switch).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.route.strategy', StringEquals: 'layers', Next: 'SwitchLayers' },
        { Variable: '$.route.strategy', StringEquals: 'efs', Next: 'SwitchEfs' },
      ],
      // An image's tag names one lock: nothing moves, and the Report's Ready event announces it.
      Default: 'Report',
    });
    // The switch runs the route's own function again, told to switch, with what the Probe found.
    expect(states.SwitchLayers?.Resource).toBe(states.PublishLayers?.Resource);
    expect(states.SwitchEfs?.Resource).toBe(states.SyncEfs?.Resource);
    expect(states.SwitchLayers?.Parameters).toEqual({
      phase: 'switch',
      'measure.$': '$.measure',
      'route.$': '$.route',
      'delivery.$': '$.delivery',
      'probe.$': '$.probe',
      'executionName.$': '$.executionName',
    });
    expect(states.PublishLayers?.Parameters).toBeUndefined();
  });

  it('routes on the build manifest strategy to the three deliveries', () => {
    // Act & Assess
    expect(states.Route).toEqual({
      Type: 'Choice',
      Choices: [
        { Variable: '$.route.strategy', StringEquals: 'layers', Next: 'PublishLayers' },
        { Variable: '$.route.strategy', StringEquals: 'efs', Next: 'SyncEfs' },
        { Variable: '$.route.strategy', StringEquals: 'image', Next: 'PushImage' },
      ],
    });
  });

  it('has an overall execution timeout', () => {
    // Act & Assess
    expect(definition.TimeoutSeconds).toBe(2 * 60 * 60);
  });
});

describe('describeTaskStates', () => {
  it('names the handler file of every Lambda task and the project of the Build task', () => {
    // Act
    const targets = describeTaskStates(synthesized.json);

    // Assess
    expect(targets.Build).toMatchObject({ kind: 'codebuild', entry: null });
    expect(targets.Measure).toMatchObject({ kind: 'lambda', entry: 'functions/measure/handler.ts' });
    expect(targets.ReportFailure?.entry).toBe('functions/report/handler.ts');
    expect(Object.values(targets).filter((target) => target.kind === 'other')).toEqual([]);
    for (const target of Object.values(targets)) {
      if (target.kind !== 'lambda') continue;
      expect(target.entry).toMatch(/^functions\/[a-z-]+\/handler\.ts$/);
    }
  });

  it('points at handler files that exist', () => {
    // Act
    const entries = Object.values(describeTaskStates(synthesized.json)).flatMap((target) =>
      target.entry ? [target.entry] : [],
    );

    // Assess
    expect(entries.filter((entry) => !existsSync(join(REPOSITORY_ROOT, entry)))).toEqual([]);
  });
});

describe('extractStateMachineDefinition', () => {
  it('resolves Fn::Join, GetAtt, Ref and pseudo parameters into stable placeholders', () => {
    // Prepare
    const template = {
      Resources: {
        Fn1: { Type: 'AWS::Lambda::Function' },
        Project1: { Type: 'AWS::CodeBuild::Project' },
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            DefinitionString: {
              'Fn::Join': [
                '',
                [
                  '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
                  { 'Fn::GetAtt': ['Fn1', 'Arn'] },
                  '","Next":"B"},"B":{"Type":"Task","Resource":"arn:',
                  { Ref: 'AWS::Partition' },
                  ':states:::codebuild:startBuild.sync","Parameters":{"ProjectName":"',
                  { Ref: 'Project1' },
                  '"},"End":true}}}',
                ],
              ],
            },
          },
        },
      },
    };

    // Act
    const { definition: extracted, resources: placeholders } = extractStateMachineDefinition(template);

    // Assess
    expect(extracted).toEqual({
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:Fn1', Next: 'B' },
        B: {
          Type: 'Task',
          Resource: 'arn:aws:states:::codebuild:startBuild.sync',
          Parameters: { ProjectName: 'Project1' },
          End: true,
        },
      },
    });
    expect(placeholders).toEqual({
      'arn:aws:lambda:us-east-1:123456789012:function:Fn1': 'Fn1',
      Project1: 'Project1',
    });
  });

  it('applies DefinitionSubstitutions', () => {
    // Prepare
    const template = {
      Resources: {
        Fn1: { Type: 'AWS::Lambda::Function' },
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            DefinitionString: '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${fn}","End":true}}}',
            DefinitionSubstitutions: { fn: { 'Fn::GetAtt': ['Fn1', 'Arn'] } },
          },
        },
      },
    };

    // Act
    const { definition: extracted } = extractStateMachineDefinition(template);

    // Assess
    expect((extracted.States as Record<string, State>).A?.Resource).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:Fn1',
    );
  });

  it('refuses a template without exactly one state machine', () => {
    // Act & Assess
    expect(() => extractStateMachineDefinition({ Resources: {} })).toThrow(
      /exactly one state machine in the template, found 0/,
    );
  });

  it('refuses a reference to a resource that is not in the template', () => {
    // Prepare
    const template = {
      Resources: {
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionString: { 'Fn::Join': ['', ['{"x":"', { Ref: 'Missing' }, '"}']] } },
        },
      },
    };

    // Act & Assess
    expect(() => extractStateMachineDefinition(template)).toThrow(/Missing, which is not in the template/);
  });
});
