// The build engine: a lock and a delivery policy in, Lambda-ready artifacts and `manifest.json`
// out. The steps, each in its own file of this folder:
//   install-set.ts     download the locked files (parallel, sha256-checked) and install them
//   post-process.ts    precompile / strip, when the policy asks
//   route/             chooseRoute on the slimmed sizes (the same rule Measure uses)
//   verify/            ELF checks and the smoke import, while packing runs
//   pack-artifacts.ts  layer zips (raw copy from the wheels), an EFS tree tar or an OCI layout
//   build-manifest.ts  the manifest
// Everything is cached by content (build-cache.ts): the same lock and policy never build twice;
// a rebuild copies (or reflinks) the checked cached artifacts into the output folder.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { lockHash } from '../resolve/lock.ts';
import { chooseRoute, isPublishable, type Route } from '../route/choose-route.ts';
import { LayerZipCache } from '../pack/layer-zip-cache.ts';
import { keepLayerFrom, keptLayersRoot } from '../pack/kept-layers.ts';
import { canonicalizeName } from '../shared/names.ts';
import {
  artifactKeyOf,
  parseDeliveryPolicy,
  type DeliveryPolicy,
  type DeliveryPolicyInput,
} from '../route/delivery-policy.ts';
import type { BuildManifest, Lock, PackageIndex } from '../shared/types.ts';
import { sha256Hex } from '../shared/hash.ts';
import { createBuildContext, type BuildContext, type BuildEvent } from './build-events.ts';
import { assembleManifest, warnAboutRuntimeProvided } from './build-manifest.ts';
import { evictInstalledTrees } from './installed-tree-cache.ts';
import { installSet, type InstalledEntry } from './install-set.ts';
import { knownInspections, readLockedInspections } from './known-inspections.ts';
import type { InspectionMemo } from '../verify/inspection-memo.ts';
import { NO_ARTIFACTS, packArtifacts, type LayerZipReuse, type PackedArtifacts } from './pack-artifacts.ts';
import { LAMBDA_TASK_ROOT } from '../deliver/oci/image-layout.ts';
import { postProcess } from './post-process.ts';
import { DEFAULT_SLIM_POLICY, NO_SLIM_POLICY, slimPolicyKey, type SlimPolicy } from './slim-policy.ts';
import {
  checkPackedMatchesDigests,
  imageDigests,
  writtenImageDigests,
  tarDigests,
  treeDigests,
  zipDigests,
} from '../pack/packed-tree-check.ts';
import type { LayerDigests } from '../pack/packed-tree-check.ts';
import { deliverOutputs } from '../pack/output-folder.ts';
import { atInterrupt } from '../shared/interrupt-cleanup.ts';
import { evictBuilds, readCachedBuild, storeInCache } from './build-cache.ts';
import { fastScratchDir, RUNTIME_DIR, SITE_DIR } from './tree-files.ts';
import { lambdaInterpreter, type InstalledPackage } from './wheel-installer.ts';
import { removeTree, removeTreeDetached } from '../shared/remove-tree.ts';
import { TreeLedger } from '../shared/tree-ledger.ts';
import { sharedBlobCopier } from './blob-copier.ts';
import type { SandboxIsolation } from '../verify/sandbox.ts';
import type { SmokeImportOptions } from '../verify/smoke-import.ts';
import { interpreterFactsFolder } from '../verify/interpreter-facts-cache.ts';

export type { BuildEvent, BuildPhase } from './build-events.ts';
export { fileSha256 } from './tree-files.ts';

/** Bumped when the artifacts' format changes, so old cache entries are not reused. */
export const BUILD_FORMAT_VERSION = 4;

