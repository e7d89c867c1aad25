// Report (Lambda): the last step of every execution. On success it writes the final
// manifest (build manifest + where it was delivered) to `reports/`, marks the lock as
// delivered (`delivered/<lockHash>.json`, the cache Measure checks), records SSM parameters
// and sends `Dependency Set Ready`. In failure mode (the input has `error`, from a Catch) it
// writes the reason a person can act on, sends `Dependency Set Failed`, and returns
// `{ reason }` for the Fail state's CausePath.
import type { Logger } from '@aws-lambda-powertools/logger';
import { z } from 'zod';
import type { StepDependencies, StepDependenciesProvider } from '../adapters/aws/aws-adapters.ts';
import { awsDependenciesWhenInLambda } from '../adapters/aws/lambda-dependencies.ts';
import type { BuildManifest } from '../core/shared/types.ts';
import { createStepHandler } from '../middleware/step-handler.ts';
import {
  deliveryKeyOf,
  executionNameSchema,
  keys,
  measureOutputSchema,
  readManifest,
  routeOutputSchema,
} from '../pipeline-state.ts';
import { failureReason } from './failure-reason.ts';

const errorSchema = z.looseObject({ Error: z.string().optional(), Cause: z.unknown().optional() });

const inputSchema = z.looseObject({
  source: z.string().optional(),
  input: z.unknown().optional(),
  /** Given by the local pipeline (and by the state machine when it passes `$$.Execution.Name`). */
  executionName: executionNameSchema.optional(),
  measure: measureOutputSchema.optional(),
  build: z.looseObject({ buildId: z.string().optional(), status: z.string().optional() }).optional(),
  route: routeOutputSchema.optional(),
  delivery: z.looseObject({ strategy: z.string() }).optional(),
  error: errorSchema.optional(),
});
type ReportInput = z.output<typeof inputSchema>;

/** What `delivered/<lockHash>.json` and `reports/<name>.json` hold for a delivered set. */
export interface DeliveryReport {
  readonly status: 'SUCCEEDED';
  readonly name: string;
  readonly lockHash: string;
  readonly executionName: string | null;
  /** True when this execution found the lock delivered already and built nothing. */
  readonly cached: boolean;
  readonly strategy: string;
  readonly delivery: Record<string, unknown> | null;
  readonly manifest: BuildManifest | null;
  readonly reportKey: string;
  readonly deliveredAt: string;
  /** Measure's warnings (e.g. an index left out), so the person reading the report sees them. */
  readonly warnings: readonly string[];
}

export interface FailureReport {
  readonly status: 'FAILED';
  readonly reason: string;
  readonly errorType: string;
  readonly packageName: string | null;
  /** The state the execution was in when it failed, as far as the state shows. */
  readonly failedStep: string;
  readonly name: string | null;
  readonly lockHash: string | null;
  readonly executionName: string | null;
  /** Layer versions that exist although the execution failed (publishing stopped half-way). */
  readonly published: readonly string[];
  readonly reportKey: string | null;
}

function failedStepOf(input: ReportInput): string {
  if (!input.measure) return 'Measure';
  if (input.measure.cached) return 'Report';
  if (!input.build) return 'Build';
  if (!input.route) return 'ReadBuildManifest';
  if (!input.delivery)
    return { layers: 'PublishLayers', efs: 'SyncEfs', image: 'PushImage' }[input.route.strategy];
  if (!(input as { probe?: unknown }).probe) return 'Probe';
  const switched = (input.delivery as { switched?: unknown }).switched === true;
  if (!switched && input.route.strategy !== 'image')
    return input.route.strategy === 'layers' ? 'SwitchLayers' : 'SwitchEfs';
  return 'Report';
}

/** Layer versions that exist though nothing was switched to them (the Probe or the switch failed). */
function publishedBeforeFailure(input: ReportInput, reason: string): string[] {
  const named = /after publishing \d+ of \d+ layer\(s\): ([^.]*)\./.exec(reason)?.[1]?.split(', ');
  if (named) return named;
  const delivery = input.delivery as { strategy?: unknown; switched?: unknown; layers?: unknown } | undefined;
  if (delivery?.strategy !== 'layers' || delivery.switched === true || !Array.isArray(delivery.layers))
    return [];
  return delivery.layers.map((layer) => String((layer as { layerVersionArn?: unknown }).layerVersionArn));
}

function reportNameFor(input: ReportInput, name: string, suffix: string): string {
  if (input.executionName) return input.executionName;
  return `${name}-${suffix}`.slice(0, 80);
}

