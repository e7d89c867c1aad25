// Reads Poetry projects: poetry.lock for one target (from the pyproject's `[tool.poetry]` or
// `[project]` roots, or from the per-package `groups`/`markers` that lock-version 2.1 records),
// and a Poetry pyproject without its lock as requirements to resolve. Poetry's own constraint
// syntax (`^1.2`, `~1.2`, `1.*`, `>=1,<2`) is translated to PEP 440 here.
import { satisfiesSpecifier as satisfies } from '../../shared/pep440.ts';
import { InputError } from '../../shared/errors.ts';
import { PYPI_SIMPLE_URL } from '../pip-config.ts';
import { parseRequirement } from '../pep508.ts';
import { pythonFullVersion } from '../../shared/targets.ts';
import type { Requirement, Target } from '../../shared/types.ts';
import { assertOneVersionEach } from './uv-lock.ts';
import {
  byName,
  checkShape,
  isTable,
  markerHolds,
  normalize,
  parseTomlFile,
  splitHash,
  zod,
  type LockSelection,
  type PinnedPackage,
  type PinnedSet,
} from './pinned-set.ts';

const REGENERATE = 'poetry lock';

async function poetrySchema() {
  const { z } = await zod();
  const pkg = z.looseObject({
    name: z.string(),
    version: z.string(),
    optional: z.boolean().optional(),
    'python-versions': z.string().optional(),
    groups: z.array(z.string()).optional(),
    markers: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
    files: z.array(z.looseObject({ file: z.string(), hash: z.string() })).optional(),
    dependencies: z.record(z.string(), z.unknown()).optional(),
    extras: z.record(z.string(), z.array(z.string())).optional(),
    source: z.looseObject({ type: z.string().optional(), url: z.string().optional() }).optional(),
  });
  return z.looseObject({
    package: z.array(pkg).default([]),
    metadata: z.looseObject({
      'lock-version': z.string().optional(),
      'python-versions': z.string().optional(),
    }),
  });
}

type PoetryLock =
  Awaited<ReturnType<typeof poetrySchema>> extends { parse(data: unknown): infer T } ? T : never;
type PoetryPackage = PoetryLock['package'][number];

/** One dependency as Poetry writes it: its version constraint, markers, python range, extras, optional flag. */
interface PoetryDependency {
  readonly name: string;
  readonly version: string;
  readonly markers: string | null;
  readonly python: string | null;
  readonly extras: readonly string[];
  readonly optional: boolean;
}

/** Each value in `[tool.poetry.dependencies]` or `[package.dependencies]`: a string, a table, or an array of them. */
export function poetryDependencies(
  table: Record<string, unknown> | undefined,
  file: string,
): PoetryDependency[] {
  const result: PoetryDependency[] = [];
  for (const [name, value] of Object.entries(table ?? {})) {
    for (const entry of Array.isArray(value) ? value : [value]) {
      if (typeof entry === 'string') {
        result.push({ name, version: entry, markers: null, python: null, extras: [], optional: false });
        continue;
      }
      if (!isTable(entry)) throw badDependency(name, file);
      if ('git' in entry || 'path' in entry || 'url' in entry) {
        throw new InputError(
          `${file}: ${name} comes from ${'git' in entry ? 'git' : 'path' in entry ? 'a path' : 'a URL'}, not from an index.`,
          {
            location: { file, line: 1, column: 1 },
            packageName: normalize(name),
            hint: 'lambda-deps installs wheels from package indexes only: build a wheel of it, publish it to an index, and lock again.',
          },
        );
      }
      result.push({
        name,
        version: typeof entry.version === 'string' ? entry.version : '*',
        markers: typeof entry.markers === 'string' ? entry.markers : null,
        python: typeof entry.python === 'string' ? entry.python : null,
        extras: Array.isArray(entry.extras) ? entry.extras.map(String) : [],
        optional: entry.optional === true,
      });
    }
  }
  return result;
}

