// `npm run bench`: runs every suite in test/bench/suites/, then writes docs/benchmarks.md with the
// machine, the tool versions, and per set and tool the median wall time of N runs (min–max), what
// the run produced, and the ratio to the set's anchor (pip 26 from the pip-oracle venv). Numbers are whatever
// this run measured: nothing is copied from elsewhere.
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { anchorPython, type BenchRow, type BenchSuite } from './bench-row.ts';

const execFileAsync = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, '..', '..');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

async function versionOf(command: string, args: string[]): Promise<string> {
  return execFileAsync(command, args).then(
    ({ stdout, stderr }) => (stdout || stderr).trim().split('\n')[0] ?? 'unknown',
    () => 'not found',
  );
}

/** The anchor pip (the pip 26 venv), as `pip 26.2.1 from … (python 3.11)`. */
async function anchorPipVersion(): Promise<string> {
  const python = await anchorPython().catch(() => null);
  return python ? versionOf(python, ['-m', 'pip', '--version']) : 'pip 26 venv not available';
}

/** Rows as suites return them: BenchRow, or the older `{ case, tool, wallMs, note }` shape. */
type SuiteRow = Partial<BenchRow> & { case?: string; tool: string; wallMs?: number; note?: string };

function normalize(row: SuiteRow): BenchRow {
  return {
    set: row.set ?? row.case ?? '',
    tool: row.tool,
    timesMs: row.timesMs ?? (row.wallMs !== undefined ? [row.wallMs] : []),
    result: row.result ?? row.note ?? '',
    anchor: row.anchor ?? /\banchor\b/i.test(row.tool),
    ...(row.peakRssKb ? { peakRssKb: row.peakRssKb } : {}),
  };
}

function isSuite(value: unknown): value is BenchSuite {
  return Boolean(value && typeof value === 'object' && 'name' in value && 'run' in value);
}

/** Suites from test/bench/suites/, or only those whose file name is given (`npm run bench -- measure`). */
async function loadSuites(only: readonly string[]): Promise<BenchSuite[]> {
  const folder = join(here, 'suites');
  const files = (await readdir(folder))
    .filter((file) => file.endsWith('.ts'))
    .filter((file) => only.length === 0 || only.includes(file.replace(/\.ts$/, '')))
    .sort();
  const suites: BenchSuite[] = [];
  for (const file of files) {
    try {
      const module = (await import(pathToFileURL(join(folder, file)).href)) as Record<string, unknown>;
      const found = [...new Set(Object.values(module).filter(isSuite))];
      if (found.length === 0) throw new Error(`${file} exports no suite ({ name, run })`);
      suites.push(...found);
    } catch (error) {
      suites.push({ name: file, run: () => Promise.reject(error as Error) });
    }
  }
  return suites;
}

/** The largest peak RSS of a row's runs, or – when it was not measured. */
function peakRss(row: BenchRow): string {
  const values = row.peakRssKb ?? [];
  return values.length > 0 ? `${Math.round(Math.max(...values) / 1024)} MiB` : '–';
}

function table(rows: readonly BenchRow[]): string {
  const lines = [
    '| set | tool | wall time (median) | min – max | runs | peak RSS (max) | result | ratio to anchor |',
    '|---|---|---:|---:|---:|---:|---|---:|',
  ];
  const anchors = new Map(rows.filter((row) => row.anchor).map((row) => [row.set, median(row.timesMs)]));
  for (const row of rows) {
    const middle = median(row.timesMs);
    const anchor = anchors.get(row.set);
    const ratio = row.anchor ? 'anchor' : anchor ? `${(middle / anchor).toFixed(2)}` : '–';
    lines.push(
      `| ${row.set} | ${row.tool} | ${seconds(middle)} | ${seconds(Math.min(...row.timesMs))} – ${seconds(Math.max(...row.timesMs))} | ${row.timesMs.length} | ${peakRss(row)} | ${row.result} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

const loaded = await loadSuites(process.argv.slice(2));
const sections: string[] = [];
const loadBefore = loadavg()[0] ?? 0;
for (const suite of loaded) {
  process.stderr.write(`bench: ${suite.name}\n`);
  const started = Date.now();
  try {
    const rows = ((await suite.run()) as SuiteRow[]).map(normalize).filter((row) => row.timesMs.length > 0);
    sections.push(
      `## ${suite.name}\n\n${rows.length > 0 ? table(rows) : 'No rows: the suite found nothing to measure on this machine (no on-disk package index).'}`,
    );
  } catch (error) {
    // One broken suite must not hide the others' numbers; its failure is written down instead.
    sections.push(`## ${suite.name}\n\nThe suite failed: ${(error as Error).message.split('\n')[0]}`);
  }
  process.stderr.write(`bench: ${suite.name} took ${seconds(Date.now() - started)}\n`);
}
const cpu = cpus();
const machine = [
  `- date: ${new Date().toISOString()}`,
  `- CPU: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores; load average ${loadBefore.toFixed(2)} at the start (other work on the machine slows every tool alike)`,
  `- node ${process.version}; ${await versionOf('python3', ['--version'])}; anchor: ${await anchorPipVersion()}`,
];
const document = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (test/bench/run-bench.ts); rerun it to refresh. Wall times are of whole',
  "child processes, as a user would see them, including interpreter start-up. Peak RSS is GNU time's `%M`",
  '(the largest single process of the tree), the largest over the runs. The median of the runs is',
  "shown with the fastest and slowest run; the ratio divides a tool's median by the anchor's median on",
  'the same set (below 1.00 is faster than the anchor). "Fresh caches" is an empty `--cache-dir`',
  '(pip runs with `--no-cache-dir`); the state machine synthesized when the bundle was built',
  '(dist/pipeline-definition, made by `npm ci`) is part of the package and is used as shipped.',
  '',
  ...machine,
  '',
  sections.join('\n\n'),
  '',
].join('\n');
await mkdir(join(repository, 'docs'), { recursive: true });
await writeFile(join(repository, 'docs', 'benchmarks.md'), document);
process.stderr.write(`bench: wrote docs/benchmarks.md\n`);
