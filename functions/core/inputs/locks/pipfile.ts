// Reads Pipenv's files: Pipfile.lock (JSON: `default` plus the categories asked for as groups,
// each package pinned `==V` with the sha256 of every file pipenv accepted, an optional marker
// and the name of one of `_meta.sources`), and a Pipfile without its lock as requirements to
// resolve, with its `[[source]]` indexes and `[requires] python_version`.
import { InputError } from '../../shared/errors.ts';
import { parseRequirement } from '../pep508.ts';
import type { Requirement } from '../../shared/types.ts';
import {
  byName,
  checkShape,
  isTable,
  markerHolds,
  normalize,
  parseTomlFile,
  zod,
  type LockSelection,
  type PinnedPackage,
  type PinnedSet,
} from './pinned-set.ts';
import { assertOneVersionEach } from './uv-lock.ts';

const REGENERATE = 'pipenv lock';

async function pipfileLockSchema() {
  const { z } = await zod();
  const entry = z.looseObject({
    version: z.string().optional(),
    hashes: z.array(z.string()).optional(),
    markers: z.string().optional(),
    index: z.string().optional(),
    extras: z.array(z.string()).optional(),
    git: z.string().optional(),
    path: z.string().optional(),
    file: z.string().optional(),
    editable: z.boolean().optional(),
  });
  const source = z.looseObject({ name: z.string(), url: z.string() });
  return z.looseObject({
    _meta: z.looseObject({
      sources: z.array(source).default([]),
      requires: z
        .looseObject({ python_version: z.string().optional(), python_full_version: z.string().optional() })
        .default({}),
    }),
    default: z.record(z.string(), entry).default({}),
    develop: z.record(z.string(), entry).default({}),
  });
}

type PipfileLock =
  Awaited<ReturnType<typeof pipfileLockSchema>> extends { parse(data: unknown): infer T } ? T : never;
type PipfileLockEntry = PipfileLock['default'][string];

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file} is not valid JSON: ${(error as Error).message}.`, {
      location: { file, line: 1, column: 1 },
      hint: `Regenerate it with \`${REGENERATE}\`.`,
      cause: error,
    });
  }
}

/** Pipenv categories: `default` always; groups name others (`dev`/`develop` is the develop section). */
function categories(
  lock: PipfileLock,
  groups: readonly string[],
  file: string,
): [string, Record<string, PipfileLockEntry>][] {
  const chosen: [string, Record<string, PipfileLockEntry>][] = [['default', lock.default]];
  for (const group of groups) {
    const key = ['dev', 'develop', 'dev-packages'].includes(normalize(group)) ? 'develop' : group;
    const section = (lock as Record<string, unknown>)[key];
    if (!isTable(section)) {
      throw new InputError(`${file} has no category "${group}".`, {
        location: { file, line: 1, column: 1 },
        hint: `Known categories: ${Object.keys(lock)
          .filter((name) => name !== '_meta')
          .join(', ')}.`,
      });
    }
    chosen.push([key, section as Record<string, PipfileLockEntry>]);
  }
  return chosen;
}

function pinEntry(
  name: string,
  entry: PipfileLockEntry,
  sources: PipfileLock['_meta']['sources'],
  file: string,
): PinnedPackage {
  const packageName = normalize(name);
  if (entry.git || entry.path || entry.file || entry.editable) {
    throw new InputError(
      `${file} takes ${name} from ${entry.git ? 'git' : 'a local path or URL'}, not from an index.`,
      {
        location: { file, line: 1, column: 1 },
        packageName,
        hint: 'lambda-deps installs wheels from package indexes only: build a wheel of it, publish it to an index, and lock again.',
      },
    );
  }
  const version = /^===?\s*(.+)$/.exec(entry.version ?? '')?.[1];
  if (!version) {
    throw new InputError(
      `${file} does not pin ${name} to one version (version is "${entry.version ?? ''}").`,
      {
        location: { file, line: 1, column: 1 },
        packageName,
        hint: `Regenerate it with \`${REGENERATE}\`.`,
      },
    );
  }
  const index = entry.index ? sources.find((source) => source.name === entry.index)?.url : undefined;
  if (entry.index && !index) {
    throw new InputError(
      `${file}: ${name} names the index "${entry.index}", which _meta.sources does not list.`,
      {
        location: { file, line: 1, column: 1 },
        packageName,
        hint: `Regenerate it with \`${REGENERATE}\`.`,
      },
    );
  }
  return {
    name: packageName,
    version: version.trim(),
    index: index ?? null,
    files: [],
    hashes: entry.hashes ?? [],
  };
}