export interface BuildDependencySetOptions {
  readonly lock: Lock;
  /** Where the locked files come from (sha256-verified, cached). */
  readonly index: Pick<PackageIndex, 'download'>;
  /** Receives manifest.json and the artifacts (created; existing artifacts of an earlier build are replaced). */
  readonly outDir: string;
  /** Every build choice (route/delivery-policy.ts); absent fields take their defaults. */
  readonly policy?: DeliveryPolicyInput;
  /** Content-addressed cache of whole builds (and scratch space for the tree). */
  readonly cacheDir: string;
  /** Interpreter of the target's Python for smoke import and sdist builds; found on PATH when absent. */
  readonly pythonExecutable?: string;
  /** Shebang interpreter for scripts. @default `/var/lang/bin/python3.X` */
  readonly interpreter?: string;
  /** Where the installed tree (scratch, removed after the build) goes. @default /dev/shm when it has room, else beside the cache */
  readonly treeScratchDir?: string;
  /**
   * Keep each layer zip's files unpacked in the cache as its digests are taken
   * (core/pack/kept-layers.ts), for the local probe that reads the same cache (with caching on).
   */
  readonly keepUnpackedLayers?: boolean;
  /**
   * Deliver into `outDir` by hard links to the cache's files instead of copies: only for an
   * `outDir` that nothing writes or edits (the build step's, handed to the store). @default false
   */
  readonly linkOutputs?: boolean;
  /** How much of the cache's biggest folders is kept. @default KEPT_BUILDS builds, KEPT_INSTALLED_BYTES of installed wheels */
  readonly cacheBounds?: { readonly builds?: number; readonly installedBytes?: number };
  readonly onEvent?: (event: BuildEvent) => void;
}

/** The slimming rules and switches a policy stands for. */
export function slimPolicyOf(policy: DeliveryPolicy): SlimPolicy {
  return {
    ...(policy.slim ? DEFAULT_SLIM_POLICY : NO_SLIM_POLICY),
    precompile: policy.precompile,
    stripSymbols: policy.stripSymbols,
    excludeRuntimeProvided: policy.excludeRuntimeProvided,
  };
}

/** The cache key of a build: the artifact key (lock and policy), the rules' text, the format and the shebang. */
export function buildCacheKey(lock: Lock, policy: DeliveryPolicy, interpreter?: string): string {
  return sha256Hex(
    JSON.stringify({
      format: BUILD_FORMAT_VERSION,
      artifacts: artifactKeyOf(lockHash(lock), policy),
      slim: slimPolicyKey(slimPolicyOf(policy)),
      interpreter: interpreter ?? lambdaInterpreter(lock.target.pythonVersion),
    }),
  );
}

/** The scratch folders of one build, and `releaseTree` to remove the tree as soon as nothing reads it. */
interface ScratchFolders {
  readonly scratch: string;
  readonly staging: string;
  readonly treeDir: string;
  /** Start removing the tree now (by another process, which may outlive this one): nothing reads it again. */
  readonly releaseTree: () => void;
}

/** The scratch folders of one build (the cache's disk for staging, RAM for the tree when it fits), always removed. */
async function withScratch<T>(
  options: BuildDependencySetOptions,
  run: (folders: ScratchFolders) => Promise<T>,
): Promise<T> {
  await mkdir(join(options.cacheDir, 'builds'), { recursive: true });
  const scratch = await mkdtemp(join(options.cacheDir, 'builds', `.work-${randomUUID().slice(0, 8)}-`));
  const treeRoot = await mkdtemp(
    join(options.treeScratchDir ?? (await fastScratchDir(options.lock)) ?? scratch, 'lambda-deps-tree-'),
  );
  // Ctrl-C must not leave the tree in /dev/shm (hundreds of MB) or the scratch behind.
  const forgetScratch = atInterrupt(() =>
    Promise.all([
      rm(treeRoot, { recursive: true, force: true }),
      rm(scratch, { recursive: true, force: true }),
    ]),
  );
  let treeRemoved: Promise<void> | null = null;
  const releaseTree = (): void => {
    if (treeRemoved) return;
    treeRemoved = removeTreeDetached(treeRoot);
    // (A failure is the finally's to throw, not an unhandled rejection before it.)
    treeRemoved.catch(() => undefined);
  };
  try {
    const staging = join(scratch, 'out');
    await mkdir(staging, { recursive: true });
    return await run({ scratch, staging, treeDir: join(treeRoot, 'tree'), releaseTree });
  } finally {
    forgetScratch();
    releaseTree();
    await Promise.all([treeRemoved, removeTree(scratch)]);
  }
}

