// The build engine: a lock in, Lambda-ready artifacts and `manifest.json` out. Downloads the
// locked files (parallel, through the index's cache), installs them into a tree (needed to
// verify ELF files and smoke-import), slims, verifies, smoke-imports, then routes and packs:
// layer zips written in parallel by raw copy from the wheels, an EFS tree tar, or an OCI image
// layout. Everything is cached by content: the same lock hash and policy never build twice,
// a rebuild copies (or reflinks) the checked cached artifacts into the output folder.
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { parentDirectories, writeDeterministicZip } from '../pack/deterministic-zip.ts';
import type { DeterministicZipEntry } from '../pack/deterministic-zip.ts';
import { InputError } from '../shared/errors.ts';
import { planLayers } from '../route/layer-packer.ts';
import type { LayerPackingOptions } from '../route/layer-packer.ts';
import { lockHash } from '../resolve/lock.ts';
import { DEFAULT_SLIM_POLICY, isRuntimeProvided, slimPolicyKey } from './slim-policy.ts';
import type { SlimPolicy } from './slim-policy.ts';
import type {
  BuildManifest,
  BuiltFromSdist,
  DistributionFile,
  LayerArtifact,
  Lock,
  LockedPackage,
  PackageBreakdown,
  PackageIndex,
  Problem,
  Strategy,
} from '../shared/types.ts';
import { LAMBDA_IMAGE_LIMIT_BYTES } from '../shared/types.ts';
import { wheelMachine } from '../shared/targets.ts';
import { formatBytes } from '../shared/units.ts';
import { installWheel, lambdaInterpreter, withUpdatedRecord } from './wheel-installer.ts';
import { listFiles, readCachedBuild, storeInCache } from './build-cache.ts';
import { deliverOutputs } from '../pack/output-folder.ts';
import { checkLayersMatchTree } from '../pack/packed-tree-check.ts';
import { atInterrupt } from '../shared/interrupt-cleanup.ts';
import { sha256OfFile } from '../shared/hash.ts';
import { buildSdistForTarget } from '../sdist/sdist-builder.ts';
import { readPipConfiguration, resolveIndexOptions } from '../inputs/pip-config.ts';
import type { InstalledPackage, TreeClaims } from './wheel-installer.ts';

const execFileAsync = promisify(execFile);

/** Bumped when the artifacts' format changes, so old cache entries are not reused. */
export const BUILD_FORMAT_VERSION = 3;
/** The folder under the tree that is on sys.path (and the prefix inside layer zips). */
const SITE_DIR = 'python';
/** Runtime-provided packages go here when excluded: smoke import sees them, packing does not. */
const RUNTIME_DIR = 'runtime-provided';

export type BuildPhase = 'download' | 'install' | 'verify' | 'smokeImport' | 'pack';

/** Progress, for the terminal and the pipeline's logs. */
export type BuildEvent =
  | {
      readonly type: 'phase';
      readonly phase: BuildPhase;
      readonly status: 'start' | 'done';
      readonly durationMs?: number;
    }
  | { readonly type: 'package'; readonly name: string; readonly step: 'downloaded' | 'installed' }
  | { readonly type: 'cache-hit'; readonly key: string; readonly from: string }
  | { readonly type: 'warning'; readonly message: string };

export interface BuildDependencySetOptions {
  readonly lock: Lock;
  /** Where the locked files come from (sha256-verified, cached). */
  readonly index: Pick<PackageIndex, 'download'>;
  /** Receives manifest.json and the artifacts (created; existing artifacts of an earlier build are replaced). */
  readonly outDir: string;
  readonly strategy: 'auto' | Strategy;
  /** @default DEFAULT_SLIM_POLICY */
  readonly slim?: SlimPolicy;
  readonly layers?: LayerPackingOptions;
  /** Content-addressed cache of whole builds (and scratch space for the tree). */
  readonly cacheDir: string;
  /** Interpreter of the target's Python for smoke import and sdist builds; found on PATH when absent. */
  readonly pythonExecutable?: string;
  /** @deprecated sdists are always built (functions/core/sdist) and kept only when they verify for the target. */
  readonly allowLocalSdistBuild?: boolean;
  /** The indexes an sdist's build requirements come from; pip's configuration when absent. */
  readonly sdistIndexes?: { readonly indexUrls: readonly string[]; readonly findLinks: readonly string[] };
  /** Shebang interpreter for scripts. @default `/var/lang/bin/python3.X` */
  readonly interpreter?: string;
  /** Where the installed tree (scratch, removed after the build) goes. @default /dev/shm when it has room, else beside the cache */
  readonly treeScratchDir?: string;
  /** Skip the cache lookup (the result is still stored). @default false */
  readonly noCache?: boolean;
  readonly onEvent?: (event: BuildEvent) => void;
}

