// The versioned EFS tree under real processes: a Python reader importing through `current`
// while new versions are switched in, and syncs SIGKILLed at random moments, after each of
// which `current` must still point at a complete tree and every visible version be whole.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPLETE_MARKER, syncVersionedTree } from '../../../functions/core/deliver/efs-tree.ts';
import { writeTreeTar } from '../../../functions/core/pack/tree-archive.ts';
import { recordReliability } from '../../support/reliability-log.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPOSITORY = join(HERE, '..', '..', '..');
const SET = 'web-set';

interface Version {
  readonly lockHash: string;
  readonly tarPath: string;
  /** relative path -> sha256 hex of every file in the tree. */
  readonly files: Record<string, string>;
}

let workDir = '';
let childScript = '';
const versions: Version[] = [];

/** A dependency tree: a `depset` package of `modules` modules plus data files, all naming the version. */
async function makeVersion(index: number, modules: number): Promise<Version> {
  const lockHash = createHash('sha256').update(`version-${index}`).digest('hex');
  const tree = join(workDir, `tree-${index}`);
  const files: Record<string, string> = {};
  const put = async (relative: string, content: string | Buffer): Promise<void> => {
    await mkdir(join(tree, dirname(relative)), { recursive: true });
    await writeFile(join(tree, relative), content);
    files[relative] = createHash('sha256').update(content).digest('hex');
  };
  const names = Array.from({ length: modules }, (_, module) => `m${module}`);
  await put(
    'depset/__init__.py',
    `VERSION = ${JSON.stringify(lockHash)}\nfrom . import ${names.join(', ')}\n`,
  );
  for (const name of names) {
    await put(
      `depset/${name}.py`,
      `VERSION = ${JSON.stringify(lockHash)}\nPAYLOAD = ${JSON.stringify(randomBytes(2048).toString('hex'))}\n`,
    );
    await put(`depset/data/${name}.bin`, randomBytes(8 * 1024));
  }
  await put('depset-1.0.dist-info/METADATA', `Name: depset\nVersion: ${index}\n`);
  const tarPath = join(workDir, `tree-${index}.tar`);
  await writeTreeTar(tree, tarPath);
  return { lockHash, tarPath, files };
}

/** Every visible version folder is complete and byte-exact, and `current` (if any) points at one. */
async function assertOnlyCompleteTrees(mountRoot: string): Promise<string | null> {
  const setDir = join(mountRoot, SET);
  if (!existsSync(setDir)) return null;
  const known = new Map(versions.map((version) => [version.lockHash, version]));
  const wrong: string[] = [];
  for (const name of await readdir(setDir)) {
    if (name.startsWith('.') || name === 'current') continue;
    const version = known.get(name);
    if (!version) wrong.push(`unexpected folder ${name}`);
    else if (!existsSync(join(setDir, name, COMPLETE_MARKER)))
      wrong.push(`${name} has no ${COMPLETE_MARKER}`);
    for (const [relative, digest] of Object.entries(version?.files ?? {})) {
      const bytes = await readFile(join(setDir, name, relative)).catch(() => null);
      if (!bytes) wrong.push(`${name}/${relative} is missing`);
      else if (createHash('sha256').update(bytes).digest('hex') !== digest)
        wrong.push(`${name}/${relative} differs`);
    }
  }
  expect(wrong).toEqual([]);
  const current = await readlink(join(setDir, 'current')).catch(() => null);
  if (current !== null) {
    expect(known.has(current), `current -> ${current}`).toBe(true);
    expect((await lstat(join(setDir, current))).isDirectory()).toBe(true);
  }
  return current;
}

/**
 * Run syncVersionedTree in a child and SIGKILL it `afterMs` after the spawn, or as soon as it
 * reports `afterStep`; with no kill given it runs to the end. `midSync` is true when the kill
 * landed after the child started syncing and before it finished.
 */
async function syncInChild(
  mountRoot: string,
  version: Version,
  keep: number,
  kill: { afterMs?: number; afterStep?: string },
): Promise<{ midSync: boolean; readyMs: number; exitMs: number }> {
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [childScript, mountRoot, SET, version.lockHash, version.tarPath, String(keep)],
    { cwd: REPOSITORY, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  let readyMs = 0;
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer =
    kill.afterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (readyMs === 0 && stdout.includes('ready')) readyMs = performance.now() - spawnedAt;
    if (kill.afterStep !== undefined && stdout.includes(`step ${kill.afterStep}\n`)) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) =>
    child.once('close', (exitCode, exitSignal) => done([exitCode, exitSignal])),
  );
  clearTimeout(timer);
  if (signal !== 'SIGKILL' && code !== 0) throw new Error(`sync child failed (${code}): ${stderr}`);
  // The child writes to a pipe synchronously, so its output says how far it got.
  const midSync = signal === 'SIGKILL' && stdout.includes('ready') && !stdout.includes('done');
  return { midSync, readyMs, exitMs: performance.now() - spawnedAt };
}

