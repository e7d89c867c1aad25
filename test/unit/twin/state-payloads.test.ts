// Step Functions' 256 KB applies to what passes between states, not only to each Lambda's own
// result: the merged state output (ResultPath), the .sync build's result and the execution
// input. The twin stops a local run there with States.DataLimitExceeded, as AWS does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { ensurePromiseWithResolvers } from '../../../functions/cli/local-pipeline.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localAdapters } from '../../../functions/adapters/local/local-adapters.ts';
import { AwsTwin } from '../../../functions/adapters/twin/aws-twin.ts';
import { guardStatePayloads, withBuildChecks } from '../../../functions/adapters/twin/local-run.ts';
import { allowAllTemplate } from './allow-all-template.ts';

const TEMPLATE = allowAllTemplate({
  BuildProject: {
    Type: 'AWS::CodeBuild::Project',
    Properties: { ServiceRole: { 'Fn::GetAtt': ['StepRole', 'Arn'] } },
  },
});

const twin = (): AwsTwin => AwsTwin.fromTemplate(TEMPLATE, 'lambda-deps-local');
const KB = 1024;

/** Two tasks that each return 150 KB under their own key: each result fits, the merged state does not. */
const DEFINITION = {
  StartAt: 'Measure',
  States: {
    Measure: {
      Type: 'Task',
      Resource: 'arn:aws:lambda:us-east-1:0:function:m',
      ResultPath: '$.measure',
      Next: 'Route',
    },
    Route: {
      Type: 'Task',
      Resource: 'arn:aws:lambda:us-east-1:0:function:r',
      ResultPath: '$.route',
      Next: 'Deliver',
    },
    Deliver: {
      Type: 'Task',
      Resource: 'arn:aws:lambda:us-east-1:0:function:d',
      ResultPath: '$.delivery',
      End: true,
    },
  },
};

async function runGuarded(): Promise<{ error: unknown; ran: string[] }> {
  ensurePromiseWithResolvers();
  const ran: string[] = [];
  const checked = twin();
  // As the local pipeline's task overrides do: each task first asks the twin.
  const task = (name: string) => async (): Promise<unknown> => {
    await checked.assertPayloadsWithinLimits();
    ran.push(name);
    return { text: 'x'.repeat(150 * KB) };
  };
  const machine = new StateMachine(DEFINITION as never, { validationOptions: { noValidate: true } });
  const execution = machine.run({} as never, {
    overrides: {
      taskResourceLocalHandlers: {
        Measure: task('Measure'),
        Route: task('Route'),
        Deliver: task('Deliver'),
      } as never,
    },
  });
  const guarded = guardStatePayloads(checked, execution.eventLogs, () => execution.abort());
  const consumed = (async () => {
    for await (const event of guarded) void event;
  })();
  await execution.result.catch(() => undefined);
  await consumed;
  return { error: checked.payloadBreach, ran };
}

describe("the twin's 256 KB between states", () => {
  it('stops the run at the first state whose merged output is over 256 KB, though each result fits', async () => {
    // Act
    const { error, ran } = await runGuarded();
    // Assess
    expect(error).toMatchObject({ name: 'States.DataLimitExceeded' });
    expect(String((error as Error).message)).toMatch(/^States.DataLimitExceeded: Route passed \d+ bytes on/);
    expect(ran).not.toContain('Deliver');
  });

  describe('the Build state', () => {
    let root: string;
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'lambda-deps-payloads-'));
    });
    afterEach(() => rm(root, { recursive: true, force: true }));

    it("refuses a .sync build result over 256 KB like a Lambda's", async () => {
      const { store } = localAdapters({ outDir: root });
      const build = withBuildChecks(twin(), 'Build', 'BuildProject', {}, store, () =>
        Promise.resolve({ Build: { Logs: 'x'.repeat(257 * KB) } }),
      );
      await expect(build).rejects.toThrow(/^States.DataLimitExceeded: Build passed/);
    });
  });

  it('refuses an execution input over 256 KB, as StartExecution does', () => {
    expect(() => twin().checkExecutionInput({ requirements: { inline: 'x'.repeat(256 * KB) } })).toThrow(
      /^ValidationException: The execution input is 262\d+ bytes/,
    );
    expect(() => twin().checkExecutionInput({ requirements: { inline: 'six\n' } })).not.toThrow();
  });
});