/** The route for the packed (slimmed) packages: the same rule Measure applies to the wheels. */
function routeOf(packed: readonly InstalledPackage[], policy: DeliveryPolicy, lock: Lock): Route {
  const route = chooseRoute(
    packed.map((pkg) => ({ name: pkg.name, bytes: pkg.slimmedBytes })),
    policy,
    lock.target,
  );
  return { ...route, reason: `${route.reason} (after slimming)` };
}

/** The cache of layer zips, and each wheel's sha256 (which names the bytes a zip copies from it). */
function layerZipReuse(lock: Lock, cacheDir: string): LayerZipReuse {
  const wheelSha256 = new Map(lock.packages.map((locked) => [canonicalizeName(locked.name), locked.sha256]));
  return { cache: new LayerZipCache(join(cacheDir, 'layer-zips')), wheelSha256 };
}

/** Keep each layer zip written now (it passed the tree check) for the next build of the same layer. */
async function keepWrittenZips(
  cache: LayerZipCache,
  packed: PackedArtifacts,
  digests: LayerDigests | undefined,
  staging: string,
): Promise<void> {
  for (const layer of packed.layers) {
    const key = packed.zipKeys?.get(layer.file);
    const ofZip = digests?.perZip?.get(join(staging, layer.file));
    if (!key || !ofZip || packed.reusedZips?.has(layer.file)) continue;
    await cache.keep(key, join(staging, layer.file), { ...layer, digests: ofZip });
  }
  await cache.evict();
}

/**
 * Keep each layer for the local probe (core/pack/kept-layers.ts): its files listed, its dist-info
 * files copied from the tree and hashed on the way (unless `ledger` still vouches for a file). A
 * layer is kept only when those are what its zip unzips to, so this need not wait for the smoke
 * import and the tree check (it runs while they do). Failing to keep is not the build's failure.
 */
async function keepLayersUnpacked(
  root: string,
  packed: PackedArtifacts,
  treeDir: string,
  ledger: TreeLedger | null,
): Promise<void> {
  // The ledger vouches for the files the installs wrote while nothing else can write the tree.
  const known = ledger ? (path: string) => ledger.sha256Of(path) : undefined;
  for (const layer of packed.layers) {
    const files = packed.zipFiles?.get(layer.file);
    if (!files) continue;
    // Only the dist-info files' bytes: all a probe reads from a layer it need not unpack.
    const options = { hashed: true, only: isDistInfoFile, ...(known ? { known } : {}) };
    await keepLayerFrom(root, { zipSha256: layer.sha256, files }, treeDir, options).catch(() => undefined);
  }
  if (packed.imageLayer) await keepImageLayer(root, packed.imageLayer, treeDir, known);
}

/**
 * The image's layer kept as a layer zip is (by its blob's sha256): listed, with its dist-info
 * files' bytes, so that a local probe whose every module the smoke import stands for unpacks
 * nothing (torch's 12,248 files: 2.8 s in RAM here). Its files sit under the install prefix.
 */
async function keepImageLayer(
  root: string,
  layer: NonNullable<PackedArtifacts['imageLayer']>,
  treeDir: string,
  known: ((path: string) => string | null) | undefined,
): Promise<void> {
  const prefix = `${LAMBDA_TASK_ROOT.slice(1)}/`;
  const sourceOf = (path: string): string =>
    join(treeDir, SITE_DIR, ...(path.startsWith(prefix) ? path.slice(prefix.length) : path).split('/'));
  const only = isDistInfoFileBelow(prefix);
  const options = { hashed: true, only, sourceOf, ...(known ? { known } : {}) };
  await keepLayerFrom(root, { zipSha256: layer.sha256, files: layer.files }, treeDir, options).catch(
    () => undefined,
  );
}

/** `<site>/<name>.dist-info/…` (`site` ending in `/`): a distribution's metadata, RECORD included. */
function isDistInfoFileBelow(site: string): (path: string) => boolean {
  return (path) => {
    if (!path.startsWith(site)) return false;
    const [folder = '', ...rest] = path.slice(site.length).split('/');
    return folder.endsWith('.dist-info') && rest.length > 0;
  };
}