function badDependency(name: string, file: string): InputError {
  return new InputError(`${file}: the dependency ${name} is neither a version string nor a table.`, {
    location: { file, line: 1, column: 1 },
    packageName: normalize(name),
    hint: 'Write it as name = "^1.2" or name = { version = "^1.2", extras = ["x"] }.',
  });
}

/**
 * A Poetry constraint as a PEP 440 specifier: `^1.2.3` → `>=1.2.3,<2.0.0`, `~1.2` → `>=1.2,<1.3`,
 * `1.2.*` → `==1.2.*`, `1.2.3` → `==1.2.3`, `*` → ''. `||` has no PEP 440 form: InputError.
 */
export function poetryConstraintToPep440(constraint: string, where: string): string {
  const text = constraint.trim();
  if (text.includes('||')) {
    throw new InputError(
      `${where}: the constraint "${constraint}" uses "||", which PEP 440 cannot express.`,
      {
        hint: 'Narrow it to one range, or export the lock: `poetry export -f requirements.txt --with-hashes`.',
      },
    );
  }
  const parts = text
    .split(/\s*,\s*|\s+(?=[<>=!~^])/)
    .map((part) => part.trim())
    .filter(Boolean);
  return parts.map(convertPart).filter(Boolean).join(',');
}

function convertPart(part: string): string {
  if (part === '*' || part === '') return '';
  const bump = (release: number[], index: number): string => {
    const next = release.slice(0, index + 1);
    next[index] = (next[index] ?? 0) + 1;
    return next.join('.');
  };
  const release = (version: string): number[] =>
    version.split('.').map((piece) => Number.parseInt(piece, 10) || 0);
  if (part.startsWith('^')) {
    const version = part.slice(1).trim();
    const numbers = release(version);
    const first = numbers.findIndex((value) => value !== 0);
    const index = first === -1 ? Math.max(numbers.length - 1, 0) : first;
    return `>=${version},<${bump(numbers, index)}`;
  }
  if (part.startsWith('~') && !part.startsWith('~=')) {
    const version = part.slice(1).trim();
    const numbers = release(version);
    return `>=${version},<${bump(numbers, numbers.length >= 2 ? 1 : 0)}`;
  }
  if (/^(==|!=|<=|>=|<|>|~=|===)/.test(part)) return part.replace(/\s+/g, '');
  if (part.startsWith('=')) return `=${part}`;
  return `==${part}`;
}

/** Whether a Poetry version constraint (alternatives with `||` allowed) admits a version. */
function constraintAllows(version: string, constraint: string, where: string): boolean {
  return constraint.split('||').some((alternative) => {
    const spec = poetryConstraintToPep440(alternative, where);
    return spec === '' || satisfies(version, spec);
  });
}

/** Whether a Poetry python constraint (`>=3.8,<4`, `^3.9`, `>=3.7 || >=3.11`) admits the target's Python. */
export function pythonConstraintHolds(constraint: string | null, target: Target, where: string): boolean {
  if (!constraint || constraint.trim() === '*' || constraint.trim() === '') return true;
  const version = pythonFullVersion(target);
  return constraint.split('||').some((alternative) => {
    const spec = poetryConstraintToPep440(alternative, where);
    return spec === '' || satisfies(version, spec);
  });
}

function dependencyApplies(dependency: PoetryDependency, selection: LockSelection, file: string): boolean {
  return (
    markerHolds(dependency.markers, selection, file) &&
    pythonConstraintHolds(dependency.python, selection.target, file)
  );
}

/** The pyproject's direct dependencies for the selection: main, the groups asked for, extras. */
export function poetryRoots(
  pyproject: Record<string, unknown>,
  selection: LockSelection,
  file: string,
): PoetryDependency[] {
  return collectRoots(pyproject, selection.extras, selection.groups, file).filter((entry) =>
    dependencyApplies(entry, selection, file),
  );
}

