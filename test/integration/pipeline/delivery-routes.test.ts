// The EFS and image branches of the synthesized state machine, run locally end to end:
// a set forced to EFS and then replaced while a reader keeps importing from `current`, and
// torch (from pip's find-links folder) for a custom python 3.11 / glibc 2.34 target pushed to
// Debian's docker-registry on loopback and checked with skopeo.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadPipelineDefinition,
  runPipelineLocally,
  type LocalPipelineOptions,
} from '../../../functions/cli/local-pipeline.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
const ARCH = process.arch === 'arm64' ? ('arm64' as const) : ('x86_64' as const);

function indexOptions(): Pick<LocalPipelineOptions, 'indexUrl' | 'extraIndexUrls' | 'findLinks'> {
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  return { indexUrl: indexUrl ?? null, extraIndexUrls, findLinks: indexes?.findLinks ?? [] };
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((folder) => existsSync(join(folder, command)));
}

/** The torch wheel in one of pip's find-links folders, if any. */
function torchWheel(): string | null {
  for (const folder of indexes?.findLinks ?? []) {
    const path = folder.replace(/^file:\/\//, '');
    if (!existsSync(path)) continue;
    const wheel = readdirSync(path).find((name) =>
      /^torch-.*-cp311-cp311-manylinux.*x86_64\.whl$/.test(name),
    );
    if (wheel) return join(path, wheel);
  }
  return null;
}

const registrySkipReason =
  indexes === null
    ? NO_LOCAL_INDEXES_REASON
    : !onPath('docker-registry') || !onPath('skopeo')
      ? 'docker-registry or skopeo is not installed'
      : null;
const torchSkipReason =
  registrySkipReason ??
  (ARCH !== 'x86_64' || torchWheel() === null
    ? "no torch cp311 x86_64 wheel in pip's find-links folders"
    : null);
const efsSkipReason =
  indexes === null ? NO_LOCAL_INDEXES_REASON : !onPath('python3.11') ? 'python3.11 is not on PATH' : null;

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-routes-'));
  if (indexes !== null) await loadPipelineDefinition();
}, 180_000);
afterAll(() => rm(root, { recursive: true, force: true }));

/** A Python process importing `six` from `current` over and over, counting failures, until told to stop. */
function startReader(
  importPath: string,
  currentPath: string,
  stopFile: string,
  logFile: string,
): ChildProcess {
  const program = [
    'import importlib, os, sys, time, json',
    `path, current, stop, log = ${JSON.stringify(importPath)}, ${JSON.stringify(currentPath)}, ${JSON.stringify(stopFile)}, ${JSON.stringify(logFile)}`,
    'imports, failures, versions = 0, [], set()',
    'while not os.path.exists(stop):',
    '    sys.path.insert(0, path)',
    '    try:',
    '        for name in [m for m in sys.modules if m == "six" or m == "idna" or m.startswith("idna.")]:',
    '            del sys.modules[name]',
    '        importlib.invalidate_caches()',
    '        importlib.import_module("six")',
    '        versions.add(os.readlink(current))',
    '        imports += 1',
    '    except Exception as error:',
    '        failures.append(repr(error))',
    '    finally:',
    '        sys.path.remove(path)',
    '    time.sleep(0.005)',
    'json.dump({"imports": imports, "failures": failures, "versions": sorted(versions)}, open(log, "w"))',
  ].join('\n');
  return spawn('python3.11', ['-c', program], { stdio: 'ignore' });
}

