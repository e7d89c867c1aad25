// The synthesized state machine, run on this machine with aws-local-stepfunctions and the
// real handlers, on real wheels from the on-disk indexes pip is configured with.
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalLayerVersionsFile } from '../../../functions/adapters/local/local-layer-registry.ts';
import {
  loadPipelineDefinition,
  runPipelineLocally,
  type LocalPipelineOptions,
} from '../../../functions/cli/local-pipeline.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { recordReliability } from '../../support/reliability-log.ts';
import { samplePeakRss } from './process-tree-memory.ts';

const indexes = localIndexes();
const noIndexes = indexes === null;
// The on-disk indexes carry charset-normalizer for CPython 3.11 only; python3.11 on the host's arch keeps the web set satisfiable.
const TARGET = {
  runtime: 'python3.11',
  arch: process.arch === 'arm64' ? ('arm64' as const) : ('x86_64' as const),
};

function indexOptions(): Pick<LocalPipelineOptions, 'indexUrl' | 'extraIndexUrls' | 'findLinks'> {
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  return { indexUrl: indexUrl ?? null, extraIndexUrls, findLinks: indexes?.findLinks ?? [] };
}

function zipEntries(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      const names: string[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        names.push(entry.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-pipeline-'));
  if (!noIndexes) await loadPipelineDefinition();
}, 180_000);
afterAll(() => rm(root, { recursive: true, force: true }));

async function requirementsFile(name: string, text: string): Promise<string> {
  const path = join(root, `${name}.txt`);
  await writeFile(path, text);
  return path;
}

describe('runPipelineLocally (the synthesized state machine, run here)', () => {
  it.skipIf(noIndexes)(
    `delivers a web set (requests, boto3) as layers and records the states it passed, in order, with durations${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'web');
      const requirementsPath = await requirementsFile('web', 'requests\nboto3\n');

      // Act: what --out holds when the Probe ends (the copies are staged while it runs)
      let whenProbed: { incoming: string[]; layers: string[] } | null = null;
      const first = await runPipelineLocally({
        requirementsPath,
        outDir,
        name: 'web',
        ...TARGET,
        ...indexOptions(),
        onState: (name, status) => {
          if (name !== 'Probe' || status !== 'succeeded') return;
          const names = readdirSync(outDir);
          const incoming = names.filter((entry) => entry.startsWith('.lambda-deps-incoming-'));
          const staged = incoming.flatMap((folder) => readdirSync(join(outDir, folder, 'layers')));
          whenProbed = { incoming: staged, layers: readdirSync(join(outDir, 'layers')) };
        },
      });
      const second = await runPipelineLocally({
        requirementsPath,
        outDir,
        name: 'web',
        ...TARGET,
        ...indexOptions(),
      });

      // Assess
      expect(first.status, JSON.stringify(first.report)).toBe('SUCCEEDED');
      expect(first.manifest?.execution.states.map((state) => state.name)).toEqual([
        'NormalizeInput',
        'FromConsole',
        'Measure',
        'IsCached',
        'BuildHost',
        // python3.11 on x86_64 builds on the Amazon Linux 2 image (BUILD_HOSTS).
        process.arch === 'arm64' ? 'OnArm64' : 'OnX86_64Python311',
        'Build',
        'ReadBuildManifest',
        'Route',
        'PublishLayers',
        'Probe',
        'Switch',
        'SwitchLayers',
        'Report',
        'Done',
      ]);
      for (const state of first.manifest?.execution.states ?? []) {
        expect(state.status).toBe('succeeded');
        expect(state.durationMs).toBeGreaterThanOrEqual(0);
      }
      const build = first.manifest?.execution.states.find((state) => state.name === 'Build');
      expect(build?.durationMs).toBeGreaterThan(100);
      expect(first.manifest?.lock.packages.map((pkg) => pkg.name)).toEqual(
        expect.arrayContaining(['boto3', 'botocore', 'requests', 'urllib3']),
      );
      const versions = JSON.parse(
        await readFile(join(outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      const published = Object.values(versions.layers).flat();
      expect(published.length).toBeGreaterThanOrEqual(1);
      const entries = (await Promise.all(published.map((layer) => zipEntries(layer.file)))).flat();
      expect(
        entries.some((name) =>
          /^python\/(lib\/python3\.11\/site-packages\/)?requests\/__init__\.py$/.test(name),
        ),
      ).toBe(true);
      expect(published.every((layer) => layer.description.includes(first.manifest?.lockHash ?? '?'))).toBe(
        true,
      );
      // Staged beside the outputs during the Probe, swapped in only after the run succeeded.
      const delivered = (first.manifest?.layers ?? []).map((layer) => layer.file.replace(/^layers\//, ''));
      expect(delivered.length).toBeGreaterThan(0);
      expect(whenProbed).toEqual({
        incoming: [...delivered].sort(),
        layers: expect.not.arrayContaining(delivered) as unknown as string[],
      });
      expect(readdirSync(outDir).filter((entry) => entry.startsWith('.lambda-deps-incoming-'))).toEqual([]);
      for (const file of delivered) expect(readdirSync(join(outDir, 'layers'))).toContain(file);
      const events = (await readFile(join(outDir, 'events.jsonl'), 'utf8')).trim().split('\n');
      expect(JSON.parse(events[0] ?? '{}')['detail-type']).toBe('Dependency Set Ready');
      expect(JSON.parse(await readFile(first.reportPath, 'utf8'))).toMatchObject({
        status: 'SUCCEEDED',
        name: 'web',
      });

      // The same lock again: a cache hit, straight to Report, nothing built or published.
      expect(second.status).toBe('SUCCEEDED');
      expect(second.execution.states.map((state) => state.name)).toEqual([
        'NormalizeInput',
        'FromConsole',
        'Measure',
        'IsCached',
        // A lock built before skips only the build: the set is delivered again.
        'ReadBuildManifest',
        'Route',
        'PublishLayers',
        'Probe',
        'Switch',
        'SwitchLayers',
        'Report',
        'Done',
      ]);
      expect(second.report).toMatchObject({ cached: true, lockHash: first.manifest?.lockHash });
      const after = JSON.parse(
        await readFile(join(outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(Object.values(after.layers).flat()).toHaveLength(published.length);
    },
    300_000,
  );

  it.skipIf(noIndexes)(
    `ends an unsatisfiable set in a failure report naming the package, through ReportFailure to Failed${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'unsatisfiable');
      const requirementsPath = await requirementsFile('unsatisfiable', 'requests==0.0.999\n');

      // Act
      const run = await runPipelineLocally({ requirementsPath, outDir, ...TARGET, ...indexOptions() });

      // Assess
      expect(run.status).toBe('FAILED');
      expect(run.execution.states.map((state) => [state.name, state.status])).toEqual([
        ['NormalizeInput', 'succeeded'],
        ['FromConsole', 'succeeded'],
        ['Measure', 'caught'],
        ['ReportFailure', 'succeeded'],
        ['Failed', 'failed'],
      ]);
      expect(run.report).toMatchObject({ status: 'FAILED', packageName: 'requests', failedStep: 'Measure' });
      expect(String((run.report as { reason: string }).reason)).toMatch(/requests==0\.0\.999/);
      expect(run.manifest).toBeNull();
      const stored = JSON.parse(await readFile(run.reportPath, 'utf8')) as { reason: string };
      expect(stored.reason).toMatch(/^Measure failed\. ResolutionError: [^]*requests==0\.0\.999/);
      await expect(stat(join(outDir, 'layers', 'versions.json'))).rejects.toThrow();
    },
    120_000,
  );
});

