// The first half of a build: every locked file downloaded (parallel, through the index's
// sha256-checked cache) and installed into the tree; an sdist is built into a wheel first,
// and only when the policy allows it (or in CodeBuild).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import type { DeliveryPolicy } from '../route/delivery-policy.ts';
import { InputError, IntegrityError } from '../shared/errors.ts';
import { sha256OfFile } from '../shared/hash.ts';
import type { DistributionFile, Lock, LockedPackage, PackageIndex } from '../shared/types.ts';
import type { BuildContext } from './build-events.ts';
import { isRuntimeProvided, type SlimPolicy } from './slim-policy.ts';
import { RUNTIME_DIR, SITE_DIR } from './tree-files.ts';
import { installWheel, type InstalledPackage, type TreeClaims } from './wheel-installer.ts';

const execFileAsync = promisify(execFile);

export interface InstalledEntry {
  readonly result: InstalledPackage;
  /** Installed under RUNTIME_DIR: seen by the smoke import, never packed. */
  readonly runtimeProvided: boolean;
}

export interface InstallSetOptions {
  readonly lock: Lock;
  readonly index: Pick<PackageIndex, 'download'>;
  readonly policy: DeliveryPolicy;
  readonly slim: SlimPolicy;
  readonly treeDir: string;
  /** For sdist builds. */
  readonly scratch: string;
  readonly interpreter: string;
  readonly pythonExecutable?: string;
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

/** Sdists are refused unless the policy allows building them here, or this is CodeBuild (Amazon Linux). */
export function assertSdistsAllowed(lock: Lock, policy: DeliveryPolicy): void {
  const allowed =
    policy.allowLocalSdistBuild ||
    (process.env.CODEBUILD_BUILD_ID !== undefined && process.env.CODEBUILD_LOCAL_RUNNER === undefined);
  if (allowed) return;
  for (const locked of lock.packages) {
    if (locked.filename.endsWith('.whl')) continue;
    throw new InputError(
      `${locked.name} ${locked.version} has only a source distribution (${locked.filename}).`,
      {
        packageName: locked.name,
        hint: 'Building it here gives a wheel for THIS machine, valid only if it matches the target (OS, glibc, CPU, Python). Pass --allow-local-sdist-build to accept that, or build in CodeBuild (Amazon Linux), or pin a version with wheels.',
      },
    );
  }
}

/** Build an sdist into a wheel with pip on this machine; the result fits this machine only. */
async function buildSdist(
  sdistPath: string,
  python: string,
  scratch: string,
  locked: LockedPackage,
): Promise<string> {
  const wheelDir = await mkdtemp(join(scratch, 'sdist-'));
  try {
    await execFileAsync(
      python,
      ['-m', 'pip', 'wheel', '--no-deps', '--no-cache-dir', '--wheel-dir', wheelDir, sdistPath],
      { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60 * 1000 },
    );
  } catch (error) {
    throw new InputError(`${locked.name} ${locked.version}: building its sdist with pip wheel failed.`, {
      packageName: locked.name,
      hint: `Run "${python} -m pip wheel --no-deps ${basename(sdistPath)}" to see why; the build needs its compilers and headers.`,
      cause: error,
    });
  }
  const built = (await readdir(wheelDir)).filter((name) => name.endsWith('.whl'));
  if (built.length !== 1 || !built[0])
    throw new InputError(`${locked.name}: pip wheel made ${built.length} wheels from its sdist.`, {
      packageName: locked.name,
    });
  return join(wheelDir, built[0]);
}

/** The wheel to install for a locked file: itself, or the wheel built from its (sha256-checked) sdist. */
async function wheelFor(
  path: string,
  locked: LockedPackage,
  options: InstallSetOptions,
  context: BuildContext,
): Promise<{ wheelPath: string; wheelLock: LockedPackage }> {
  if (locked.filename.endsWith('.whl')) return { wheelPath: path, wheelLock: locked };
  const actual = await sha256OfFile(path);
  if (actual !== locked.sha256) {
    throw new IntegrityError(`${locked.filename}: sha256 is ${actual}, the lock says ${locked.sha256}.`, {
      packageName: locked.name,
      hint: 'Measure again.',
    });
  }
  context.warn(
    `${locked.name}: built from its sdist on this machine; the result is valid only where this machine matches the target.`,
  );
  const python = options.pythonExecutable ?? `python${options.lock.target.pythonVersion}`;
  const wheelPath = await buildSdist(path, python, options.scratch, locked);
  return {
    wheelPath,
    wheelLock: { ...locked, filename: basename(wheelPath), sha256: await sha256OfFile(wheelPath) },
  };
}

/** Download (parallel; the index's cache makes the second time free), then install every package into the tree. */
export async function installSet(
  options: InstallSetOptions,
  context: BuildContext,
): Promise<InstalledEntry[]> {
  const { lock } = options;
  const downloadLimit = pLimit(8);
  const paths = await context.phase('download', () =>
    Promise.all(
      lock.packages.map((locked) =>
        downloadLimit(async () => {
          const path = await options.index.download(distributionFileOf(locked));
          context.emit({ type: 'package', name: locked.name, step: 'downloaded' });
          return path;
        }),
      ),
    ),
  );
  const installLimit = pLimit(4);
  // Which package wrote each path: two distributions claiming one path with other bytes is an error.
  const claims: TreeClaims = new Map();
  return context.phase('install', () =>
    Promise.all(
      lock.packages.map((locked, position) =>
        installLimit(async () => {
          const { wheelPath, wheelLock } = await wheelFor(paths[position] ?? '', locked, options, context);
          const runtimeProvided = options.policy.excludeRuntimeProvided && isRuntimeProvided(locked.name);
          const result = await installWheel({
            wheelPath,
            locked: wheelLock,
            treeDir: runtimeProvided ? join(options.treeDir, RUNTIME_DIR) : options.treeDir,
            siteDir: SITE_DIR,
            interpreter: options.interpreter,
            slim: options.slim,
            claims,
          });
          context.emit({ type: 'package', name: locked.name, step: 'installed' });
          return { result, runtimeProvided };
        }),
      ),
    ),
  );
}
