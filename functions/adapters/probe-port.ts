// The port for the Probe: something that runs the probe function on the target with the
// artifact attached. In AWS a short-lived Lambda function on the real runtime and architecture;
// locally the twin that unpacks the artifact as Lambda would (adapters/local/local-probe-runner.ts).
import type { ProbeRequest, ProbeResult } from '../core/probe/index.ts';

export interface ProbeRunner {
  /** `probeId` names this probe uniquely (the execution), so two runs never share a function. */
  probe(request: ProbeRequest, probeId: string): Promise<ProbeResult>;
}
