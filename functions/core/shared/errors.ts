// Typed errors. Every error a user can cause says where (file, line, column or package)
// and what to do; the CLI prints `message` and `hint`, and maps `exitCode`.
import { redactText } from './redact.ts';
import type { SourceLocation } from './types.ts';

/** Base of every error lambda-deps raises on purpose. */
export class LambdaDepsError extends Error {
  override name = 'LambdaDepsError';
  /** 1: the set cannot be satisfied or verified; 2: bad usage or input. */
  readonly exitCode: 1 | 2;
  readonly hint: string | null;
  readonly location: SourceLocation | null;
  readonly packageName: string | null;

  constructor(
    message: string,
    options: {
      exitCode?: 1 | 2;
      hint?: string | null;
      location?: SourceLocation | null;
      packageName?: string | null;
      cause?: unknown;
    } = {},
  ) {
    // No error may carry a password from a URL into a log, report or event.
    super(redactText(message), { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint ? redactText(options.hint) : null;
    this.location = options.location ?? null;
    this.packageName = options.packageName ?? null;
  }
}

/** The user's input (a requirements file, an option, an event) is wrong. Exit code 2. */
export class InputError extends LambdaDepsError {
  override name = 'InputError';
  constructor(message: string, options: ConstructorParameters<typeof LambdaDepsError>[1] = {}) {
    super(message, { ...options, exitCode: 2 });
  }
}

/** No set of files satisfies the requirements for the target. Exit code 1. */
export class ResolutionError extends LambdaDepsError {
  override name = 'ResolutionError';
  readonly problems: readonly { package: string; message: string }[];
  constructor(
    message: string,
    problems: readonly { package: string; message: string }[],
    options: ConstructorParameters<typeof LambdaDepsError>[1] = {},
  ) {
    super(message, { ...options, exitCode: 1 });
    this.problems = problems.map((problem) => ({ ...problem, message: redactText(problem.message) }));
  }
}

/** An index or file host could not be reached, or kept failing after retries. */
export class IndexUnreachableError extends LambdaDepsError {
  override name = 'IndexUnreachableError';
}

/** Content did not match its expected sha256 (index, lock or `--hash`). Never retried silently. */
export class IntegrityError extends LambdaDepsError {
  override name = 'IntegrityError';
}

/** An archive is unsafe or broken (zip-slip, bomb, symlink, corrupt directory, lying RECORD). */
export class UnsafeArchiveError extends LambdaDepsError {
  override name = 'UnsafeArchiveError';
}

/** Narrow `unknown` from a catch. */
export function assertIsError(value: unknown): asserts value is Error {
  if (!(value instanceof Error)) throw new Error(`Non-error thrown: ${String(value)}`, { cause: value });
}

/** Format an error as one paragraph (plus hint) for people. */
export function describeError(error: unknown): string {
  if (error instanceof LambdaDepsError) {
    const where = error.location
      ? `${error.location.file}:${error.location.line}:${error.location.column}: `
      : error.packageName
        ? `${error.packageName}: `
        : '';
    return `${where}${error.message}${error.hint ? `\n  hint: ${error.hint}` : ''}`;
  }
  return redactText(error instanceof Error ? error.message : String(error));
}