describe('local pipeline concurrency', () => {
  it.skipIf(noIndexes)(
    `builds a lock once when two executions of it run at once, and both deliver it${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'same-lock');
      const requirementsPath = await requirementsFile('same-lock', 'six\nidna\n');
      // Build output reaches only the execution whose Build state ran the buildspec.
      const executionsThatBuilt = new Set<number>();
      const optionsFor = (execution: number) => ({
        requirementsPath,
        outDir,
        name: 'same-lock',
        ...TARGET,
        ...indexOptions(),
        onBuildLine: () => executionsThatBuilt.add(execution),
      });

      // Act
      const runs = await Promise.all([runPipelineLocally(optionsFor(0)), runPipelineLocally(optionsFor(1))]);

      // Assess
      expect(runs.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      expect(executionsThatBuilt.size).toBe(1);
      expect(runs[0]?.manifest?.lockHash).toBe(runs[1]?.manifest?.lockHash);
      // Both report the same layer versions, published once.
      expect(runs[0]?.manifest?.delivery).toMatchObject({
        layers: (runs[1]?.manifest?.delivery as { layers: unknown }).layers,
      });
      const versions = JSON.parse(
        await readFile(join(outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      expect(Object.values(versions.layers).every((list) => list.length === 1)).toBe(true);
      recordReliability({
        area: 'concurrency',
        experiment: 'two local executions of the same lock at once',
        cases: 1,
        faultsInjected: 0,
        runs: 2,
        lost: executionsThatBuilt.size === 1 ? 'nothing' : `${executionsThatBuilt.size} builds`,
      });
    },
    300_000,
  );

  const SMALL_SETS = [
    'six',
    'idna',
    'certifi',
    'attrs',
    'appdirs',
    'backoff',
    'boltons',
    'cachetools',
    'click',
    'decorator',
    'iniconfig',
    'itsdangerous',
    'packaging',
    'pluggy',
    'pyparsing',
    'tabulate',
    'toolz',
    'zipp',
    'more-itertools',
    'blinker',
  ];

  it.skipIf(noIndexes)(
    `completes 20 different sets submitted together, each with its own output, memory bounded${noIndexes ? ` (skipped: ${NO_LOCAL_INDEXES_REASON})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'twenty');
      const files = await Promise.all(SMALL_SETS.map((name) => requirementsFile(`set-${name}`, `${name}\n`)));
      const memory = samplePeakRss();
      const started = Date.now();

      // Act
      const runs = await Promise.all(
        SMALL_SETS.map((name, index) =>
          runPipelineLocally({
            requirementsPath: files[index] ?? '',
            outDir,
            name: `set-${name}`,
            ...TARGET,
            ...indexOptions(),
          }),
        ),
      );
      const peakBytes = memory.stop();
      const seconds = (Date.now() - started) / 1000;

      // Assess
      expect(runs.map((run) => run.status)).toEqual(SMALL_SETS.map(() => 'SUCCEEDED'));
      const versions = JSON.parse(
        await readFile(join(outDir, 'layers', 'versions.json'), 'utf8'),
      ) as LocalLayerVersionsFile;
      let corrupted = 0;
      for (const [index, name] of SMALL_SETS.entries()) {
        const run = runs[index];
        // Each set's lock holds exactly its one package, and its layer holds that package.
        expect(run?.manifest?.lock.packages.map((pkg) => pkg.name)).toEqual([name]);
        const layers = versions.layers[`lambda-deps-set-${name}`] ?? [];
        expect(layers).toHaveLength(1);
        const entries = await zipEntries(layers[0]?.file ?? '');
        const own = entries.some(
          (entry) =>
            entry.toLowerCase().includes(`${name.replace(/-/g, '_')}-`) && entry.includes('.dist-info/'),
        );
        const foreign = SMALL_SETS.filter((other) => other !== name).some((other) =>
          entries.some(
            (entry) =>
              entry.toLowerCase().includes(`/${other.replace(/-/g, '_')}-`) && entry.includes('.dist-info/'),
          ),
        );
        if (!own || foreign) corrupted += 1;
      }
      expect(corrupted).toBe(0);
      // Stated in the reliability table: builds run at most 4 at a time, so memory stays bounded.
      expect(peakBytes).toBeLessThan(3 * 1024 ** 3);
      recordReliability({
        area: 'concurrency',
        experiment: `20 different sets submitted together to the local pipeline (peak RSS of the process tree ${(peakBytes / 1024 ** 2).toFixed(0)} MiB, ${seconds.toFixed(0)} s)`,
        cases: SMALL_SETS.length,
        faultsInjected: 0,
        runs: SMALL_SETS.length,
        lost: corrupted === 0 ? 'nothing' : `${corrupted} corrupted outputs`,
      });
    },
    400_000,
  );
});
