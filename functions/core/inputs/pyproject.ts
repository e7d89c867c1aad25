// Reads the dependencies a pyproject.toml declares (PEP 621): `[project].dependencies` plus
// the `[project.optional-dependencies]` groups asked for with `--extra NAME` and the PEP 735
// `[dependency-groups]` asked for with `--group NAME` (with `include-group`), as a RequirementSet
// with every requirement pointing at its line in the file. A Poetry project (`[tool.poetry]`,
// no `[project]` dependencies) is read through locks/poetry.ts.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { InputError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import { parseRequirement } from './pep508.ts';
import { checkDirectUrl } from './requirements-file.ts';
import type { Requirement, RequirementSet, SourceLocation } from '../shared/types.ts';
import { poetryRequirements, poetryRequiresPython, poetrySourceOptions } from './locks/poetry.ts';

/** A pyproject.toml read for some extras and groups: the requirements, its requires-python and the parsed document. */
export interface PyprojectInput {
  readonly set: RequirementSet;
  readonly requiresPython: string | null;
  readonly document: Record<string, unknown>;
}

/**
 * The requirements of a pyproject.toml for the given extras (optional-dependency group names,
 * compared PEP 685-normalized). Direct references must be wheels over http(s), under
 * `allowedIndexes` when given.
 * @example await readPyprojectDependencies('pyproject.toml', ['aws'])
 */
export async function readPyprojectDependencies(
  path: string,
  extras: readonly string[],
  options: { readonly allowedIndexes?: readonly string[] | null; readonly groups?: readonly string[] } = {},
): Promise<RequirementSet> {
  return (await readPyproject(path, extras, options)).set;
}

/**
 * readPyprojectDependencies plus the project's requires-python and the parsed document.
 * @example const { set, requiresPython } = await readPyproject('pyproject.toml', [], { groups: ['lambda'] });
 */
export async function readPyproject(
  path: string,
  extras: readonly string[],
  options: { readonly allowedIndexes?: readonly string[] | null; readonly groups?: readonly string[] } = {},
): Promise<PyprojectInput> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`Could not open ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`, {
      location: { file, line: 1, column: 1 },
      hint: 'Check the path to pyproject.toml.',
      cause: error,
    });
  }
  let document: Record<string, unknown>;
  try {
    document = parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      throw new InputError(`${file} is not valid TOML: ${error.message.split('\n')[0]}`, {
        location: { file, line: error.line, column: error.column },
        hint: 'Fix the TOML syntax at this place (see https://toml.io).',
        cause: error,
      });
    }
    throw error;
  }
  const lines = text.split(/\r\n|\n|\r/);
  const groupNames = options.groups ?? [];
  const tool = document.tool;
  const project = document.project;
  if (isTable(tool) && isTable(tool.poetry) && (!isTable(project) || project.dependencies === undefined)) {
    if (!isTable(tool.poetry.dependencies) && groupNames.length === 0) {
      throw new InputError(`${file} is a Poetry project that declares no dependencies`, {
        location: locate(lines, file, 'tool.poetry'),
        hint: 'Add them under [tool.poetry.dependencies], or export the lock: `poetry export -f requirements.txt --with-hashes`.',
      });
    }
    const requirements = [
      ...poetryRequirements(
        document,
        extras,
        groupNames.filter((name) => !hasGroup(document, name)),
        file,
      ),
      ...readDependencyGroups(
        document,
        groupNames.filter((name) => hasGroup(document, name)),
        file,
        lines,
      ),
    ];
    return {
      set: { ...setOf(requirements, file, options), fileIndexOptions: poetrySourceOptions(document) },
      requiresPython: poetryRequiresPython(document, file),
      document,
    };
  }
  if (!isTable(project)) {
    if (isTable(document['dependency-groups'])) {
      const requirements = readDependencyGroups(document, groupNames, file, lines);
      return { set: setOf(requirements, file, options), requiresPython: null, document };
    }
    throw new InputError(`${file} has no [project] table`, {
      location: { file, line: 1, column: 1 },
      hint: 'Declare dependencies under [project] dependencies = [...] (PEP 621), [tool.poetry.dependencies], or [dependency-groups] (PEP 735).',
    });
  }
  const requirements: Requirement[] = [];
  requirements.push(...readArray(project.dependencies, 'dependencies', file, lines, 'project'));
  requirements.push(...readDependencyGroups(document, groupNames, file, lines));

  const groups = project['optional-dependencies'] ?? {};
  if (!isTable(groups)) {
    throw new InputError(`[project.optional-dependencies] in ${file} is not a table`, {
      location: locate(lines, file, 'optional-dependencies'),
      hint: 'Write optional dependency groups as [project.optional-dependencies] name = ["pkg>=1"].',
    });
  }
  const byNormalizedName = new Map(Object.keys(groups).map((name) => [canonicalizeName(name), name]));
  for (const extra of extras) {
    const groupName = byNormalizedName.get(canonicalizeName(extra));
    if (groupName === undefined) {
      const known = [...byNormalizedName.values()];
      throw new InputError(`${file} has no optional-dependency group "${extra}"`, {
        location: locate(lines, file, 'optional-dependencies'),
        hint:
          known.length > 0
            ? `Known groups: ${known.join(', ')}.`
            : 'This project declares no optional-dependency groups.',
      });
    }
    requirements.push(
      ...readArray(groups[groupName], groupName, file, lines, `optional-dependencies.${groupName}`),
    );
  }
  const requiresPython = typeof project['requires-python'] === 'string' ? project['requires-python'] : null;
  return { set: setOf(requirements, file, options), requiresPython, document };
}

