// The twin's wiring into the local pipeline run: one twin per execution, built from the
// synthesized template (as the run enforces it: a test may have edited it), the Build state's checks around the
// local buildspec runner, and Step Functions' 256 KB on every state's input and output.
import { join } from 'node:path';
import type { LeasingObjectStore } from '../ports.ts';
import { AwsTwin, checkBuildCalls } from './aws-twin.ts';
import { IamDecisionCache } from './iam-decision-cache.ts';
import type { ServiceLimitError } from './service-limits.ts';

/** A twin for one execution of `template` (as the run enforces it), or null when the run asked not to enforce AWS's rules. */
export function createTwin(
  options: { readonly enforceAws?: boolean },
  template: Record<string, unknown>,
  bucket: string,
  executionName: string,
  decisions: IamDecisionCache | null = null,
): AwsTwin | null {
  if (options.enforceAws === false) return null;
  const twin = AwsTwin.fromTemplate(template, bucket, decisions);
  twin.checkExecutionName(executionName);
  return twin;
}

/**
 * The kept IAM decisions of the run's cache (`<cache>/iam-decisions`); none without a cache or
 * with `--no-cache` (the delivery policy's `cache: false`).
 */
export async function openDecisionCache(options: {
  readonly enforceAws?: boolean;
  readonly cacheDir?: string;
  readonly policy?: { readonly cache?: boolean };
}): Promise<IamDecisionCache | null> {
  if (options.enforceAws === false || !options.cacheDir || options.policy?.cache === false) return null;
  return IamDecisionCache.open(join(options.cacheDir, 'iam-decisions'));
}

interface BuildPayload {
  readonly EnvironmentVariablesOverride?: readonly { Name: string; Value: string }[];
}

/**
 * Runs the Build state and checks what it did against the project's role: the lock it read and
 * every object it wrote under the artifact prefix (objects a build of the same lock left before
 * are not written again, so they are not checked again).
 */
export async function withBuildChecks<T>(
  twin: AwsTwin | null,
  state: string,
  projectLogicalId: string | null,
  payload: unknown,
  store: LeasingObjectStore,
  build: () => Promise<T>,
): Promise<T> {
  if (!twin || !projectLogicalId) return build();
  await twin.assertPayloadsWithinLimits();
  await twin.startBuild(state, projectLogicalId);
  const variables = Object.fromEntries(
    ((payload as BuildPayload).EnvironmentVariablesOverride ?? []).map((item) => [item.Name, item.Value]),
  );
  const prefix = variables.ARTIFACT_PREFIX ?? '';
  const before = new Set(prefix ? await store.list(prefix) : []);
  const result = await build();
  // The .sync result lands in the state like a Lambda's, under the same 256 KB.
  twin.checkStatePayload(state, result);
  const written = prefix ? (await store.list(prefix)).filter((key) => !before.has(key)) : [];
  // The local lease is the runner's own bookkeeping; CodeBuild has no such object.
  const objects = written.filter((key) => !key.endsWith('/.build-lease'));
  await checkBuildCalls(twin, {
    state,
    projectLogicalId,
    lockKey: variables.LOCK_KEY ?? '',
    written: objects,
  });
  return result;
}

interface EngineEvent {
  readonly type: string;
  readonly state?: { readonly name: string; readonly input?: unknown; readonly output?: unknown };
}

/**
 * Watches the engine's event log for a state whose input or output (after ResultPath and
 * OutputPath: what the next state gets) is over Step Functions' 256 KB, records it on the twin
 * and aborts the run. In AWS that is States.DataLimitExceeded, a terminal error that no
 * States.ALL catch handles.
 */
export function guardStatePayloads<Event extends EngineEvent>(
  twin: AwsTwin | null,
  events: AsyncIterable<Event>,
  abort: () => void,
): AsyncIterable<Event> {
  if (!twin) return events;
  const check = (event: Event): void => {
    if (!event.state) return;
    if (event.type === 'StateEntered')
      twin.checkStatePayload(`${event.state.name} (input)`, event.state.input);
    if (event.type === 'StateExited') twin.checkStatePayload(event.state.name, event.state.output);
  };
  return (async function* watched(): AsyncGenerator<Event> {
    for await (const event of events) {
      if (!twin.payloadBreach) {
        try {
          check(event);
        } catch (error) {
          twin.payloadBreach = error as ServiceLimitError;
          abort();
        }
      }
      yield event;
    }
  })();
}
