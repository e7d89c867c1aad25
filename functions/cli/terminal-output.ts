// What the CLI shows people: a tidy list of steps on stderr while work runs (only on a TTY, never
// with --json), colors that respect NO_COLOR / --no-color, byte formatting and a plain table
// printer. Commands share it so every command looks and behaves the same.
import pc from 'picocolors';
import { formatBytes, formatDuration } from '../core/shared/units.ts';

export { formatBytes, formatDuration };

export type Colors = ReturnType<typeof pc.createColors>;

/** Whether to color output on `stream`: off with NO_COLOR or --no-color, on with FORCE_COLOR, else on a TTY. */
export function shouldUseColor(
  stream: { readonly isTTY?: boolean } = process.stdout,
  options: { color?: boolean; environment?: Record<string, string | undefined> } = {},
): boolean {
  const environment = options.environment ?? process.env;
  // Without an explicit choice, `--no-color` anywhere on the command line counts (as in picocolors).
  if ((options.color ?? !process.argv.includes('--no-color')) === false) return false;
  if (environment.NO_COLOR !== undefined && environment.NO_COLOR !== '') return false;
  if (environment.FORCE_COLOR !== undefined && environment.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

/** picocolors functions that are identity when color is off. */
export function colorsFor(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

/** Progress shown while a command works. Every method is a no-op when the output is not for a person. */
export interface StepProgress {
  /** Start a step (`resolving python3.12 arm64`); the previous one is marked done. */
  step(label: string): void;
  /** Replace the running step's label (e.g. with a count). */
  update(label: string): void;
  /** Mark the running step done, optionally with a final label. */
  done(label?: string): void;
  /** Mark the running step failed. */
  fail(label?: string): void;
}

/**
 * Progress on stderr as a step list: `… resolving` while running, then `✔ resolved 27 packages (1.2 s)`.
 * Silent when `quiet` (e.g. --json) or when stderr is not a TTY, so pipes and CI logs stay clean.
 * @example const progress = createStepProgress({ quiet: options.json }); progress.step('resolving');
 */
export function createStepProgress(
  options: { quiet?: boolean; stream?: NodeJS.WriteStream; color?: boolean } = {},
): StepProgress {
  const stream = options.stream ?? process.stderr;
  const active = !options.quiet && Boolean(stream.isTTY);
  const colors = colorsFor(active && shouldUseColor(stream, { color: options.color }));
  let running: { label: string; started: number } | null = null;
  const finish = (mark: string, label?: string): void => {
    if (!running) return;
    const elapsed = formatDuration(Date.now() - running.started);
    stream.write(`\r\x1b[2K${mark} ${label ?? running.label} ${colors.dim(`(${elapsed})`)}\n`);
    running = null;
  };
  if (!active)
    return { step: () => undefined, update: () => undefined, done: () => undefined, fail: () => undefined };
  return {
    step(label) {
      finish(colors.green('✔'));
      running = { label, started: Date.now() };
      stream.write(`${colors.cyan('…')} ${label}`);
    },
    update(label) {
      if (!running) return;
      running.label = label;
      stream.write(`\r\x1b[2K${colors.cyan('…')} ${label}`);
    },
    done(label) {
      finish(colors.green('✔'), label);
    },
    fail(label) {
      finish(colors.red('✖'), label);
    },
  };
}

export interface TableColumn {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/**
 * A plain-text table: a header, a rule, the rows, and optional footer rows under a second rule.
 * Cells may contain color codes; widths ignore them.
 * @example formatTable([{ header: 'package' }, { header: 'size', align: 'right' }], [['numpy', '38 MB']])
 */
export function formatTable(
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  footer: readonly (readonly string[])[] = [],
): string {
  // eslint-disable-next-line no-control-regex
  const visible = (text: string): number => text.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = columns.map((column, index) =>
    Math.max(visible(column.header), ...[...rows, ...footer].map((row) => visible(row[index] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        const padding = ' '.repeat(Math.max(0, (widths[index] ?? 0) - visible(cell)));
        return column.align === 'right' ? padding + cell : cell + padding;
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '─'.repeat(width)).join('  ');
  const parts = [line(columns.map((column) => column.header)), rule, ...rows.map(line)];
  if (footer.length > 0) parts.push(rule, ...footer.map(line));
  return `${parts.join('\n')}\n`;
}