describe('the EFS branch, run locally', () => {
  it.skipIf(efsSkipReason !== null)(
    `syncs a set forced to EFS, then switches a second version in while a reader keeps importing from current${efsSkipReason ? ` (skipped: ${efsSkipReason})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'efs-out');
      const efsRoot = join(root, 'efs');
      const first = join(root, 'efs-v1.txt');
      const second = join(root, 'efs-v2.txt');
      await writeFile(first, 'six\n');
      await writeFile(second, 'six\nidna\n');
      const common = {
        outDir,
        efsRoot,
        name: 'shared',
        runtime: 'python3.11',
        arch: ARCH,
        strategy: 'efs' as const,
        ...indexOptions(),
      };

      // Act
      const v1 = await runPipelineLocally({ ...common, requirementsPath: first });
      const delivery = (
        v1.report as { delivery?: { currentPath?: string; importPath?: string; pythonPath?: string } }
      ).delivery;
      const stopFile = join(root, 'reader-stop');
      const logFile = join(root, 'reader-log.json');
      const reader = startReader(delivery?.importPath ?? '', delivery?.currentPath ?? '', stopFile, logFile);
      const exited = new Promise((done) => reader.once('exit', done));
      await new Promise((done) => setTimeout(done, 500));
      const v2 = await runPipelineLocally({ ...common, requirementsPath: second });
      await new Promise((done) => setTimeout(done, 500));
      await writeFile(stopFile, '');
      await exited;

      // Assess
      expect(v1.status, JSON.stringify(v1.report)).toBe('SUCCEEDED');
      expect(v1.execution.states.map((state) => state.name)).toContain('SyncEfs');
      // The version folder, so a warm function never mixes two versions.
      expect(delivery?.pythonPath).toBe(`/mnt/deps/shared/${v1.manifest?.lockHash}/site-packages`);
      expect(v2.status, JSON.stringify(v2.report)).toBe('SUCCEEDED');
      expect(v2.manifest?.lockHash).not.toBe(v1.manifest?.lockHash);
      const log = JSON.parse(await readFile(logFile, 'utf8')) as {
        imports: number;
        failures: string[];
        versions: string[];
      };
      expect(log.failures).toEqual([]);
      expect(log.imports).toBeGreaterThan(10);
      expect(log.versions).toEqual([v1.manifest?.lockHash, v2.manifest?.lockHash].sort());
      const { stdout } = await execFileAsync('python3.11', ['-c', 'import idna, sys; print(idna.__file__)'], {
        env: { ...process.env, PYTHONPATH: delivery?.importPath ?? '' },
      });
      expect(stdout.trim()).toMatch(new RegExp(`^${join(efsRoot, 'shared')}`));
      recordReliability({
        area: 'EFS sync',
        experiment: 'second version switched in while a reader imports from current (local pipeline)',
        cases: 1,
        faultsInjected: 0,
        runs: log.imports,
        lost: log.failures.length === 0 ? 'nothing' : `${log.failures.length} failed imports`,
      });
    },
    300_000,
  );
});

