// The local twin of the Probe function: unpacks the artifact exactly as Lambda would (layers in
// order under a fresh /opt-like folder, the EFS version through its PYTHONPATH, the image's
// layers into a root filesystem) and runs the very probe.py the AWS probe function runs, with an
// interpreter of the target's exact Python version and architecture, `-I -S`, and only the
// artifact's folders on sys.path (then, for a set built without the runtime's own packages,
// those packages where Lambda's /var/runtime is). When this machine cannot run the target, it says so.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  efsSysPath,
  imageSysPath,
  layerSysPath,
  probeNotRun,
  standInNote,
  type ProbeRequest,
  type ProbeResult,
} from '../../core/probe/index.ts';
import {
  findTargetInterpreter,
  installedDistributions,
  openSandbox,
  cellBytecodeCache,
  findTargetInterpreterEarly,
  type Sandbox,
} from '../../core/verify/index.ts';
import { interpreterFactsFolder } from '../../core/verify/interpreter-facts-cache.ts';
import type { ProbeRunner } from '../probe-port.ts';
import {
  diskTreeFiles,
  IMPORT_WATCH_PY,
  interpreterIdentity,
  type TreeFiles,
} from '../../core/verify/import-footprints.ts';
import { mergeProbed, openProbeReuse, type ReusedFrom, type TracedModule } from './probe-footprints.ts';
import {
  keptImageLayers,
  openLayers,
  type KnownOpt,
  type LayerZip,
  type LayersForOpt,
} from './unpacked-layers.ts';
import type { ObjectStore } from '../ports.ts';
import type { CopyingStore } from '../store-copy.ts';
import { sha256Hex } from '../../core/shared/hash.ts';
import { atInterrupt } from '../../core/shared/interrupt-cleanup.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES, type Target } from '../../core/shared/types.ts';
import { wheelMachine } from '../../core/shared/targets.ts';
import { ramScratchWithRoom } from '../../core/build/tree-files.ts';
import { removeTree } from '../../core/shared/remove-tree.ts';

/**
 * The probe's Python source: the same file the AWS probe function runs. Found beside the source
 * (functions/adapters/local → functions/probe-runtime) or, from the CLI bundle (dist/cli), under
 * the package root.
 */
export const PROBE_SCRIPT =
  [
    resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'probe-runtime', 'probe.py'),
    resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'functions', 'probe-runtime', 'probe.py'),
  ].find((path) => existsSync(path)) ?? 'functions/probe-runtime/probe.py';

export interface LocalProbeOptions {
  /** Where artifacts named by object key are read from (the pipeline's store). */
  readonly store?: ObjectStore;
  /** An interpreter to use instead of `python3.X` from PATH (it must still be the target's version). */
  readonly pythonExecutable?: string | null;
  /** Where the lock's files are downloaded to and read from (the build's cache); default a temporary folder. */
  readonly cacheDir?: string;
  /** The whole import, all modules; default 120 s. */
  readonly timeoutMs?: number;
}

/** The image's OCI layout copied out of the pipeline's store (a registry push leaves no folder). */
async function layoutFromStore(
  prefix: string | undefined,
  workDir: string,
  store?: ObjectStore,
): Promise<string> {
  if (!prefix || !store) throw new Error('an image probe needs its layout folder or its layout in the store');
  const layoutDir = join(workDir, 'layout');
  for (const key of await store.list(prefix)) {
    const relativePath = key.slice(prefix.length);
    // A store key is untrusted text: it never names a place outside the layout folder.
    if (relativePath.split('/').some((part) => part === '..' || part === ''))
      throw new Error(`refusing the image layout key ${key}: it leaves the layout folder`);
    await store.getToFile(key, join(layoutDir, relativePath));
  }
  return layoutDir;
}

/**
 * A layer zip in the store, copied to `path` only when something reads its bytes: its digest is
 * remembered by the object's identity (unpacked-layers.ts), and a kept layer needs no zip. The
 * copy must be of the object that identity names; one replaced meanwhile fails the probe.
 */
async function storeLayerZip(store: CopyingStore, key: string, path: string): Promise<LayerZip> {
  const identity = (await store.identity?.(key)) ?? null;
  let copied: Promise<void> | null = null;
  // (The identity taken here is the copy's "before": copyObjectToFile would take it again.)
  const copy = async (): Promise<void> => {
    await store.getToFile(key, path);
    if (identity !== null && (await store.identity?.(key)) !== identity)
      throw new Error(`${key} was replaced in the store while the probe read it; run the probe again.`);
  };
  return { path, source: identity === null ? null : { key, identity }, fetch: () => (copied ??= copy()) };
}

