import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  BatchGetBuildsCommand,
  CodeBuildClient,
  type BuildPhase,
  type BuildPhaseType,
  type StatusType,
} from '@aws-sdk/client-codebuild';
import { GetObjectCommand, PutObjectCommand, S3Client, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type StartExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSubmitCommand, submitRequirements } from '../../../functions/cli/commands/submit.ts';
import { executionNameForObject } from '../../../functions/start-execution/handler.ts';

const cloudFormationMock = mockClient(CloudFormationClient);
const s3Mock = mockClient(S3Client);
const sfnMock = mockClient(SFNClient);
const codeBuildMock = mockClient(CodeBuildClient);

const STATE_MACHINE = 'arn:aws:states:eu-west-1:111111111111:stateMachine:LambdaDeps';

function clients() {
  return {
    cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }),
    s3: new S3Client({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
  };
}

function collect() {
  const lines: string[] = [];
  return { stream: { write: (text: string) => lines.push(text) }, text: () => lines.join('') };
}

describe('submit', () => {
  let folder: string;
  let requirementsPath: string;

  beforeEach(async () => {
    cloudFormationMock.reset();
    s3Mock.reset();
    sfnMock.reset();
    codeBuildMock.reset();
    // The bundle names files by their resolved paths.
    folder = await realpath(await mkdtemp(join(tmpdir(), 'lambda-deps-submit-')));
    requirementsPath = join(folder, 'web.txt');
    await writeFile(requirementsPath, 'requests==2.31.0\n');
    cloudFormationMock.on(DescribeStacksCommand, { StackName: 'LambdaDeps' }).resolves({
      Stacks: [
        {
          StackName: 'LambdaDeps',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ArtifactBucketName', OutputValue: 'deps-bucket' },
            { OutputKey: 'StateMachineArn', OutputValue: STATE_MACHINE },
            { OutputKey: 'RequirementsPrefix', OutputValue: 'requirements/' },
          ],
        },
      ],
    });
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('uploads under requirements/, follows the event-started execution by its derived name and prints the report', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-1"', VersionId: 'v1' });
    const prefix = 'requirements/';
    const expectedName = (uploadedKey: string) =>
      executionNameForObject({ bucket: 'deps-bucket', key: uploadedKey, versionId: 'v1', etag: 'etag-1' });
    sfnMock
      .on(DescribeExecutionCommand)
      .rejectsOnce(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }))
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({
        status: 'SUCCEEDED',
        output: JSON.stringify({ report: { reportKey: 'reports/web.json' } }),
      });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 2,
          type: 'TaskStateEntered',
          timestamp: new Date(start),
          stateEnteredEventDetails: { name: 'Measure' },
        },
        {
          id: 5,
          type: 'TaskStateExited',
          timestamp: new Date(start + 1500),
          stateExitedEventDetails: { name: 'Measure' },
        },
      ],
    });
    s3Mock.on(GetObjectCommand, { Bucket: 'deps-bucket', Key: 'reports/web.json' }).resolves({
      Body: {
        transformToString: async () =>
          JSON.stringify({
            status: 'SUCCEEDED',
            name: 'web',
            lockHash: 'abcdef0123456789',
            strategy: 'layers',
            cached: false,
            delivery: {
              layers: [{ layerVersionArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web:4' }],
            },
            reportKey: 'reports/web.json',
          }),
      } as never,
    });
    const output = collect();

    // Act
    const result = await submitRequirements(
      { requirementsPath, stack: 'LambdaDeps', wait: true, pollMs: 1 },
      clients(),
      output.stream,
    );

    // Assess
    const put = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input as PutObjectCommandInput;
    expect(put).toMatchObject({ Bucket: 'deps-bucket', ContentType: 'application/json' });
    expect(put.Key).toMatch(new RegExp(`^${prefix}[0-9a-f]{12}/web\\.txt\\.bundle\\.json$`));
    expect(JSON.parse(String(put.Body))).toEqual({
      format: 'lambda-deps-requirements-bundle/1',
      root: requirementsPath,
      files: { [requirementsPath]: 'requests==2.31.0\n' },
    });
    const executionArn = `arn:aws:states:eu-west-1:111111111111:execution:LambdaDeps:${expectedName(put.Key ?? '')}`;
    expect(result).toMatchObject({ executionArn, status: 'SUCCEEDED' });
    expect(
      sfnMock
        .commandCalls(DescribeExecutionCommand)
        .every((call) => call.args[0].input.executionArn === executionArn),
    ).toBe(true);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(output.text()).toContain('Measure');
    expect(output.text()).toContain('1.5 s');
    expect(output.text()).toContain('arn:aws:lambda:eu-west-1:111111111111:layer:lambda-deps-web:4');
  });

  it('starts the execution with inline console input when a target is given, and returns at once with --no-wait', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: `${STATE_MACHINE.replace('stateMachine', 'execution')}:abc`,
      startDate: new Date(),
    });
    const output = collect();

    // Act
    const result = await submitRequirements(
      {
        requirementsPath,
        stack: 'LambdaDeps',
        runtime: 'python3.11',
        arch: 'x86_64',
        name: 'web',
        wait: false,
      },
      clients(),
      output.stream,
    );

    // Assess
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input).toEqual<StartExecutionCommandInput>(
      {
        stateMachineArn: STATE_MACHINE,
        input: JSON.stringify({
          requirements: {
            inline: JSON.stringify({
              format: 'lambda-deps-requirements-bundle/1',
              root: requirementsPath,
              files: { [requirementsPath]: 'requests==2.31.0\n' },
            }),
          },
          runtime: 'python3.11',
          architecture: 'x86_64',
          name: 'web',
        }),
      },
    );
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    expect(result).toEqual({
      executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:LambdaDeps:abc',
      status: 'RUNNING',
      report: null,
    });
  });

  it('prints the failure reason the Fail state carries', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:LambdaDeps:x',
      startDate: new Date(),
    });
    sfnMock.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: 'LambdaDepsFailed',
      cause: 'Measure failed. ResolutionError: nosuchpkg: not found on any index',
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const output = collect();

    // Act
    const result = await submitRequirements(
      { requirementsPath, stack: 'LambdaDeps', runtime: 'python3.12', wait: true, pollMs: 1 },
      clients(),
      output.stream,
    );

    // Assess
    expect(result.status).toBe('FAILED');
    // In a person's words: the step, then the message without the error's type (issue 18).
    expect(stripVTControlCharacters(output.text())).toContain(
      'Measure failed\n  nosuchpkg: not found on any index',
    );
  });

  it('names the stack when it is not a lambda-deps stack', async () => {
    // Prepare
    cloudFormationMock.on(DescribeStacksCommand, { StackName: 'Other' }).resolves({
      Stacks: [{ StackName: 'Other', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });

    // Act
    const attempt = submitRequirements(
      { requirementsPath, stack: 'Other', wait: false },
      clients(),
      collect().stream,
    );

    // Assess
    await expect(attempt).rejects.toThrow('Stack Other has no ArtifactBucketName/StateMachineArn outputs.');
  });

  it('parses --stack, --runtime, --arch and --no-wait', async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: 'arn:aws:states:eu-west-1:111111111111:execution:LambdaDeps:y',
      startDate: new Date(),
    });
    const command = createSubmitCommand(clients()).exitOverride();
    const stdout = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;

    // Act
    try {
      await command.parseAsync(
        [
          requirementsPath,
          '--stack',
          'LambdaDeps',
          '--runtime',
          'python3.13',
          '--arch',
          'arm64',
          '--no-wait',
        ],
        { from: 'user' },
      );
    } finally {
      process.stdout.write = stdout;
    }

    // Assess
    const input = JSON.parse(
      sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '{}',
    ) as Record<string, unknown>;
    expect(input).toMatchObject({ runtime: 'python3.13', architecture: 'arm64' });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('uploads the bundle the local build reads: -r and -c includes, each resolved beside the file that names it', async () => {
    // Prepare
    await mkdir(join(folder, 'deps', 'shared'), { recursive: true });
    const root = join(folder, 'deps', 'api.txt');
    const base = join(folder, 'deps', 'shared', 'base.txt');
    const pins = join(folder, 'deps', 'shared', 'pins.txt');
    const constraints = join(folder, 'deps', 'constraints.txt');
    await writeFile(root, '-r shared/base.txt\n-c constraints.txt\nrequests==2.31.0\n');
    // base.txt's own include is relative to shared/, not to the root file's folder.
    await writeFile(base, '-r pins.txt\nsix==1.16.0\n');
    await writeFile(pins, 'idna==3.7\n');
    await writeFile(constraints, 'urllib3<3\n');
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-2"' });

    // Act
    await submitRequirements(
      { requirementsPath: root, stack: 'LambdaDeps', wait: false },
      clients(),
      collect().stream,
    );

    // Assess
    const put = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input as PutObjectCommandInput;
    expect(put.Key).toMatch(/\/api\.txt\.bundle\.json$/);
    const bundle = JSON.parse(String(put.Body)) as { root: string; files: Record<string, string> };
    expect(bundle.root).toBe(root);
    expect(Object.keys(bundle.files).sort()).toEqual([root, constraints, base, pins].sort());
    expect(bundle.files[pins]).toBe('idna==3.7\n');
  });

  it('refuses a missing include before anything is uploaded, naming the missing file', async () => {
    // Prepare
    await writeFile(requirementsPath, 'requests==2.31.0\n-r missing.txt\n');

    // Act
    const attempt = submitRequirements(
      { requirementsPath, stack: 'LambdaDeps', wait: false },
      clients(),
      collect().stream,
    );

    // Assess
    await expect(attempt).rejects.toMatchObject({ exitCode: 2 });
    await expect(attempt).rejects.toThrow(/missing\.txt/);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it("follows the build's CodeBuild phases as they run, under the Build state", async () => {
    // Prepare
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn: `${STATE_MACHINE.replace('stateMachine', 'execution')}:b`,
      startDate: new Date(),
    });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    const entered = {
      id: 1,
      type: 'TaskStateEntered' as const,
      timestamp: new Date(start),
      stateEnteredEventDetails: { name: 'Build' },
    };
    const submitted = {
      id: 2,
      type: 'TaskSubmitted' as const,
      timestamp: new Date(start + 100),
      taskSubmittedEventDetails: {
        resourceType: 'codebuild',
        resource: 'startBuild.sync',
        output: JSON.stringify({ Build: { Id: 'LambdaDeps:build-1' } }),
      },
    };
    const exited = {
      id: 3,
      type: 'TaskStateExited' as const,
      timestamp: new Date(start + 60_000),
      stateExitedEventDetails: { name: 'Build' },
    };
    sfnMock
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({ events: [entered, submitted] })
      .resolvesOnce({ events: [] })
      .resolves({ events: [exited] });
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolvesOnce({ status: 'RUNNING' })
      .resolves({ status: 'FAILED', cause: 'stopped here' });
    const phase = (
      phaseType: BuildPhaseType,
      phaseStatus?: StatusType,
      durationInSeconds?: number,
    ): BuildPhase => ({ phaseType, phaseStatus, durationInSeconds });
    codeBuildMock
      .on(BatchGetBuildsCommand, { ids: ['LambdaDeps:build-1'] })
      .resolvesOnce({
        builds: [
          { buildStatus: 'IN_PROGRESS', phases: [phase('SUBMITTED', 'SUCCEEDED', 0), phase('PROVISIONING')] },
        ],
      })
      .resolvesOnce({
        builds: [
          {
            buildStatus: 'IN_PROGRESS',
            phases: [
              phase('SUBMITTED', 'SUCCEEDED', 0),
              phase('PROVISIONING', 'SUCCEEDED', 12),
              phase('INSTALL'),
            ],
          },
        ],
      })
      .resolves({
        builds: [
          {
            buildStatus: 'SUCCEEDED',
            phases: [
              phase('SUBMITTED', 'SUCCEEDED', 0),
              phase('PROVISIONING', 'SUCCEEDED', 12),
              phase('INSTALL', 'SUCCEEDED', 41),
              phase('COMPLETED'),
            ],
          },
        ],
      });
    const output = collect();

    // Act
    await submitRequirements(
      { requirementsPath, stack: 'LambdaDeps', runtime: 'python3.12', wait: true, pollMs: 1 },
      { ...clients(), codeBuild: new CodeBuildClient({ region: 'eu-west-1' }) },
      output.stream,
    );

    // Assess
    const lines = stripVTControlCharacters(output.text()).split('\n');
    const shown = lines.filter((line) => line.startsWith('  · Build ') || line.includes('Build 60.0 s'));
    expect(shown).toEqual([
      '  · Build SUBMITTED succeeded 0 s',
      '  · Build PROVISIONING in progress',
      '  · Build PROVISIONING succeeded 12 s',
      '  · Build INSTALL in progress',
      '  · Build INSTALL succeeded 41 s',
      '  · Build COMPLETED in progress',
      '✓ Build 60.0 s',
    ]);
    expect(codeBuildMock.commandCalls(BatchGetBuildsCommand).length).toBeGreaterThanOrEqual(3);
  });

  it('refuses inline input past the 256 KB StartExecution takes, before starting anything', async () => {
    // Prepare
    const comments = Array.from({ length: 2000 }, (_, index) => `# note ${index} ${'x'.repeat(200)}`);
    await writeFile(requirementsPath, `requests==2.31.0\n${comments.join('\n')}\n`);

    // Act
    const attempt = submitRequirements(
      { requirementsPath, stack: 'LambdaDeps', runtime: 'python3.12', wait: false },
      clients(),
      collect().stream,
    );

    // Assess
    await expect(attempt).rejects.toMatchObject({ exitCode: 2 });
    await expect(attempt).rejects.toThrow(/bytes of execution input; StartExecution takes at most 262144/);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
