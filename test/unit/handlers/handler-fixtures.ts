// Shared fixtures for the handler tests: a temp output folder with local adapters, a
// plausible build manifest with layer zips in the store, and the execution state the
// delivery steps receive.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepDependencies } from '../../../functions/adapters/aws/aws-adapters.ts';
import { localAdapters, localPipelineSettings } from '../../../functions/adapters/local/local-adapters.ts';
import type { PipelineAdapters } from '../../../functions/adapters/ports.ts';
import type { PipelineSettings } from '../../../functions/adapters/environment.ts';
import type { BuildManifest, Lock } from '../../../functions/core/shared/types.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { keys, type MeasureOutput } from '../../../functions/pipeline-state.ts';

export const LOCK_HASH = 'a'.repeat(64);

export interface LocalFixture {
  readonly outDir: string;
  readonly dependencies: StepDependencies;
  cleanup(): Promise<void>;
}

export async function createLocalFixture(settings: Partial<PipelineSettings> = {}): Promise<LocalFixture> {
  const outDir = await mkdtemp(join(tmpdir(), 'lambda-deps-handler-test-'));
  const adapters = localAdapters({ outDir });
  return {
    outDir,
    dependencies: { settings: { ...localPipelineSettings({ outDir }), ...settings }, adapters },
    cleanup: () => rm(outDir, { recursive: true, force: true }),
  };
}

/** Dependencies with some adapters replaced (AWS ones over mocked clients). */
export function withAdapters(base: StepDependencies, adapters: Partial<PipelineAdapters>): StepDependencies {
  return { settings: base.settings, adapters: { ...base.adapters, ...adapters } };
}

export function measureOutput(overrides: Partial<MeasureOutput> = {}): MeasureOutput {
  return {
    name: 'web',
    lockHash: LOCK_HASH,
    lockKey: keys.lock(LOCK_HASH),
    artifactPrefix: keys.artifactPrefix(LOCK_HASH),
    strategy: 'layers',
    pythonVersion: '3.12',
    runtime: 'python3.12',
    architecture: 'arm64',
    cached: false,
    manifestKey: keys.manifest(LOCK_HASH),
    computeType: 'BUILD_GENERAL1_SMALL',
    ...overrides,
  };
}

export function buildManifest(overrides: Partial<BuildManifest> = {}): BuildManifest {
  const target = lambdaTarget('python3.12', 'arm64');
  const lock: Lock = { lockVersion: 1, target, packages: [] };
  return {
    lockHash: LOCK_HASH,
    lock,
    target,
    strategy: 'layers',
    reason: 'fits in 2 layers',
    sizes: { wheels: 10, installed: 20, slimmed: 15 },
    slimming: { removedFiles: 0, removedBytes: 0, rules: [] },
    layers: [
      { file: 'layers/web-1.zip', sha256: 'b'.repeat(64), size: 4, unzippedSize: 8, packages: ['requests'] },
      { file: 'layers/web-2.zip', sha256: 'c'.repeat(64), size: 4, unzippedSize: 8, packages: ['boto3'] },
    ],
    efs: null,
    image: null,
    verification: { ok: true, problems: [] },
    smokeImport: { ran: true, ok: true, modules: 2, failures: [] },
    timings: {},
    ...overrides,
  };
}

/** Puts a manifest and its layer zips (placeholder bytes) into the store. */
export async function storeBuild(
  adapters: PipelineAdapters,
  manifest: BuildManifest = buildManifest(),
): Promise<void> {
  await adapters.store.putBytes(keys.manifest(manifest.lockHash), JSON.stringify(manifest));
  for (const layer of manifest.layers) {
    await adapters.store.putBytes(
      `${keys.artifactPrefix(manifest.lockHash)}${layer.file}`,
      `zip:${layer.file}`,
    );
  }
}

export function deliveryState(overrides: { measure?: Partial<MeasureOutput> } = {}) {
  const measure = measureOutput(overrides.measure);
  return {
    source: 'console',
    input: {},
    measure,
    build: { buildId: 'local:1', status: 'SUCCEEDED' },
    route: { strategy: measure.strategy, manifestKey: measure.manifestKey, ok: true },
  };
}

/** A probe that imported the set (what the Probe state puts at `$.probe` before a switch). */
export const PASSED_PROBE = {
  ran: true,
  ok: true,
  from: 'artifact',
  python: '3.12.9',
  arch: 'arm64',
  modules: [{ module: 'six', ok: true, ms: 1 }],
  importMs: 1,
  where: 'local',
} as const;

/**
 * What the state machine does with one delivery function: the publish phase, the Probe (passed),
 * then the same function again with `phase: switch`. Tests of one delivery step go through it.
 */
export function publishThenSwitch<Result>(
  handler: (state: Record<string, unknown>) => Promise<Result>,
): (state: Record<string, unknown>) => Promise<Result> {
  return async (state) => {
    const delivery = await handler(state);
    return handler({ ...state, phase: 'switch', delivery, probe: PASSED_PROBE });
  };
}