/** `python/<name>.dist-info/…`: in a layer zip. */
const isDistInfoFile = isDistInfoFileBelow(`${SITE_DIR}/`);

/** The part of the tree an artifact of the strategy holds: layers hold python/ (and bin/), the others the site folder. */
function shippedPartOfTree(
  strategy: Route['strategy'],
  treeDir: string,
): { root: string; exclude: string[] } {
  return strategy === 'layers'
    ? { root: treeDir, exclude: [RUNTIME_DIR] }
    : { root: join(treeDir, SITE_DIR), exclude: [] };
}

/** The digests of whatever was packed (layer zips, the EFS tar or the image's layers), by tree path. */
async function packedDigests(
  artifacts: PackedArtifacts,
  staging: string,
): Promise<{ digests: LayerDigests; what: 'layers' | 'EFS tree' | 'image' } | null> {
  if (artifacts.layers.length > 0) {
    const zips = artifacts.layers.map((layer) => join(staging, layer.file));
    // A zip written now unzips to what its files were packed from (pack-artifacts.ts); one copied
    // from the cache brings the digests it was checked by when it was written.
    const known = new Map<string, ReadonlyMap<string, string>>();
    for (const [file, files] of artifacts.zipFiles ?? [])
      known.set(join(staging, file), new Map(files.map((packed) => [packed.path, packed.sha256])));
    for (const [file, kept] of artifacts.reusedZips ?? []) known.set(join(staging, file), kept.digests);
    return { digests: await zipDigests(zips, known), what: 'layers' };
  }
  // The EFS tree and the image hold the site folder alone (no bin/ scripts): named from its root.
  if (artifacts.efs) {
    const placement = { prefix: artifacts.efs.pythonPath, treePrefix: '' };
    return { digests: await tarDigests(join(staging, artifacts.efs.tree), placement), what: 'EFS tree' };
  }
  if (artifacts.image) {
    const layout = join(staging, artifacts.image.layout);
    // The layer just written unpacks to what was hashed as it went in (packed-tree-check.ts).
    if (artifacts.imageFiles)
      return { digests: await writtenImageDigests(layout, artifacts.imageFiles), what: 'image' };
    const placement = { prefix: LAMBDA_TASK_ROOT.slice(1), treePrefix: '' };
    return { digests: await imageDigests(layout, placement), what: 'image' };
  }
  return null;
}

/** What the checks and the packing of a build are given. */
interface CheckInput {
  lock: Lock;
  packed: InstalledPackage[];
  excluded: boolean;
  route: Route;
  treeDir: string;
  staging: string;
  /** Whether earlier builds' work may be reused (the policy's cache switch). */
  reuse: boolean;
  /** What the installs wrote into the tree; null when something rewrote it since (post-processing). */
  ledger: TreeLedger | null;
  /** The smoke import's interpreter, looked for while the installs ran. */
  interpreterFound: NonNullable<SmokeImportOptions['interpreterFound']>;
  /** The lock's inspection memos, read while the installs ran (null: the cache is off). */
  inspections: Promise<InspectionMemo> | null;
}

/** The smoke import's options: only the artifact (and, when excluded, the runtime's own packages). */
function smokeImportOptions(input: CheckInput, options: BuildDependencySetOptions, context: BuildContext) {
  return {
    roots: [
      join(input.treeDir, SITE_DIR),
      ...(input.excluded ? [join(input.treeDir, RUNTIME_DIR, SITE_DIR)] : []),
    ],
    target: input.lock.target,
    ...(options.pythonExecutable ? { pythonExecutable: options.pythonExecutable } : {}),
    // Modules whose earlier import saw exactly these files are not imported again (--no-cache: none).
    ...(input.reuse ? { footprints: join(options.cacheDir, 'import-footprints') } : {}),
    interpreterFound: input.interpreterFound,
    onProgress: (modules: number, ofModules: number) => context.count('smokeImport', { modules, ofModules }),
  };
}

/**
 * Where interpreters' facts from earlier runs are kept: with the cache on, they stand for
 * starting an interpreter again while they still hold (--no-cache: every process asks).
 */