function collectRoots(
  pyproject: Record<string, unknown>,
  selectedExtras: readonly string[],
  selectedGroups: readonly string[],
  file: string,
): PoetryDependency[] {
  const tool = isTable(pyproject.tool) && isTable(pyproject.tool.poetry) ? pyproject.tool.poetry : {};
  const main = poetryDependencies(isTable(tool.dependencies) ? tool.dependencies : {}, file).filter(
    (entry) => normalize(entry.name) !== 'python',
  );
  const project = isTable(pyproject.project) ? pyproject.project : {};
  const pep621 = Array.isArray(project.dependencies) ? project.dependencies.map(String) : [];
  const optional = isTable(project['optional-dependencies']) ? project['optional-dependencies'] : {};
  const roots = [...main, ...pep621.map((text) => fromPep508(text, file))];
  const extras = isTable(tool.extras) ? tool.extras : {};
  for (const extra of selectedExtras) {
    const key = Object.keys({ ...extras, ...optional }).find((name) => normalize(name) === normalize(extra));
    if (key === undefined)
      throw new InputError(`${file} has no extra "${extra}".`, {
        location: { file, line: 1, column: 1 },
        hint: `Known extras: ${Object.keys({ ...extras, ...optional }).join(', ') || 'none'}.`,
      });
    const names = new Set(
      (Array.isArray(extras[key]) ? extras[key] : []).map((name) => normalize(String(name))),
    );
    for (const entry of main) if (names.has(normalize(entry.name))) roots.push({ ...entry, optional: false });
    for (const text of Array.isArray(optional[key]) ? optional[key] : [])
      roots.push(fromPep508(String(text), file));
  }
  const groups = isTable(tool.group) ? tool.group : {};
  for (const group of selectedGroups) {
    const legacyDev =
      normalize(group) === 'dev' && isTable(tool['dev-dependencies']) ? tool['dev-dependencies'] : null;
    const key = Object.keys(groups).find((name) => normalize(name) === normalize(group));
    const table = key !== undefined && isTable(groups[key]) ? groups[key] : null;
    if (!table && !legacyDev) {
      throw new InputError(`${file} has no Poetry dependency group "${group}".`, {
        location: { file, line: 1, column: 1 },
        hint: `Known groups: ${Object.keys(groups).join(', ') || 'none'}.`,
      });
    }
    const dependencies = legacyDev ?? (table && isTable(table.dependencies) ? table.dependencies : {});
    roots.push(...poetryDependencies(dependencies, file));
  }
  return roots.filter((entry) => !entry.optional);
}

function fromPep508(text: string, file: string): PoetryDependency {
  const requirement = parseRequirement(text, { file, line: 1, column: 1 });
  return {
    name: requirement.name,
    version: requirement.specifier || '*',
    markers: markerText(text),
    python: null,
    extras: requirement.extras,
    optional: false,
  };
}

function markerText(text: string): string | null {
  const index = text.indexOf(';');
  return index >= 0 ? text.slice(index + 1).trim() : null;
}

/**
 * `[[tool.poetry.source]]` as index options: a `primary` (or legacy `default`) source replaces
 * PyPI, `supplemental` ones are extra indexes; `explicit` ones serve only packages that name them,
 * which a requirements set cannot say, so they are left out.
 */
export function poetrySourceOptions(pyproject: Record<string, unknown>): {
  indexUrl?: string;
  extraIndexUrls?: string[];
} {
  const tool = isTable(pyproject.tool) && isTable(pyproject.tool.poetry) ? pyproject.tool.poetry : {};
  const sources = Array.isArray(tool.source) ? tool.source.filter(isTable) : [];
  const url = (source: Record<string, unknown>): string => String(source.url ?? '');
  const priority = (source: Record<string, unknown>): string =>
    typeof source.priority === 'string' ? source.priority : source.default === true ? 'default' : 'primary';
  const primary = sources.filter(
    (source) => ['primary', 'default'].includes(priority(source)) && url(source),
  );
  const supplemental = sources.filter((source) => priority(source) === 'supplemental' && url(source));
  const [first, ...rest] = primary.map(url);
  return {
    ...(first ? { indexUrl: first } : {}),
    ...(rest.length + supplemental.length > 0 ? { extraIndexUrls: [...rest, ...supplemental.map(url)] } : {}),
  };
}

