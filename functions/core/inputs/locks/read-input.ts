// The one entry `measure` (CLI, Measure step, build) calls to read what the user gave: it
// detects the format by content; a lock (uv.lock, poetry.lock, Pipfile.lock, pylock.toml, a
// lambda-deps lock, or a pyproject.toml / Pipfile with its lock beside it) is honoured exactly and
// measured here, never resolved again; anything else becomes a RequirementSet for the resolver.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError } from '../../shared/errors.ts';
import { createPackageIndex } from '../../index/index-client.ts';
import type { IndexEvent } from '../../index/index-client.ts';
import { lockHash } from '../../resolve/lock.ts';
import { describeTarget } from '../../shared/targets.ts';
import type { Lock, MeasureResult, RequirementSet, Target } from '../../shared/types.ts';
import { detectInputFormat, lockBeside, type InputFormat } from '../input-format.ts';
import type { IndexOptionValues } from '../pip-config.ts';
import { readPyproject } from '../pyproject.ts';
import { readRequirementsFile } from '../requirements-file.ts';
import {
  checkRequiresPython,
  parseTomlFile,
  readTextFile,
  sameTarget,
  type LockSelection,
  type PinnedSet,
} from './pinned-set.ts';
import { readPipfile, readPipfileLock } from './pipfile.ts';
import { readPoetryLock } from './poetry.ts';
import { readPylock } from './pylock.ts';
import { lockFromPins, planLockIndexes } from './select-files.ts';
import { readUvLock } from './uv-lock.ts';

/** Lock files are machine-written; one this big is not a real project's. */
const MAX_LOCK_BYTES = 32 * 1024 * 1024;

export interface DependencyInputRequest {
  readonly path: string;
  readonly target: Target;
  readonly extras: readonly string[];
  readonly groups: readonly string[];
  readonly environment: Record<string, string | undefined>;
  readonly cliIndexOptions: IndexOptionValues;
  readonly cacheDir: string;
  readonly onEvent?: (
    event: { type: 'step'; step: 'reading' | 'measuring'; detail: string } | IndexEvent,
  ) => void;
}

/** Sizes a lock: measure.ts's measureDependencySet, passed in so this module does not import measure.ts back. */
export type MeasureLock = (input: { lock: Lock; lockHash?: string }) => Promise<MeasureResult>;

export type DependencyInput =
  | { readonly kind: 'requirements'; readonly set: RequirementSet }
  | {
      readonly kind: 'measured';
      readonly lock: Lock;
      readonly lockHash: string;
      readonly result: MeasureResult;
    };

/** The pins of a lock file for the target (what `export` and measure share). */
export async function readPinnedSet(
  path: string,
  format: InputFormat,
  text: string,
  selection: LockSelection,
): Promise<PinnedSet> {
  const pyprojectPath = join(dirname(path), 'pyproject.toml');
  const pyproject =
    (format === 'uv.lock' || format === 'poetry.lock') && existsSync(pyprojectPath)
      ? parseTomlFile((await readTextFile(pyprojectPath, 'pyproject.toml')).text, pyprojectPath)
      : null;
  if (format === 'uv.lock') return readUvLock(text, path, selection, pyproject);
  if (format === 'Pipfile.lock') return readPipfileLock(text, path, selection);
  if (format === 'pylock.toml') return readPylock(text, path, selection);
  if (format === 'poetry.lock') return readPoetryLock(text, path, selection, pyproject);
  throw new InputError(`${path} is a ${format}, not a lock.`, {
    hint: 'Give uv.lock, poetry.lock, Pipfile.lock or pylock.toml.',
  });
}

/** A file's text and detected format, following a pyproject.toml or Pipfile to the lock beside it. */
export async function readInputFile(
  path: string,
): Promise<{ path: string; text: string; format: InputFormat }> {
  const first = await readTextFile(path, 'dependency file');
  if (first.text.length > MAX_LOCK_BYTES) {
    throw new InputError(
      `${first.file} is ${first.text.length} bytes; lambda-deps reads dependency files up to ${MAX_LOCK_BYTES}.`,
      {
        location: { file: first.file, line: 1, column: 1 },
        hint: 'Give the project’s requirements or lock file, not a data file.',
      },
    );
  }
  const format = detectInputFormat(first.file, first.text);
  const beside = format === 'pyproject' || format === 'Pipfile' ? lockBeside(first.file) : null;
  if (!beside) return { path: first.file, text: first.text, format };
  const lock = await readTextFile(beside, 'lock');
  return { path: lock.file, text: lock.text, format: detectInputFormat(lock.file, lock.text) };
}