function interpreterFactsDir(policy: DeliveryPolicy, options: BuildDependencySetOptions): string | undefined {
  return policy.cache ? interpreterFactsFolder(options.cacheDir) : undefined;
}

/**
 * The smoke import's interpreter, looked for while the installs run, and (`trial`, never
 * rejecting) the trial of its cell. A failure to look is the smoke import's to report, never
 * unhandled here.
 */
function findInterpreterEarly(
  lock: Lock,
  policy: DeliveryPolicy,
  options: BuildDependencySetOptions,
): { found: NonNullable<SmokeImportOptions['interpreterFound']>; trial: Promise<void> } {
  const factsCacheDir = interpreterFactsDir(policy, options);
  const started = import('../verify/smoke-import.ts').then(({ findTargetInterpreterEarly }) =>
    findTargetInterpreterEarly(lock.target, options.pythonExecutable, { factsCacheDir }),
  );
  const found = started.then((early) => early.found);
  found.catch(() => undefined);
  return { found, trial: started.then((early) => early.cellTried).catch(() => undefined) };
}

/** Smoke import, then (once its imports start) verify and pack: each only reads the tree. */
async function startChecks(
  input: CheckInput,
  options: BuildDependencySetOptions,
  context: BuildContext,
  ledgerChecked: Promise<void>,
) {
  const [{ verifyArtifact }, { smokeImport }] = await Promise.all([
    import('../verify/artifact-verifier.ts'),
    import('../verify/smoke-import.ts'),
  ]);
  const { lock, treeDir } = input;
  // The smoke import goes first: the others' reads and writes hold libuv's pool, and its setup
  // (reading every distribution's metadata, the footprints) waited behind them for up to half a
  // second. Its imports then run while the others do.
  let importsStarting = (_isolation: SandboxIsolation): void => undefined;
  const started = new Promise<SandboxIsolation>((resolve) => (importsStarting = resolve));
  const smoking = context.phase('smokeImport', () =>
    smokeImport({ ...smokeImportOptions(input, options, context), onImportsStarting: importsStarting }),
  );
  // Whether package code can write the tree: not when its cell sees it read-only, or runs none.
  const treeStaysRead = Promise.race([
    started.then((isolation) => isolation.filesystem),
    smoking.then((smoke) => !smoke.ran || smoke.isolation?.filesystem === true).catch(() => false),
  ]);
  await Promise.race([started, smoking.catch(() => undefined)]);
  // Packing needs nothing verify reads first (the inspection memos: 30-70 ms of parsing).
  const reuse = input.reuse ? layerZipReuse(lock, options.cacheDir) : null;
  const packing = context.phase('pack', () =>
    packArtifacts({
      reuse,
      strategy: input.route.strategy,
      plan: input.route.plan,
      packed: input.packed,
      treeDir,
      staging: input.staging,
      lock,
      warn: context.warn,
    }),
  );
  // (Its failure is checkAndPack's to report: not an unhandled rejection while the memos are read.)
  packing.catch(() => undefined);
  const owner = new Map<string, string>();
  for (const pkg of input.packed) for (const file of pkg.files) owner.set(file.path, pkg.name);
  // With the cache on and nothing but the installs writing the tree, files the ledger vouches
  // for are known by an earlier build's inspection of the same bytes.
  const { ledger } = input;
  // (The smoke import and the packing start meanwhile: the ledger's answers come off the main thread.)
  const [memo] = await Promise.all([input.reuse && ledger ? input.inspections : null, ledgerChecked]);
  const known =
    memo && ledger
      ? knownInspections({ cacheDir: options.cacheDir, treeDir, packed: input.packed, ledger, memo })
      : null;
  const verifying = context.phase('verify', async () => {
    const verification = await verifyArtifact({
      root: treeDir,
      target: lock.target,
      pythonRoots: [SITE_DIR],
      packageOf: (path) => owner.get(path) ?? null,
      ...(known ? { knownInspection: known.knownInspection, onInspected: known.onInspected } : {}),
    });
    await known?.keep();
    return verification;
  });
  return { verifying, smoking, packing, treeStaysRead, zipCache: reuse?.cache ?? null };
}

