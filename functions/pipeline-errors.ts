// Errors the pipeline's steps throw so the state machine can act on them by name: Retry
// matches `TransientError`, everything else is caught into the failure report.
import { LambdaDepsError } from './core/shared/errors.ts';

/** Worth another try (throttling, a dropped connection): the state machine retries it with backoff. */
export class TransientError extends LambdaDepsError {
  override name = 'TransientError';
}

/** The build finished but its manifest says the set must not be published (verification, smoke import). */
export class BuildRejectedError extends LambdaDepsError {
  override name = 'BuildRejectedError';
}

/**
 * Publishing stopped part-way. No function was pointed at anything; `published` lists the
 * layer versions that exist now, so a person can delete or reuse them.
 */
export class LayerPublishError extends LambdaDepsError {
  override name = 'LayerPublishError';
  readonly published: readonly string[];
  constructor(
    message: string,
    published: readonly string[],
    options: { cause?: unknown; hint?: string } = {},
  ) {
    super(message, { ...options, exitCode: 1 });
    this.published = published;
  }
}

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'SlowDown',
  'TimeoutError',
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

/** True for errors another attempt may not hit (SDK throttling and 5xx, network resets). */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof TransientError) return true;
  const code = (error as NodeJS.ErrnoException).code;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return (
    TRANSIENT_NAMES.has(error.name) ||
    (code !== undefined && TRANSIENT_NAMES.has(code)) ||
    (status !== undefined && status >= 500)
  );
}
