// Builds an sdist into a wheel on this machine, as pip would: pip's own PEP 517 frontend, in its
// isolated build environment, with the build requirements resolved for THIS machine from the
// same indexes the set came from (never the host's pip configuration). The result is kept only
// when it can run on the target: a pure wheel always; a native one only when this machine's
// architecture is the target's and every binary verifies against the target's glibc. Built
// wheels keep their real tags (`linux_x86_64`), with the glibc they need recorded.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extractTreeTar } from '../pack/index.ts';
import { parseWheelFilename } from '../index/index.ts';
import { LambdaDepsError } from '../shared/errors.ts';
import { sha256OfFile as sha256File } from '../shared/hash.ts';
import { wheelMachine } from '../shared/targets.ts';
import type { Architecture, Target } from '../shared/types.ts';
import { findTargetInterpreter, openSandbox } from '../verify/index.ts';
import { readBuildSystem } from './build-system.ts';
import { checkBuiltWheel } from './built-wheel-check.ts';

const execFileAsync = promisify(execFile);

/** An sdist that cannot become a wheel for the target here. Exit code 1: the set cannot be built. */
export class SdistBuildError extends LambdaDepsError {
  override name = 'SdistBuildError';
}

export interface BuildSdistOptions {
  readonly sdistPath: string;
  /** The sdist's sha256 as the lock records it (checked again before anything runs). */
  readonly sha256: string;
  readonly name: string;
  readonly version: string;
  readonly target: Target;
  /** The indexes and find-links folders the set was resolved from. */
  readonly indexUrls: readonly string[];
  readonly findLinks: readonly string[];
  /** Where the wheel is written. */
  readonly outDir: string;
  /** Built wheels are kept here by sdist sha256, backend and interpreter; null: no cache. */
  readonly cacheDir: string | null;
  readonly pythonExecutable?: string | null;
  /** @default 15 minutes */
  readonly timeoutMs?: number;
}

export interface BuiltSdistWheel {
  readonly wheelPath: string;
  readonly filename: string;
  readonly backend: string;
  readonly pure: boolean;
  /** The highest glibc its binaries need (`2.17`), null for a pure wheel. */
  readonly glibcNeeded: string | null;
  readonly cached: boolean;
  /** The build ran in the smoke import's cell (no network, host read-only, empty environment). */
  readonly sandboxed: boolean;
}

/** What running pip on an sdist in the build cell needs to know. */
export type CellBuildOptions = Pick<
  BuildSdistOptions,
  'name' | 'version' | 'indexUrls' | 'findLinks' | 'timeoutMs'
>;

/** This machine's architecture in Lambda's words. */
export function hostArchitecture(): Architecture {
  return arch() === 'arm64' ? 'arm64' : 'x86_64';
}

function failure(
  options: Pick<BuildSdistOptions, 'name' | 'version'>,
  message: string,
  hint: string,
  cause?: unknown,
): SdistBuildError {
  return new SdistBuildError(`${options.name} ${options.version}: ${message}`, {
    packageName: options.name,
    hint,
    ...(cause ? { cause } : {}),
  });
}

/** The indexes pip's build environment may use: ours only (`--isolated` ignores the host's config). */
export function pipIndexArguments(options: Pick<BuildSdistOptions, 'indexUrls' | 'findLinks'>): string[] {
  const [first, ...extra] = options.indexUrls;
  return [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...options.findLinks.flatMap((folder) => ['--find-links', folder]),
  ];
}

/** pip's arguments: its own frontend and isolation, our indexes only. */
function pipWheelArguments(options: CellBuildOptions, wheelDir: string): string[] {
  return [
    'wheel',
    '--isolated',
    '--no-deps',
    '--no-cache-dir',
    '--disable-pip-version-check',
    '--wheel-dir',
    wheelDir,
    ...pipIndexArguments(options),
  ];
}

/**
 * Runs inside the cell: copies the (read-only) source into the cell's HOME, where the backend may
 * write, points TMPDIR there too, then runs pip; argv: source folder, pip's arguments.
 */
const CELL_BUILD = [
  'import os, shutil, subprocess, sys',
  'home = os.environ["HOME"]',
  'source = os.path.join(home, "src")',
  'shutil.copytree(sys.argv[1], source)',
  'os.makedirs(os.path.join(home, "tmp"), exist_ok=True)',
  'os.environ["TMPDIR"] = os.path.join(home, "tmp")',
  'sys.exit(subprocess.run([sys.executable, "-m", "pip", *sys.argv[2:], source]).returncode)',
].join('\n');

const isRemote = (url: string): boolean => /^https?:/i.test(url);

/**
 * The cell has no network, so the build requirements an http(s) index serves are fetched first,
 * outside it, as wheels only (`--only-binary :all:`: nothing of theirs runs while downloading),
 * into a folder the cell reads as `--find-links`. Returns the options the cell's pip then uses:
 * local indexes and find-links only.
 */
