// A Lambda Task locally lasts as long as its function's Timeout allows, as in AWS: not the
// engine's 60 s default for a Task without TimeoutSeconds, and not past the function's Timeout.
import { describe, expect, it } from 'vitest';
import {
  functionTimeoutSeconds,
  LambdaTimeoutError,
  withinFunctionTimeout,
  withLambdaTaskTimeouts,
} from '../../../functions/cli/lambda-timeouts.ts';
import { loadPipelineDefinition } from '../../../functions/cli/local-pipeline.ts';

describe('Lambda task timeouts in the local pipeline', () => {
  it('lets the synthesized Probe state run for its function’s 10 minutes, not the engine’s 60 s', async () => {
    // Prepare
    const { definition, template, tasks } = await loadPipelineDefinition();
    const probeId = tasks.Probe?.logicalId ?? '';

    // Act
    const seconds = functionTimeoutSeconds(template, probeId);
    const local = withLambdaTaskTimeouts(definition, { Probe: seconds });

    // Assess
    expect(seconds).toBe(600);
    const probe = (local.States as Record<string, { TimeoutSeconds?: number }>).Probe;
    expect(probe?.TimeoutSeconds).toBeGreaterThan(600);
    expect((definition.States as Record<string, { TimeoutSeconds?: number }>).Probe?.TimeoutSeconds).toBe(
      undefined,
    );
  }, 120_000);

  it('keeps a state’s own TimeoutSeconds and reaches Task states inside a Map', () => {
    // Prepare
    const definition = {
      StartAt: 'Own',
      States: {
        Own: { Type: 'Task', TimeoutSeconds: 5, End: true },
        Each: { Type: 'Map', ItemProcessor: { States: { Inner: { Type: 'Task', End: true } } } },
      },
    };

    // Act
    const local = withLambdaTaskTimeouts(definition, { Own: 900, Inner: 30 }) as typeof definition;

    // Assess
    expect(local.States.Own.TimeoutSeconds).toBe(5);
    const inner = local.States.Each.ItemProcessor.States.Inner as { TimeoutSeconds?: number };
    expect(inner.TimeoutSeconds).toBe(90);
  });

  it('reads Lambda’s default of 3 s for a function without a Timeout', () => {
    expect(functionTimeoutSeconds({ Resources: { Fn: { Properties: {} } } }, 'Fn')).toBe(3);
  });

  it('ends an invocation that outlasts its function’s Timeout with Lambda’s error', async () => {
    // Act
    const late = withinFunctionTimeout(0.05, () => new Promise((done) => setTimeout(done, 2_000)));

    // Assess
    await expect(late).rejects.toThrow(LambdaTimeoutError);
    await expect(late).rejects.toThrow('Task timed out after 0.05 seconds');
    await expect(withinFunctionTimeout(1, () => Promise.resolve('ok'))).resolves.toBe('ok');
  });
});