function setOf(
  requirements: readonly Requirement[],
  file: string,
  options: { readonly allowedIndexes?: readonly string[] | null },
): RequirementSet {
  // Direct references follow the same rule as in requirements files: wheels over http(s) only.
  const checked = requirements.map((requirement) =>
    requirement.url
      ? checkDirectUrl(requirement, requirement.url, requirement.source, options.allowedIndexes ?? null)
      : requirement,
  );
  return {
    requirements: checked,
    constraints: [],
    fileIndexOptions: {},
    hashCheckingMode: false,
    files: [file],
  };
}

function hasGroup(document: Record<string, unknown>, name: string): boolean {
  const groups = document['dependency-groups'];
  return (
    isTable(groups) && Object.keys(groups).some((key) => canonicalizeName(key) === canonicalizeName(name))
  );
}

/**
 * PEP 735 `[dependency-groups]`: the named groups' requirement strings, following
 * `{include-group = "other"}` (a cycle is an error, as the PEP says).
 */
export function readDependencyGroups(
  document: Record<string, unknown>,
  names: readonly string[],
  file: string,
  lines: readonly string[],
): Requirement[] {
  if (names.length === 0) return [];
  const table = document['dependency-groups'] ?? {};
  if (!isTable(table)) {
    throw new InputError(`[dependency-groups] in ${file} is not a table`, {
      location: locate(lines, file, 'dependency-groups'),
      hint: 'Write groups as [dependency-groups] name = ["pkg>=1", { include-group = "other" }] (PEP 735).',
    });
  }
  const byNormalizedName = new Map(Object.keys(table).map((name) => [canonicalizeName(name), name]));
  const requirements: Requirement[] = [];
  const expand = (name: string, trail: readonly string[]): void => {
    const key = byNormalizedName.get(canonicalizeName(name));
    if (key === undefined) {
      const known = [...byNormalizedName.values()];
      throw new InputError(`${file} has no dependency group "${name}"`, {
        location: locate(lines, file, 'dependency-groups'),
        hint:
          known.length > 0
            ? `Known groups: ${known.join(', ')}.`
            : 'This project declares no [dependency-groups].',
      });
    }
    if (trail.includes(key)) {
      throw new InputError(
        `${file}: dependency group "${key}" includes itself (${[...trail, key].join(' → ')})`,
        {
          location: locate(lines, file, key),
          hint: 'Remove one include-group of the cycle (PEP 735 forbids cycles).',
        },
      );
    }
    const entries = table[key];
    if (!Array.isArray(entries)) {
      throw new InputError(`dependency-groups.${key} in ${file} must be an array`, {
        location: locate(lines, file, key),
        hint: `Write ${key} = ["requests>=2.31", { include-group = "other" }].`,
      });
    }
    for (const entry of entries) {
      if (typeof entry === 'string')
        requirements.push(parseRequirement(entry, locateString(lines, file, entry, key)));
      else if (isTable(entry) && typeof entry['include-group'] === 'string')
        expand(entry['include-group'], [...trail, key]);
      else {
        throw new InputError(
          `dependency-groups.${key} in ${file} has an entry that is neither a string nor {include-group = "…"}`,
          {
            location: locate(lines, file, key),
            hint: 'PEP 735 groups hold requirement strings and include-group tables only.',
          },
        );
      }
    }
  };
  for (const name of names) expand(name, []);
  return requirements;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function readArray(
  value: unknown,
  key: string,
  file: string,
  lines: readonly string[],
  where: string,
): Requirement[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((entry) => typeof entry !== 'string')) {
    throw new InputError(`${where} in ${file} must be an array of strings`, {
      location: locate(lines, file, key),
      hint: `Write ${key} = ["requests>=2.31", "boto3"].`,
    });
  }
  return (value as string[]).map((entry) => parseRequirement(entry, locateString(lines, file, entry, key)));
}

/** The line of `key =` (or `[...key]`), for messages: TOML values carry no positions once parsed. */
function locate(lines: readonly string[], file: string, key: string): SourceLocation {
  const pattern = new RegExp(`^\\s*(\\[[^\\]]*${escape(key)}[^\\]]*\\]|"?${escape(key)}"?\\s*=)`);
  const index = lines.findIndex((line) => pattern.test(line));
  return { file, line: index >= 0 ? index + 1 : 1, column: 1 };
}

/** Where a dependency string is written (its first quoted occurrence after its key), else its key's line. */
function locateString(lines: readonly string[], file: string, entry: string, key: string): SourceLocation {
  const keyLine = locate(lines, file, key).line - 1;
  for (let index = Math.max(keyLine, 0); index < lines.length; index++) {
    const line = lines[index] ?? '';
    for (const quote of ['"', "'"]) {
      const column = line.indexOf(`${quote}${entry}${quote}`);
      if (column >= 0) return { file, line: index + 1, column: column + 2 };
    }
  }
  return locate(lines, file, key);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
