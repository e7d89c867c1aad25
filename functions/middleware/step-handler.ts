// How every pipeline Lambda is put together: middy, Powertools logging with the Lambda
// context, the input parsed with zod (a failure names the field), and errors shaped for the
// state machine (a retryable AWS error becomes `TransientError`; a lambda-deps error carries
// its package/location and hint in the message, which is what Step Functions shows as Cause).
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { describeError, InputError, LambdaDepsError } from '../core/shared/errors.ts';
import { isTransient, TransientError } from '../pipeline-errors.ts';

/** A step's handler: what Lambda calls, and what the local pipeline calls with local adapters. */
export type StepHandler<Output> = (event: unknown, context?: Context) => Promise<Output>;

export interface StepDefinition<Schema extends z.ZodType, Output> {
  /** Folder name under functions/ (`publish-layers`). */
  readonly step: string;
  readonly inputSchema: Schema;
  readonly run: (input: z.output<Schema>, dependencies: StepDependencies, logger: Logger) => Promise<Output>;
}

/** Zod issues as `field.path: message; …` so the person sees which field is wrong. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.') || '(input)';
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Parses `request.event` with the schema; a mismatch is an InputError naming the fields. */
export function zodValidation<Schema extends z.ZodType>(schema: Schema, step: string): MiddlewareObj {
  return {
    before: (request) => {
      const parsed = schema.safeParse(request.event);
      if (!parsed.success) {
        throw new InputError(`Invalid input to ${step}: ${describeIssues(parsed.error.issues)}.`, {
          hint: 'See the execution input contract in functions/measure/input-schema.ts and functions/pipeline-state.ts.',
        });
      }
      request.event = parsed.data;
    },
  };
}

/** Shapes errors for Retry/Catch: retryable → TransientError; ours → message with where and hint. */
export function stateMachineErrors(logger: Logger): MiddlewareObj {
  return {
    onError: (request) => {
      const error = request.error;
      if (!error) return;
      logger.error('step failed', { error });
      if (error instanceof LambdaDepsError) {
        // The Lambda runtime reports only errorType and errorMessage: fold the rest in.
        error.message = describeError(error);
      } else if (isTransient(error)) {
        request.error = new TransientError(`${error.name}: ${error.message}`, { cause: error });
      }
    },
  };
}

const FALLBACK_CONTEXT: Context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'lambda-deps-local',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:lambda-deps-local',
  memoryLimitInMB: '1024',
  awsRequestId: 'local',
  logGroupName: 'local',
  logStreamName: 'local',
  getRemainingTimeInMillis: () => 900_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

/**
 * Wraps a step. `provide` gives the adapters on first call (AWS ones in Lambda, local ones
 * in the local pipeline).
 *
 * @example
 * export const createHandler = (provide, logger) => createStepHandler(measureStep, provide, logger);
 */
export function createStepHandler<Schema extends z.ZodType, Output>(
  definition: StepDefinition<Schema, Output>,
  provide: StepDependenciesProvider,
  logger: Logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'lambda-deps' }),
): StepHandler<Output> {
  const wrapped = middy<unknown, Output>()
    .use(injectLambdaContext(logger))
    .use(stateMachineErrors(logger))
    .use(zodValidation(definition.inputSchema, definition.step))
    .handler(async (event) => definition.run(event as z.output<Schema>, await provide(), logger));
  return (event, context) =>
    wrapped(event, context ?? { ...FALLBACK_CONTEXT, functionName: definition.step });
}

/** A logger that writes nothing (local runs print their own progress). */
export function silentLogger(step: string): Logger {
  return new Logger({ serviceName: `lambda-deps-${step}`, logLevel: 'SILENT' });
}
