// Which kind of dependency file a user gave, decided by its content (the name only breaks ties):
// a pip requirements file, a pyproject.toml (PEP 621, Poetry or PEP 735 groups), uv.lock,
// poetry.lock, Pipfile, Pipfile.lock, pylock.toml (PEP 751) or a lambda-deps lock. Every command,
// the Measure step and the upload trigger ask this one function, so they never disagree.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { InputError } from '../shared/errors.ts';

export type InputFormat =
  | 'requirements'
  | 'pyproject'
  | 'uv.lock'
  | 'poetry.lock'
  | 'Pipfile'
  | 'Pipfile.lock'
  | 'pylock.toml'
  | 'lambda-deps-lock';

/** The formats that pin every package exactly (measure reads them without resolving). */
export const LOCK_FORMATS: readonly InputFormat[] = ['uv.lock', 'poetry.lock', 'Pipfile.lock', 'pylock.toml'];

/** Object keys (S3, uploads) that name a file lambda-deps reads, for the upload trigger. */
export const INPUT_FILE_PATTERNS: readonly string[] = [
  '*.txt',
  '*pyproject.toml',
  '*uv.lock',
  '*poetry.lock',
  '*Pipfile',
  '*Pipfile.lock',
  '*pylock.toml',
  '*pylock.*.toml',
  '*.lock.json',
];

/**
 * Names a tool gives its file whatever the project (`requirements.txt`, `pyproject.toml`,
 * `uv.lock`, `Pipfile.lock`…): a set is then named after the folder instead.
 */
export function isGenericInputName(filename: string): boolean {
  return /^(requirements.*\.(txt|in)|pyproject\.toml|uv\.lock|poetry\.lock|Pipfile(\.lock)?|pylock(\.[^.]+)?\.toml|lambda-deps\.lock\.json)$/i.test(
    filename,
  );
}

/** What each lock-making tool runs to export a file lambda-deps reads. */
const EXPORT_COMMANDS =
  'Give a requirements file, a pyproject.toml, uv.lock, poetry.lock, Pipfile, Pipfile.lock, pylock.toml or a lambda-deps lock (.json). ' +
  'To export one: `uv export --format requirements-txt > requirements.txt`, ' +
  '`poetry export -f requirements.txt --with-hashes -o requirements.txt`, ' +
  '`pipenv requirements --hash > requirements.txt`, `pip lock -r requirements.txt -o pylock.toml`, ' +
  'or `pip freeze > requirements.txt` in a working environment.';

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function tomlFormat(document: Record<string, unknown>, name: string): InputFormat | null {
  if (typeof document['lock-version'] === 'string' && Array.isArray(document.packages)) return 'pylock.toml';
  // Cargo.lock also has `version` and [[package]]: uv's packages carry a `source` table.
  if (
    typeof document.version === 'number' &&
    Array.isArray(document.package) &&
    ('requires-python' in document ||
      document.package.some((entry) => isTable(entry) && isTable(entry.source)))
  )
    return 'uv.lock';
  const metadata = document.metadata;
  if (isTable(metadata) && ('content-hash' in metadata || 'lock-version' in metadata)) return 'poetry.lock';
  if (Array.isArray(document.package) && /poetry\.lock$/i.test(name)) return 'poetry.lock';
  if (isTable(document.packages) || isTable(document['dev-packages']) || Array.isArray(document.source))
    return 'Pipfile';
  const tool = document.tool;
  if (
    isTable(document.project) ||
    isTable(document['dependency-groups']) ||
    (isTable(tool) && isTable(tool.poetry))
  )
    return 'pyproject';
  return null;
}

function jsonFormat(text: string): InputFormat | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isTable(data)) return null;
  if ('lockVersion' in data && 'packages' in data) return 'lambda-deps-lock';
  if (isTable(data._meta) && ('default' in data || 'develop' in data)) return 'Pipfile.lock';
  return null;
}

/**
 * A requirements file's logical lines are options (`-r`, `--hash=…`), URLs, paths or PEP 508
 * requirements (`name`, `name[extra]`, `name==1`, `name @ url`, `name; marker`); YAML, INI and
 * prose are not.
 */
