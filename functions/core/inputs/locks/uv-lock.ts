// Reads uv.lock (uv's universal lock, `version = 1`) for one target: starts at the project's
// own packages (editable or virtual sources), follows `dependencies`, the extras asked for and
// the dependency groups asked for, evaluating each edge's marker for the target, and returns the
// pins with the wheels and hashes uv recorded and the registry each package came from.
import { InputError } from '../../shared/errors.ts';
import {
  byName,
  checkShape,
  filenameOfUrl,
  markerHolds,
  normalize,
  parseTomlFile,
  splitHash,
  zod,
  type LockedFile,
  type LockSelection,
  type PinnedPackage,
  type PinnedSet,
} from './pinned-set.ts';

async function uvSchema() {
  const { z } = await zod();
  const dependency = z.looseObject({
    name: z.string(),
    version: z.string().optional(),
    source: z.record(z.string(), z.unknown()).optional(),
    marker: z.string().optional(),
    extra: z.array(z.string()).optional(),
  });
  const file = z.looseObject({
    url: z.string().optional(),
    path: z.string().optional(),
    filename: z.string().optional(),
    hash: z.string().optional(),
    size: z.number().optional(),
  });
  const pkg = z.looseObject({
    name: z.string(),
    version: z.string().optional(),
    source: z.record(z.string(), z.unknown()),
    dependencies: z.array(dependency).optional(),
    'optional-dependencies': z.record(z.string(), z.array(dependency)).optional(),
    'dev-dependencies': z.record(z.string(), z.array(dependency)).optional(),
    wheels: z.array(file).optional(),
    sdist: file.optional(),
    metadata: z
      .looseObject({ 'requires-dist': z.array(z.looseObject({ name: z.string() })).optional() })
      .optional(),
  });
  return z.looseObject({
    version: z.number().int().min(1).max(1, 'lambda-deps reads uv.lock version 1'),
    'requires-python': z.string().optional(),
    manifest: z.looseObject({ members: z.array(z.string()).optional() }).optional(),
    package: z.array(pkg),
  });
}

type UvLock = Awaited<ReturnType<typeof uvSchema>> extends { parse(data: unknown): infer T } ? T : never;
type UvPackage = UvLock['package'][number];
type UvDependency = NonNullable<UvPackage['dependencies']>[number];

const REGENERATE = 'uv lock';

function isProjectSource(source: Record<string, unknown>): boolean {
  return 'editable' in source || 'virtual' in source;
}

/** The packages a dependency edge points at: by name, and by version/source when uv forked. */
function target(packages: readonly UvPackage[], edge: UvDependency, file: string): UvPackage {
  const name = normalize(edge.name);
  const matches = packages.filter(
    (entry) =>
      normalize(entry.name) === name &&
      (edge.version === undefined || entry.version === edge.version) &&
      (edge.source === undefined || JSON.stringify(entry.source) === JSON.stringify(edge.source)),
  );
  const found = matches[0];
  if (!found) {
    throw new InputError(`${file} names the dependency ${edge.name} but has no [[package]] for it.`, {
      location: { file, line: 1, column: 1 },
      packageName: name,
      hint: `The lock is incomplete or edited; regenerate it with \`${REGENERATE}\`.`,
    });
  }
  return found;
}

function lockedFiles(entry: UvPackage, file: string): LockedFile[] {
  // The sdist is listed too (never chosen) so a missing wheel is explained as such.
  const sdist = entry.sdist?.url
    ? [{ filename: filenameOfUrl(entry.sdist.url), url: entry.sdist.url, hashes: {}, size: null }]
    : [];
  return (entry.wheels ?? [])
    .map((wheel) => {
      const location = wheel.url ?? null;
      const filename =
        wheel.filename ?? (location ? filenameOfUrl(location) : (wheel.path ?? '').split('/').pop());
      if (!filename) {
        throw new InputError(`${file}: a wheel of ${entry.name} has no url, path or filename.`, {
          location: { file, line: 1, column: 1 },
          packageName: normalize(entry.name),
          hint: `Regenerate the lock with \`${REGENERATE}\`.`,
        });
      }
      const hash = wheel.hash ? splitHash(wheel.hash) : null;
      return {
        filename,
        url: location,
        hashes: hash ? { [hash[0]]: hash[1] } : {},
        size: wheel.size ?? null,
      };
    })
    .concat(sdist);
}

function pin(entry: UvPackage, file: string): PinnedPackage {
  const name = normalize(entry.name);
  const source = entry.source;
  if (typeof source.registry !== 'string' && typeof source.url !== 'string') {
    const kind = Object.keys(source)[0] ?? 'unknown';
    throw new InputError(
      `${file} takes ${entry.name} from a ${kind} source (${String(Object.values(source)[0])}), not from an index.`,
      {
        location: { file, line: 1, column: 1 },
        packageName: name,
        hint: 'lambda-deps installs wheels from package indexes only: build a wheel of it, publish it to an index, and lock again.',
      },
    );
  }
  return {
    name,
    version: entry.version ?? '',
    index: typeof source.registry === 'string' ? source.registry : null,
    files: lockedFiles(entry, file),
    hashes: [],
  };
}

/**
 * The pins of a uv.lock for the target, the extras (of the project) and the dependency groups asked for.
 * @example readUvLock(text, 'uv.lock', { target, extras: [], groups: ['lambda'] })
 */