/** The folders a Lambda function would import from, and its layers (not yet in /opt) when it has layers. */
interface Materialized {
  readonly paths: string[];
  readonly layers: LayersForOpt | null;
  /** An image's layers, not yet unpacked into its root (`known` when the build kept every one). */
  readonly image?: { readonly known: KnownOpt | null; unpack(): Promise<void> };
  /** The folder holding what the build tree's site folder held (/opt/python, /var/task). */
  readonly buildSite: string | null;
}

/**
 * Unpack the artifact into `workDir` (layers: only opened, for `unpack`) and return the folders a
 * Lambda function would import from. With `cacheDir`, kept layers come from the cache (unpacked-layers.ts).
 */
async function materialize(
  request: ProbeRequest,
  workDir: string,
  store: ObjectStore | undefined,
  cacheDir: string | null,
): Promise<Materialized> {
  const { artifact, target } = request;
  if (artifact.kind === 'layers') {
    const opt = join(workDir, 'opt');
    await mkdir(opt, { recursive: true });
    const objectKeys = artifact.objectKeys ?? [];
    if (objectKeys.length > 0 && !store) throw new Error('layer object keys need a store to read them from');
    // Each copied (and hashed on this thread) only when its digest is not remembered or it must be
    // inflated: a package added to the seed set leaves three of its four zips (54 MB) unread.
    const zips: (LayerZip | Promise<LayerZip>)[] = [
      ...artifact.zips.map((path) => ({ path, source: null })),
      ...(store
        ? objectKeys.map((key, index) => storeLayerZip(store, key, join(workDir, `layer-${index}.zip`)))
        : []),
    ];
    // Later layers overwrite earlier ones' files, as Lambda extracts them into /opt in order.
    const layers = await openLayers(zips, opt, cacheDir);
    const task = join(workDir, 'var', 'task');
    await mkdir(task, { recursive: true });
    return {
      paths: [task, ...layerSysPath(opt, target.pythonVersion)],
      layers,
      buildSite: join(opt, 'python'),
    };
  }
  if (artifact.kind === 'efs') {
    const paths = efsSysPath(artifact.mountRoot, artifact.mountPath, artifact.pythonPath);
    return { paths, layers: null, buildSite: null };
  }
  // Loaded for an image only: a probe of layers (or one reused) needs no archive code.
  const [{ blobPath, readLayoutImage }, { extractTreeTar }] = await Promise.all([
    import('../../core/deliver/oci/image-layout.ts'),
    import('../../core/pack/tree-archive.ts'),
  ]);
  const layoutDir = artifact.layoutDir ?? (await layoutFromStore(artifact.layoutPrefix, workDir, store));
  const image = await readLayoutImage(layoutDir);
  const root = join(workDir, 'rootfs');
  const blobs = image.manifest.layers.map((layer) => ({
    digest: layer.digest,
    path: blobPath(layoutDir, layer.digest),
  }));
  const unpack = async (): Promise<void> => {
    for (const blob of blobs) await extractTreeTar(blob.path, root);
  };
  const known = cacheDir ? await keptImageLayers(blobs, root, cacheDir) : null;
  const paths = imageSysPath(root, target.pythonVersion, image.config.config?.Env ?? []);
  return { paths, layers: null, buildSite: join(root, 'var', 'task'), image: { known, unpack } };
}

interface ProbeOutput {
  readonly python: string;
  readonly machine: string;
  readonly importMs: number;
  readonly modules: TracedModule[];
}

/**
 * Run probe.py inside the smoke import's cell (no credentials, no network, nothing writable but
 * its scratch); a crash or a hang is pinned on the module that was being imported. The cell's
 * bytecode cache starts with the installation's own standard-library bytecode (stdlib-bytecode.ts).
 */
async function runProbeScript(
  cell: Sandbox,
  interpreter: { readonly executable: string; readonly prefix: string; readonly version: string },
  modules: readonly string[],
  timeoutMs: number,
): Promise<ProbeOutput | { crashed: string; module: string | null }> {
  // The cell binds each root somewhere of its own: the last root is the probe script's folder.
  const paths = cell.roots.slice(0, -1);
  const script = join(cell.roots[cell.roots.length - 1] ?? '', 'probe.py');
  const pycache = await cellBytecodeCache(cell, interpreter);
  const args = [
    '-I',
    '-S',
    '-X',
    `pycache_prefix=${pycache}`,
    script,
    JSON.stringify({ paths, modules, watch: IMPORT_WATCH_PY }),
  ];
  const command = cell.command(interpreter.executable, args);
  return new Promise((done) => {
    const child = spawn(command.file, command.argv, {
      cwd: cell.home,
      env: command.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let current: string | null = null;
      for (const line of stdout.split('\n')) {
        if (line.startsWith('@@start ')) current = JSON.parse(line.slice(8)) as string;
        if (line.startsWith('@@result ')) return done(JSON.parse(line.slice(9)) as ProbeOutput);
      }
      const why =
        signal === 'SIGKILL'
          ? `did not finish within ${Math.round(timeoutMs / 1000)} s`
          : `died (${signal ?? `exit ${String(code)}`})`;
      const last = stderr.trim().split('\n').pop() ?? '';
      done({ crashed: `the interpreter ${why}${last ? `: ${last}` : ''}`, module: current });
    });
  });
}

