// Turns `$.error` ({ Error, Cause }) into the sentence a person can act on. Lambda errors
// arrive with Cause as JSON ({ errorType, errorMessage, trace }); a failed CodeBuild build as
// JSON of the Build (phases with their messages); Step Functions' own errors as text.

export interface FailureReason {
  /** One paragraph: what failed, where, what to do. */
  readonly reason: string;
  readonly errorType: string;
  /** The package named by the error, when it names one. */
  readonly packageName: string | null;
}

interface CodeBuildPhase {
  phaseType?: string;
  PhaseType?: string;
  phaseStatus?: string;
  PhaseStatus?: string;
  contexts?: { message?: string; statusCode?: string }[];
  Contexts?: { Message?: string; StatusCode?: string }[];
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function describeBuild(build: Record<string, unknown>): string | null {
  const status = String(build.BuildStatus ?? build.buildStatus ?? 'FAILED');
  const phases = (build.Phases ?? build.phases ?? []) as CodeBuildPhase[];
  const failed = phases.filter((phase) => {
    const phaseStatus = phase.PhaseStatus ?? phase.phaseStatus;
    return phaseStatus !== undefined && phaseStatus !== 'SUCCEEDED';
  });
  const details = failed.map((phase) => {
    const messages = [
      ...(phase.Contexts ?? []).map((context) => context.Message ?? ''),
      ...(phase.contexts ?? []).map((context) => context.message ?? ''),
    ].filter(Boolean);
    return `${phase.PhaseType ?? phase.phaseType ?? 'phase'} ${phase.PhaseStatus ?? phase.phaseStatus}${messages.length ? `: ${messages.join('; ')}` : ''}`;
  });
  const id = String(build.Id ?? build.id ?? '');
  return `The build${id ? ` ${id}` : ''} ended ${status}${details.length ? ` (${details.join(', ')})` : ''}. Its log has the details.`;
}

/** `numpy: …` (a lambda-deps error about one package) at the start of the message … */
const PACKAGE_PREFIX = /^([A-Za-z0-9][A-Za-z0-9._-]*): /;
/** … or a resolver problem list, `  - requests==0.0.999: no version matches`. */
const PROBLEM_LINE = /^\s*-\s+([A-Za-z0-9][A-Za-z0-9._-]*?)(?:\[[^\]]*\])?(?:[=<>!~;:@ ]|$)/m;

/** Reads `$.error`. */
export function failureReason(error: { Error?: string; Cause?: unknown }): FailureReason {
  const errorType = error.Error ?? 'Error';
  const cause = error.Cause;
  const parsed = typeof cause === 'string' ? tryJson(cause) : (cause ?? null);
  let message: string;
  if (parsed && typeof parsed === 'object' && 'errorMessage' in parsed) {
    message = String((parsed as { errorMessage: unknown }).errorMessage);
  } else if (parsed && typeof parsed === 'object' && 'Build' in parsed) {
    message = describeBuild((parsed as { Build: Record<string, unknown> }).Build) ?? String(cause);
  } else if (parsed && typeof parsed === 'object' && ('BuildStatus' in parsed || 'Phases' in parsed)) {
    message = describeBuild(parsed as Record<string, unknown>) ?? String(cause);
  } else if (typeof cause === 'string' && cause.trim() !== '') {
    message = cause;
  } else if (errorType === 'States.Timeout') {
    message = 'A step took longer than its timeout.';
  } else {
    message = 'No cause was given.';
  }
  const packageName = PACKAGE_PREFIX.exec(message)?.[1] ?? PROBLEM_LINE.exec(message)?.[1] ?? null;
  return { reason: `${errorType}: ${message}`, errorType, packageName };
}
