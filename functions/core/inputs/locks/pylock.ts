// PEP 751 pylock.toml: reads one for a target (the `environments` it was made for, each
// package's marker with `extras`/`dependency_groups`, the wheels with their hashes, the index
// each package came from), and writes a lambda-deps lock back out as one, so a set can leave
// lambda-deps for any PEP 751 installer and come back to the same lock hash.
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'smol-toml';
import { InputError } from '../../shared/errors.ts';
import { describeTarget, wheelMachine } from '../../shared/targets.ts';
import type { Lock } from '../../shared/types.ts';
import { assertOneVersionEach } from './uv-lock.ts';
import {
  byName,
  checkShape,
  filenameOfUrl,
  markerHolds,
  normalize,
  parseTomlFile,
  zod,
  type LockedFile,
  type LockSelection,
  type PinnedPackage,
  type PinnedSet,
} from './pinned-set.ts';

const REGENERATE = 'pip lock -r requirements.txt -o pylock.toml';

async function pylockSchema() {
  const { z } = await zod();
  const hashes = z.record(z.string(), z.string().regex(/^[0-9a-fA-F]+$/, 'hex digits'));
  const wheel = z.looseObject({
    name: z.string().optional(),
    url: z.string().optional(),
    path: z.string().optional(),
    size: z.number().int().nonnegative().optional(),
    hashes,
  });
  const pkg = z.looseObject({
    name: z.string().min(1),
    version: z.string().optional(),
    marker: z.string().optional(),
    'requires-python': z.string().optional(),
    index: z.string().optional(),
    vcs: z.unknown().optional(),
    directory: z.unknown().optional(),
    archive: z.unknown().optional(),
    sdist: z.unknown().optional(),
    wheels: z.array(wheel).optional(),
  });
  return z.looseObject({
    'lock-version': z.string().regex(/^1(\.\d+)?$/, 'lambda-deps reads pylock.toml lock-version 1.x'),
    environments: z.array(z.string()).optional(),
    'requires-python': z.string().optional(),
    extras: z.array(z.string()).optional(),
    'dependency-groups': z.array(z.string()).optional(),
    'default-groups': z.array(z.string()).optional(),
    'created-by': z.string(),
    packages: z.array(pkg),
  });
}

type Pylock = Awaited<ReturnType<typeof pylockSchema>> extends { parse(data: unknown): infer T } ? T : never;
type PylockPackage = Pylock['packages'][number];

function wheelFile(
  wheel: NonNullable<PylockPackage['wheels']>[number],
  file: string,
  name: string,
): LockedFile {
  const url =
    wheel.url ??
    (wheel.path
      ? pathToFileURL(isAbsolute(wheel.path) ? wheel.path : resolve(dirname(file), wheel.path)).href
      : null);
  const filename = wheel.name ?? (url ? filenameOfUrl(url) : null);
  if (!filename || !url) {
    throw new InputError(`${file}: a wheel of ${name} has neither url nor path.`, {
      location: { file, line: 1, column: 1 },
      packageName: normalize(name),
      hint: `Regenerate the lock with \`${REGENERATE}\`.`,
    });
  }
  const hashes = Object.fromEntries(
    Object.entries(wheel.hashes).map(([algorithm, hex]) => [algorithm.toLowerCase(), hex.toLowerCase()]),
  );
  return { filename, url, hashes, size: wheel.size ?? null };
}

function sdistFile(sdist: unknown): LockedFile[] {
  if (typeof sdist !== 'object' || sdist === null) return [];
  const { name, url } = sdist as { name?: unknown; url?: unknown };
  const filename = typeof name === 'string' ? name : typeof url === 'string' ? filenameOfUrl(url) : null;
  return filename ? [{ filename, url: typeof url === 'string' ? url : null, hashes: {}, size: null }] : [];
}