/**
 * Probe an artifact here. Returns `ran: false` with the reason when this machine has no
 * interpreter of the target's version and architecture.
 *
 * @example
 *   const probe = await probeLocally({ target, modules: ['numpy'], artifact: { kind: 'layers', zips: ['out/layers/a/1.zip'] } });
 */
export async function probeLocally(
  request: ProbeRequest,
  options: LocalProbeOptions = {},
): Promise<ProbeResult> {
  const found = await findInterpreter(request, options);
  if ('reason' in found) return probeNotRun(request.target, found.reason, 'local');
  return probeWith(found, request, options);
}

/** The target's interpreter; with the run's cache on, its facts may come from an earlier run. */
function findInterpreter(
  request: ProbeRequest,
  options: LocalProbeOptions,
): ReturnType<typeof findTargetInterpreter> {
  const factsCacheDir =
    request.reuse && options.cacheDir ? interpreterFactsFolder(options.cacheDir) : undefined;
  return findTargetInterpreter(request.target, options.pythonExecutable, { factsCacheDir });
}

/** The probe with an interpreter already found to be the target's. */
async function probeWith(
  found: { executable: string; prefix: string; release?: string | undefined },
  request: ProbeRequest,
  options: LocalProbeOptions,
): Promise<ProbeResult> {
  const scratch = await mkdtemp(join(await probeScratchRoot(request.artifact), 'lambda-deps-probe-'));
  // Ctrl-C must not leave an unpacked artifact behind (in /dev/shm it holds memory).
  const forgetScratch = atInterrupt(() => rm(scratch, { recursive: true, force: true }));
  try {
    const cacheDir = request.reuse && options.cacheDir ? options.cacheDir : null;
    const artifact = await materialize(request, scratch, options.store, cacheDir);
    const runtime = await runtimeStandInPath(request, scratch, found.executable, options);
    const known = request.modules.length > 0 ? (artifact.layers?.known ?? artifact.image?.known) : null;
    if (known) {
      // Every layer kept: when footprints stand for every module, /opt (or the image) is never written.
      const paths = artifact.paths.filter((path) => known.hasFolder(path));
      for (const path of paths) await mkdir(path, { recursive: true });
      const tree = { paths, files: known.files, buildSite: artifact.buildSite, unpacked: false as const };
      const result = await probeInCell(found, request, options, { ...tree, runtime }, true);
      if (result) return result;
    }
    const layers = await artifact.layers?.unpack();
    await artifact.image?.unpack();
    // A folder Lambda would look in but the artifact lacks is simply not there (nothing to bind).
    const paths = artifact.paths.filter((path) => existsSync(path));
    // (Every file unpacked now was hashed as it was written.)
    const files = diskTreeFiles(layers?.digests);
    const tree = { paths, files, buildSite: artifact.buildSite, runtime, keep: layers?.keep };
    const result = await probeInCell(found, request, options, tree, false);
    if (!result) throw new Error('a probe that may import returned no result');
    return result;
  } finally {
    forgetScratch();
    await removeTree(scratch);
  }
}

/** The artifact's folders as the probe reads them, from the disk or (not unpacked) from kept layers. */
interface ProbeTree {
  /** The artifact's sys.path folders that are there. */
  readonly paths: string[];
  readonly files: TreeFiles;
  readonly buildSite: string | null;
  /** What stands in for /var/runtime, after the artifact. */
  readonly runtime: string[];
  /** False when /opt was never written: every module was reused, known from kept layers. */
  readonly unpacked?: false;
  /** Keep the layers inflated now for the next probe. */
  readonly keep?: (() => Promise<void>) | undefined;
}

/**
 * The probe in its cell on `tree`; with `onlyReused`, null as soon as some module is not reused
 * (its import needs the files written out).
 */