/** The Poetry `python` requirement (`[tool.poetry.dependencies] python = "^3.11"`) as PEP 440, or null. */
export function poetryRequiresPython(pyproject: Record<string, unknown>, file: string): string | null {
  const tool = isTable(pyproject.tool) && isTable(pyproject.tool.poetry) ? pyproject.tool.poetry : {};
  const dependencies = isTable(tool.dependencies) ? tool.dependencies : {};
  const python = dependencies.python;
  if (typeof python === 'string' && !python.includes('||'))
    return poetryConstraintToPep440(python, file) || null;
  const project = isTable(pyproject.project) ? pyproject.project : {};
  return typeof project['requires-python'] === 'string' ? project['requires-python'] : null;
}

/** A Poetry python range as a PEP 508 marker on python_full_version (`>=3.8,<4` → `python_full_version >= "3.8" and …`). */
function pythonMarker(python: string | null, where: string): string | null {
  if (!python || python.trim() === '*') return null;
  const alternatives = python.split('||').map((alternative) => {
    const clauses = poetryConstraintToPep440(alternative, where).split(',').filter(Boolean);
    return clauses.map((clause) => {
      const match = /^(===|==|!=|<=|>=|<|>|~=)(.+)$/.exec(clause) as RegExpExecArray;
      return `python_full_version ${match[1]} "${match[2]}"`;
    });
  });
  if (alternatives.some((clauses) => clauses.length === 0)) return null;
  return alternatives.map((clauses) => `(${clauses.join(' and ')})`).join(' or ');
}

/**
 * A Poetry pyproject without a lock, as requirements to resolve: each dependency's markers and
 * python range become its PEP 508 marker.
 */
export function poetryRequirements(
  pyproject: Record<string, unknown>,
  extras: readonly string[],
  groups: readonly string[],
  file: string,
): Requirement[] {
  return collectRoots(pyproject, extras, groups, file).map((entry) => {
    const where = `${file}: ${entry.name}`;
    const extrasText = entry.extras.length > 0 ? `[${entry.extras.join(',')}]` : '';
    const spec = poetryConstraintToPep440(entry.version, where);
    const markers = [entry.markers, pythonMarker(entry.python, where)]
      .filter(Boolean)
      .map((marker) => `(${marker})`);
    const markerText = markers.length > 0 ? `; ${markers.join(' and ')}` : '';
    return parseRequirement(`${entry.name}${extrasText}${spec}${markerText}`, { file, line: 1, column: 1 });
  });
}

function pinPoetry(entry: PoetryPackage): PinnedPackage {
  const source = entry.source;
  const index =
    source?.url && source.type !== 'file' && source.type !== 'directory' && source.type !== 'git'
      ? source.url
      : null;
  if (source?.type === 'git' || source?.type === 'directory' || source?.type === 'file') {
    throw new InputError(`poetry.lock takes ${entry.name} from a ${source.type} source, not from an index.`, {
      packageName: normalize(entry.name),
      hint: 'lambda-deps installs wheels from package indexes only: build a wheel of it, publish it to an index, and lock again.',
    });
  }
  return {
    name: normalize(entry.name),
    version: entry.version,
    index,
    files: (entry.files ?? []).map((item) => {
      const hash = splitHash(item.hash);
      return { filename: item.file, url: null, hashes: hash ? { [hash[0]]: hash[1] } : {}, size: null };
    }),
    hashes: [],
  };
}

/** Lock-version 2.1 records, per package, the groups that need it and under which markers. */
function selectedByLockGroups(lock: PoetryLock, selection: LockSelection, file: string): PoetryPackage[] {
  const groups = new Set(['main', ...selection.groups.map(normalize)]);
  return lock.package.filter((entry) => {
    const inGroups = (entry.groups ?? ['main']).filter((group) => groups.has(normalize(group)));
    if (inGroups.length === 0) return false;
    const markers = entry.markers;
    const markerFor = (group: string): string | undefined =>
      typeof markers === 'string' ? markers : markers?.[group];
    return inGroups.some((group) => {
      const marker = markerFor(group);
      if (markerHolds(marker, selection, file)) return true;
      return selection.extras.some((extra) => markerHolds(marker, selection, file, normalize(extra)));
    });
  });
}