function pinPackage(entry: PylockPackage, file: string): PinnedPackage {
  const name = normalize(entry.name);
  const from = entry.vcs
    ? 'a VCS checkout'
    : entry.directory
      ? 'a local directory'
      : entry.archive
        ? 'an archive'
        : null;
  if (from) {
    throw new InputError(`${file} takes ${entry.name} from ${from}, not from wheels.`, {
      location: { file, line: 1, column: 1 },
      packageName: name,
      hint: 'lambda-deps installs wheels only: build a wheel of it, publish it to an index, and lock again.',
    });
  }
  return {
    name,
    version: entry.version ?? '',
    index: entry.index ?? null,
    // The sdist is listed too (never chosen) so a missing wheel is explained as such.
    files: [
      ...(entry.wheels ?? []).map((wheel) => wheelFile(wheel, file, entry.name)),
      ...sdistFile(entry.sdist),
    ],
    hashes: [],
  };
}

function checkGroups(lock: Pylock, selection: LockSelection, file: string): void {
  const known = { extra: lock.extras ?? [], 'dependency group': lock['dependency-groups'] ?? [] };
  const asked = { extra: selection.extras, 'dependency group': selection.groups };
  for (const kind of ['extra', 'dependency group'] as const) {
    for (const name of asked[kind]) {
      if (known[kind].some((entry) => normalize(entry) === normalize(name))) continue;
      throw new InputError(`${file} has no ${kind} "${name}".`, {
        location: { file, line: 1, column: 1 },
        hint: known[kind].length > 0 ? `It declares: ${known[kind].join(', ')}.` : `It declares no ${kind}s.`,
      });
    }
  }
}

/** The pins of a pylock.toml for the target. With no groups asked for, `default-groups` apply (PEP 751). */
export async function readPylock(text: string, file: string, selection: LockSelection): Promise<PinnedSet> {
  const lock = checkShape(await pylockSchema(), parseTomlFile(text, file), file, 'pylock.toml', REGENERATE);
  checkGroups(lock, selection, file);
  const effective: LockSelection = {
    ...selection,
    groups: selection.groups.length > 0 ? selection.groups : (lock['default-groups'] ?? []),
  };
  const environments = lock.environments ?? [];
  if (environments.length > 0 && !environments.some((marker) => markerHolds(marker, effective, file))) {
    throw new InputError(
      `${file} was locked for other environments than ${describeTarget(selection.target)}: ${environments.join('; ')}.`,
      {
        location: { file, line: 1, column: 1 },
        hint: 'Lock again on (or for) the target platform, e.g. `pip lock` under the target Python on Linux.',
      },
    );
  }
  const packages = lock.packages
    .filter((entry) => markerHolds(entry.marker, effective, file))
    .map((entry) => pinPackage(entry, file));
  assertOneVersionEach(packages, file);
  return {
    format: 'pylock.toml',
    file,
    requiresPython: lock['requires-python'] ?? null,
    sources: [...new Set(packages.map((entry) => entry.index).filter((url): url is string => !!url))],
    packages: packages.sort(byName),
  };
}

/**
 * A lambda-deps lock as a PEP 751 pylock.toml: one wheel per package (its URL, size and sha256),
 * `environments` naming the target, and the target itself under `[tool.lambda-deps]`.
 * @example await writeFile('pylock.toml', writePylock(lock));
 */
export function writePylock(lock: Lock): string {
  const { target } = lock;
  const environment = `python_version == '${target.pythonVersion}' and sys_platform == 'linux' and platform_machine == '${wheelMachine(target.architecture)}'`;
  const document = {
    'lock-version': '1.0',
    environments: [environment],
    'requires-python': `==${target.pythonVersion}.*`,
    'created-by': 'lambda-deps',
    packages: [...lock.packages].sort(byName).map((entry) => ({
      name: entry.name,
      version: entry.version,
      wheels: [{ name: entry.filename, url: entry.url, size: entry.size, hashes: { sha256: entry.sha256 } }],
    })),
    tool: { 'lambda-deps': { target: { ...target, runtime: target.runtime ?? '' } } },
  };
  return `# Written by lambda-deps export for ${describeTarget(target)}. PEP 751: https://packaging.python.org/en/latest/specifications/pylock-toml/\n${stringify(document)}\n`;
}