/** The pins of a Pipfile.lock for the target: `default` plus the categories named as groups, markers evaluated. */
export async function readPipfileLock(
  text: string,
  file: string,
  selection: LockSelection,
): Promise<PinnedSet> {
  const lock = checkShape(await pipfileLockSchema(), parseJson(text, file), file, 'Pipfile.lock', REGENERATE);
  const pins = new Map<string, PinnedPackage>();
  for (const [, section] of categories(lock, selection.groups, file)) {
    for (const [name, entry] of Object.entries(section)) {
      if (!markerHolds(entry.markers, selection, file)) continue;
      const pinned = pinEntry(name, entry, lock._meta.sources, file);
      if (!pins.has(pinned.name)) pins.set(pinned.name, pinned);
    }
  }
  const packages = [...pins.values()];
  assertOneVersionEach(packages, file);
  const requires = lock._meta.requires;
  return {
    format: 'Pipfile.lock',
    file,
    requiresPython: requires.python_full_version
      ? `==${requires.python_full_version}`
      : requires.python_version
        ? `==${requires.python_version}.*`
        : null,
    sources: lock._meta.sources.map((source) => source.url),
    packages: packages.sort(byName),
  };
}

/** What a Pipfile (without its lock) asks for: requirements, its indexes and its python_version. */
export interface PipfileInput {
  readonly requirements: readonly Requirement[];
  readonly sources: readonly string[];
  readonly requiresPython: string | null;
}

/** A Pipfile as requirements to resolve: `[packages]` plus the categories named as groups. */
export function readPipfile(text: string, file: string, groups: readonly string[]): PipfileInput {
  const document = parseTomlFile(text, file);
  const sections: [string, unknown][] = [['packages', document.packages ?? {}]];
  for (const group of groups) {
    const key = ['dev', 'develop', 'dev-packages'].includes(normalize(group)) ? 'dev-packages' : group;
    if (!isTable(document[key])) {
      throw new InputError(`${file} has no category [${key}].`, {
        location: { file, line: 1, column: 1 },
        hint: 'Pipfile categories are [packages], [dev-packages] and any custom [name] table.',
      });
    }
    sections.push([key, document[key]]);
  }
  const requirements: Requirement[] = [];
  for (const [section, table] of sections) {
    if (!isTable(table)) continue;
    for (const [name, value] of Object.entries(table))
      requirements.push(pipfileRequirement(name, value, `${file} [${section}]`, file));
  }
  const sources = Array.isArray(document.source)
    ? document.source.filter(isTable).map((source) => String(source.url ?? ''))
    : [];
  const requires = isTable(document.requires) ? document.requires : {};
  const python = typeof requires.python_version === 'string' ? `==${requires.python_version}.*` : null;
  return { requirements, sources: sources.filter(Boolean), requiresPython: python };
}

function pipfileRequirement(name: string, value: unknown, where: string, file: string): Requirement {
  const location = { file, line: 1, column: 1 };
  const spec = (text: unknown): string =>
    typeof text !== 'string' || text.trim() === '*' ? '' : text.trim();
  if (typeof value === 'string') return parseRequirement(`${name}${spec(value)}`, location);
  if (!isTable(value)) {
    throw new InputError(`${where}: ${name} is neither a version string nor a table.`, {
      location,
      packageName: normalize(name),
      hint: 'Write it as name = "==1.2" or name = { version = "*", extras = ["x"] }.',
    });
  }
  if ('git' in value || 'path' in value || 'file' in value) {
    throw new InputError(`${where}: ${name} comes from git or a path, not from an index.`, {
      location,
      packageName: normalize(name),
      hint: 'lambda-deps installs wheels from package indexes only: build a wheel of it, publish it to an index.',
    });
  }
  const extras = Array.isArray(value.extras) && value.extras.length > 0 ? `[${value.extras.join(',')}]` : '';
  const marker = typeof value.markers === 'string' ? `; ${value.markers}` : '';
  return parseRequirement(`${name}${extras}${spec(value.version)}${marker}`, location);
}