async function prefetchBuildRequirements(
  options: CellBuildOptions,
  python: string,
  requires: readonly string[],
  folder: string,
): Promise<CellBuildOptions> {
  if (requires.length === 0 || !options.indexUrls.some(isRemote)) return options;
  const args = ['-m', 'pip', 'download', '--only-binary', ':all:', '--dest', folder];
  try {
    await execFileAsync(
      python,
      [...args, '--isolated', '--disable-pip-version-check', ...pipIndexArguments(options), ...requires],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: folder, LANG: 'C.UTF-8' },
        timeout: 10 * 60 * 1000,
      },
    );
  } catch (error) {
    throw failure(
      options,
      `its build requirements (${requires.join(', ')}) could not be downloaded as wheels for the build sandbox, which has no network.`,
      'Put wheels of the build requirements in a folder and pass --find-links DIR, or build in AWS.',
      error,
    );
  }
  return {
    ...options,
    indexUrls: options.indexUrls.filter((url) => !isRemote(url)),
    findLinks: [...options.findLinks, folder],
  };
}

/** Unpack the sdist (refusing anything unsafe) and return its one top folder. */
export async function unpackSdist(
  options: Pick<BuildSdistOptions, 'sdistPath' | 'name' | 'version'>,
  scratch: string,
): Promise<string> {
  if (!/\.tar\.gz$/.test(options.sdistPath))
    throw failure(
      options,
      'only .tar.gz sdists (PEP 625) are built.',
      'Pin a version that ships a .tar.gz sdist or a wheel.',
    );
  const unpacked = join(scratch, 'src');
  await extractTreeTar(options.sdistPath, unpacked, { maxTotalBytes: 2 * 1024 ** 3 });
  const top = (await readdir(unpacked, { withFileTypes: true })).filter((entry) => entry.isDirectory());
  if (top.length !== 1 || !top[0])
    throw failure(
      options,
      'its sdist does not hold exactly one top folder.',
      'The sdist is malformed; pin another version.',
    );
  return join(unpacked, top[0].name);
}

/** What one pip run in the build cell does: its arguments, and what it leaves in the cell's HOME. */
export interface CellPipRun<T> {
  /** pip's arguments (the source folder is appended), given the options the cell uses and its HOME. */
  readonly pipArguments: (options: CellBuildOptions, home: string) => string[];
  /** Read the result out of the cell's HOME before the cell is removed. */
  readonly collect: (home: string) => Promise<T>;
  /** What failed, for the error (`building its sdist`). */
  readonly doing: string;
}

/**
 * Run pip on an unpacked sdist in the smoke import's cell (no network, host read-only, no
 * credentials, nobody's uid), with its build requirements prefetched as wheels when the index is
 * remote. Returns what `run.collect` read, and whether the cell was fully isolated.
 */
export async function runPipInCell<T>(
  given: CellBuildOptions,
  interpreter: { executable: string; prefix: string },
  source: { dir: string; requires: readonly string[] },
  scratch: string,
  run: CellPipRun<T>,
): Promise<{ result: T; sandboxed: boolean }> {
  const sourceDir = source.dir;
  const prefetched = join(scratch, 'build-requirements');
  await mkdir(prefetched, { recursive: true, mode: 0o755 });
  const cell = await openSandbox(interpreter.executable, interpreter.prefix, [sourceDir, prefetched]);
  try {
    const options = cell.isolation.network
      ? await prefetchBuildRequirements(given, interpreter.executable, source.requires, prefetched)
      : given;
    const cellOptions =
      options === given
        ? options
        : { ...options, findLinks: [...given.findLinks, cell.roots[1] ?? prefetched] };
    const { file, argv, env } = cell.command(interpreter.executable, [
      '-I',
      '-c',
      CELL_BUILD,
      cell.roots[0] ?? sourceDir,
      ...run.pipArguments(cellOptions, cell.home),
    ]);
    try {
      await execFileAsync(file, argv, {
        env,
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 15 * 60 * 1000,
      });
    } catch (error) {
      const output = error && typeof error === 'object' && 'stderr' in error ? String(error.stderr) : '';
      const last = output.trim().split('\n').slice(-3).join(' | ');
      throw failure(
        options,
        `${run.doing} failed${last ? `: ${last}` : ''}.`,
        'The build needs its compilers and headers: build in AWS (CodeBuild on the target OS), or pin a version that ships a wheel.',
        error,
      );
    }
    const { network, filesystem, environment } = cell.isolation;
    return { result: await run.collect(cell.home), sandboxed: network && filesystem && environment };
  } finally {
    await cell.dispose();
  }
}