/** A lock read for the target, built into lambda-deps' Lock on the lock's indexes (or the command line's), with warnings. */
export async function lockForTarget(
  pinned: PinnedSet,
  request: Pick<DependencyInputRequest, 'target' | 'cliIndexOptions' | 'cacheDir' | 'onEvent'>,
): Promise<{ lock: Lock; warnings: readonly string[] }> {
  checkRequiresPython(pinned.requiresPython, request.target, pinned.file);
  const plan = planLockIndexes(pinned, request.cliIndexOptions);
  const onEvent = request.onEvent;
  const index = createPackageIndex({
    ...plan.options,
    cacheDir: request.cacheDir,
    ...(onEvent ? { onEvent } : {}),
  });
  try {
    const lock = await lockFromPins(pinned, request.target, index, plan.overridden);
    return { lock, warnings: plan.warnings };
  } finally {
    await index.close();
  }
}

function noSelectionFor(path: string, request: DependencyInputRequest, what: string): void {
  if (request.extras.length === 0 && request.groups.length === 0) return;
  throw new InputError(
    `--extra and --group apply to pyproject.toml and lock files, but ${path} is ${what}.`,
    {
      hint: 'Write the extras in the requirement itself (e.g. "requests[socks]"), or point at pyproject.toml or the lock.',
    },
  );
}

function checkLockTarget(lock: Lock, target: Target, path: string): void {
  if (sameTarget(lock.target, target)) return;
  throw new InputError(
    `${path} is locked for ${describeTarget(lock.target)}, not ${describeTarget(target)}.`,
    {
      hint: 'Leave out --runtime/--arch when building a lock, or measure the requirements again for the other target.',
    },
  );
}

/**
 * Read the user's file for the target: requirements to resolve, or a lock measured as it is.
 * @example const input = await readDependencyInput(request, measureDependencySet);
 */
export async function readDependencyInput(
  request: DependencyInputRequest,
  measure: MeasureLock,
): Promise<DependencyInput> {
  const { target } = request;
  const file = await readInputFile(request.path);
  request.onEvent?.({ type: 'step', step: 'reading', detail: `${file.path} (${file.format})` });
  const selection: LockSelection = { target, extras: request.extras, groups: request.groups };
  if (file.format === 'requirements') {
    noSelectionFor(file.path, request, 'a requirements file');
    return {
      kind: 'requirements',
      set: await readRequirementsFile(file.path, { environment: request.environment }),
    };
  }
  if (file.format === 'pyproject') {
    const { set, requiresPython } = await readPyproject(file.path, request.extras, {
      groups: request.groups,
    });
    checkRequiresPython(requiresPython, target, file.path);
    return { kind: 'requirements', set };
  }
  if (file.format === 'Pipfile') {
    const pipfile = readPipfile(file.text, file.path, request.groups);
    noSelectionFor(
      file.path,
      { ...request, groups: [] },
      'a Pipfile (it has categories, given with --group, not extras)',
    );
    checkRequiresPython(pipfile.requiresPython, target, file.path);
    const [indexUrl, ...extraIndexUrls] = pipfile.sources;
    return {
      kind: 'requirements',
      set: {
        requirements: pipfile.requirements,
        constraints: [],
        fileIndexOptions: indexUrl ? { indexUrl, extraIndexUrls } : {},
        hashCheckingMode: false,
        files: [file.path],
      },
    };
  }
  let lock: Lock;
  let warnings: readonly string[] = [];
  if (file.format === 'lambda-deps-lock') {
    noSelectionFor(file.path, request, 'a lambda-deps lock');
    // (The lock reader, and zod with it, loads only when a lock is what was given.)
    const { parseLock } = await import('../../resolve/lock-reader.ts');
    lock = parseLock(file.text, file.path);
    checkLockTarget(lock, target, file.path);
  } else {
    const pinned = await readPinnedSet(file.path, file.format, file.text, selection);
    ({ lock, warnings } = await lockForTarget(pinned, request));
  }
  request.onEvent?.({ type: 'step', step: 'measuring', detail: `${lock.packages.length} packages` });
  const hash = lockHash(lock);
  const measured = await measure({ lock, lockHash: hash });
  const result =
    warnings.length > 0 ? { ...measured, warnings: [...(measured.warnings ?? []), ...warnings] } : measured;
  return { kind: 'measured', lock, lockHash: hash, result };
}
