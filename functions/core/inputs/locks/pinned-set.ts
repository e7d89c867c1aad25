// The one shape every lock reader produces (uv.lock, poetry.lock, Pipfile.lock, pylock.toml):
// exact pins for ONE target (markers already evaluated for it), the files and hashes the lock
// lists, the indexes it names and its requires-python. Plus the helpers the readers share:
// TOML/JSON parsing with positioned errors, marker evaluation for the target, hash parsing and
// the requires-python check.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isSpecifierSet as validRange, satisfiesSpecifier as satisfies } from '../../shared/pep440.ts';
import { parse as parseToml, TomlError } from 'smol-toml';
import type * as Zod from 'zod';
import { InputError } from '../../shared/errors.ts';
import { describeTarget, markerEnvironment, pythonFullVersion } from '../../shared/targets.ts';
import type { Target } from '../../shared/types.ts';
import { evaluateMarker, parseMarker } from '../pep508.ts';

export type LockFormat = 'uv.lock' | 'poetry.lock' | 'Pipfile.lock' | 'pylock.toml';

/** One file a lock lists for a pinned version. */
export interface LockedFile {
  readonly filename: string;
  /** Where the lock says it is (absolute URL), or null when it names only the file (poetry.lock). */
  readonly url: string | null;
  /** Every hash the lock carries for it: algorithm (hashlib name) → lowercase hex. */
  readonly hashes: Readonly<Record<string, string>>;
  readonly size: number | null;
}

/** A package pinned to one version, for the target. */
export interface PinnedPackage {
  /** PEP 503 normalized. */
  readonly name: string;
  readonly version: string;
  /** The index (simple API root) the lock names for this package, or null for the lock's default. */
  readonly index: string | null;
  /** The files the lock lists; empty when it lists only hashes (Pipfile.lock). */
  readonly files: readonly LockedFile[];
  /** `algorithm:hex` digests accepted for any file of this version (Pipfile.lock's `hashes`). */
  readonly hashes: readonly string[];
}

/** A lock read for one target: what measure and build honour exactly. */
export interface PinnedSet {
  readonly format: LockFormat;
  readonly file: string;
  /** The project's requires-python as the lock (or its pyproject) states it, or null. */
  readonly requiresPython: string | null;
  /** Index URLs the lock names, in its order (the first is the default). Empty: the lock names none. */
  readonly sources: readonly string[];
  /** Sorted by name; only packages whose markers hold for the target and the chosen groups/extras. */
  readonly packages: readonly PinnedPackage[];
}

/** What to read from a lock besides its default dependencies. */
export interface LockSelection {
  readonly target: Target;
  /** Optional-dependency names (PEP 685 normalized when compared). */
  readonly extras: readonly string[];
  /** Dependency groups (PEP 735, Poetry groups, Pipfile categories). */
  readonly groups: readonly string[];
}

export async function readTextFile(path: string, what: string): Promise<{ file: string; text: string }> {
  const file = resolve(path);
  try {
    return { file, text: await readFile(file, 'utf8') };
  } catch (error) {
    throw new InputError(`Could not open ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, {
      location: { file, line: 1, column: 1 },
      hint: `Check the path to the ${what}.`,
      cause: error,
    });
  }
}

export function parseTomlFile(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      throw new InputError(`${file} is not valid TOML: ${error.message.split('\n')[0]}`, {
        location: { file, line: error.line, column: error.column },
        hint: 'Fix the TOML syntax at this place, or regenerate the file with the tool that wrote it.',
        cause: error,
      });
    }
    throw error;
  }
}

let zodModule: typeof Zod | null = null;

/** zod, loaded on first use (see resolve/lock.ts: its start-up is a tenth of `measure`'s run). */
export async function zod(): Promise<typeof Zod> {
  zodModule ??= (await import('zod')) as typeof Zod;
  return zodModule;
}

/** Parse `data` with a zod schema; an InputError naming the file and the first bad field otherwise. */
export function checkShape<T>(
  schema: Zod.ZodType<T>,
  data: unknown,
  file: string,
  format: string,
  regenerate: string,
): T {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') || '(top level)';
  throw new InputError(`${file} is not a valid ${format}: ${path}: ${issue?.message ?? 'invalid'}.`, {
    location: { file, line: 1, column: 1 },
    hint: `Regenerate it with \`${regenerate}\` rather than editing it by hand.`,
  });
}

