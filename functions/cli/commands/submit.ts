// `lambda-deps submit REQUIREMENTS --stack NAME`: the same pipeline, in the user's AWS
// account. Finds the stack's bucket and state machine from its outputs, uploads the file
// under `requirements/` (the EventBridge rule starts the execution; its name is derived from
// the object exactly as the start-execution function derives it) — or, when a target is
// given, starts the execution directly with the text inline — then follows the execution
// with the same progress lines as a local run (and the build's CodeBuild phases as they end) and
// prints the same report. What it sends is the bundle the local `build` reads: the file and every
// file it includes (-r, -c), relative paths and find-links resolved beside the including file.
import { sha256Hex } from '../../core/shared/hash.ts';
import { basename } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { Command, Option } from 'commander';
import { CodeBuildBuildService } from '../../adapters/aws/codebuild-build-service.ts';
import type { BuildDetails, BuildService } from '../../adapters/ports.ts';
import { InputError } from '../../core/shared/errors.ts';
import { executionNameForObject } from '../../start-execution/handler.ts';
import { bundleFor, type StateStatus } from '../local-pipeline.ts';
import { createStateProgress, printPipelineReport, type ProgressStream } from '../pipeline-progress.ts';

export interface SubmitClients {
  readonly cloudFormation: CloudFormationClient;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  /** Reads the build's phases while it runs (BatchGetBuilds); without it only states are shown. */
  readonly codeBuild?: CodeBuildClient;
}

export interface StackPipeline {
  readonly bucket: string;
  readonly stateMachineArn: string;
  readonly requirementsPrefix: string;
}

export interface SubmitOptions {
  readonly requirementsPath: string;
  readonly stack: string;
  readonly runtime?: string;
  readonly arch?: string;
  readonly name?: string;
  readonly wait: boolean;
  /** Milliseconds between polls of the execution. */
  readonly pollMs?: number;
  /** Give up waiting for the event-started execution to appear after this long. */
  readonly appearTimeoutMs?: number;
}

export interface SubmitResult {
  readonly executionArn: string;
  readonly status: string;
  readonly report: Record<string, unknown> | null;
}

/** Reads the stack outputs `submit` needs (names from infra/lambda-deps-stack.ts). */
export async function findStackPipeline(
  client: CloudFormationClient,
  stackName: string,
): Promise<StackPipeline> {
  const response = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  const outputs = new Map(
    (response.Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
  );
  const bucket = outputs.get('ArtifactBucketName');
  const stateMachineArn = outputs.get('StateMachineArn');
  if (!bucket || !stateMachineArn) {
    throw new InputError(`Stack ${stackName} has no ArtifactBucketName/StateMachineArn outputs.`, {
      hint: 'Is it a lambda-deps stack? Deploy it with `npx cdk deploy` first, or pass its name with --stack.',
    });
  }
  return {
    bucket,
    stateMachineArn,
    requirementsPrefix: outputs.get('RequirementsPrefix') || 'requirements/',
  };
}

/** `arn:…:stateMachine:NAME` + execution name → `arn:…:execution:NAME:EXECUTION`. */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

function stateNameOf(event: HistoryEvent): { name: string; entered: boolean } | null {
  if (event.stateEnteredEventDetails?.name)
    return { name: event.stateEnteredEventDetails.name, entered: true };
  if (event.stateExitedEventDetails?.name)
    return { name: event.stateExitedEventDetails.name, entered: false };
  return null;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** One CodeBuild phase as BatchGetBuilds reports it. */
export type BuildPhase = BuildDetails['phases'][number];

/** Reads a running build's phases and reports each one as it starts and as it ends. */
export interface BuildPhaseFollower {
  readonly builds: BuildService;
  readonly onPhase: (state: string, phase: BuildPhase) => void;
}

/** The build id a `.sync` CodeBuild task submitted (`{"Build":{"Id":…}}` in the event's output). */
function submittedBuildId(event: HistoryEvent): string | null {
  const details = event.taskSubmittedEventDetails;
  if (details?.resourceType !== 'codebuild' || !details.output) return null;
  try {
    const id = (JSON.parse(details.output) as { Build?: { Id?: unknown } }).Build?.Id;
    return typeof id === 'string' && id !== '' ? id : null;
  } catch {
    return null;
  }
}

/** The phases of the build a state is running, each reported once per status it reaches. */
function createPhaseTracker(follower: BuildPhaseFollower | undefined) {
  let build: { state: string; id: string } | null = null;
  const seen = new Map<string, string>();
  const read = async (): Promise<void> => {
    if (!follower || !build) return;
    const { state, id } = build;
    const details = await follower.builds.describeBuild(id).catch(() => null);
    for (const phase of details?.phases ?? []) {
      if (seen.get(phase.name) === phase.status) continue;
      seen.set(phase.name, phase.status);
      follower.onPhase(state, phase);
    }
  };
  return {
    started(state: string, id: string): void {
      build = { state, id };
      seen.clear();
    },
    read,
    /** The state of the build ended: its last phases first, then no more reads. */
    async ended(state: string): Promise<void> {
      if (build?.state !== state) return;
      await read();
      build = null;
    },
  };
}

/** Polls the execution's history, reporting each state as it ends, until the execution ends. */
export async function followExecution(
  sfn: SFNClient,
  executionArn: string,
  onState: (name: string, status: StateStatus, durationMs: number) => void,
  pollMs = 2000,
  buildPhases?: BuildPhaseFollower,
): Promise<{ status: string; output: string | null; cause: string | null }> {
  const entered = new Map<string, number>();
  const phases = createPhaseTracker(buildPhases);
  let lastEntered = '';
  let nextToken: string | undefined;
  for (;;) {
    // Read every new history page; the token of the last page resumes where we stopped.
    for (;;) {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 100 }),
      );
      for (const event of page.events ?? []) {
        const at = event.timestamp?.getTime() ?? Date.now();
        const buildId = submittedBuildId(event);
        if (buildId) phases.started(lastEntered, buildId);
        const state = stateNameOf(event);
        if (!state) continue;
        if (state.entered) {
          entered.set(state.name, at);
          lastEntered = state.name;
          continue;
        }
        await phases.ended(state.name);
        onState(state.name, 'succeeded', at - (entered.get(state.name) ?? at));
      }
      if (!page.nextToken) break;
      nextToken = page.nextToken;
    }
    await phases.read();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status && described.status !== 'RUNNING' && described.status !== 'PENDING_REDRIVE') {
      return { status: described.status, output: described.output ?? null, cause: described.cause ?? null };
    }
    await sleep(pollMs);
  }
}

