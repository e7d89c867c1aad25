// A failed run in a person's words: which step failed, what was wrong (where, in the user's own
// file, not the temporary copy a step worked on), and the fix, which is the `hint` the CLI prints.
// It reads the Report step's failure record, whose reason is "<Step> failed. <Type>: <message>
// \n  hint: <fix>" (functions/report/handler.ts and describeError in shared/errors.ts).
import { dirname, join } from 'node:path';

export interface FailureFacts {
  readonly step: string;
  readonly errorType: string;
  /** What was wrong, without the step and error-type prefixes. */
  readonly message: string;
  /** `requirements.txt:2:9`, when the error points into a file. */
  readonly location: string | null;
  readonly hint: string | null;
  readonly packageName: string | null;
  /** Layer versions that exist although the run failed. */
  readonly published: readonly string[];
}

/** A Measure step works on a copy under the temp folder: `/tmp/lambda-deps-measure-AbC123/file.txt`. */
const TEMP_COPY = /(?:\/[^\s/:]+)*\/lambda-deps-measure-[A-Za-z0-9]+\/([^\s:]+)/g;

/** Put the user's path back where a step named its temporary copy. */
export function userPaths(text: string, requirementsPath?: string): string {
  return text.replace(TEMP_COPY, (_match, file: string) =>
    requirementsPath ? join(dirname(requirementsPath), file) : file,
  );
}

function stringField(record: Readonly<Record<string, unknown>>, key: string): string | null {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Read a failure record (`reports/<execution>.json` of a failed run). */
export function describeFailure(
  report: Readonly<Record<string, unknown>>,
  options: { readonly requirementsPath?: string } = {},
): FailureFacts {
  const errorType = stringField(report, 'errorType') ?? 'Error';
  let rest = stringField(report, 'reason') ?? 'No reason was recorded.';
  const stepPrefix = /^([A-Za-z][A-Za-z0-9]*) failed\.\s*/.exec(rest);
  const step = stringField(report, 'failedStep') ?? stepPrefix?.[1] ?? 'the pipeline';
  if (stepPrefix) rest = rest.slice(stepPrefix[0].length);
  // The error's type is for logs; a person reads the message (`ResolutionError: numpy: …`).
  const typePrefix = /^(?:[A-Z][A-Za-z]*Error|States\.[A-Za-z]+): /.exec(rest);
  if (rest.startsWith(`${errorType}: `)) rest = rest.slice(errorType.length + 2);
  else if (typePrefix) rest = rest.slice(typePrefix[0].length);
  // A build's log lines arrive joined by ` | ` inside CodeBuild's sentence: its `error:` and `hint:` lines are the point.
  const buildLog = /\| error: (.*?)(?: \| hint: (.*?))?\)\. Its log has the details\.$/s.exec(rest);
  if (buildLog) rest = `${buildLog[1] ?? ''}${buildLog[2] ? `\n  hint: ${buildLog[2]}` : ''}`;
  const [message = rest, ...hints] = rest.split(/\n\s*hint:\s*/);
  const readable = userPaths(message.trim(), options.requirementsPath);
  const located = /^(\S+:\d+:\d+): /.exec(readable);
  const published = Array.isArray(report.published)
    ? report.published.filter((entry): entry is string => typeof entry === 'string')
    : [];
  return {
    step,
    errorType,
    message: located ? readable.slice(located[0].length) : readable,
    location: located?.[1] ?? null,
    hint: hints.length > 0 ? userPaths(hints.join(' ').trim(), options.requirementsPath) : null,
    packageName: stringField(report, 'packageName'),
    published,
  };
}