/**
 * Whether a lock's marker holds for the target. PEP 751 markers may also test
 * `'name' in extras` and `'name' in dependency_groups`; those are decided from the selection
 * first, because PEP 508's grammar (and so parseMarker) has no set-valued variables.
 */
export function markerHolds(
  marker: string | null | undefined,
  selection: LockSelection,
  file: string,
  extra: string | null = null,
): boolean {
  if (!marker || marker.trim() === '') return true;
  const sets: Record<string, readonly string[]> = {
    extras: selection.extras,
    dependency_groups: selection.groups,
  };
  const text = marker.replace(
    /(["'])([^"']*)\1\s+(not\s+in|in)\s+(extras|dependency_groups)\b/g,
    (_match, _quote: string, name: string, operator: string, variable: string) => {
      const member = (sets[variable] ?? []).some((entry) => normalize(entry) === normalize(name));
      const holds = operator.startsWith('not') ? !member : member;
      return holds ? '"1" == "1"' : '"1" == "0"';
    },
  );
  try {
    return evaluateMarker(parseMarker(text), markerEnvironment(selection.target), extra);
  } catch (error) {
    throw new InputError(`${file} has a marker lambda-deps cannot read: ${marker}`, {
      location: { file, line: 1, column: 1 },
      hint: 'Regenerate the lock with its tool; if it persists, report the marker.',
      cause: error,
    });
  }
}

export function normalize(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** `sha256:abc…` → ['sha256', 'abc…']; null for a value that is not `algorithm:hex`. */
export function splitHash(value: string): [string, string] | null {
  const match = /^([a-z0-9_]+)[:=]([0-9a-fA-F]+)$/.exec(value.trim());
  return match ? [(match[1] as string).toLowerCase(), (match[2] as string).toLowerCase()] : null;
}

/** The filename at the end of a URL (percent-decoded). */
export function filenameOfUrl(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

/**
 * Throws an InputError (exit 2) when the project's requires-python excludes the target's Python
 * (at the patch level lambda-deps assumes for it, as the resolver does for Requires-Python).
 */
export function checkRequiresPython(requiresPython: string | null, target: Target, file: string): void {
  if (!requiresPython || requiresPython.trim() === '') return;
  const spec = requiresPython.trim();
  if (!validRange(spec)) {
    throw new InputError(`${file} has a requires-python lambda-deps cannot read: "${spec}".`, {
      location: { file, line: 1, column: 1 },
      hint: 'Write it as a PEP 440 specifier, e.g. requires-python = ">=3.11".',
    });
  }
  const version = pythonFullVersion(target);
  if (satisfies(version, spec)) return;
  throw new InputError(
    `${file} requires Python ${spec}, but the target is ${describeTarget(target)} (Python ${version}).`,
    {
      location: { file, line: 1, column: 1 },
      hint: `Pick a runtime the project supports (e.g. --runtime python3.${firstMinor(spec) ?? 12}), or widen requires-python and lock again.`,
    },
  );
}

function firstMinor(spec: string): number | null {
  for (let minor = 10; minor <= 14; minor++) {
    if (Array.from({ length: 40 }, (_, patch) => `3.${minor}.${patch}`).some((v) => satisfies(v, spec)))
      return minor;
  }
  return null;
}

/** Whether two targets are the same (the fields the lock hash covers; key order does not matter). */
export function sameTarget(left: Target, right: Target): boolean {
  return (
    left.runtime === right.runtime &&
    left.pythonVersion === right.pythonVersion &&
    left.glibc === right.glibc &&
    left.architecture === right.architecture &&
    left.os === right.os &&
    pythonFullVersion(left) === pythonFullVersion(right)
  );
}

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function byName<T extends { name: string }>(left: T, right: T): number {
  return left.name < right.name ? -1 : left.name > right.name ? 1 : 0;
}
