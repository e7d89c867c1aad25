// The first half of a build: every locked file downloaded (parallel, through the index's
// sha256-checked cache) and installed into the tree; an sdist is built into a wheel first
// (functions/core/sdist), kept only when it verifies for the target.
import type { TreeLedger } from '../shared/tree-ledger.ts';
import { mkdtemp, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { DeliveryPolicy } from '../route/delivery-policy.ts';
import { readPipConfiguration, resolveIndexOptions } from '../inputs/pip-config.ts';
import { buildSdistForTarget } from '../sdist/sdist-builder.ts';
import { sha256OfFile } from '../shared/hash.ts';
import { recordableIndexes, recordableUrl } from '../shared/redact.ts';
import type {
  BuildIndexes,
  BuiltFromSdist,
  DistributionFile,
  Lock,
  LockedPackage,
  PackageIndex,
} from '../shared/types.ts';
import type { BuildContext } from './build-events.ts';
import { isRuntimeProvided, type SlimPolicy } from './slim-policy.ts';
import { RUNTIME_DIR, SITE_DIR } from './tree-files.ts';
import { installWheelCached, type CachedInstall, type InstalledTreeCache } from './installed-tree-cache.ts';
import {
  installWheel,
  type InstalledPackage,
  type InstallWheelOptions,
  type TreeClaims,
} from './wheel-installer.ts';

export interface InstalledEntry {
  readonly result: InstalledPackage;
  /** Installed under RUNTIME_DIR: seen by the smoke import, never packed. */
  readonly runtimeProvided: boolean;
  /** Set when the wheel was built from the locked sdist. */
  readonly builtFromSdist?: BuiltFromSdist;
}

export interface InstallSetOptions {
  readonly lock: Lock;
  readonly index: Pick<PackageIndex, 'download'>;
  readonly policy: DeliveryPolicy;
  readonly slim: SlimPolicy;
  readonly treeDir: string;
  /** For sdist builds. */
  readonly scratch: string;
  /**
   * Where wheels built from sdists are cached (by sdist sha256, backend, interpreter), and each
   * wheel's installed files (`installed/`, by wheel sha256 and install options; read only when
   * `policy.cache` is on).
   */
  readonly cacheDir?: string;
  readonly interpreter: string;
  readonly pythonExecutable?: string;
  /** Takes the per-wheel cache's writes, for the caller to await before the tree goes (else each install waits). */
  readonly deferCacheWrites?: (write: Promise<void>) => void;
  /** Hears every file the installs write into the tree, with its sha256 (tree-ledger.ts). */
  readonly ledger?: TreeLedger;
  /** A folder on the tree's filesystem, outside it, for entries too big to wait in memory (InstallWheelOptions). */
  readonly stagingDir?: string;
}

export function distributionFileOf(locked: LockedPackage): DistributionFile {
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

/** pip's configured indexes here (with their credentials). */
async function configuredIndexes(): Promise<BuildIndexes> {
  const resolved = resolveIndexOptions({ environment: process.env, config: await readPipConfiguration() });
  const { indexUrl, extraIndexUrls, findLinks } = resolved.options;
  return { indexUrls: [...(indexUrl ? [indexUrl] : []), ...extraIndexUrls], findLinks: [...findLinks] };
}

/**
 * The indexes an sdist's build requirements come from: the ones the set was resolved from (the
 * lock records them without credentials; a configured index with the same address lends its
 * credentials back), or pip's configuration for a lock that records none.
 */
async function buildIndexesFor(lock: Lock): Promise<{ used: BuildIndexes; recorded: BuildIndexes }> {
  const configured = await configuredIndexes();
  if (!lock.buildIndexes) return { used: configured, recorded: recordableIndexes(configured) };
  // Keyed as the lock records them: without userinfo, and with this process's registered secrets masked.
  const withCredentials = new Map(
    [...configured.indexUrls, ...configured.findLinks].map((url) => [recordableUrl(url), url]),
  );
  const lend = (url: string): string => withCredentials.get(url) ?? url;
  const recorded = lock.buildIndexes;
  return {
    used: { indexUrls: recorded.indexUrls.map(lend), findLinks: recorded.findLinks.map(lend) },
    recorded,
  };
}

/**
 * The wheel to install for a locked file: itself, or the wheel built from its sdist as pip would
 * (functions/core/sdist), in the smoke import's cell, kept only if it verifies for the target.
 */
async function wheelFor(
  path: string,
  locked: LockedPackage,
  options: InstallSetOptions,
): Promise<{ wheelPath: string; wheelLock: LockedPackage; builtFromSdist?: BuiltFromSdist }> {
  if (locked.filename.endsWith('.whl')) return { wheelPath: path, wheelLock: locked };
  const { used, recorded } = await buildIndexesFor(options.lock);
  const built = await buildSdistForTarget({
    sdistPath: path,
    sha256: locked.sha256,
    name: locked.name,
    version: locked.version,
    target: options.lock.target,
    ...used,
    outDir: await mkdtemp(join(options.scratch, 'sdist-')),
    cacheDir: options.cacheDir ?? null,
    pythonExecutable: options.pythonExecutable ?? null,
  });
  const { filename: wheel, backend, glibcNeeded, sandboxed } = built;
  return {
    wheelPath: built.wheelPath,
    wheelLock: { ...locked, filename: wheel, sha256: await sha256OfFile(built.wheelPath) },
    builtFromSdist: {
      name: locked.name,
      sdist: locked.filename,
      wheel,
      backend,
      glibcNeeded,
      sandboxed,
      buildIndexes: recorded,
    },
  };
}

/**
 * The per-wheel cache of installed trees, or null. `--no-cache` leaves it alone both ways: a
 * build asked not to trust the cache neither reads it nor pays for copying every wheel into it.
 */
function installedTreeCacheOf(options: InstallSetOptions, context: BuildContext): InstalledTreeCache | null {
  if (!options.cacheDir || !options.policy.cache) return null;
  return {
    dir: join(options.cacheDir, 'installed'),
    warn: context.warn,
    ...(options.deferCacheWrites ? { defer: options.deferCacheWrites } : {}),
  };
}

async function installOne(
  options: InstallWheelOptions,
  cache: InstalledTreeCache | null,
): Promise<CachedInstall> {
  if (cache) return installWheelCached(options, cache);
  return { installed: await installWheel(options), reusedFrom: null };
}

/** Download (parallel; the index's cache makes the second time free), then install every package into the tree. */
export async function installSet(
  options: InstallSetOptions,
  context: BuildContext,
): Promise<InstalledEntry[]> {
  const { lock } = options;
  const downloadLimit = pLimit(8);
  const ofPackages = lock.packages.length;
  let downloaded = 0;
  const paths = await context.phase('download', () =>
    Promise.all(
      lock.packages.map((locked) =>
        downloadLimit(async () => {
          const path = await options.index.download(distributionFileOf(locked));
          context.emit({ type: 'package', name: locked.name, step: 'downloaded' });
          context.count('download', { packages: ++downloaded, ofPackages });
          return path;
        }),
      ),
    ),
  );
  const installLimit = pLimit(4);
  const cache = installedTreeCacheOf(options, context);
  // Which package wrote each path: two distributions claiming one path with other bytes is an error.
  const claims: TreeClaims = new Map();
  // Live totals, counted as each file is written (the tree is never walked again for them).
  const totals = { files: 0, bytes: 0, packages: 0, ofPackages };
  const onFileWritten = (bytes: number): void => {
    totals.files++;
    totals.bytes += bytes;
    context.count('install', { ...totals });
  };
  const installed: InstalledEntry[] = [];
  return context.phase('install', async () => {
    await Promise.all(
      (await largestFirst(paths)).map((position) =>
        installLimit(async () => {
          const locked = lock.packages[position];
          if (!locked) throw new Error(`no locked package at position ${position}`);
          const { wheelPath, wheelLock, builtFromSdist } = await wheelFor(
            paths[position] ?? '',
            locked,
            options,
          );
          const runtimeProvided = options.policy.excludeRuntimeProvided && isRuntimeProvided(locked.name);
          const { installed: result, reusedFrom } = await installOne(
            {
              wheelPath,
              locked: wheelLock,
              treeDir: runtimeProvided ? join(options.treeDir, RUNTIME_DIR) : options.treeDir,
              siteDir: SITE_DIR,
              interpreter: options.interpreter,
              slim: options.slim,
              claims,
              onFileWritten,
              ...(options.ledger ? { ledger: options.ledger } : {}),
              ...(options.stagingDir ? { stagingDir: options.stagingDir } : {}),
            },
            cache,
          );
          context.emit({
            type: 'package',
            name: locked.name,
            step: 'installed',
            ...(reusedFrom ? { reusedFrom } : {}),
          });
          totals.packages++;
          context.count('install', { ...totals });
          installed[position] = { result, runtimeProvided, ...(builtFromSdist ? { builtFromSdist } : {}) };
        }),
      ),
    );
    return installed;
  });
}

/**
 * The positions of `paths`, biggest file first: the installs run four at a time, and a big wheel
 * started last is the install's tail alone (scipy, 36 MB of the seed set's 78, started after
 * eleven others and inflated 0.44 s by itself on a core while the other sat idle).
 */
export async function largestFirst(paths: readonly string[]): Promise<number[]> {
  const sizes = await Promise.all(
    paths.map((path) =>
      stat(path).then(
        (found) => found.size,
        () => 0,
      ),
    ),
  );
  return paths.map((_, position) => position).sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0) || a - b);
}
