// The atomic, versioned dependency tree on a shared file system (EFS, or a local folder):
//
//   <mountRoot>/<setName>/<lockHash>/     complete trees only (a `.complete` marker is written last)
//   <mountRoot>/<setName>/current         symlink -> <lockHash>, switched by rename()
//   <mountRoot>/<setName>/.staging-*      a tree being unpacked (never visible under a version name)
//
// A function imports from `<its mount path>/<setName>/current`. rename() of a directory and of
// a symlink over another are atomic on a local file system and on NFSv4 (EFS), so a reader sees
// either the old tree or the new one, never a half one. A sync killed at any moment leaves only
// dot-folders and temp links behind, which the next sync removes.
import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { InputError, LambdaDepsError } from '../shared/errors.ts';
import { renameCounted } from '../shared/atomic-write.ts';
import { extractTreeTar, type ExtractLimits } from '../pack/tree-archive.ts';

export interface SyncVersionedTreeOptions {
  /** Runs once the version is complete and before `current` points at it; a throw switches nothing. */
  readonly beforeSwitch?: (versionDir: string) => Promise<void>;
  /** Where the file system is mounted for this process (`/mnt/deps` in the sync Lambda, a folder locally). */
  readonly mountRoot: string;
  /** The dependency set's name: one folder per set. */
  readonly setName: string;
  /** The lock's hash: names the version folder. */
  readonly lockHash: string;
  /** The tree as a tar (or tar.gz), made by writeTreeTar. */
  readonly tarPath: string;
  /** Old versions kept besides the current one (for functions still running on them). Default 3. */
  readonly keep?: number;
  /** Where the consuming functions mount the same file system. Default `/mnt/deps`. */
  readonly functionMountPath?: string;
  /** Size limits for unpacking. */
  readonly limits?: Omit<ExtractLimits, 'fsync'>;
  /** Called between steps (tests use it to observe progress). */
  readonly onStep?: (step: SyncStep) => void;
}

export type SyncStep = 'cleaned' | 'extracted' | 'renamed' | 'switched' | 'pruned' | 'reused';

export interface SyncVersionedTreeResult {
  /** `<mountRoot>/<setName>/<lockHash>` */
  readonly versionDir: string;
  /** `<mountRoot>/<setName>/current` */
  readonly currentPath: string;
  /**
   * The PYTHONPATH a function sets: `<functionMountPath>/<setName>/<lockHash>`, the version
   * itself. A warm function keeps importing from the version it started with, so it can never
   * mix two versions' modules after a switch (a path through `current` would let it).
   */
  readonly pythonPath: string;
  /** `<functionMountPath>/<setName>/current`, for readers that accept following each switch. */
  readonly currentPythonPath: string;
  /** Version folders removed by pruning (names). */
  readonly removed: string[];
  /** True when the version was already there, complete, and was only switched to. */
  readonly reused: boolean;
}

/** Another sync of the same set removed this one's staging folder; safe to retry. */
export class ConcurrentSyncError extends LambdaDepsError {
  override name = 'ConcurrentSyncError';
}

/** Written first into a staging folder, so a sync knows the folder it fills is still its own. */
const OWNER_TOKEN = '.staging-owner';
/** The file written last into a complete version folder. */
export const COMPLETE_MARKER = '.complete';
const CURRENT = 'current';
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const FUNCTION_MOUNT_PATH = /^\/mnt\/[a-zA-Z0-9-_.]+$/;

function checkName(kind: string, value: string): void {
  if (!SAFE_NAME.test(value) || value === CURRENT) {
    throw new InputError(`The ${kind} "${value}" cannot name a folder on the file system.`, {
      hint: `Use letters, digits, ".", "_" and "-" (at most 128, not starting with a dot, not "${CURRENT}").`,
    });
  }
}