/** Verify, smoke-import and pack at once; what fails the checks is thrown away, never published. */
async function checkAndPack(input: CheckInput, options: BuildDependencySetOptions, context: BuildContext) {
  // From here the tree is only read (package code runs in a cell that sees it read-only, or the
  // tree is hashed again in full below).
  input.ledger?.seal();
  // Every file the installs wrote is checked once more, on the copier's workers, before the
  // verifier and the tree's digests ask (a failure only leaves each file to be asked about alone).
  const ledgerChecked = input.ledger
    ? input.ledger.checkAll((paths) => sharedBlobCopier.identities(paths)).catch(() => undefined)
    : Promise.resolve();
  const { verifying, smoking, packing, treeStaysRead, zipCache } = await startChecks(
    input,
    options,
    context,
    ledgerChecked,
  );
  // The artifacts never change once written: their digests are taken while the smoke import runs.
  const layerDigests = packing.then((artifacts) => packedDigests(artifacts, input.staging));
  // So is the tree's, for when the smoke import's cell could not write it (below).
  const shipped = shippedPartOfTree(input.route.strategy, input.treeDir);
  const treeWhileChecking = ledgerChecked.then(() =>
    treeDigests(shipped.root, shipped.exclude, input.ledger),
  );
  // The local probe's unpacked layers, copied while the smoke import runs (after the tree's hash,
  // which the check waits for).
  const keepRoot = input.reuse && options.keepUnpackedLayers ? keptLayersRoot(options.cacheDir) : null;
  const keeping = keepRoot
    ? Promise.all([packing, treeWhileChecking, treeStaysRead]).then(([packed, , stayedRead]) =>
        keepLayersUnpacked(keepRoot, packed, input.treeDir, stayedRead ? input.ledger : null),
      )
    : null;
  // allSettled: the tree is removed once the build leaves, so nothing may still be running.
  const settled = await Promise.allSettled([
    verifying,
    smoking,
    packing,
    layerDigests,
    treeWhileChecking,
    keeping,
  ]);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  const [verification, smoke, packed, digests] = [
    await verifying,
    await smoking,
    await packing,
    await layerDigests,
  ];
  // What ships must be what was verified and imported, byte for byte. Verify and pack only read
  // the tree; package code ran in a cell that saw it read-only, or else the tree is read again now.
  const tree = (await treeStaysRead)
    ? await treeWhileChecking
    : await treeDigests(shipped.root, shipped.exclude);
  if (digests) checkPackedMatchesDigests(tree, digests.digests, digests.what);
  if (zipCache && isPublishable({ verification, smokeImport: smoke }))
    await keepWrittenZips(zipCache, packed, digests?.digests, input.staging);
  for (const finding of verification.warnings)
    context.warn(`${finding.package ?? '?'} ${finding.file ?? ''}: ${finding.message}`);
  let artifacts: PackedArtifacts = packed;
  if (!isPublishable({ verification, smokeImport: smoke })) {
    for (const name of ['layers', 'efs', 'image'])
      await rm(join(input.staging, name), { recursive: true, force: true });
    artifacts = { ...NO_ARTIFACTS, layerOf: new Map() };
  }
  return { verification, smoke, artifacts };
}

/**
 * Build a locked set into artifacts under `outDir` and write `outDir/manifest.json`.
 * Nothing is marked ok when verification or smoke import fails (`verification.ok`, `smokeImport.ok`).
 * @example
 *   const manifest = await buildDependencySet({ lock, index, outDir: 'out', policy: { forceStrategy: 'layers' }, cacheDir: '.cache' });
 */
