// Reads the dependencies a pyproject.toml declares (PEP 621): `[project].dependencies` plus
// the `[project.optional-dependencies]` groups asked for with `--extra NAME`, as a
// RequirementSet with every requirement pointing at its line in the file.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { InputError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import { parseRequirement } from './pep508.ts';
import { checkDirectUrl } from './requirements-file.ts';
import type { Requirement, RequirementSet, SourceLocation } from '../shared/types.ts';

/**
 * The requirements of a pyproject.toml for the given extras (optional-dependency group names,
 * compared PEP 685-normalized). Direct references must be wheels over http(s), under
 * `allowedIndexes` when given.
 * @example await readPyprojectDependencies('pyproject.toml', ['aws'])
 */
export async function readPyprojectDependencies(
  path: string,
  extras: readonly string[],
  options: { readonly allowedIndexes?: readonly string[] | null } = {},
): Promise<RequirementSet> {
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
  const project = document.project;
  if (!isTable(project)) {
    throw new InputError(`${file} has no [project] table`, {
      location: { file, line: 1, column: 1 },
      hint: 'Declare dependencies under [project] dependencies = [...] (PEP 621); Poetry-only [tool.poetry] files are not read.',
    });
  }
  const requirements: Requirement[] = [];
  requirements.push(...readArray(project.dependencies, 'dependencies', file, lines, 'project'));

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