async function reportSuccess(
  input: ReportInput & { measure: NonNullable<ReportInput['measure']> },
  { settings, adapters }: StepDependencies,
): Promise<Omit<DeliveryReport, 'manifest'> & { ok: true }> {
  const { measure } = input;
  let manifest: BuildManifest | null = null;
  let delivery = (input.delivery as Record<string, unknown> | undefined) ?? null;
  let strategy = input.route?.strategy ?? measure.strategy;
  if (measure.cached && !input.delivery) {
    // Built and delivered by an earlier execution, and not delivered again: report that delivery.
    const earlier = JSON.parse(
      (await adapters.store.getBytes(keys.delivered(deliveryKeyOf(measure)))).toString('utf8'),
    ) as DeliveryReport;
    manifest = earlier.manifest;
    delivery = earlier.delivery;
    strategy = earlier.strategy as typeof strategy;
  } else {
    manifest = await readManifest(adapters.store, input.route?.manifestKey ?? measure.manifestKey);
  }
  // The Probe state ran between publishing and switching (`$.probe`); a cached delivery's
  // record carries the one it had. The manifest says so.
  const probe =
    ((input as { probe?: unknown }).probe as BuildManifest['probe'] | undefined) ??
    (delivery as { probe?: BuildManifest['probe'] } | null)?.probe;
  if (manifest && probe) manifest = { ...manifest, probe };
  const reportKey = keys.report(reportNameFor(input, measure.name, measure.lockHash.slice(0, 16)));
  const report: DeliveryReport = {
    status: 'SUCCEEDED',
    name: measure.name,
    lockHash: measure.lockHash,
    executionName: input.executionName ?? null,
    cached: measure.cached,
    strategy,
    delivery,
    manifest,
    reportKey,
    deliveredAt: new Date().toISOString(),
    warnings: measure.warnings ?? [],
  };
  const body = JSON.stringify(report, null, 2);
  await adapters.store.putBytes(reportKey, body, 'application/json');
  if (!measure.cached)
    await adapters.store.putBytes(keys.delivered(deliveryKeyOf(measure)), body, 'application/json');
  await adapters.parameters.put(
    `${settings.ssmParameterPrefix}${measure.name}/lock-hash`,
    measure.lockHash,
    `Lock hash of the latest delivered lambda-deps set ${measure.name}`,
  );
  await adapters.parameters.put(
    `${settings.ssmParameterPrefix}${measure.name}/report`,
    `${adapters.store.location}/${reportKey}`,
    `Report of the latest delivered lambda-deps set ${measure.name}`,
  );
  await putWiringParameters(adapters.parameters, `${settings.ssmParameterPrefix}${measure.name}`, delivery);
  await adapters.events.putEvent('Dependency Set Ready', {
    name: measure.name,
    lockHash: measure.lockHash,
    strategy,
    cached: measure.cached,
    delivery,
    report: `${adapters.store.location}/${reportKey}`,
  });
  const { manifest: _omitted, ...small } = report;
  return { ...small, ok: true };
}

/**
 * What a user's own stack reads at deploy time (infra/dependency-set-wiring.ts): the EFS version
 * folder's PYTHONPATH and the image URI with its digest, written once the set is probed and ready.
 */
async function putWiringParameters(
  parameters: StepDependencies['adapters']['parameters'],
  prefix: string,
  delivery: Record<string, unknown> | null,
): Promise<void> {
  if (delivery?.strategy === 'efs' && typeof delivery.pythonPath === 'string')
    await parameters.put(`${prefix}/efs-python-path`, delivery.pythonPath, 'PYTHONPATH of the set on EFS');
  const imageUri = delivery?.strategy === 'image' ? delivery.imageUri : undefined;
  // A local OCI layout (`oci:…`) is nothing a function can run.
  if (typeof imageUri === 'string' && !imageUri.startsWith('oci:')) {
    const digest = typeof delivery?.digest === 'string' ? delivery.digest : '';
    const pinned = imageUri.includes('@') || !digest ? imageUri : `${imageUri}@${digest}`;
    await parameters.put(`${prefix}/image`, pinned, 'Image URI (with digest) of the set');
  }
}

/**
 * A build that ran but refused its result leaves its manifest under `<prefix>failed/`: its
 * problems (what failed verification or the smoke import, in which package) are the reason,
 * more useful than the build log's last lines.
 */
