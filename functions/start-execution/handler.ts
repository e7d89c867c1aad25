// Starts the pipeline for one S3 `Object Created` event, under an execution name derived from
// the object (bucket, key, version or ETag). EventBridge can deliver an event twice and cannot
// name executions itself; with a name per object version, a duplicate is refused by Step
// Functions (ExecutionAlreadyExists), which this function counts as success: nothing new starts.
import { sha256Hex } from '../core/shared/hash.ts';
import { Logger } from '@aws-lambda-powertools/logger';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { z } from 'zod';
import { InputError } from '../core/shared/errors.ts';

const logger = new Logger({ serviceName: 'lambda-deps-start-execution' });
const stepFunctions = new SFNClient({});

/** Step Functions' limit on execution names. */
export const MAX_EXECUTION_NAME_LENGTH = 80;

/** The fields of an EventBridge S3 event that identify the object; the rest is passed through. */
const objectCreatedEventSchema = z.looseObject({
  id: z.string().optional(),
  detail: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      etag: z.string().optional(),
      'version-id': z.string().optional(),
    }),
  }),
});

export type ObjectCreatedEvent = z.infer<typeof objectCreatedEventSchema>;

/**
 * A readable, unique execution name for one object version: the file's base name (cut to the
 * allowed characters) and a sha256 of bucket, key and version-id (or ETag when unversioned).
 *
 * @example
 * executionNameForObject({ bucket: 'b', key: 'requirements/web.txt', versionId: 'v1' })
 * // 'web-txt-3f1c…' (at most 80 characters of [A-Za-z0-9-_])
 */
export function executionNameForObject(object: {
  bucket: string;
  key: string;
  versionId?: string | undefined;
  etag?: string | undefined;
}): string {
  const revision = object.versionId ?? object.etag ?? '';
  const digest = sha256Hex([object.bucket, object.key, revision].join('\n')).slice(0, 48);
  const baseName = object.key.split('/').pop() ?? '';
  const readable = baseName
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_EXECUTION_NAME_LENGTH - digest.length - 1);
  return readable ? `${readable}-${digest}` : digest;
}

export interface StartExecutionResult {
  readonly executionName: string;
  readonly executionArn: string | null;
  /** False when an execution of that name already existed (a duplicated event). */
  readonly started: boolean;
}

/** Starts (or finds already started) the execution for one event. */
export async function startExecutionForEvent(
  rawEvent: unknown,
  options: { stateMachineArn: string; client: SFNClient },
): Promise<StartExecutionResult> {
  const parsed = objectCreatedEventSchema.safeParse(rawEvent);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? '(event)';
    throw new InputError(`The event is not an S3 Object Created event: ${field} is missing or invalid.`, {
      hint: 'Route only S3 "Object Created" events (EventBridge notifications on) to this function; start other inputs with StartExecution.',
    });
  }
  const event = parsed.data;
  const executionName = executionNameForObject({
    bucket: event.detail.bucket.name,
    key: event.detail.object.key,
    versionId: event.detail.object['version-id'],
    etag: event.detail.object.etag,
  });
  try {
    const response = await options.client.send(
      new StartExecutionCommand({
        stateMachineArn: options.stateMachineArn,
        name: executionName,
        input: JSON.stringify(rawEvent),
      }),
    );
    return { executionName, executionArn: response.executionArn ?? null, started: true };
  } catch (error) {
    // Compare by name too: the bundle leaves the SDK to the runtime, whose class may differ.
    if (
      error instanceof ExecutionAlreadyExists ||
      (error as { name?: unknown }).name === 'ExecutionAlreadyExists'
    ) {
      return { executionName, executionArn: null, started: false };
    }
    throw error;
  }
}

export const handler = middy()
  .use({ before: (request) => logger.addContext(request.context) })
  .handler(async (event: unknown): Promise<StartExecutionResult> => {
    const stateMachineArn = process.env.STATE_MACHINE_ARN;
    if (!stateMachineArn) {
      throw new InputError('Missing environment variable STATE_MACHINE_ARN.', {
        hint: 'The CDK stack sets it on the start-execution function; redeploy the stack.',
      });
    }
    const result = await startExecutionForEvent(event, { stateMachineArn, client: stepFunctions });
    logger.info(result.started ? 'execution started' : 'duplicate event: execution already exists', {
      ...result,
    });
    return result;
  });
