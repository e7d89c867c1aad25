// The start-execution function: one execution per S3 object version, whatever EventBridge
// delivers twice.
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../functions/core/shared/errors.ts';
import {
  executionNameForObject,
  MAX_EXECUTION_NAME_LENGTH,
  startExecutionForEvent,
} from '../../../functions/start-execution/handler.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:LambdaDeps';

function objectCreatedEvent(
  key: string,
  versionId: string | undefined,
  etag = 'abc123',
): Record<string, unknown> {
  return {
    version: '0',
    id: `event-${Math.random()}`,
    source: 'aws.s3',
    'detail-type': 'Object Created',
    detail: {
      version: '0',
      bucket: { name: 'lambda-deps-artifacts' },
      object: { key, size: 42, etag, ...(versionId === undefined ? {} : { 'version-id': versionId }) },
      reason: 'PutObject',
    },
  };
}

const sfn = mockClient(SFNClient);
afterEach(() => sfn.reset());

describe('executionNameForObject', () => {
  it('is at most 80 characters of letters, digits, - and _', () => {
    // Prepare
    const keys = [
      'requirements/web.txt',
      `requirements/${'very-long-name.'.repeat(20)}txt`,
      'requirements/ünï cødé $(rm -rf).txt',
      'requirements/pyproject.toml',
      'requirements/...',
    ];

    // Act
    const names = keys.map((key) => executionNameForObject({ bucket: 'b', key, versionId: 'v1' }));

    // Assess
    for (const name of names) {
      expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME_LENGTH);
      expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(names[0]).toMatch(/^web-txt-[0-9a-f]{48}$/);
  });

  it('is the same for the same object version and differs for another version, key or bucket', () => {
    // Prepare
    const base = { bucket: 'b', key: 'requirements/web.txt', versionId: 'v1' };

    // Act
    const same = executionNameForObject({ ...base });
    const names = [
      executionNameForObject(base),
      executionNameForObject({ ...base, versionId: 'v2' }),
      executionNameForObject({ ...base, key: 'requirements/api.txt' }),
      executionNameForObject({ ...base, bucket: 'other' }),
    ];

    // Assess
    expect(same).toBe(names[0]);
    expect(new Set(names).size).toBe(4);
  });

  it('uses the ETag when the bucket is not versioned', () => {
    // Act
    const first = executionNameForObject({ bucket: 'b', key: 'requirements/web.txt', etag: 'e1' });
    const second = executionNameForObject({ bucket: 'b', key: 'requirements/web.txt', etag: 'e2' });

    // Assess
    expect(first).not.toBe(second);
  });
});

describe('startExecutionForEvent', () => {
  it('starts the state machine with the event as input under the object-derived name', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${STATE_MACHINE_ARN}:x`, startDate: new Date() });
    const event = objectCreatedEvent('requirements/web.txt', 'v1');

    // Act
    const result = await startExecutionForEvent(event, {
      stateMachineArn: STATE_MACHINE_ARN,
      client: new SFNClient({}),
    });

    // Assess
    expect(result).toEqual({
      executionName: executionNameForObject({
        bucket: 'lambda-deps-artifacts',
        key: 'requirements/web.txt',
        versionId: 'v1',
      }),
      executionArn: `${STATE_MACHINE_ARN}:x`,
      started: true,
    });
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE_ARN,
      name: result.executionName,
      input: JSON.stringify(event),
    });
  });

  it('treats a duplicated event (ExecutionAlreadyExists) as success and starts nothing new', async () => {
    // Prepare
    const started = new Set<string>();
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => {
      if (started.has(input.name)) {
        throw new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
      }
      started.add(input.name);
      return { executionArn: `${STATE_MACHINE_ARN}:${input.name}`, startDate: new Date() };
    });
    const client = new SFNClient({});
    const deliveries = [
      objectCreatedEvent('requirements/web.txt', 'v1'),
      objectCreatedEvent('requirements/web.txt', 'v1'),
      objectCreatedEvent('requirements/web.txt', 'v1'),
      objectCreatedEvent('requirements/web.txt', 'v2'),
      objectCreatedEvent('requirements/api/pyproject.toml', undefined, 'etag-1'),
      objectCreatedEvent('requirements/api/pyproject.toml', undefined, 'etag-1'),
    ];

    // Act
    const results = [];
    for (const event of deliveries) {
      results.push(await startExecutionForEvent(event, { stateMachineArn: STATE_MACHINE_ARN, client }));
    }

    // Assess
    expect(results.map((result) => result.started)).toEqual([true, false, false, true, true, false]);
    expect(started.size).toBe(3);
    recordReliability({
      area: 'pipeline trigger',
      experiment: 'duplicated S3 events start one execution per object version',
      cases: 3,
      faultsInjected: 3,
      runs: deliveries.length,
      lost: 'nothing',
    });
  });

  it('passes other Step Functions errors on, so EventBridge retries', async () => {
    // Prepare
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const attempt = startExecutionForEvent(objectCreatedEvent('requirements/web.txt', 'v1'), {
      stateMachineArn: STATE_MACHINE_ARN,
      client: new SFNClient({}),
    });

    // Assess
    await expect(attempt).rejects.toThrow('Rate exceeded');
  });

  it.each([
    ['no detail', { source: 'aws.s3' }, 'detail'],
    ['no object key', { detail: { bucket: { name: 'b' }, object: {} } }, 'detail.object.key'],
    [
      'an empty bucket name',
      { detail: { bucket: { name: '' }, object: { key: 'k' } } },
      'detail.bucket.name',
    ],
  ])('rejects an event with %s, naming the field, and starts nothing', async (_case, event, field) => {
    // Act
    const attempt = startExecutionForEvent(event, {
      stateMachineArn: STATE_MACHINE_ARN,
      client: new SFNClient({}),
    });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toThrow(field);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