async function failedBuildReason(
  store: StepDependencies['adapters']['store'],
  artifactPrefix: string,
): Promise<{ reason: string; packageName: string | null } | null> {
  const bytes = await store.getBytes(`${artifactPrefix}failed/manifest.json`).catch(() => null);
  if (!bytes) return null;
  const manifest = JSON.parse(bytes.toString('utf8')) as Partial<BuildManifest>;
  const problems = [
    ...(manifest.verification?.problems ?? []).map((problem) => ({
      package: problem.package,
      text: `${problem.package ?? 'unknown package'}${problem.file ? ` (${problem.file})` : ''}: ${problem.message}`,
    })),
    ...(manifest.smokeImport?.failures ?? []).map((failure) => ({
      package: failure.package,
      text: `${failure.package}: import ${failure.module} failed: ${failure.error}`,
    })),
  ];
  const shown = problems.slice(0, 3).map((problem) => problem.text);
  const more = problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : '';
  return {
    reason:
      `The build refused its result: ${manifest.reason ?? 'see the build manifest'}. ${shown.join(' ')}${more}`.trim(),
    packageName: problems[0]?.package ?? null,
  };
}

/** The build id in a `.sync` failure's Cause (`{"Build":{"Id":…}}` as Step Functions passes it). */
function buildIdOf(error: { Cause?: unknown }): string | null {
  const cause = error.Cause;
  const parsed =
    typeof cause === 'string'
      ? (() => {
          try {
            return JSON.parse(cause) as unknown;
          } catch {
            return null;
          }
        })()
      : cause;
  const id = (parsed as { Build?: { Id?: unknown } } | null)?.Build?.Id;
  return typeof id === 'string' && id !== '' ? id : null;
}

/** A failed build as CodeBuild describes it: the phase, its message, the log link. */
async function describedBuildReason(
  adapters: StepDependencies['adapters'],
  error: { Cause?: unknown },
): Promise<{ reason: string; packageName: null } | null> {
  const buildId = buildIdOf(error);
  if (!buildId || !adapters.builds) return null;
  const build = await adapters.builds.describeBuild(buildId).catch(() => null);
  if (!build) return null;
  const phase = build.failedPhase
    ? `in phase ${build.failedPhase.name} (${build.failedPhase.status})${build.failedPhase.message ? `: ${build.failedPhase.message}` : ''}`
    : `with status ${build.status}`;
  const log = build.logLink ? ` Log: ${build.logLink}` : '';
  return { reason: `The build ${buildId} failed ${phase}.${log}`, packageName: null };
}

async function reportFailure(
  input: ReportInput & { error: NonNullable<ReportInput['error']> },
  { adapters }: StepDependencies,
  logger: Logger,
): Promise<FailureReport> {
  const failedStep = failedStepOf(input);
  // A build that refused its result says why in its manifest; one that broke, in CodeBuild.
  const fromBuild =
    failedStep === 'Build' && input.measure
      ? ((await failedBuildReason(adapters.store, input.measure.artifactPrefix)) ??
        (await describedBuildReason(adapters, input.error)))
      : null;
  const generic = failureReason(input.error);
  const { reason, errorType, packageName } = fromBuild ? { ...generic, ...fromBuild } : generic;
  const consoleName = (input.input as { name?: unknown } | undefined)?.name;
  const name = input.measure?.name ?? (typeof consoleName === 'string' ? consoleName : null);
  const published = publishedBeforeFailure(input, reason);
  const report: FailureReport = {
    status: 'FAILED',
    reason: `${failedStep} failed. ${reason}`,
    errorType,
    packageName,
    failedStep,
    name,
    lockHash: input.measure?.lockHash ?? null,
    executionName: input.executionName ?? null,
    published,
    reportKey: null,
  };
  // Recording the failure must not hide it: if the bucket or bus is unreachable, the reason
  // still reaches the Fail state.
  const reportKey = keys.report(reportNameFor(input, name ?? 'input', `failed-${Date.now()}`));
  try {
    await adapters.store.putBytes(
      reportKey,
      JSON.stringify({ ...report, reportKey }, null, 2),
      'application/json',
    );
    await adapters.events.putEvent('Dependency Set Failed', { ...report, reportKey });
    return { ...report, reportKey };
  } catch (error) {
    logger.error('the failure report could not be stored', { error: error as Error });
    return report;
  }
}

async function reportStep(
  input: ReportInput,
  dependencies: StepDependencies,
  logger: Logger,
): Promise<Record<string, unknown>> {
  if (input.error)
    return { ...(await reportFailure({ ...input, error: input.error }, dependencies, logger)) };
  if (!input.measure) {
    return {
      ...(await reportFailure(
        {
          ...input,
          error: { Error: 'ReportInputError', Cause: 'Report was reached without a measured set.' },
        },
        dependencies,
        logger,
      )),
    };
  }
  return { ...(await reportSuccess({ ...input, measure: input.measure }, dependencies)) };
}

export function createHandler(provide: StepDependenciesProvider, logger?: Logger) {
  return createStepHandler({ step: 'report', inputSchema, run: reportStep }, provide, logger);
}

export const handler = createHandler(await awsDependenciesWhenInLambda());