async function probeInCell(
  { executable, prefix, release }: { executable: string; prefix: string; release?: string | undefined },
  request: ProbeRequest,
  options: LocalProbeOptions,
  tree: ProbeTree,
  onlyReused: boolean,
): Promise<ProbeResult | null> {
  // A manifest written before builds recorded their module list: take it from what ships.
  const modules =
    request.modules.length > 0
      ? request.modules
      : (await installedDistributions(tree.paths)).flatMap((distribution) => distribution.modules);
  const folders = [...tree.paths, ...tree.runtime];
  // (The prefix the interpreter reported when it was found: asking again would start it again.)
  const cell = await openSandbox(executable, prefix, [...folders, dirname(PROBE_SCRIPT)]);
  // Layers are kept from what was unpacked while the probe imports, when the cell cannot write
  // there; where it could, before package code runs.
  const keeping = cell.isolation.filesystem ? tree.keep?.() : await tree.keep?.();
  const run = {
    cell,
    executable,
    prefix,
    release,
    modules,
    folders,
    timeoutMs: options.timeoutMs ?? 120_000,
  };
  const done = await importWithReuse({ ...run, tree, onlyReused }, request, options).finally(() =>
    Promise.all([cell.dispose(), keeping]),
  );
  if (!done) return null;
  const { output, reused } = done;
  const standIn = request.runtimeStandIn ? { runtimeStandIn: standInNote(request.runtimeStandIn) } : {};
  const base = { ran: true, from: 'artifact', arch: request.target.architecture, where: 'local' } as const;
  if ('crashed' in output) {
    const failed = output.module ? [{ module: output.module, ok: false, error: output.crashed, ms: 0 }] : [];
    const result = { ...base, ok: false, python: null, modules: failed, importMs: null };
    return { ...result, reason: output.crashed, isolation: cell.isolation, ...standIn };
  }
  const probed = mergeProbed(modules, output.modules, reused);
  const failed = probed.filter((module) => !module.ok);
  return {
    ...base,
    ok: failed.length === 0 && probed.length > 0,
    python: output.python,
    modules: probed,
    importMs: output.importMs,
    ...(probed.length === 0 ? { reason: 'the artifact has no module to import' } : {}),
    ...(failed.length > 0 ? { reason: `${failed.length} of ${probed.length} modules did not import` } : {}),
    isolation: cell.isolation,
    ...(tree.unpacked === false ? { unpacked: false } : {}),
    ...standIn,
  };
}

/**
 * Run the probe on the modules no earlier probe's footprint, nor the build's smoke import's,
 * stands for (all of them without the run's cache, `reuse: false`), and keep the footprints of
 * the passed imports.
 */
async function importWithReuse(
  run: {
    cell: Sandbox;
    executable: string;
    /** The interpreter's installation (sys.base_prefix). */
    prefix: string;
    /** Its full version, when its facts say it. */
    release: string | undefined;
    modules: readonly string[];
    folders: string[];
    timeoutMs: number;
    tree: ProbeTree;
    /** Import nothing unless every module is reused: null instead. */
    onlyReused: boolean;
  },
  request: ProbeRequest,
  options: LocalProbeOptions,
): Promise<{
  output: ProbeOutput | { crashed: string; module: string | null };
  reused: Map<string, ReusedFrom>;
} | null> {
  const reuse =
    request.reuse && options.cacheDir
      ? await openProbeReuse(options.cacheDir, run.executable, request.target, run.cell, run.folders, {
          files: run.tree.files,
          buildSite: run.tree.buildSite,
        })
      : null;
  const reused = reuse ? await reuse.reusable(run.modules) : new Map<string, ReusedFrom>();
  const toImport = run.modules.filter((module) => !reused.has(module));
  if (run.onlyReused && toImport.length > 0) return null;
  // With every module reused, nothing runs: the interpreter's facts (it said them when it was
  // found) name it as a run would (90 ms of the probe in a build that adds one package).
  if (toImport.length === 0 && run.release !== undefined) {
    const machine = wheelMachine(request.target.architecture);
    return { output: { python: run.release, machine, importMs: 0, modules: [] }, reused };
  }
  const interpreter = {
    executable: run.executable,
    prefix: run.prefix,
    version: request.target.pythonVersion,
  };
  const output = await runProbeScript(run.cell, interpreter, toImport, run.timeoutMs);
  if (reuse && !('crashed' in output) && toImport.length > 0) await reuse.record(output.modules);
  return { output, reused };
}

/**
 * The folder standing in for Lambda's /var/runtime (after the artifact's), when the build left
 * the runtime's own packages out; loaded only then (it brings the installer).
 */