function looksLikeRequirements(text: string): boolean {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r\n|\n|\r/)
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line.length > 0);
  const requirement = /^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*([<>=!~;@(-]|$)/;
  return lines.every(
    (line) =>
      /^--?[A-Za-z]/.test(line) ||
      /^[a-z][a-z0-9+.-]*:\/\//i.test(line) ||
      /^(\.{1,2}\/|\/)/.test(line) ||
      requirement.test(line),
  );
}

/**
 * The format of a dependency file, from its content; InputError (exit 2) saying what was expected,
 * and the command that exports a readable file, when it is none of them.
 * @example detectInputFormat('uv.lock', await readFile('uv.lock', 'utf8')) // 'uv.lock'
 */
export function detectInputFormat(path: string, text: string): InputFormat {
  const name = basename(path);
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const format = jsonFormat(text);
    if (format) return format;
    throw unknownFormat(
      path,
      'it is JSON, but neither a Pipfile.lock (with "_meta") nor a lambda-deps lock (with "lockVersion")',
    );
  }
  let document: Record<string, unknown> | null = null;
  try {
    document = parseToml(text);
  } catch {
    document = null;
  }
  if (document && Object.keys(document).length > 0) {
    const format = tomlFormat(document, name) ?? (name === 'pyproject.toml' ? 'pyproject' : null);
    if (format) return format;
    // A .txt/.in file is a requirements file by name: its reader points at the bad line itself.
    if (!/\.(txt|in)$/i.test(name) && !looksLikeRequirements(text)) {
      throw unknownFormat(
        path,
        `it is TOML with the tables ${Object.keys(document).slice(0, 6).join(', ')}, none of which a known format has`,
      );
    }
  }
  if (/\.(toml|lock|json)$/i.test(name) || name === 'Pipfile') {
    if (text.trim() === '') throw unknownFormat(path, 'it is empty');
  }
  // A .txt/.in file is a requirements file by name: its reader points at the bad line itself.
  if (!/\.(txt|in)$/i.test(name) && !looksLikeRequirements(text)) {
    throw unknownFormat(path, 'it is neither TOML nor JSON of a known lock, nor lines of pip requirements');
  }
  return 'requirements';
}

function unknownFormat(path: string, why: string): InputError {
  return new InputError(`${path} is not a dependency file lambda-deps reads: ${why}.`, {
    location: { file: path, line: 1, column: 1 },
    hint: EXPORT_COMMANDS,
  });
}

/** The same message for a format that is recognized but not accepted where it was given. */
export function exportHint(): string {
  return EXPORT_COMMANDS;
}

/** The lock beside a pyproject.toml or Pipfile, which the project's tool keeps in step with it; else null. */
/**
 * The names of the files that must travel with a file of `format` for it to be read as it is
 * beside them, in the order they are looked for (only the first found travels): the lock beside a pyproject.toml (the first
 * found) or Pipfile, and the pyproject.toml beside a uv.lock or poetry.lock (its groups, extras
 * and direct dependencies choose what the lock installs).
 */
export function companionNamesOf(format: InputFormat): readonly string[] {
  if (format === 'pyproject') return ['uv.lock', 'poetry.lock', 'pylock.toml'];
  if (format === 'Pipfile') return ['Pipfile.lock'];
  if (format === 'uv.lock' || format === 'poetry.lock') return ['pyproject.toml'];
  return [];
}

/** The companions (companionNamesOf) of the file at `path` that exist beside it. */
export function companionsOf(path: string, format: InputFormat): string[] {
  const found = companionNamesOf(format)
    .map((name) => join(dirname(path), name))
    .find((candidate) => existsSync(candidate));
  return found ? [found] : [];
}

/** The names a file travelling with another may have (companionsOf), for readers of a bundle. */
export const COMPANION_NAMES: readonly string[] = [
  'pyproject.toml',
  'uv.lock',
  'poetry.lock',
  'pylock.toml',
  'Pipfile.lock',
];

export function lockBeside(path: string): string | null {
  const name = basename(path);
  const folder = dirname(path);
  const candidates =
    name === 'pyproject.toml'
      ? ['uv.lock', 'poetry.lock', 'pylock.toml']
      : name === 'Pipfile'
        ? ['Pipfile.lock']
        : [];
  return (
    candidates.map((candidate) => join(folder, candidate)).find((candidate) => existsSync(candidate)) ?? null
  );
}