/** The cache key of a build: lock hash, policy and everything else that changes the bytes. */
export function buildCacheKey(
  lock: Lock,
  options: Pick<BuildDependencySetOptions, 'strategy' | 'slim' | 'layers' | 'interpreter'>,
): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        format: BUILD_FORMAT_VERSION,
        lock: lockHash(lock),
        slim: slimPolicyKey(options.slim ?? DEFAULT_SLIM_POLICY),
        strategy: options.strategy,
        layers: options.layers ?? {},
        interpreter: options.interpreter ?? lambdaInterpreter(lock.target.pythonVersion),
      }),
    )
    .digest('hex');
}

/** pip's configured indexes (the ones `measure` resolved from when none are given). */
async function configuredIndexes(): Promise<{ indexUrls: string[]; findLinks: string[] }> {
  const resolved = resolveIndexOptions({ environment: process.env, config: await readPipConfiguration() });
  const { indexUrl, extraIndexUrls, findLinks } = resolved.options;
  return { indexUrls: [...(indexUrl ? [indexUrl] : []), ...extraIndexUrls], findLinks: [...findLinks] };
}

function distributionFileOf(locked: LockedPackage): DistributionFile {
  return {
    filename: locked.filename,
    url: locked.url,
    sha256: locked.sha256,
    requiresPython: null,
    yanked: false,
    size: locked.size,
    metadataUrl: null,
    metadataSha256: null,
    source: locked.url,
  };
}

function biggestFolders(installed: InstalledPackage): { path: string; bytes: number }[] {
  const folders = new Map<string, number>();
  for (const file of installed.files) {
    const parts = file.path.split('/');
    const key =
      parts[0] === SITE_DIR ? parts.slice(1, Math.min(parts.length - 1, 3)).join('/') : (parts[0] ?? '');
    if (key === '') continue;
    folders.set(key, (folders.get(key) ?? 0) + file.size);
  }
  return [...folders.entries()]
    .map(([path, bytes]) => ({ path, bytes }))
    .sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path))
    .slice(0, 5);
}

/** The entries of one layer zip: raw copies from the wheels, generated files, directories. */
async function layerEntries(
  packages: readonly InstalledPackage[],
  warn: (message: string) => void,
): Promise<DeterministicZipEntry[]> {
  const entries = new Map<string, DeterministicZipEntry>();
  for (const installed of packages) {
    const wheel = installed.files.some((file) => file.source.kind === 'wheel')
      ? await readFile(installed.wheelPath)
      : null;
    for (const file of installed.files) {
      if (entries.has(file.path)) {
        warn(
          `${file.path} is installed by more than one package in the same layer; ${installed.name}'s copy is left out.`,
        );
        continue;
      }
      if (file.source.kind === 'generated') {
        entries.set(file.path, {
          name: file.path,
          kind: 'content',
          executable: file.executable,
          content: file.source.content,
        });
      } else if (wheel) {
        const { dataOffset, compressedSize, method, crc32 } = file.source;
        entries.set(file.path, {
          name: file.path,
          kind: 'raw',
          executable: file.executable,
          raw: {
            method,
            crc32,
            uncompressedSize: file.size,
            data: wheel.subarray(dataOffset, dataOffset + compressedSize),
          },
        });
      }
    }
  }
  for (const directory of parentDirectories(entries.keys()))
    entries.set(directory, { name: directory, kind: 'directory' });
  return [...entries.values()];
}

/**
 * Build a locked set into artifacts under `outDir` and write `outDir/manifest.json`.
 * Nothing is marked ok when verification or smoke import fails (`verification.ok`, `smokeImport.ok`).
 * @example
 *   const manifest = await buildDependencySet({ lock, index, outDir: 'out', strategy: 'auto', cacheDir: '.cache' });
 */