async function runtimeStandInPath(
  request: ProbeRequest,
  scratch: string,
  executable: string,
  options: LocalProbeOptions,
): Promise<string[]> {
  if (!request.runtimeStandIn) return [];
  const { installRuntimeStandIn } = await import('./runtime-stand-in.ts');
  const cacheDir = options.cacheDir ?? join(scratch, 'cache');
  return [await installRuntimeStandIn(request.runtimeStandIn, scratch, cacheDir, executable)];
}

/**
 * Where a probe unpacks: RAM (/dev/shm) when it has room, since thousands of small files that
 * live for one import are what a disk does slowest (torch's image, 12,248 files: 11 s on ext4
 * here, 3.2 s in RAM). Layers need room for twice the most Lambda ever unzips; an image for
 * twice what the build says it holds (its layout and its unpacked files; an image may be up to
 * 10 GB). An image of unknown size, and an EFS version, stay beside the other temporary files.
 */
export async function probeScratchRoot(artifact: ProbeRequest['artifact']): Promise<string> {
  const needed =
    artifact.kind === 'layers'
      ? 2 * LAMBDA_UNZIPPED_LIMIT_BYTES
      : artifact.kind === 'image' && artifact.unpackedBytes !== undefined
        ? 2 * artifact.unpackedBytes
        : null;
  const ram = needed === null ? null : await ramScratchWithRoom(needed);
  return ram ?? tmpdir();
}

/** Layer versions and EFS versions never change once made; an image only when named by digest. */
function isImmutable(artifact: ProbeRequest['artifact']): boolean {
  if (artifact.kind === 'layers')
    return (artifact.layerVersionArns?.length ?? 0) > 0 && artifact.zips.length === 0;
  if (artifact.kind === 'efs') return true;
  return artifact.imageUri?.includes('@sha256:') === true;
}

/**
 * The store key of a passed probe: the artifact as the probe named it (layer version ARNs and
 * object keys, an EFS version path, an image layout under its artifact prefix: all immutable
 * once published), the target, the modules, and the interpreter file itself.
 */
async function reuseKey(request: ProbeRequest, executable: string): Promise<string> {
  const identity = {
    target: request.target,
    modules: request.modules,
    artifact: request.artifact,
    ...(request.runtimeStandIn ? { runtimeStandIn: request.runtimeStandIn.lock.packages } : {}),
  };
  // (`reuse` itself is not part of what was probed.)
  const interpreter = await interpreterIdentity(executable);
  return `probes/${sha256Hex(JSON.stringify({ identity, interpreter }))}.json`;
}

/**
 * The ProbeRunner port, locally. A delivery of an artifact this twin already probed with the
 * same interpreter (a rebuild, a second set name) reuses that passed result, marked `reusedFrom`,
 * instead of unpacking and importing it again; a failed or skipped probe is never reused.
 */
export class LocalProbeRunner implements ProbeRunner {
  #preparing: Promise<void> = Promise.resolve();

  constructor(private readonly options: LocalProbeOptions = {}) {}

  /** What prepare started has ended (never rejects). */
  settled(): Promise<void> {
    return this.#preparing;
  }

  /**
   * Find the target's interpreter and try its cell now, in the background, so that a probe of
   * that target later finds both answers waiting, as a warm function would (60 ms of the probe
   * in a build that adds one package). Nothing is reported from here: the probe asks again.
   */
  prepare(target: Target): void {
    const factsCacheDir = this.options.cacheDir ? interpreterFactsFolder(this.options.cacheDir) : undefined;
    this.#preparing = findTargetInterpreterEarly(target, this.options.pythonExecutable, {
      factsCacheDir,
    }).cellTried;
  }

  async probe(request: ProbeRequest): Promise<ProbeResult> {
    const { store } = this.options;
    if (!store || !request.reuse || !isImmutable(request.artifact))
      return probeLocally(request, this.options);
    const found = await findInterpreter(request, this.options);
    if ('reason' in found) return probeNotRun(request.target, found.reason, 'local');
    // (An empty module list means every module the artifact holds: as fixed as the artifact.)
    const key = await reuseKey(request, found.executable);
    const earlier = (await store.exists(key))
      ? (JSON.parse((await store.getBytes(key)).toString('utf8')) as ProbeResult & { probedAt?: string })
      : null;
    if (earlier?.ran === true && earlier.ok === true && typeof earlier.probedAt === 'string') {
      const { probedAt, ...result } = earlier;
      return { ...result, reusedFrom: probedAt };
    }
    const result = await probeWith(found, request, this.options);
    if (result.ran && result.ok)
      await store.putBytes(
        key,
        JSON.stringify({ ...result, probedAt: new Date().toISOString() }),
        'application/json',
      );
    return result;
  }
}