async function runPipWheel(
  given: BuildSdistOptions,
  interpreter: { executable: string; prefix: string },
  source: { dir: string; requires: readonly string[] },
  scratch: string,
): Promise<{ wheelPath: string; sandboxed: boolean }> {
  const { result, sandboxed } = await runPipInCell(given, interpreter, source, scratch, {
    doing: 'building its sdist',
    pipArguments: (options, home) => pipWheelArguments(options, join(home, 'wheel')),
    collect: async (home) => {
      const cellWheels = join(home, 'wheel');
      const built = (await readdir(cellWheels).catch(() => [] as string[])).filter((name) =>
        name.endsWith('.whl'),
      );
      if (built.length !== 1 || !built[0])
        throw failure(given, `the build made ${built.length} wheels.`, 'Pin a version that ships a wheel.');
      // Out of the cell before it is removed.
      const wheelDir = join(scratch, 'wheel');
      await mkdir(wheelDir, { recursive: true });
      await copyFile(join(cellWheels, built[0]), join(wheelDir, built[0]));
      return join(wheelDir, built[0]);
    },
  });
  return { wheelPath: result, sandboxed };
}

function cacheKey(options: BuildSdistOptions, backend: string, pythonVersion: string): string {
  return `${options.sha256}-${backend.replace(/[^A-Za-z0-9_.]+/g, '_')}-py${pythonVersion}-${wheelMachine(hostArchitecture())}-cell`;
}

/** A cached wheel, checked against its recorded sha256; a bad entry is discarded. */
async function readCached(folder: string): Promise<string | null> {
  const names = await readdir(folder).catch(() => [] as string[]);
  const wheel = names.find((name) => name.endsWith('.whl'));
  const recorded = names.find((name) => name.endsWith('.sha256'));
  if (!wheel || !recorded || recorded !== `${await sha256File(join(folder, wheel))}.sha256`) {
    if (names.length > 0) await rm(folder, { recursive: true, force: true });
    return null;
  }
  return join(folder, wheel);
}

/** Keep a built wheel in the cache: written in full beside the entry, then renamed into place. */
async function writeCached(folder: string, wheelPath: string, filename: string): Promise<void> {
  const staging = `${folder}.${process.pid}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await copyFile(wheelPath, join(staging, filename));
  await writeFile(join(staging, `${await sha256File(wheelPath)}.sha256`), '');
  await rm(folder, { recursive: true, force: true });
  await rename(staging, folder);
}

/**
 * Build `options.sdistPath` into a wheel that runs on `options.target`, or throw SdistBuildError
 * saying why and what to do.
 *
 * @example
 *   const built = await buildSdistForTarget({ sdistPath, sha256, name: 'purepkg', version: '1.0', target, indexUrls, findLinks, cacheDir });
 */
export async function buildSdistForTarget(options: BuildSdistOptions): Promise<BuiltSdistWheel> {
  if ((await sha256File(options.sdistPath)) !== options.sha256)
    throw failure(
      options,
      'its sdist does not match the sha256 the lock records.',
      'Measure the set again; the file changed on the index.',
    );
  const hostTarget: Target = { ...options.target, architecture: hostArchitecture() };
  const interpreter = await findTargetInterpreter(hostTarget, options.pythonExecutable);
  if ('reason' in interpreter)
    throw failure(
      options,
      `it ships only an sdist, and ${interpreter.reason}.`,
      `Install Python ${options.target.pythonVersion} here, or build in AWS, where CodeBuild runs the target's Python.`,
    );
  const scratch = await mkdtemp(join(tmpdir(), 'lambda-deps-sdist-'));
  try {
    const sourceDir = await unpackSdist(options, scratch);
    const { backend, requires } = await readBuildSystem(sourceDir, `${options.name} ${options.version}`);
    const cacheFolder = options.cacheDir
      ? join(options.cacheDir, 'sdist-wheels', cacheKey(options, backend, interpreter.version))
      : null;
    const cachedWheel = cacheFolder ? await readCached(cacheFolder) : null;
    const ran = cachedWheel
      ? null
      : await runPipWheel(options, interpreter, { dir: sourceDir, requires }, scratch);
    const wheelPath = cachedWheel ?? (ran?.wheelPath as string);
    const filename = wheelPath.split('/').pop() ?? '';
    const check = await checkBuiltWheel(wheelPath, filename, options.target, scratch);
    if (check.problems.length > 0) throw failure(options, check.problems[0] ?? '', check.hint);
    // Only wheels built in the cell are cached, so a cached wheel was always built there.
    if (cacheFolder && !cachedWheel && ran?.sandboxed) await writeCached(cacheFolder, wheelPath, filename);
    await mkdir(options.outDir, { recursive: true });
    // A copy, never a link into the cache: editing the output must not corrupt the cache.
    await copyFile(wheelPath, join(options.outDir, filename));
    return {
      wheelPath: join(options.outDir, filename),
      filename,
      backend,
      pure: parseWheelFilename(filename).tags.every((tag) => tag.endsWith('-any')),
      glibcNeeded: check.glibcNeeded,
      cached: cachedWheel !== null,
      sandboxed: ran?.sandboxed ?? true,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