export async function buildDependencySet(options: BuildDependencySetOptions): Promise<BuildManifest> {
  const started = performance.now();
  const { lock, outDir, cacheDir } = options;
  const emit = options.onEvent ?? (() => undefined);
  const slim = options.slim ?? DEFAULT_SLIM_POLICY;
  const interpreter = options.interpreter ?? lambdaInterpreter(lock.target.pythonVersion);
  const key = buildCacheKey(lock, { ...options, slim, interpreter });
  const cached = join(cacheDir, 'builds', key);

  await mkdir(outDir, { recursive: true });
  if (!options.noCache) {
    const hit = await readCachedBuild(cached, (message) => emit({ type: 'warning', message }));
    if (hit !== null) {
      await deliverOutputs(cached, outDir);
      emit({ type: 'cache-hit', key, from: cached });
      return hit;
    }
  }

  const timings: Record<string, number> = {};
  const phase = async <T>(name: BuildPhase, run: () => Promise<T>): Promise<T> => {
    emit({ type: 'phase', phase: name, status: 'start' });
    const start = performance.now();
    const result = await run();
    timings[name] = Math.round(performance.now() - start);
    emit({ type: 'phase', phase: name, status: 'done', durationMs: timings[name] });
    return result;
  };
  const warnings: string[] = [];
  const builtFromSdist: BuiltFromSdist[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    emit({ type: 'warning', message });
  };

  // Loaded only when there is something to build, so a cache hit starts fast.
  const [
    { verifyArtifact },
    { smokeImport },
    { writeTreeTar },
    { createDependencyImageLayout, LAMBDA_TASK_ROOT },
  ] = await Promise.all([
    import('../verify/artifact-verifier.ts'),
    import('../verify/smoke-import.ts'),
    import('../pack/tree-archive.ts'),
    import('../deliver/oci/image-layout.ts'),
  ]);
  await mkdir(join(cacheDir, 'builds'), { recursive: true });
  const scratch = await mkdtemp(join(cacheDir, 'builds', `.work-${randomUUID().slice(0, 8)}-`));
  const staging = join(scratch, 'out');
  const treeRoot = await mkdtemp(
    join(options.treeScratchDir ?? (await fastScratchDir(lock)) ?? scratch, 'lambda-deps-tree-'),
  );
  const treeDir = join(treeRoot, 'tree');
  // Ctrl-C must not leave the tree in /dev/shm (hundreds of MB) or the scratch behind.
  const forgetScratch = atInterrupt(() =>
    Promise.all([
      rm(treeRoot, { recursive: true, force: true }),
      rm(scratch, { recursive: true, force: true }),
    ]),
  );
  try {
    await mkdir(staging, { recursive: true });
    // Download (parallel; the index's cache makes the second time free).
    const downloadLimit = pLimit(8);
    const paths = await phase('download', () =>
      Promise.all(
        lock.packages.map((locked) =>
          downloadLimit(async () => {
            const path = await options.index.download(distributionFileOf(locked));
            emit({ type: 'package', name: locked.name, step: 'downloaded' });
            return path;
          }),
        ),
      ),
    );

    // Install every wheel (checked end to end) into the tree.
    const installLimit = pLimit(4);
    const claims: TreeClaims = new Map();
    const installed = await phase('install', () =>
      Promise.all(
        lock.packages.map((locked, index) =>
          installLimit(async () => {
            let wheelPath = paths[index] ?? '';
            let wheelLock = locked;
            if (!locked.filename.endsWith('.whl')) {
              // Built as pip would, kept only if it verifies for the target (functions/core/sdist).
              const built = await buildSdistForTarget({
                sdistPath: wheelPath,
                sha256: locked.sha256,
                name: locked.name,
                version: locked.version,
                target: lock.target,
                ...(options.sdistIndexes ?? (await configuredIndexes())),
                outDir: await mkdtemp(join(scratch, 'sdist-')),
                cacheDir: options.cacheDir,
                pythonExecutable: options.pythonExecutable ?? null,
              });
              builtFromSdist.push({
                name: locked.name,
                sdist: locked.filename,
                wheel: built.filename,
                backend: built.backend,
                glibcNeeded: built.glibcNeeded,
                sandboxed: built.sandboxed,
              });
              wheelPath = built.wheelPath;
              wheelLock = { ...locked, filename: built.filename, sha256: await sha256OfFile(wheelPath) };
            }
            const runtimeProvided = slim.excludeRuntimeProvided && isRuntimeProvided(locked.name);
            const result = await installWheel({
              wheelPath,
              locked: wheelLock,
              treeDir: runtimeProvided ? join(treeDir, RUNTIME_DIR) : treeDir,
              siteDir: SITE_DIR,
              interpreter,
              slim,
              claims,
            });
            emit({ type: 'package', name: locked.name, step: 'installed' });
            return { result, runtimeProvided };
          }),
        ),
      ),
    );
    let packed = installed.filter((entry) => !entry.runtimeProvided).map((entry) => entry.result);
    const excluded = installed.filter((entry) => entry.runtimeProvided).map((entry) => entry.result);
    if (slim.precompile) {
      const before = packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
      const compiled = await precompileTree(packed, treeDir, lock, options.pythonExecutable);
      if (typeof compiled === 'string') warn(`not precompiled: ${compiled}`);
      else {
        packed = compiled;
        const after = packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
        warn(
          `precompiled .pyc for Python ${lock.target.pythonVersion}: ${before} bytes before, ${after} bytes after (faster cold starts, more bytes).`,
        );
      }
    }

    if (slim.stripSymbols) {
      const before = packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
      const stripped = await stripExtensionModules(packed, treeDir, lock, options.pythonExecutable);
      if (typeof stripped === 'string') warn(`symbols not stripped: ${stripped}`);
      else {
        packed = stripped.packages;
        const after = packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
        warn(
          `stripped symbols from ${stripped.files} extension module(s): ${before} bytes before, ${after} after; the smoke import checks they still load (*.libs untouched).`,
        );
        for (const failure of stripped.failures) warn(`not stripped: ${failure}`);
      }
    }

    // Route.
    const slimmedTotal = packed.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
    const plan = planLayers(
      packed.map((pkg) => ({ name: pkg.name, bytes: pkg.slimmedBytes })),
      options.layers,
    );
    let strategy: Strategy;
    let reason: string;
    if (options.strategy !== 'auto') {
      strategy = options.strategy;
      reason = `strategy ${strategy} was asked for; the set is ${formatBytes(slimmedTotal)} unzipped after slimming`;
      if (strategy === 'layers' && !plan.fits) {
        throw new InputError(`The set does not fit in Lambda layers: ${plan.reason}.`, {
          hint: 'Use --strategy image or --strategy efs, or --exclude-runtime-provided, or fewer --existing-layers.',
        });
      }
    } else if (plan.fits) {
      strategy = 'layers';
      reason = `${formatBytes(slimmedTotal)} unzipped after slimming fits the ${formatBytes(plan.budgetBytes)} budget in ${plan.layers.length} of ${plan.slots} free layers`;
    } else if (slimmedTotal <= LAMBDA_IMAGE_LIMIT_BYTES) {
      strategy = 'image';
      reason = `not layers: ${plan.reason}; ${formatBytes(slimmedTotal)} fits a container image (10 GiB)`;
    } else {
      strategy = 'efs';
      reason = `${formatBytes(slimmedTotal)} is over the 10 GiB container image limit; EFS has no size limit`;
    }

    // Verify the ELF files of what will be shipped.
    const owner = new Map<string, string>();
    for (const pkg of packed) for (const file of pkg.files) owner.set(file.path, pkg.name);
    const verifying = phase('verify', () =>
      verifyArtifact({
        root: treeDir,
        target: lock.target,
        pythonRoots: [SITE_DIR],
        packageOf: (path) => owner.get(path) ?? null,
      }),
    );

    // Smoke import (at the same time) in a fresh process that sees only the artifact (and, when excluded, the runtime's own packages).
    const smoking = phase('smokeImport', () =>
      smokeImport({
        roots: [
          join(treeDir, SITE_DIR),
          ...(excluded.length > 0 ? [join(treeDir, RUNTIME_DIR, SITE_DIR)] : []),
        ],
        target: lock.target,
        ...(options.pythonExecutable ? { pythonExecutable: options.pythonExecutable } : {}),
      }),
    );

    // Pack while verification and smoke import run; what fails them is thrown away, never published.
    const layers: LayerArtifact[] = [];
    const layerOf = new Map<string, string>();
    let efs: BuildManifest['efs'] = null;
    let image: BuildManifest['image'] = null;
    const packing = phase('pack', async () => {
      if (strategy === 'layers' && plan.fits) {
        await mkdir(join(staging, 'layers'), { recursive: true });
        const byName = new Map(packed.map((pkg) => [pkg.name, pkg]));
        const written = await Promise.all(
          plan.layers.map(async (planned) => {
            const file = `layers/layer-${planned.id}.zip`;
            const members = planned.packages
              .map((name) => byName.get(name))
              .filter((pkg): pkg is InstalledPackage => pkg !== undefined);
            const result = await writeDeterministicZip(
              join(staging, file),
              await layerEntries(members, warn),
            );
            for (const name of planned.packages) layerOf.set(name, file);
            return {
              id: planned.id,
              file,
              sha256: result.sha256,
              size: result.size,
              unzippedSize: result.unzippedSize,
              packages: planned.packages,
            };
          }),
        );
        layers.push(...written);
      } else if (strategy === 'efs') {
        await mkdir(join(staging, 'efs'), { recursive: true });
        await writeTreeTar(join(treeDir, SITE_DIR), join(staging, 'efs', 'site-packages.tar'), {
          prefix: 'site-packages',
        });
        efs = { tree: 'efs/site-packages.tar', pythonPath: 'site-packages' };
      } else {
        const layout = await createDependencyImageLayout({
          treeDir: join(treeDir, SITE_DIR),
          outDir: join(staging, 'image'),
          target: lock.target,
          installPrefix: LAMBDA_TASK_ROOT,
        });
        image = { layout: 'image', digest: layout.manifestDigest };
      }
    });
    // allSettled: the tree is removed once this function leaves, so nothing may still be running.
    const settled = await Promise.allSettled([verifying, smoking, packing]);
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    // What ships must be what was verified and imported, byte for byte.
    if (layers.length > 0)
      await checkLayersMatchTree(
        treeDir,
        layers.map((layer) => join(staging, layer.file)),
        [RUNTIME_DIR],
      );
    const verification = await verifying;
    for (const finding of verification.warnings)
      warn(`${finding.package ?? '?'} ${finding.file ?? ''}: ${finding.message}`);
    const smoke = await smoking;
    const ok = verification.ok && (!smoke.ran || smoke.ok);
    if (!ok) {
      for (const name of ['layers', 'efs', 'image'])
        await rm(join(staging, name), { recursive: true, force: true });
      layers.length = 0;
      layerOf.clear();
      efs = null;
      image = null;
    }

    const rules = new Map<string, { files: number; bytes: number }>();
    for (const pkg of packed) {
      for (const removed of pkg.removed) {
        const current = rules.get(removed.rule) ?? { files: 0, bytes: 0 };
        rules.set(removed.rule, {
          files: current.files + removed.files,
          bytes: current.bytes + removed.bytes,
        });
      }
    }
    if (excluded.length > 0) {
      rules.set('runtime-provided', {
        files: excluded.reduce((sum, pkg) => sum + pkg.files.length, 0),
        bytes: excluded.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0),
      });
    }
    const ruleList = [...rules.entries()]
      .map(([rule, totals]) => ({ rule, ...totals }))
      .sort((a, b) => a.rule.localeCompare(b.rule));
    const runtimeProvidedBytes = installed
      .filter((entry) => isRuntimeProvided(entry.result.name))
      .reduce((sum, entry) => sum + entry.result.slimmedBytes, 0);
    if (!slim.excludeRuntimeProvided && runtimeProvidedBytes > 0) {
      warn(
        `${formatBytes(runtimeProvidedBytes)} of this set is what the Lambda runtime already provides (boto3 and its dependencies); --exclude-runtime-provided would leave it out.`,
      );
    }
    // Packed packages as shipped (after any precompiling or stripping); excluded ones as installed.
    const shipped = new Map(packed.map((pkg) => [pkg.name, pkg]));
    const packages: PackageBreakdown[] = installed.map(({ result }) => {
      const final = shipped.get(result.name) ?? result;
      return {
        name: final.name,
        version: final.version,
        installedBytes: final.installedBytes,
        slimmedBytes: final.slimmedBytes,
        folders: biggestFolders(final),
        layer: layerOf.get(final.name) ?? null,
      };
    });
    const problems: Problem[] = [...verification.problems];
    timings.total = Math.round(performance.now() - started);
    const manifest: BuildManifest = {
      lockHash: lockHash(lock),
      ...(builtFromSdist.length > 0 ? { builtFromSdist } : {}),
      lock,
      target: lock.target,
      strategy,
      reason: ok
        ? reason
        : `not published: ${!verification.ok ? `verification found ${problems.length} problem(s)` : `smoke import failed for ${smoke.failures.length} module(s)`}`,
      sizes: {
        wheels: lock.packages.reduce((sum, locked) => sum + locked.size, 0),
        installed: installed.reduce((sum, entry) => sum + entry.result.installedBytes, 0),
        slimmed: slimmedTotal,
      },
      slimming: {
        removedFiles: ruleList.reduce((sum, rule) => sum + rule.files, 0),
        removedBytes: ruleList.reduce((sum, rule) => sum + rule.bytes, 0),
        rules: ruleList,
      },
      layers,
      efs,
      image,
      verification: {
        ok: verification.ok,
        problems,
        filesChecked: verification.filesChecked,
        elfFiles: verification.elfFiles,
        symbolVersionsChecked: verification.symbolVersionsChecked,
      },
      smokeImport: {
        ran: smoke.ran,
        ok: smoke.ok,
        ...(smoke.reason ? { reason: smoke.reason } : {}),
        ...(smoke.isolation ? { isolation: smoke.isolation } : {}),
        modules: smoke.modules,
        failures: smoke.failures.map((failure) => ({
          module: failure.module,
          package: failure.package,
          error: failure.error,
        })),
      },
      timings,
      packages,
      warnings,
    };
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    // Publish to the cache only what verified, atomically (first writer wins), then link it out.
    await deliverOutputs(ok ? await storeInCache(staging, cached) : staging, outDir);
    return manifest;
  } finally {
    forgetScratch();
    await rm(treeRoot, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Compile every module of the packed packages to hash-checked `.pyc` (deterministic: no
 * timestamps) with an interpreter of the target's exact Python version, and add the files to
 * their packages. Returns why not when there is no such interpreter.
 */
async function precompileTree(
  packed: readonly InstalledPackage[],
  treeDir: string,
  lock: Lock,
  pythonExecutable: string | undefined,
): Promise<InstalledPackage[] | string> {
  const { findTargetInterpreter } = await import('../verify/smoke-import.ts');
  const interpreter = await findTargetInterpreter(lock.target, pythonExecutable ?? null);
  if ('reason' in interpreter) return interpreter.reason;
  const site = join(treeDir, SITE_DIR);
  await execFileAsync(
    interpreter.executable,
    [
      '-I',
      '-m',
      'compileall',
      '-q',
      '-j',
      '0',
      '--invalidation-mode',
      'unchecked-hash',
      // Recorded source paths are where layers land (/opt/python), not this scratch folder: deterministic and true.
      '-s',
      site,
      '-p',
      '/opt/python',
      site,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60 * 1000 },
  ).catch((error: { stdout?: string }) => {
    // compileall exits 1 when some file does not compile (e.g. Python 2 leftovers); what compiled is kept.
    if (error.stdout === undefined) throw error;
  });
  const owner = new Map<string, number>();
  packed.forEach((pkg, index) => {
    for (const file of pkg.files) owner.set(file.path, index);
  });
  const added = packed.map(() => [] as InstalledPackage['files'][number][]);
  for (const path of await listFiles(site)) {
    const match = /^(.*?)(?:\/)?__pycache__\/([^/]+?)\.[^/.]+\.pyc$/.exec(path);
    if (!match) continue;
    const source = `${SITE_DIR}/${match[1] ? `${match[1]}/` : ''}${match[2]}.py`;
    const index = owner.get(source);
    if (index === undefined) continue;
    const content = await readFile(join(site, ...path.split('/')));
    added[index]?.push({
      path: `${SITE_DIR}/${path}`,
      size: content.length,
      executable: false,
      source: { kind: 'generated', content },
    });
  }
  return Promise.all(
    packed.map(async (pkg, index) => {
      const extra = added[index] ?? [];
      const grown = {
        ...pkg,
        files: [...pkg.files, ...extra].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      };
      return writeRecord(
        withUpdatedRecord(
          grown,
          extra.map((file) => ({
            path: file.path,
            content: file.source.kind === 'generated' ? file.source.content : Buffer.alloc(0),
          })),
          SITE_DIR,
        ),
        treeDir,
      );
    }),
  );
}

/** Write a package's (regenerated) RECORD into the tree, so verification and smoke import see what ships. */
async function writeRecord(pkg: InstalledPackage, treeDir: string): Promise<InstalledPackage> {
  const record = pkg.files.find((file) => file.path === `${SITE_DIR}/${pkg.distInfo}/RECORD`);
  if (record?.source.kind === 'generated')
    await writeFile(join(treeDir, ...record.path.split('/')), record.source.content);
  return { ...pkg, slimmedBytes: pkg.files.reduce((sum, file) => sum + file.size, 0) };
}

/** The strip tool for the target's machine on this host. */
function stripTool(lock: Lock): string {
  const machine = wheelMachine(lock.target.architecture);
  const host = process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch;
  return machine === host ? 'strip' : `${machine}-linux-gnu-strip`;
}

/**
 * Strip symbols from the packages' extension modules (never the auditwheel `*.libs` folders,
 * whose libraries break when stripped: serverless-python-requirements#318). Refused without an
 * interpreter of the target, because the smoke import is what proves the stripped files load.
 */
async function stripExtensionModules(
  packed: readonly InstalledPackage[],
  treeDir: string,
  lock: Lock,
  pythonExecutable: string | undefined,
): Promise<{ packages: InstalledPackage[]; files: number; failures: string[] } | string> {
  const { findTargetInterpreter } = await import('../verify/smoke-import.ts');
  const interpreter = await findTargetInterpreter(lock.target, pythonExecutable ?? null);
  if ('reason' in interpreter)
    return `nothing could check that stripped files still load (${interpreter.reason})`;
  const tool = stripTool(lock);
  const limit = pLimit(4);
  let count = 0;
  const failures: string[] = [];
  const packages = await Promise.all(
    packed.map(async (pkg) => {
      const files = await Promise.all(
        pkg.files.map((file) =>
          limit(async () => {
            const [site, top = ''] = file.path.split('/');
            if (site !== SITE_DIR || top.endsWith('.libs') || !/\.so(\.|$)/.test(file.path)) return file;
            const path = join(treeDir, ...file.path.split('/'));
            const strippedPath = `${path}.stripped`;
            try {
              await execFileAsync(tool, ['--strip-unneeded', '-o', strippedPath, path], { timeout: 120_000 });
            } catch (error) {
              // Not an ELF file strip understands (the verifier reports those), or no strip for this machine: keep it.
              failures.push(`${file.path} (${(error as Error).message.split('\n')[0]})`);
              await rm(strippedPath, { force: true });
              return file;
            }
            const content = await readFile(strippedPath);
            await rm(strippedPath, { force: true });
            if (content.length >= file.size) return file;
            await writeFile(path, content, { mode: file.executable ? 0o755 : 0o644 });
            count++;
            return { ...file, size: content.length, source: { kind: 'generated' as const, content } };
          }),
        ),
      );
      const changed = files.filter((file, position) => file !== pkg.files[position]);
      return writeRecord(
        withUpdatedRecord(
          { ...pkg, files },
          changed.map((file) => ({
            path: file.path,
            content: file.source.kind === 'generated' ? file.source.content : Buffer.alloc(0),
          })),
          SITE_DIR,
        ),
        treeDir,
      );
    }),
  );
  return { packages, files: count, failures };
}

/**
 * A RAM-backed folder (/dev/shm) for the installed tree when it has room for twice the set:
 * the tree holds thousands of small files that only live for the build, and creating them is
 * what a disk does slowest. null (use the cache's disk) when there is no such folder or room.
 */
async function fastScratchDir(lock: Lock): Promise<string | null> {
  const candidate = '/dev/shm';
  const info = await statfs(candidate).catch(() => null);
  if (!info) return null;
  const needed =
    lock.packages.reduce((sum, entry) => sum + Math.max(entry.unzippedSize, entry.size * 4), 0) * 2;
  return info.bavail * info.bsize > needed ? candidate : null;
}

/** sha256 (hex) of a file, for tests and the CLI. */
export const fileSha256 = sha256OfFile;