function selectedByWalk(
  lock: PoetryLock,
  roots: readonly PoetryDependency[],
  selection: LockSelection,
  file: string,
): PoetryPackage[] {
  const byNameMap = new Map<string, PoetryPackage[]>();
  for (const entry of lock.package)
    byNameMap.set(normalize(entry.name), [...(byNameMap.get(normalize(entry.name)) ?? []), entry]);
  const chosen = new Map<PoetryPackage, Set<string>>();
  const queue: PoetryDependency[] = [...roots];
  for (let step = 0; queue.length > 0 && step < 1_000_000; step++) {
    const dependency = queue.shift() as PoetryDependency;
    const candidates = byNameMap.get(normalize(dependency.name)) ?? [];
    const entry =
      candidates.find((candidate) => constraintAllows(candidate.version, dependency.version, file)) ??
      candidates[0];
    if (!entry) {
      throw new InputError(`${file} has no [[package]] for ${dependency.name}, which the project needs.`, {
        location: { file, line: 1, column: 1 },
        packageName: normalize(dependency.name),
        hint: `The lock is out of date with pyproject.toml; run \`${REGENERATE}\`.`,
      });
    }
    const seen = chosen.get(entry);
    const fresh = dependency.extras.map(normalize).filter((extra) => !seen?.has(extra));
    if (seen && fresh.length === 0) continue;
    const active = new Set([...(seen ?? []), ...fresh]);
    chosen.set(entry, active);
    for (const child of poetryDependencies(entry.dependencies, file)) {
      if (!dependencyApplies(child, selection, file)) continue;
      if (child.optional && !optionalWanted(entry, child.name, active)) continue;
      queue.push(child);
    }
  }
  return [...chosen.keys()];
}

/** An optional dependency is installed when one of the package's active extras lists it. */
function optionalWanted(entry: PoetryPackage, name: string, extras: ReadonlySet<string>): boolean {
  return Object.entries(entry.extras ?? {}).some(
    ([extra, members]) =>
      extras.has(normalize(extra)) &&
      members.some((member) => normalize(member.split(/[\s(<>=!~;[]/)[0] ?? '') === normalize(name)),
  );
}

/**
 * The pins of a poetry.lock for the target. `pyproject` (the pyproject.toml beside it) gives the
 * roots; without it, lock-version 2.1's per-package groups and markers are used.
 */
export async function readPoetryLock(
  text: string,
  file: string,
  selection: LockSelection,
  pyproject: Record<string, unknown> | null,
): Promise<PinnedSet> {
  const lock = checkShape(await poetrySchema(), parseTomlFile(text, file), file, 'poetry.lock', REGENERATE);
  const hasGroups = lock.package.some((entry) => entry.groups !== undefined);
  let selected: PoetryPackage[];
  if (pyproject) selected = selectedByWalk(lock, poetryRoots(pyproject, selection, file), selection, file);
  else if (hasGroups) selected = selectedByLockGroups(lock, selection, file);
  else {
    throw new InputError(
      `${file} does not say which packages the project needs (lock-version ${lock.metadata['lock-version'] ?? '?'}), and there is no pyproject.toml beside it.`,
      {
        location: { file, line: 1, column: 1 },
        hint: 'Name the pyproject.toml beside the lock, or lock again with Poetry 2 (lock-version 2.1).',
      },
    );
  }
  const packages = selected.map(pinPoetry);
  assertOneVersionEach(packages, file);
  const indexes = [...new Set(packages.map((entry) => entry.index).filter((url): url is string => !!url))];
  const requiresPython = pyproject ? poetryRequiresPython(pyproject, file) : null;
  const lockPython = lock.metadata['python-versions'];
  return {
    format: 'poetry.lock',
    file,
    requiresPython:
      requiresPython ??
      (lockPython && !lockPython.includes('||') ? poetryConstraintToPep440(lockPython, file) || null : null),
    sources: [PYPI_SIMPLE_URL, ...indexes],
    packages: packages.sort(byName),
  };
}