describe('syncVersionedTree on a real file system', () => {
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'lambda-deps-efs-'));
    // Bundled once with esbuild (rather than `node --import tsx` per run): the child then starts
    // in tens of milliseconds, so 40 kills fit in a few seconds.
    childScript = join(workDir, 'sync-child.mjs');
    await build({
      entryPoints: [join(HERE, 'sync-child.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: childScript,
      logLevel: 'error',
      // Bundled CommonJS dependencies (tar-stream, streamx) call require() for Node built-ins.
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    for (let index = 0; index < 5; index++) versions.push(await makeVersion(index, 80));
  });

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('lets a Python reader import from current while new versions are switched in, never seeing a half tree', async () => {
    // Prepare
    const mountRoot = join(workDir, 'reader-mount');
    const [v0, v1, v2] = versions as [Version, Version, Version];
    await syncVersionedTree({ mountRoot, setName: SET, lockHash: v0.lockHash, tarPath: v0.tarPath, keep: 1 });
    const manifests = join(workDir, 'manifests.json');
    await writeFile(
      manifests,
      JSON.stringify(Object.fromEntries(versions.map((version) => [version.lockHash, version.files]))),
    );
    const stopFile = join(workDir, 'stop-reader');
    const reader = spawn(
      'python3',
      [join(HERE, 'tree-reader.py'), join(mountRoot, SET), manifests, stopFile],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    reader.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    reader.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((done) => reader.once('exit', done));

    // Act
    const switches = [v1, v2, v0, v1];
    for (const version of switches) {
      await new Promise((done) => setTimeout(done, 150));
      await syncVersionedTree({
        mountRoot,
        setName: SET,
        lockHash: version.lockHash,
        tarPath: version.tarPath,
        keep: 1,
      });
    }
    await new Promise((done) => setTimeout(done, 150));
    await writeFile(stopFile, '');
    await exited;

    // Assess
    const summary = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as {
      rounds: number;
      imports: number;
      versions: string[];
      failures: string[];
    };
    expect(summary.failures).toEqual([]);
    expect(summary.imports).toBeGreaterThan(5);
    expect(summary.versions.length).toBeGreaterThanOrEqual(2);
    expect(await assertOnlyCompleteTrees(mountRoot)).toBe(v1.lockHash);
    console.info(
      `EFS reader: ${summary.rounds} rounds, ${summary.imports} imports, versions seen ${summary.versions.length}`,
    );
    recordReliability({
      area: 'EFS sync',
      experiment: 'python reader importing through current while versions were switched in',
      cases: 3,
      faultsInjected: 0,
      runs: switches.length,
      lost: 'nothing',
    });
  });

  it('keeps current on a complete tree when the sync is SIGKILLed at random moments, and the next run cleans up', async () => {
    // Prepare
    const mountRoot = join(workDir, 'kill-mount');
    await syncInChild(mountRoot, versions[0]!, 1, {});
    const timed = await syncInChild(mountRoot, versions[1]!, 1, {});
    let window = { from: timed.readyMs, to: timed.exitMs };
    const steps = ['cleaned', 'extracted', 'renamed', 'switched'];
    const kills = 40;
    let killed = 0;
    let leftoversSeen = 0;

    // Act
    for (let run = 0; run < kills; run++) {
      const version = versions[run % versions.length]!;
      // Every 5th run dies right after a named step (so each step's window is hit for sure);
      // the others at a random moment between start-up and the end of a whole sync.
      const step = run % 5 === 4 ? steps[((run - 4) / 5) % steps.length] : undefined;
      const outcome = await syncInChild(
        mountRoot,
        version,
        1,
        step ? { afterStep: step } : { afterMs: window.from + Math.random() * (window.to - window.from) },
      );
      if (outcome.midSync) killed++;
      else if (outcome.readyMs > 0)
        window = { from: Math.min(window.from, outcome.readyMs), to: Math.max(window.to, outcome.exitMs) };
      const names = await readdir(join(mountRoot, SET));
      if (names.some((name) => name.startsWith('.'))) leftoversSeen++;

      // Assess (after each kill)
      await assertOnlyCompleteTrees(mountRoot);
    }
    const final = versions[2]!;
    const clean = await syncVersionedTree({
      mountRoot,
      setName: SET,
      lockHash: final.lockHash,
      tarPath: final.tarPath,
      keep: 1,
    });

    // Assess
    expect(killed).toBeGreaterThanOrEqual(kills / 4);
    expect(await assertOnlyCompleteTrees(mountRoot)).toBe(final.lockHash);
    const left = await readdir(join(mountRoot, SET));
    expect(left.filter((name) => name.startsWith('.'))).toEqual([]);
    // keep: 1 old version, besides current and the newest-written one (both never pruned).
    expect(left.filter((name) => !name.startsWith('.') && name !== 'current').length).toBeLessThanOrEqual(3);
    expect(clean.currentPythonPath).toBe(`/mnt/deps/${SET}/current`);
    console.info(
      `EFS kill test: kill window ${window.from.toFixed(0)}-${window.to.toFixed(0)} ms after spawn; ${killed} of ${kills} runs killed mid-sync; leftovers seen after ${leftoversSeen}`,
    );
    recordReliability({
      area: 'EFS sync',
      experiment: 'sync process SIGKILLed at a random moment, then checked and re-run',
      cases: versions.length,
      faultsInjected: killed,
      runs: kills + 2,
      lost: 'nothing',
    });
  });
});