/** `  · Build INSTALL succeeded 41 s` lines, under the state's own line. */
function phaseLine(stream: ProgressStream): BuildPhaseFollower['onPhase'] {
  return (state, phase) => {
    const took = phase.durationSeconds === null ? '' : ` ${phase.durationSeconds} s`;
    stream.write(`  · ${state} ${phase.name} ${phase.status.toLowerCase().replace(/_/g, ' ')}${took}\n`);
  };
}

/** Most bytes of execution input StartExecution takes (the bundle rides inside it). */
const MAX_EXECUTION_INPUT_BYTES = 256 * 1024;

/** A bundle too large for inline input: refused here, before StartExecution would refuse it. */
function refuseOversizedInline(requirementsPath: string, text: string): void {
  // The console input wraps the bundle's JSON in a string: its escapes count too.
  const bytes = Buffer.byteLength(JSON.stringify(text));
  if (bytes <= MAX_EXECUTION_INPUT_BYTES - 1024) return;
  throw new InputError(
    `${requirementsPath} and its includes make ${bytes} bytes of execution input; StartExecution takes at most ${MAX_EXECUTION_INPUT_BYTES}.`,
    {
      hint: 'Drop --runtime, --arch and --name: the file is then uploaded to the bucket, which has no such limit.',
    },
  );
}

