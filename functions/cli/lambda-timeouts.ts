// A Lambda Task ends when its function's configured Timeout runs out, not at a state timeout: a
// Task state without TimeoutSeconds waits (AWS's default is 99999999 s). aws-local-stepfunctions
// instead ends such a Task after 60 s with States.Timeout, which would fail a torch Probe that
// takes longer on a loaded machine and would never fail a step that overruns its own Timeout.
// Locally, each Lambda Task is bounded by its function's Timeout from the template, with
// Lambda's error, and the engine's state timeout is moved out of the way.

/** Lambda's default when a function sets no Timeout. */
export const LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3;
/** Room after the function's Timeout, so the function's own error is the one that ends the Task. */
const STATE_TIMEOUT_MARGIN_SECONDS = 60;

type Template = Record<string, unknown>;
type States = Record<string, Record<string, unknown>>;

/** The function's configured Timeout in seconds (Lambda's default of 3 when the template sets none). */
export function functionTimeoutSeconds(template: Template, logicalId: string): number {
  const resources = (template.Resources ?? {}) as Record<string, { Properties?: { Timeout?: unknown } }>;
  const timeout = resources[logicalId]?.Properties?.Timeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : LAMBDA_DEFAULT_TIMEOUT_SECONDS;
}

/**
 * A copy of the definition in which each Lambda Task without TimeoutSeconds (named in
 * `lambdaTasks`, with its function's Timeout) waits past that Timeout rather than the engine's 60 s.
 */
export function withLambdaTaskTimeouts(
  definition: Record<string, unknown>,
  lambdaTasks: Readonly<Record<string, number>>,
): Record<string, unknown> {
  const copy = structuredClone(definition);
  visitStates((copy.States ?? {}) as States, (name, state) => {
    const seconds = lambdaTasks[name];
    if (state.Type !== 'Task' || seconds === undefined) return;
    if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined)
      state.TimeoutSeconds = seconds + STATE_TIMEOUT_MARGIN_SECONDS;
  });
  return copy;
}

function visitStates(states: States, visit: (name: string, state: Record<string, unknown>) => void): void {
  for (const [name, state] of Object.entries(states)) {
    visit(name, state);
    const nested = [state.Iterator, state.ItemProcessor, ...((state.Branches as unknown[]) ?? [])];
    for (const machine of nested) {
      const inner = (machine as { States?: States } | undefined)?.States;
      if (inner) visitStates(inner, visit);
    }
  }
}

/** Lambda's error when a function runs out of time (the Task fails with it, as in AWS). */
export class LambdaTimeoutError extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    this.name = 'Sandbox.Timedout';
  }
}

/**
 * Runs one invocation, ending it with Lambda's timeout error after `seconds`. The handler runs in
 * this process, so its work cannot be frozen as Lambda would; the Task fails all the same.
 */
export async function withinFunctionTimeout<T>(seconds: number, invoke: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LambdaTimeoutError(seconds)), seconds * 1000);
  });
  try {
    return await Promise.race([invoke(), expired]);
  } finally {
    clearTimeout(timer);
  }
}
