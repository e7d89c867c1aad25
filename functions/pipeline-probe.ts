// The Probe between publishing and switching: each delivery step publishes (layer versions
// made, the EFS version staged, the image pushed); the Probe state runs this; and the switch
// phase points the set at the artifact (its parameter, `current`, its functions) only when the
// probe passed. In AWS the probe is a function on the target's real runtime; locally the twin
// unpacks what ships as Lambda would.
import type { PipelineAdapters } from './adapters/ports.ts';
import {
  describeProbe,
  runtimeStandInOf,
  type ProbeArtifact,
  type RuntimeStandIn,
  type ProbeResult,
} from './core/probe/index.ts';
import { LambdaDepsError } from './core/shared/errors.ts';
import type { BuildManifest } from './core/shared/types.ts';

/** The set did not import from what ships; nothing was switched. Exit code 1. */
export class ProbeFailedError extends LambdaDepsError {
  override name = 'ProbeFailedError';
}

export interface ProbeBeforeSwitchInput {
  readonly adapters: PipelineAdapters;
  readonly manifest: BuildManifest;
  readonly artifact: ProbeArtifact;
  /** Unique per execution and set, so two probes never share a function. */
  readonly probeId: string;
  /** A probe that cannot run (arm64 here, a Python this machine lacks) is an error, not a note. */
  readonly requireProbe: boolean;
  /** The local twin may reuse its passed probe of the identical artifact (the run's cache is on). */
  readonly reuse?: boolean;
}

/** The runtime's packages the build left out, for a local probe to put where /var/runtime is. */
function withStandIn(manifest: BuildManifest): { runtimeStandIn?: RuntimeStandIn } {
  const runtimeStandIn = runtimeStandInOf(manifest);
  return runtimeStandIn ? { runtimeStandIn } : {};
}

/**
 * Probe the published artifact; throws ProbeFailedError (naming the module and how it failed)
 * when an import fails, or when the probe could not run and `requireProbe` is set.
 */
export async function probeBeforeSwitch(input: ProbeBeforeSwitchInput): Promise<ProbeResult> {
  const { manifest } = input;
  const modules = manifest.smokeImport.moduleNames ?? [];
  const result = await input.adapters.probe.probe(
    {
      target: manifest.target,
      modules,
      artifact: input.artifact,
      reuse: input.reuse ?? false,
      ...withStandIn(manifest),
    },
    input.probeId,
  );
  if (result.ran && !result.ok) {
    throw new ProbeFailedError(`${describeProbe(result)}. Nothing was switched.`, {
      hint: 'The artifact does not import on the target as shipped: look at the module named, fix the set (a missing dependency, a wrong layout), and deliver again.',
    });
  }
  if (!result.ran && input.requireProbe) {
    throw new ProbeFailedError(
      `${describeProbe(result)}, and --require-probe asks for a probe. Nothing was switched.`,
      {
        hint: 'Probe on a machine that can run the target (its Python version and architecture), or in AWS, where the probe always runs.',
      },
    );
  }
  return result;
}

/**
 * The Probe's result a switch phase was given, checked: the state machine only reaches a switch
 * after the Probe, and a switch never runs on a failed or missing probe.
 */
export function probePassedBeforeSwitch(input: { readonly probe?: unknown }): ProbeResult {
  const probe = input.probe as ProbeResult | undefined;
  if (!probe || typeof probe.ran !== 'boolean') {
    throw new ProbeFailedError('The switch was asked for without a probe result. Nothing was switched.', {
      hint: 'Run the whole state machine: the Probe state runs between publishing and switching.',
    });
  }
  if (probe.ran && !probe.ok) throw new ProbeFailedError(`${describeProbe(probe)}. Nothing was switched.`);
  return probe;
}

/** The execution's name, which the normalize states put at `$.executionName`. */
export function executionNameOf(input: object): string {
  const name = (input as { executionName?: unknown }).executionName;
  return typeof name === 'string' ? name : 'execution';
}