export async function buildDependencySet(options: BuildDependencySetOptions): Promise<BuildManifest> {
  const started = performance.now();
  const { lock, outDir } = options;
  const policy = parseDeliveryPolicy(options.policy ?? {});
  const context = createBuildContext(options.onEvent);
  const slim = slimPolicyOf(policy);
  const interpreter = options.interpreter ?? lambdaInterpreter(lock.target.pythonVersion);
  const key = buildCacheKey(lock, policy, interpreter);
  const cached = join(options.cacheDir, 'builds', key);
  await mkdir(outDir, { recursive: true });
  if (policy.cache) {
    const hit = await readCachedBuild(cached, context.warn);
    if (hit !== null) {
      await deliverOutputs(cached, outDir, { link: options.linkOutputs === true });
      context.emit({ type: 'cache-hit', key, from: cached });
      return hit;
    }
  }
  return withScratch(options, async (folders) => {
    // The per-wheel cache is written while the checks run (they only read the tree); stripping
    // rewrites installed files, so then each install waits for its entry.
    const cacheWrites: Promise<void>[] = [];
    // Asked while the installs run (a fresh interpreter takes a noticeable moment to answer).
    const early = findInterpreterEarly(lock, policy, options);
    try {
      return await buildInScratch(folders, early.found, slim.stripSymbols ? null : cacheWrites);
    } finally {
      // (The trial cell is removed by then, also when the build ended before its smoke import.)
      await Promise.all([...cacheWrites, early.trial]);
      await evictInstalledTrees(join(options.cacheDir, 'installed'), options.cacheBounds?.installedBytes);
    }
  });

  async function buildInScratch(
    { scratch, staging, treeDir, releaseTree }: ScratchFolders,
    interpreterFound: NonNullable<SmokeImportOptions['interpreterFound']>,
    cacheWrites: Promise<void>[] | null,
  ): Promise<BuildManifest> {
    const ledger = new TreeLedger();
    const inspections = policy.cache ? readLockedInspections(options.cacheDir, lock) : null;
    // (A failure is the checks' to report, not an unhandled rejection during the installs.)
    inspections?.catch(() => undefined);
    const installed: InstalledEntry[] = await installSet(
      {
        ledger,
        lock,
        index: options.index,
        // Beside the tree, on its filesystem: a staged entry is linked into it (wheel-installer.ts).
        stagingDir: join(dirname(treeDir), 'install-staging'),
        policy,
        slim,
        treeDir,
        scratch,
        interpreter,
        cacheDir: options.cacheDir,
        ...(options.pythonExecutable ? { pythonExecutable: options.pythonExecutable } : {}),
        ...(cacheWrites ? { deferCacheWrites: (write: Promise<void>) => void cacheWrites.push(write) } : {}),
      },
      context,
    );
    const unpacked = installed.filter((entry) => !entry.runtimeProvided).map((entry) => entry.result);
    const packed = await postProcess(
      unpacked,
      slim,
      treeDir,
      lock,
      {
        pythonExecutable: options.pythonExecutable,
        factsCacheDir: interpreterFactsDir(policy, options),
      },
      context,
    );
    const route = routeOf(packed, policy, lock);
    const excluded = installed.some((entry) => entry.runtimeProvided);
    const checked = await checkAndPack(
      {
        lock,
        packed,
        excluded,
        route,
        treeDir,
        staging,
        reuse: policy.cache,
        // Post-processing rewrites files in place: the tree is hashed in full then.
        ledger: slim.precompile || slim.stripSymbols ? null : ledger,
        interpreterFound,
        inspections,
      },
      options,
      context,
    );
    // Written while the checks ran; awaited before the manifest so that their warnings are in it.
    await Promise.all(cacheWrites ?? []);
    // Nothing reads the tree from here: the manifest comes from what was recorded, the rest from staging.
    releaseTree();
    const input = { lock, policy, installed, packed, strategy: route.strategy, route, context, ...checked };
    warnAboutRuntimeProvided(input);
    const manifest = assembleManifest(input, Math.round(performance.now() - started));
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // Only what verified goes into the cache (first writer wins; this run delivers what it built).
    // Each layer zip's digest is the manifest's: hashed as it was written, or the kept zip's it
    // was copied from while that held still (layer-zip-cache.ts). A later hit hashes them all.
    const written = new Map(manifest.layers.map((layer) => [layer.file, layer.sha256]));
    const from = isPublishable(manifest) ? await storeInCache(staging, cached, written) : staging;
    if (from === cached) await evictBuilds(join(options.cacheDir, 'builds'), options.cacheBounds?.builds);
    await deliverOutputs(from, outDir, { link: options.linkOutputs === true });
    return manifest;
  }
}