describe('rolling a set back, run locally', () => {
  it.skipIf(efsSkipReason !== null)(
    `leaves the set at A after A, B, A on EFS and on layers, and gives a second name its own parameter${efsSkipReason ? ` (skipped: ${efsSkipReason})` : ''}`,
    async () => {
      // Prepare
      // Separate stores: a lock's artifacts are built for one strategy (the policy hash that
      // keys them per strategy comes with the delivery policy).
      const outDir = join(root, 'rollback-out');
      const layersOutDir = join(root, 'rollback-layers-out');
      const a = join(root, 'rollback-a.txt');
      const b = join(root, 'rollback-b.txt');
      await writeFile(a, 'six\n');
      await writeFile(b, 'six\nidna\n');
      const common = { outDir, name: 's', runtime: 'python3.11', arch: ARCH, ...indexOptions() };
      const parameters = async (): Promise<Record<string, { value: string }>> =>
        JSON.parse(await readFile(join(layersOutDir, 'parameters.json'), 'utf8')) as Record<
          string,
          { value: string }
        >;

      // Act
      const efsRuns = [];
      for (const file of [a, b, a]) {
        efsRuns.push(await runPipelineLocally({ ...common, requirementsPath: file, strategy: 'efs' }));
      }
      const current = await readlink(join(outDir, 'efs', 's', 'current'));
      const layerRuns = [];
      for (const file of [a, b, a]) {
        layerRuns.push(
          await runPipelineLocally({
            ...common,
            outDir: layersOutDir,
            name: 'l',
            requirementsPath: file,
            strategy: 'layers',
          }),
        );
      }
      const layersAfterRollback = (await parameters())['/lambda-deps/l/layers']?.value;
      const second = await runPipelineLocally({
        ...common,
        outDir: layersOutDir,
        name: 'l2',
        requirementsPath: a,
        strategy: 'layers',
      });

      // Assess
      for (const run of [...efsRuns, ...layerRuns, second])
        expect(run.status, JSON.stringify(run.report)).toBe('SUCCEEDED');
      const lockA = efsRuns[0]?.manifest?.lockHash;
      expect(efsRuns[1]?.manifest?.lockHash).not.toBe(lockA);
      expect(current).toBe(lockA);
      expect(efsRuns[2]?.execution.states.map((state) => state.name)).toContain('SyncEfs');
      expect(efsRuns[2]?.execution.states.map((state) => state.name)).not.toContain('Build');
      const arnsOfA = (
        layerRuns[0]?.report as { delivery?: { layers?: { layerVersionArn: string }[] } }
      ).delivery?.layers?.map((layer) => layer.layerVersionArn);
      expect(arnsOfA?.length).toBeGreaterThan(0);
      expect(layersAfterRollback).toBe(arnsOfA?.join(','));
      expect((await parameters())['/lambda-deps/l2/layers']?.value).toMatch(/layer:lambda-deps-l2/);
    },
    600_000,
  );
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('an image set re-delivered, run locally', () => {
  it.skipIf(efsSkipReason !== null)(
    `leaves the asked tag present after A, B, A and under a second set name, the same image each time A is asked${efsSkipReason ? ` (skipped: ${efsSkipReason})` : ''}`,
    async () => {
      // Prepare
      const outDir = join(root, 'image-rollback-out');
      const a = join(root, 'image-rollback-a.txt');
      const b = join(root, 'image-rollback-b.txt');
      await writeFile(a, 'six\n');
      await writeFile(b, 'six\nidna\n');
      const common = {
        outDir,
        runtime: 'python3.11',
        arch: ARCH,
        strategy: 'image' as const,
        ...indexOptions(),
      };
      const indexDigest = async (tag: string): Promise<string | undefined> =>
        (
          JSON.parse(await readFile(join(outDir, 'images', tag, 'index.json'), 'utf8')) as {
            manifests: { digest: string }[];
          }
        ).manifests[0]?.digest;

      // Act
      const runs = [];
      for (const file of [a, b, a])
        runs.push(await runPipelineLocally({ ...common, name: 'img', requirementsPath: file }));
      const second = await runPipelineLocally({ ...common, name: 'img2', requirementsPath: a });

      // Assess
      for (const run of [...runs, second]) expect(run.status, JSON.stringify(run.report)).toBe('SUCCEEDED');
      type Delivered = { delivery: { tag: string; digest: string } };
      const [first, , rolledBack] = runs.map((run) => (run.report as Delivered).delivery);
      const lockA = runs[0]?.manifest?.lockHash ?? '';
      expect(runs[1]?.manifest?.lockHash).not.toBe(lockA);
      // The tag form the README's deploy section gives: <set>-<first 12 hex of the lock hash>.
      expect(rolledBack?.tag).toBe(`img-${lockA.slice(0, 12)}`);
      expect(rolledBack?.digest).toBe(first?.digest);
      expect(await indexDigest(`img-${lockA.slice(0, 12)}`)).toBe(first?.digest);
      expect(runs[2]?.execution.states.map((state) => state.name)).not.toContain('Build');
      const other = (second.report as Delivered).delivery;
      expect(other).toEqual(
        expect.objectContaining({ tag: `img2-${lockA.slice(0, 12)}`, digest: first?.digest }),
      );
      expect(await indexDigest(other.tag)).toBe(first?.digest);
    },
    600_000,
  );
});

describe('the image branch, run locally', () => {
  let registry: ChildProcess | null = null;
  let registryUrl = '';

  beforeAll(async () => {
    if (registrySkipReason !== null) return;
    const port = await freePort();
    const config = join(root, 'registry.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(root, 'registry')}`,
        'http:',
        `  addr: 127.0.0.1:${port}`,
      ].join('\n'),
    );
    registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    registryUrl = `http://127.0.0.1:${port}`;
    for (let attempt = 0; attempt < 100; attempt++) {
      const ready = await fetch(`${registryUrl}/v2/`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return;
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new Error('docker-registry did not start');
  }, 60_000);

  afterAll(async () => {
    if (registry && registry.exitCode === null) {
      const exited = new Promise((done) => registry?.once('exit', done));
      registry.kill();
      await exited;
    }
  });

  async function inspect(
    tag: string,
  ): Promise<{ Digest: string; Architecture: string; Os: string; Layers: string[] }> {
    const { stdout } = await execFileAsync('skopeo', [
      'inspect',
      '--tls-verify=false',
      `docker://${registryUrl.replace('http://', '')}/lambda-deps:${tag}`,
    ]);
    return JSON.parse(stdout) as { Digest: string; Architecture: string; Os: string; Layers: string[] };
  }

  it.skipIf(registrySkipReason !== null)(
    `pushes a small set forced to the image route to docker-registry, visible to skopeo${registrySkipReason ? ` (skipped: ${registrySkipReason})` : ''}`,
    async () => {
      // Prepare
      const requirementsPath = join(root, 'small-image.txt');
      await writeFile(requirementsPath, 'six\nidna\n');

      // Act
      const run = await runPipelineLocally({
        requirementsPath,
        outDir: join(root, 'small-image-out'),
        name: 'small-image',
        runtime: 'python3.11',
        arch: ARCH,
        strategy: 'image',
        registry: registryUrl,
        ...indexOptions(),
      });

      // Assess
      expect(run.status, JSON.stringify(run.report)).toBe('SUCCEEDED');
      expect(run.execution.states.map((state) => state.name)).toContain('PushImage');
      const delivery = (run.report as { delivery: { tag: string; digest: string; imageUri: string } })
        .delivery;
      const inspected = await inspect(delivery.tag);
      expect(inspected.Digest).toBe(delivery.digest);
      expect(delivery.imageUri).toBe(`${registryUrl.replace('http://', '')}/lambda-deps@${delivery.digest}`);
      expect(inspected).toMatchObject({ Architecture: ARCH === 'arm64' ? 'arm64' : 'amd64', Os: 'linux' });
      // The Probe imported the set from the pushed image's layers, before the Ready event.
      const states = run.execution.states.map((state) => state.name);
      expect(states.indexOf('Probe')).toBeGreaterThan(states.indexOf('PushImage'));
      expect(run.manifest?.probe).toMatchObject({ ran: true, ok: true, from: 'artifact' });
      // Beside it, the image the AWS probe runs: the same layers and one holding probe.py.
      const probeImage = await inspect(`${delivery.tag}-probe`);
      expect(probeImage.Layers.slice(0, -1)).toEqual(inspected.Layers);
    },
    300_000,
  );

  it.skipIf(torchSkipReason !== null)(
    `pushes torch for a custom python 3.11 / glibc 2.34 target to docker-registry, visible to skopeo${torchSkipReason ? ` (skipped: ${torchSkipReason})` : ''}`,
    async () => {
      // Prepare
      const requirementsPath = join(root, 'torch.txt');
      await writeFile(requirementsPath, 'torch\n');

      // Act
      const run = await runPipelineLocally({
        requirementsPath,
        outDir: join(root, 'image-out'),
        name: 'torch',
        python: '3.11',
        glibc: '2.34',
        arch: 'x86_64',
        registry: registryUrl,
        ...indexOptions(),
      });

      // Assess
      expect(run.status, JSON.stringify(run.report)).toBe('SUCCEEDED');
      expect(run.execution.states.map((state) => state.name)).toEqual([
        'NormalizeInput',
        'FromConsole',
        'Measure',
        'IsCached',
        'BuildHost',
        'OnX86_64',
        'Build',
        'ReadBuildManifest',
        'Route',
        'PushImage',
        'Probe',
        'Switch',
        'Report',
        'Done',
      ]);
      const delivery = (run.report as { delivery: { tag: string; digest: string } }).delivery;
      const { stdout } = await execFileAsync('skopeo', [
        'inspect',
        '--tls-verify=false',
        `docker://${registryUrl.replace('http://', '')}/lambda-deps:${delivery.tag}`,
      ]);
      const inspected = JSON.parse(stdout) as {
        Digest: string;
        Architecture: string;
        Os: string;
        Layers: string[];
      };
      expect(inspected.Digest).toBe(delivery.digest);
      expect(inspected).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
      expect(inspected.Layers.length).toBeGreaterThanOrEqual(1);
    },
    600_000,
  );
});