function suffix(): string {
  return randomBytes(6).toString('hex');
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True when `<setDir>/<name>` is a version folder with its completion marker. */
async function isComplete(versionDir: string): Promise<boolean> {
  return stat(join(versionDir, COMPLETE_MARKER)).then(
    (info) => info.isFile(),
    () => false,
  );
}

/**
 * Remove a folder without it ever being visible half-deleted under its name: rename it aside
 * first (atomic), then delete. Losing the race to another remover is fine.
 */
async function removeAside(setDir: string, name: string): Promise<void> {
  const aside = join(setDir, `.removing-${name.replace(/^\.+/, '')}-${suffix()}`);
  try {
    await rename(join(setDir, name), aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/** Leftovers of killed runs: staging folders, half-removed folders, temp links, incomplete versions. */
async function cleanLeftovers(setDir: string, currentTarget: string | null): Promise<void> {
  for (const name of await readdir(setDir)) {
    const path = join(setDir, name);
    if (name.startsWith('.removing-')) {
      await rm(path, { recursive: true, force: true });
    } else if (name.startsWith('.staging-')) {
      await removeAside(setDir, name);
    } else if (name.startsWith('.current-')) {
      await rm(path, { force: true });
    } else if (
      name !== CURRENT &&
      name !== currentTarget &&
      SAFE_NAME.test(name) &&
      !(await isComplete(path))
    ) {
      // Nothing this module writes ever leaves an incomplete tree under a version name; a
      // folder like that was put there by hand or by another tool and is not safe to serve.
      if ((await lstat(path)).isDirectory()) await removeAside(setDir, name);
    }
  }
}

async function readCurrent(setDir: string): Promise<string | null> {
  try {
    return await readlink(join(setDir, CURRENT));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EINVAL') {
      throw new InputError(`${join(setDir, CURRENT)} exists but is not a symlink.`, {
        hint: 'Move it away; lambda-deps manages `current` as a link to a version folder.',
      });
    }
    throw error;
  }
}

/** Point `current` at `version` atomically: a temp link renamed over the old one. */
async function switchCurrent(setDir: string, version: string): Promise<void> {
  const temp = join(setDir, `.current-${suffix()}`);
  await symlink(version, temp);
  await renameCounted(temp, join(setDir, CURRENT));
  await fsyncDirectory(setDir);
}

/** Complete versions, newest first by the time their marker was written. */
async function completeVersions(setDir: string): Promise<{ name: string; time: number }[]> {
  const versions: { name: string; time: number }[] = [];
  for (const name of await readdir(setDir)) {
    if (name === CURRENT || !SAFE_NAME.test(name)) continue;
    const marker = await stat(join(setDir, name, COMPLETE_MARKER)).catch(() => null);
    if (marker?.isFile()) versions.push({ name, time: marker.mtimeMs });
  }
  return versions.sort((a, b) => b.time - a.time || (a.name < b.name ? -1 : 1));
}

/** A version unpacked beside the live one and complete, but not yet read by anything. */
export interface StagedVersion {
  readonly versionDir: string;
  readonly currentPath: string;
  readonly pythonPath: string;
  readonly currentPythonPath: string;
  /** True when the version was already there, complete. */
  readonly reused: boolean;
}

function checkedOptions(
  options: Pick<SyncVersionedTreeOptions, 'setName' | 'lockHash' | 'keep' | 'functionMountPath'>,
): {
  keep: number;
  functionMountPath: string;
} {
  checkName('set name', options.setName);
  checkName('lock hash', options.lockHash);
  const keep = options.keep ?? 3;
  if (!Number.isInteger(keep) || keep < 0) {
    throw new InputError(`keep must be a whole number of old versions, not ${keep}.`, {
      hint: 'For example keep: 3.',
    });
  }
  const functionMountPath = options.functionMountPath ?? '/mnt/deps';
  if (!FUNCTION_MOUNT_PATH.test(functionMountPath)) {
    throw new InputError(`Function mount path "${functionMountPath}" is not one Lambda accepts.`, {
      hint: 'Lambda requires ^/mnt/[a-zA-Z0-9-_.]+$, for example /mnt/deps.',
    });
  }
  return { keep, functionMountPath };
}

/** Where a set's version lives, here and as the functions mount it (everything but `reused`). */
function versionPaths(
  options: Pick<SyncVersionedTreeOptions, 'mountRoot' | 'setName' | 'lockHash'>,
  functionMountPath: string,
): Omit<StagedVersion, 'reused'> {
  const setDir = join(options.mountRoot, options.setName);
  return {
    versionDir: join(setDir, options.lockHash),
    currentPath: join(setDir, CURRENT),
    pythonPath: posix.join(functionMountPath, options.setName, options.lockHash),
    currentPythonPath: posix.join(functionMountPath, options.setName, CURRENT),
  };
}

/** Unpacks the tar into a staging folder that this sync provably still owns, then marks it complete. */
async function unpackStaging(options: SyncVersionedTreeOptions, setDir: string): Promise<string> {
  const staging = join(setDir, `.staging-${options.lockHash}-${suffix()}`);
  await mkdir(staging);
  // A concurrent sync's clean-up may move our staging folder away mid-extraction, and the
  // extractor's mkdir -p then makes a new one holding only the rest of the files (inode
  // numbers can be reused, so they prove nothing): a token written first must still be there.
  const ownerToken = join(staging, OWNER_TOKEN);
  const token = suffix();
  await writeFile(ownerToken, token, { flag: 'wx' });
  try {
    // No fsync per file: EFS makes data durable on close (NFS close-to-open), and the
    // `.complete` marker plus the directory fsyncs below order the switch. Per-file fsync
    // made large trees approach Lambda's 15 minutes.
    await extractTreeTar(options.tarPath, staging, { ...options.limits, fsync: false });
    if ((await readFile(ownerToken, 'utf8').catch(() => '')) !== token) {
      throw new ConcurrentSyncError(
        `${staging} was replaced while the tree was unpacked: another sync of ${options.setName} ran at the same time.`,
        { hint: 'Nothing was switched; run the sync again (the state machine retries it).' },
      );
    }
    await unlink(ownerToken);
  } catch (error) {
    const ours = (await readFile(ownerToken, 'utf8').catch(() => '')) === token;
    await removeAside(setDir, posix.basename(staging)).catch(() => undefined);
    if (ours || error instanceof LambdaDepsError) throw error;
    throw new ConcurrentSyncError(
      `${staging} was removed while the tree was unpacked: another sync of ${options.setName} ran at the same time.`,
      { hint: 'Nothing was switched; run the sync again (the state machine retries it).', cause: error },
    );
  }
  const marker = join(staging, COMPLETE_MARKER);
  await writeFile(marker, `${JSON.stringify({ lockHash: options.lockHash, tar: options.tarPath })}\n`, {
    flag: 'wx',
  });
  const handle = await open(marker, 'r');
  await handle.sync().finally(() => handle.close());
  await fsyncDirectory(staging);
  return staging;
}

/** Renames the complete staging folder to its version name (another sync's equal tree wins a tie). */
async function moveIntoPlace(
  setName: string,
  setDir: string,
  staging: string,
  versionDir: string,
): Promise<void> {
  try {
    await renameCounted(staging, versionDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Another sync of the same lock finished first; its tree is as good as ours.
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isComplete(versionDir))) {
      await removeAside(setDir, posix.basename(staging));
    } else if (code === 'ENOENT') {
      throw new ConcurrentSyncError(
        `${staging} was removed before it could be renamed: another sync of ${setName} ran at the same time.`,
        { hint: 'Nothing was switched; run the sync again (the state machine retries it).', cause: error },
      );
    } else {
      throw error;
    }
  }
  await fsyncDirectory(setDir);
}

/**
 * Unpacks the tree as `<setName>/<lockHash>`, complete, beside the live version, and switches
 * nothing: the Probe imports it from there before switchToVersion points `current` at it.
 */
export async function stageVersionedTree(options: SyncVersionedTreeOptions): Promise<StagedVersion> {
  const paths = versionPaths(options, checkedOptions(options).functionMountPath);
  const { versionDir } = paths;
  const step = options.onStep ?? ((): void => undefined);
  const setDir = join(options.mountRoot, options.setName);
  await mkdir(setDir, { recursive: true });

  await cleanLeftovers(setDir, await readCurrent(setDir));
  step('cleaned');

  const reused = await isComplete(versionDir);
  if (reused) {
    step('reused');
  } else {
    const staging = await unpackStaging(options, setDir);
    step('extracted');
    await moveIntoPlace(options.setName, setDir, staging, versionDir);
    step('renamed');
  }
  return { ...paths, reused };
}

export type SwitchToVersionOptions = Pick<
  SyncVersionedTreeOptions,
  'mountRoot' | 'setName' | 'lockHash' | 'keep' | 'functionMountPath' | 'onStep'
>;

/**
 * Points `<setName>/current` at a staged, complete version and removes the old versions beyond
 * `keep` (never the one `current` names). Returns the version's paths and the names removed.
 */
export async function switchToVersion(
  options: SwitchToVersionOptions,
): Promise<Omit<StagedVersion, 'reused'> & { removed: string[] }> {
  const { keep, functionMountPath } = checkedOptions(options);
  const step = options.onStep ?? ((): void => undefined);
  const setDir = join(options.mountRoot, options.setName);
  if (!(await isComplete(join(setDir, options.lockHash)))) {
    throw new ConcurrentSyncError(
      `${join(setDir, options.lockHash)} is not a complete version: it was removed after it was staged.`,
      { hint: 'Nothing was switched; run the execution again.' },
    );
  }
  await switchCurrent(setDir, options.lockHash);
  step('switched');

  const removed: string[] = [];
  const versions = await completeVersions(setDir);
  const newest = versions[0]?.name;
  const old = versions.filter((version) => version.name !== options.lockHash && version.name !== newest);
  for (const version of old.slice(keep)) {
    // `current` was just switched to lockHash; re-read it in case a concurrent sync moved it.
    if (version.name === (await readCurrent(setDir))) continue;
    await removeAside(setDir, version.name);
    removed.push(version.name);
  }
  step('pruned');
  return { ...versionPaths(options, functionMountPath), removed };
}

/**
 * Stages the version, runs `beforeSwitch` (a throw switches nothing), then switches `current`.
 *
 * @example
 *   const synced = await syncVersionedTree({ mountRoot: '/mnt/deps', setName: 'my-set', lockHash, tarPath: '/tmp/tree.tar' });
 *   // set PYTHONPATH=synced.pythonPath on the function (it mounts the access point at /mnt/deps)
 */
export async function syncVersionedTree(options: SyncVersionedTreeOptions): Promise<SyncVersionedTreeResult> {
  const staged = await stageVersionedTree(options);
  // The version is complete and in place, but nothing reads it yet: a failure here leaves
  // `current` where it was.
  if (options.beforeSwitch) await options.beforeSwitch(staged.versionDir);
  const { removed } = await switchToVersion(options);
  return { ...staged, removed };
}

/** Whether `<mountRoot>/<setName>/current` exists, and the version it points at. */
export async function currentVersion(mountRoot: string, setName: string): Promise<string | null> {
  checkName('set name', setName);
  const setDir = join(mountRoot, setName);
  if (!(await exists(setDir))) return null;
  return readCurrent(setDir);
}
