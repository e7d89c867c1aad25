// The progress display shared by local pipeline runs and `submit` (which follows an
// execution in AWS): one line per state as it ends, with its duration, and the final report
// in a few lines a person can act on.
import pc from 'picocolors';
import type { StateStatus } from './local-pipeline.ts';

export interface ProgressStream {
  write(text: string): unknown;
}

function seconds(durationMs: number): string {
  return durationMs < 1000 ? `${durationMs} ms` : `${(durationMs / 1000).toFixed(1)} s`;
}

/** An `onState` callback printing `✓ Measure 1.2 s` lines (Choice/Pass states are shown dimmed). */
export function createStateProgress(
  stream: ProgressStream,
): (name: string, status: StateStatus, durationMs: number) => void {
  return (name, status, durationMs) => {
    if (status === 'running') return;
    const mark =
      status === 'succeeded'
        ? pc.green('✓')
        : status === 'retrying'
          ? pc.yellow('↻')
          : status === 'caught'
            ? pc.yellow('→')
            : pc.red('✗');
    const note =
      status === 'caught' ? ' (caught: reporting the failure)' : status === 'retrying' ? ' (retrying)' : '';
    stream.write(`${mark} ${name} ${pc.dim(seconds(durationMs))}${note}\n`);
  };
}

/** Prints the Report step's output: where the set went, or why it failed. */
export function printPipelineReport(report: Record<string, unknown>, stream: ProgressStream): void {
  if (report.status === 'FAILED') {
    stream.write(`${pc.red('Failed')}: ${String(report.reason ?? 'no reason given')}\n`);
    const published = (report.published ?? []) as string[];
    if (published.length > 0) stream.write(`  published before the failure: ${published.join(', ')}\n`);
    return;
  }
  const delivery = (report.delivery ?? {}) as Record<string, unknown>;
  stream.write(
    `${pc.green('Delivered')} ${String(report.name)} (lock ${String(report.lockHash).slice(0, 12)}) as ${String(report.strategy)}${report.cached ? ' (cached: built before)' : ''}\n`,
  );
  for (const layer of (delivery.layers ?? []) as { layerVersionArn: string }[])
    stream.write(`  layer ${layer.layerVersionArn}\n`);
  if (typeof delivery.pythonPath === 'string') {
    stream.write(`  EFS: set PYTHONPATH=${delivery.pythonPath}\n`);
    const mount = delivery.mount as { accessPointArn?: string | null; mountPath?: string } | undefined;
    if (mount?.accessPointArn)
      stream.write(`  mount access point ${mount.accessPointArn} at ${mount.mountPath ?? '/mnt/deps'}\n`);
  }
  if (typeof delivery.imageUri === 'string')
    stream.write(`  image ${delivery.imageUri}${delivery.digest ? `@${String(delivery.digest)}` : ''}\n`);
  if (typeof report.reportKey === 'string') stream.write(`  report ${report.reportKey}\n`);
  for (const warning of (report.warnings ?? []) as string[]) stream.write(pc.yellow(`warning: ${warning}\n`));
}