export async function readUvLock(
  text: string,
  file: string,
  selection: LockSelection,
  pyproject: Record<string, unknown> | null = null,
): Promise<PinnedSet> {
  const lock = checkShape(await uvSchema(), parseTomlFile(text, file), file, 'uv.lock', REGENERATE);
  const roots = lock.package.filter((entry) => isProjectSource(entry.source));
  if (pyproject) checkInStep(roots, pyproject, file);
  if (roots.length === 0) {
    throw new InputError(
      `${file} has no project package (a [[package]] with an editable or virtual source).`,
      {
        location: { file, line: 1, column: 1 },
        hint: `Run \`${REGENERATE}\` in the project folder.`,
      },
    );
  }
  checkSelectionExists(roots, selection, file);
  const chosen = new Map<UvPackage, Set<string>>();
  const queue: { entry: UvPackage; extras: readonly string[] }[] = [];
  const follow = (edges: readonly UvDependency[] | undefined): void => {
    for (const edge of edges ?? []) {
      if (!markerHolds(edge.marker, selection, file)) continue;
      queue.push({ entry: target(lock.package, edge, file), extras: edge.extra ?? [] });
    }
  };
  for (const root of roots) {
    follow(root.dependencies);
    for (const extra of selection.extras) follow(findKey(root['optional-dependencies'], extra));
    for (const group of selection.groups) follow(findKey(root['dev-dependencies'], group));
  }
  for (let step = 0; queue.length > 0 && step < 1_000_000; step++) {
    const { entry, extras } = queue.shift() as { entry: UvPackage; extras: readonly string[] };
    if (isProjectSource(entry.source)) continue;
    const seen = chosen.get(entry);
    const fresh = extras.filter((extra) => !seen?.has(extra));
    if (seen && fresh.length === 0) continue;
    if (!seen) follow(entry.dependencies);
    chosen.set(entry, new Set([...(seen ?? []), ...extras]));
    for (const extra of fresh) follow(findKey(entry['optional-dependencies'], extra));
  }
  const packages = [...chosen.keys()].map((entry) => pin(entry, file));
  assertOneVersionEach(packages, file);
  const sources = [...new Set(packages.map((entry) => entry.index).filter((url): url is string => !!url))];
  return {
    format: 'uv.lock',
    file,
    requiresPython: lock['requires-python'] ?? null,
    sources,
    packages: packages.sort(byName),
  };
}

/**
 * The project's dependencies as pyproject.toml declares them must be the ones uv locked
 * (`[package.metadata] requires-dist`), as `uv sync --locked` insists: else the lock is stale.
 */
function checkInStep(roots: readonly UvPackage[], pyproject: Record<string, unknown>, file: string): void {
  const project = isTableValue(pyproject.project) ? pyproject.project : null;
  if (!project || typeof project.name !== 'string') return;
  const root = roots.find((entry) => normalize(entry.name) === normalize(project.name as string));
  const locked = root?.metadata?.['requires-dist'];
  if (!locked) return;
  const declared = new Set<string>();
  const optional = isTableValue(project['optional-dependencies']) ? project['optional-dependencies'] : {};
  for (const text of [
    ...(Array.isArray(project.dependencies) ? project.dependencies : []),
    ...Object.values(optional).flat(),
  ])
    declared.add(normalize(String(text).split(/[\s<>=!~;[(@]/)[0] ?? ''));
  const lockedNames = new Set(locked.map((entry) => normalize(entry.name)));
  const added = [...declared].filter((name) => name && !lockedNames.has(name));
  const removed = [...lockedNames].filter((name) => !declared.has(name));
  if (added.length === 0 && removed.length === 0) return;
  throw new InputError(
    `${file} is out of date with the pyproject.toml beside it (${[...added.map((name) => `${name} added`), ...removed.map((name) => `${name} removed`)].join(', ')}).`,
    {
      location: { file, line: 1, column: 1 },
      hint: 'Run `uv lock` and build again, so what is built is what was locked.',
    },
  );
}

function isTableValue(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function findKey<T>(table: Record<string, T> | undefined, name: string): T | undefined {
  if (!table) return undefined;
  const key = Object.keys(table).find((candidate) => normalize(candidate) === normalize(name));
  return key === undefined ? undefined : table[key];
}

function checkSelectionExists(roots: readonly UvPackage[], selection: LockSelection, file: string): void {
  const check = (
    names: readonly string[],
    key: 'optional-dependencies' | 'dev-dependencies',
    what: string,
  ) => {
    for (const name of names) {
      if (roots.some((root) => findKey(root[key], name) !== undefined)) continue;
      const known = [...new Set(roots.flatMap((root) => Object.keys(root[key] ?? {})))];
      throw new InputError(`${file} has no ${what} "${name}".`, {
        location: { file, line: 1, column: 1 },
        hint: known.length > 0 ? `Known ${what}s: ${known.join(', ')}.` : `The project declares no ${what}s.`,
      });
    }
  };
  check(selection.extras, 'optional-dependencies', 'extra');
  check(selection.groups, 'dev-dependencies', 'dependency group');
}

/** Two versions of one package for one target means the markers were read wrongly or the lock was edited. */
export function assertOneVersionEach(packages: readonly PinnedPackage[], file: string): void {
  const byNameMap = new Map<string, string>();
  for (const entry of packages) {
    const other = byNameMap.get(entry.name);
    if (other !== undefined && other !== entry.version) {
      throw new InputError(
        `${file} selects two versions of ${entry.name} (${other} and ${entry.version}) for this target.`,
        {
          location: { file, line: 1, column: 1 },
          packageName: entry.name,
          hint: 'Lock again for this target; only one version of a package can be installed.',
        },
      );
    }
    byNameMap.set(entry.name, entry.version);
  }
}