/** Uploads (or starts inline), then follows the execution unless `wait` is false. */
export async function submitRequirements(
  options: SubmitOptions,
  clients: SubmitClients,
  stream: ProgressStream,
): Promise<SubmitResult> {
  // The same bundle the local build reads: the file plus its -r/-c includes, read here.
  const text = JSON.stringify(await bundleFor(options.requirementsPath));
  const pipeline = await findStackPipeline(clients.cloudFormation, options.stack);
  let executionArn: string;
  if (options.runtime || options.arch || options.name) {
    // A target or name cannot ride on an S3 event: start the execution with the console input.
    refuseOversizedInline(options.requirementsPath, text);
    const response = await clients.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: pipeline.stateMachineArn,
        input: JSON.stringify({
          // Measure reads an inline text that is a bundle as the bundle.
          requirements: { inline: text },
          ...(options.runtime ? { runtime: options.runtime } : {}),
          ...(options.arch ? { architecture: options.arch } : {}),
          ...(options.name ? { name: options.name } : {}),
        }),
      }),
    );
    if (!response.executionArn) throw new Error('StartExecution returned no execution ARN.');
    executionArn = response.executionArn;
  } else {
    const digest = sha256Hex(text).slice(0, 12);
    const key = `${pipeline.requirementsPrefix}${digest}/${basename(options.requirementsPath)}.bundle.json`;
    const uploaded = await clients.s3.send(
      new PutObjectCommand({
        Bucket: pipeline.bucket,
        Key: key,
        Body: text,
        ContentType: 'application/json',
      }),
    );
    const executionName = executionNameForObject({
      bucket: pipeline.bucket,
      key,
      versionId: uploaded.VersionId,
      // EventBridge gives the ETag without the quotes S3's API puts around it.
      etag: uploaded.ETag?.replace(/"/g, ''),
    });
    executionArn = executionArnFor(pipeline.stateMachineArn, executionName);
    stream.write(`uploaded s3://${pipeline.bucket}/${key}\n`);
  }
  stream.write(`execution ${executionArn}\n`);
  if (!options.wait) return { executionArn, status: 'RUNNING', report: null };

  // The event-started execution appears a moment after the upload.
  const deadline = Date.now() + (options.appearTimeoutMs ?? 60_000);
  for (;;) {
    const found = await clients.sfn.send(new DescribeExecutionCommand({ executionArn })).then(
      () => true,
      (error: unknown) => {
        if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return false;
        throw error;
      },
    );
    if (found) break;
    if (Date.now() > deadline) {
      throw new InputError(`No execution ${executionArn} started after the upload.`, {
        hint: "Check that the bucket sends events to EventBridge and that the stack's rule is enabled.",
      });
    }
    await sleep(options.pollMs ?? 2000);
  }
  const buildPhases = clients.codeBuild
    ? { builds: new CodeBuildBuildService(clients.codeBuild), onPhase: phaseLine(stream) }
    : undefined;
  const ended = await followExecution(
    clients.sfn,
    executionArn,
    createStateProgress(stream),
    options.pollMs,
    buildPhases,
  );
  let report: Record<string, unknown> | null = null;
  if (ended.status === 'SUCCEEDED' && ended.output) {
    const summary = (JSON.parse(ended.output) as { report?: { reportKey?: string } }).report;
    if (summary?.reportKey) {
      const object = await clients.s3.send(
        new GetObjectCommand({ Bucket: pipeline.bucket, Key: summary.reportKey }),
      );
      report = JSON.parse((await object.Body?.transformToString()) ?? '{}') as Record<string, unknown>;
    } else report = (summary as Record<string, unknown> | undefined) ?? null;
  } else {
    report = { status: 'FAILED', reason: ended.cause ?? `The execution ended ${ended.status}.` };
  }
  if (report) printPipelineReport(report, stream);
  return { executionArn, status: ended.status, report };
}

/** The `submit` command; clients are injectable for tests. */
export function createSubmitCommand(clients?: Partial<SubmitClients>): Command {
  return new Command('submit')
    .description('Deliver a requirements file through a deployed lambda-deps stack and follow the execution')
    .argument('<requirements>', 'requirements file')
    .requiredOption('--stack <name>', 'the lambda-deps stack (CloudFormation) name')
    .option('--runtime <runtime>', 'Lambda Python runtime (starts the execution with inline input)')
    .addOption(new Option('--arch <arch>', 'architecture').choices(['x86_64', 'arm64']))
    .option('--name <name>', 'name of the dependency set')
    .option('--no-wait', 'print the execution ARN and return')
    .action(
      async (
        requirementsPath: string,
        flags: { stack: string; runtime?: string; arch?: string; name?: string; wait: boolean },
      ) => {
        const result = await submitRequirements(
          { requirementsPath, ...flags },
          {
            cloudFormation: clients?.cloudFormation ?? new CloudFormationClient({}),
            s3: clients?.s3 ?? new S3Client({}),
            sfn: clients?.sfn ?? new SFNClient({}),
            codeBuild: clients?.codeBuild ?? new CodeBuildClient({}),
          },
          process.stdout,
        );
        if (result.status !== 'SUCCEEDED' && result.status !== 'RUNNING') process.exitCode = 1;
      },
    );
}
