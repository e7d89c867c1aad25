// Where to look for packages, decided the way pip decides it: pip's configuration files
// (global, user, site, PIP_CONFIG_FILE), PIP_* environment variables, command-line flags
// and the options a requirements file sets, each with pip's precedence and pip's merge
// rules for lists. Also the policy check that an index URL is on an allow-list.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { assertLocationShape } from '../index/locations.ts';
import { InputError } from '../shared/errors.ts';
import { redactUrl as redact } from '../shared/redact.ts';
import { canonicalizeName } from '../shared/names.ts';
import type { IndexOptions, RequirementSet, SourceLocation } from '../shared/types.ts';

/** pip's default index. */
export const PYPI_SIMPLE_URL = 'https://pypi.org/simple/';

/** The index options one layer (command line, environment, config files) can set. */
export interface IndexOptionValues {
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  readonly findLinks?: readonly string[];
  readonly noIndex?: boolean;
  readonly pre?: boolean;
  /** Constraint files (`-c` / `PIP_CONSTRAINT` / `constraint =`). */
  readonly constraints?: readonly string[];
  /** `:all:`, `:none:` or normalized names. */
  readonly onlyBinary?: readonly string[];
  /** `--no-binary` values (command line only). */
  readonly noBinary?: readonly string[];
  /** `--prefer-binary` (command line only). */
  readonly preferBinary?: boolean;
}

/** What pip's configuration files say, after pip's file and section precedence. */
export interface PipConfiguration {
  /** Files that existed and were read, in pip's load order. */
  readonly files: readonly string[];
  readonly values: IndexOptionValues;
  /** For each key of `values`: `pip config FILE [section]`. */
  readonly origins: Readonly<Record<string, string>>;
}

export interface ResolvedIndexOptions {
  readonly options: IndexOptions;
  /** Constraint files named by the command line, PIP_CONSTRAINT or the config (not by the requirements file: those are read with it). */
  readonly constraintFiles: readonly string[];
  /** `--only-binary` values from every layer, in pip's order. */
  readonly onlyBinary: readonly string[];
  /**
   * Which layer each value came from, for messages: keys `indexUrl`, `pre`, `noIndex`, and
   * `extraIndexUrls:<url>`, `findLinks:<path>`, `constraintFiles:<path>` for list entries.
   */
  readonly origins: Readonly<Record<string, string>>;
}

type Environment = Record<string, string | undefined>;

/** The config keys lambda-deps reads (pip spells them as the long option names). */
const KNOWN_KEYS = [
  'index-url',
  'extra-index-url',
  'find-links',
  'no-index',
  'pre',
  'constraint',
  'only-binary',
];

interface RawValue {
  readonly value: string;
  readonly origin: string;
  readonly location: SourceLocation | null;
}

/**
 * pip's configuration files, in pip's order, merged with pip's precedence
 * (pip/_internal/configuration.py):
 * - global: `$XDG_CONFIG_DIRS` (default `/etc/xdg`) each + `/pip/pip.conf`, then `/etc/pip.conf`;
 * - user: `~/.pip/pip.conf`, then `${XDG_CONFIG_HOME:-~/.config}/pip/pip.conf` (skipped when
 *   PIP_CONFIG_FILE names an existing file);
 * - site: `$VIRTUAL_ENV/pip.conf` when VIRTUAL_ENV is set (pip uses `sys.prefix`);
 * - PIP_CONFIG_FILE last; when it is `/dev/null`, no file at all is read.
 * A later file overrides an earlier one key by key; then `[install]` overrides `[global]`
 * whatever file each came from. PIP_* variables are not read here: see resolveIndexOptions.
 * @example const config = await readPipConfiguration(process.env, os.homedir());
 */
export async function readPipConfiguration(
  environment: Environment = process.env,
  home: string = homedir(),
): Promise<PipConfiguration> {
  const configFile = environment.PIP_CONFIG_FILE;
  if (configFile === '/dev/null') return { files: [], values: {}, origins: {} };
  const xdgDirs = (environment.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean);
  const candidates = [...xdgDirs.map((dir) => join(dir, 'pip', 'pip.conf')), '/etc/pip.conf'];
  const configFileText = configFile ? await readText(configFile) : null;
  if (configFileText === null) {
    candidates.push(
      join(home, '.pip', 'pip.conf'),
      join(environment.XDG_CONFIG_HOME || join(home, '.config'), 'pip', 'pip.conf'),
    );
  }
  if (environment.VIRTUAL_ENV) candidates.push(join(environment.VIRTUAL_ENV, 'pip.conf'));

  const files: string[] = [];
  const merged = new Map<string, RawValue>();
  const load = (file: string, text: string): void => {
    files.push(file);
    for (const [section, entries] of parseConfigFile(text, file)) {
      for (const [key, entry] of entries) {
        merged.set(`${section}.${key}`, {
          value: entry.value,
          origin: `pip config ${file} [${section}]`,
          location: { file, line: entry.line, column: 1 },
        });
      }
    }
  };
  for (const file of candidates) {
    const text = await readText(file);
    if (text !== null) load(file, text);
  }
  if (configFile && configFileText !== null) load(configFile, configFileText);

  const chosen = new Map<string, RawValue>();
  for (const section of ['global', 'install']) {
    for (const key of KNOWN_KEYS) {
      const entry = merged.get(`${section}.${key}`);
      if (entry) chosen.set(key, entry);
    }
  }
  const { values, origins } = interpretValues(chosen);
  return { files, values, origins };
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    // pip treats a missing or unreadable candidate file as absent.
    return null;
  }
}

/**
 * Python's RawConfigParser rules, which pip uses: `[section]` headers (case-sensitive),
 * `key = value` or `key: value` (keys lowercased, `_` read as `-`), indented lines continue
 * the value, full-line `#`/`;` comments, no inline comments, no quoting.
 */
export function parseConfigFile(
  text: string,
  file: string,
): Map<string, Map<string, { value: string; line: number }>> {
  const sections = new Map<string, Map<string, { value: string; line: number }>>();
  let section: Map<string, { value: string; line: number }> | null = null;
  let current: { key: string; indent: number } | null = null;
  const fail = (message: string, line: number, hint: string): InputError =>
    new InputError(`${file}: ${message}`, { location: { file, line, column: 1 }, hint });
  const lines = text.replace(/^\ufeff/, '').split(/\r\n|\n|\r/);
  for (const [index, raw] of lines.entries()) {
    const lineNumber = index + 1;
    const stripped = raw.trim();
    const indent = raw.length - raw.trimStart().length;
    if (stripped.startsWith('#') || stripped.startsWith(';')) continue;
    if (stripped === '') continue;
    if (current && section && indent > current.indent) {
      const entry = section.get(current.key);
      if (entry) entry.value = entry.value === '' ? stripped : `${entry.value}\n${stripped}`;
      continue;
    }
    const header = /^\[(.+)\]/.exec(raw);
    if (header) {
      const name = header[1] ?? '';
      if (sections.has(name)) {
        throw fail(`section [${name}] appears twice`, lineNumber, 'Merge the two sections into one.');
      }
      section = new Map();
      sections.set(name, section);
      current = null;
      continue;
    }
    if (!section) {
      throw fail('a setting comes before any [section] header', lineNumber, 'Start the file with [global].');
    }
    const option = /^(.*?)\s*[=:]\s*(.*)$/.exec(raw);
    if (!option || (option[1] ?? '').trim() === '') {
      throw fail(`cannot read line "${stripped}"`, lineNumber, 'Write settings as "key = value".');
    }
    const key = normalizeKey((option[1] ?? '').trim());
    if (section.has(key)) {
      throw fail(`"${key}" is set twice in the same section`, lineNumber, 'Keep one of the two lines.');
    }
    section.set(key, { value: (option[2] ?? '').trim(), line: lineNumber });
    current = { key, indent };
  }
  return sections;
}

/** pip's _normalize_name: lowercase, `_` as `-`, a leading `--` dropped. */
function normalizeKey(key: string): string {
  const lowered = key.toLowerCase().replace(/_/g, '-');
  return lowered.startsWith('--') ? lowered.slice(2) : lowered;
}

/** Python's strtobool, which pip applies to flag options from config files and PIP_* variables. */
function parseFlag(entry: RawValue, key: string): boolean {
  const value = entry.value.trim().toLowerCase();
  if (['y', 'yes', 't', 'true', 'on', '1'].includes(value)) return true;
  if (['n', 'no', 'f', 'false', 'off', '0'].includes(value)) return false;
  throw new InputError(`${entry.origin}: ${key} = "${entry.value}" is not a true/false value`, {
    location: entry.location,
    hint: `Set ${key} to one of true, false, yes, no, on, off, 1 or 0.`,
  });
}

function interpretValues(raw: ReadonlyMap<string, RawValue>): {
  values: IndexOptionValues;
  origins: Record<string, string>;
} {
  const values: {
    -readonly [K in keyof IndexOptionValues]: IndexOptionValues[K];
  } = {};
  const origins: Record<string, string> = {};
  const list = (entry: RawValue): string[] => entry.value.split(/\s+/).filter(Boolean);
  for (const [key, entry] of raw) {
    switch (key) {
      case 'index-url':
        values.indexUrl = entry.value.trim();
        origins.indexUrl = entry.origin;
        break;
      case 'extra-index-url':
        values.extraIndexUrls = list(entry);
        origins.extraIndexUrls = entry.origin;
        break;
      case 'find-links':
        values.findLinks = list(entry);
        origins.findLinks = entry.origin;
        break;
      case 'constraint':
        values.constraints = list(entry);
        origins.constraints = entry.origin;
        break;
      case 'no-index':
        values.noIndex = parseFlag(entry, key);
        origins.noIndex = entry.origin;
        break;
      case 'pre':
        values.pre = parseFlag(entry, key);
        origins.pre = entry.origin;
        break;
      case 'only-binary':
        values.onlyBinary = entry.value
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean)
          .map((name) => (name.startsWith(':') ? name : canonicalizeName(name)));
        origins.onlyBinary = entry.origin;
        break;
    }
  }
  return { values, origins };
}

/** PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, … read as pip reads them (the `:env:` config section). */
function environmentValues(environment: Environment): {
  values: IndexOptionValues;
  origins: Record<string, string>;
} {
  const raw = new Map<string, RawValue>();
  for (const [name, value] of Object.entries(environment)) {
    if (!name.startsWith('PIP_') || value === undefined) continue;
    const key = normalizeKey(name.slice(4));
    if (KNOWN_KEYS.includes(key))
      raw.set(key, { value, origin: `environment variable ${name}`, location: null });
  }
  return interpretValues(raw);
}

/**
 * Apply pip's precedence to the index options. What pip does (checked against pip 23.2 with
 * `pip install --dry-run`, and in its sources: configuration.py, parser.py, req_file.py):
 * 1. Each option's default comes from the config files, overridden key by key by PIP_*
 *    variables (a variable replaces a config list, it does not add to it).
 * 2. Command-line flags override that default for single values (`--index-url`) and are
 *    APPENDED to it for lists (`--extra-index-url`, `--find-links`, `-c`).
 * 3. Then the requirements file acts on the result, line by line: `--no-index` empties the
 *    index list; `-i URL` REPLACES the whole index list, so it wins even over `--index-url`
 *    on the command line and drops the extra indexes gathered so far; `--extra-index-url`
 *    and `-f` append; `--pre` turns pre-releases on. With `--no-index` from any layer, a
 *    file's `-i` and `--extra-index-url` are ignored (as pip does).
 * 4. With no index named anywhere, PyPI.
 * @example resolveIndexOptions({ file: set.fileIndexOptions, environment: process.env, config })
 */
export function resolveIndexOptions(layers: {
  cli?: IndexOptionValues;
  file?: RequirementSet['fileIndexOptions'];
  fileSources?: RequirementSet['optionSources'];
  environment?: Environment;
  config?: PipConfiguration;
}): ResolvedIndexOptions {
  const cli = layers.cli ?? {};
  const file = layers.file ?? {};
  const config = layers.config ?? { files: [], values: {}, origins: {} };
  const environment = environmentValues(layers.environment ?? {});
  const origins: Record<string, string> = {};
  const fileOrigin = (value: string): string => {
    const where = layers.fileSources?.[value];
    return where ? `requirements file ${where.file}:${where.line}` : 'requirements file';
  };

  // 1. defaults: environment over config, key by key.
  const defaultOf = <K extends keyof IndexOptionValues>(
    key: K,
  ): { value: IndexOptionValues[K]; origin: string | undefined } =>
    environment.values[key] !== undefined
      ? { value: environment.values[key], origin: environment.origins[key] }
      : { value: config.values[key], origin: config.origins[key] };

  // 2. the command line.
  const layeredList = (key: 'extraIndexUrls' | 'findLinks' | 'constraints', prefix: string): string[] => {
    const base = defaultOf(key);
    const entries: string[] = [];
    for (const value of base.value ?? []) {
      entries.push(value);
      origins[`${prefix}:${value}`] ??= base.origin ?? 'pip configuration';
    }
    for (const value of cli[key] ?? []) {
      entries.push(value);
      origins[`${prefix}:${value}`] ??= 'command line';
    }
    return entries;
  };
  let extraIndexUrls = layeredList('extraIndexUrls', 'extraIndexUrls');
  let findLinks = layeredList('findLinks', 'findLinks');
  const constraintFiles = layeredList('constraints', 'constraintFiles');

  const defaultIndex = defaultOf('indexUrl');
  let indexUrl: string;
  if (cli.indexUrl !== undefined) {
    indexUrl = cli.indexUrl;
    origins.indexUrl = 'command line';
  } else if (defaultIndex.value !== undefined) {
    indexUrl = defaultIndex.value;
    origins.indexUrl = defaultIndex.origin ?? 'pip configuration';
  } else {
    indexUrl = PYPI_SIMPLE_URL;
    origins.indexUrl = 'default (PyPI)';
  }

  const flag = (key: 'noIndex' | 'pre'): boolean => {
    if (cli[key]) {
      origins[key] = 'command line';
      return true;
    }
    const base = defaultOf(key);
    if (base.value) origins[key] = base.origin ?? 'pip configuration';
    return base.value ?? false;
  };
  let noIndex = flag('noIndex');
  let pre = flag('pre');

  // 3. the requirements file.
  let indexList: string[] = noIndex ? [] : [indexUrl, ...extraIndexUrls];
  if (file.noIndex) {
    noIndex = true;
    origins.noIndex = fileOrigin('--no-index');
    indexList = [];
  }
  if (!noIndex && file.indexUrl !== undefined) {
    indexList = [file.indexUrl];
    origins.indexUrl = fileOrigin(file.indexUrl);
  }
  if (!noIndex) {
    for (const url of file.extraIndexUrls ?? []) {
      indexList.push(url);
      origins[`extraIndexUrls:${url}`] ??= fileOrigin(url);
    }
  }
  for (const link of file.findLinks ?? []) {
    findLinks.push(link);
    origins[`findLinks:${link}`] ??= fileOrigin(link);
  }
  if (file.pre && !pre) {
    pre = true;
    origins.pre = 'requirements file';
  }

  const [firstIndex, ...extras] = indexList;
  extraIndexUrls = unique(extras);
  findLinks = unique(findLinks);
  // Values a later layer dropped (a file's -i, --no-index) have no origin to report.
  if (noIndex) delete origins.indexUrl;
  for (const key of Object.keys(origins)) {
    if (key.startsWith('extraIndexUrls:') && !extraIndexUrls.includes(key.slice('extraIndexUrls:'.length))) {
      delete origins[key];
    }
  }
  // A typo (`http:/host/simple`, `htps://…`) must stop the run here, naming where it was written.
  const originOf = (key: string): string => origins[key] ?? 'pip configuration';
  if (firstIndex !== undefined)
    assertLocationShape(firstIndex, `The index URL (${originOf('indexUrl')})`, null);
  for (const url of extraIndexUrls) {
    assertLocationShape(url, `The extra index URL (${originOf(`extraIndexUrls:${url}`)})`, null);
  }
  for (const link of findLinks) {
    assertLocationShape(link, `The find-links location (${originOf(`findLinks:${link}`)})`, null);
  }
  const onlyBinary = [
    ...(defaultOf('onlyBinary').value ?? []),
    ...(cli.onlyBinary ?? []),
    ...(file.onlyBinary ?? []),
  ];
  return {
    options: { indexUrl: firstIndex ?? null, extraIndexUrls, findLinks, pre },
    constraintFiles: unique(constraintFiles),
    onlyBinary,
    origins,
  };
}

/** pip keeps duplicates, but asking the same index twice only costs time. */
function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/**
 * Refuse an index (or direct-reference) URL that is not under one of the allowed prefixes.
 * A prefix matches on scheme, host and port exactly and on whole path segments, so
 * `https://pypi.org/simple` allows `https://pypi.org/simple/requests/` but not
 * `https://pypi.org/simple-evil/`. Credentials in the URL are ignored for the match.
 * null allows everything.
 * @example assertIndexAllowed('https://evil.example/simple/', ['https://pypi.org/simple/'], location)
 */
export function assertIndexAllowed(
  url: string,
  allowList: readonly string[] | null,
  location: SourceLocation | null = null,
): void {
  if (allowList === null) return;
  const candidate = URL.canParse(url) ? new URL(url) : null;
  const allowed =
    candidate !== null &&
    allowList.some((prefix) => {
      if (!URL.canParse(prefix)) return false;
      const allowedUrl = new URL(prefix);
      if (allowedUrl.protocol !== candidate.protocol || allowedUrl.host !== candidate.host) return false;
      const allowedPath = allowedUrl.pathname.endsWith('/') ? allowedUrl.pathname : `${allowedUrl.pathname}/`;
      const candidatePath = candidate.pathname.endsWith('/') ? candidate.pathname : `${candidate.pathname}/`;
      return candidatePath.startsWith(allowedPath);
    });
  if (allowed) return;
  const where = location ? ` (${location.file}:${location.line})` : '';
  throw new InputError(`Index URL ${redact(url)}${where} is not in the allowed index list`, {
    location,
    hint: `Allowed prefixes: ${allowList.map(redact).join(', ') || '(none)'}. Remove this index from the file, or add it to the allow-list if it is trusted.`,
  });
}
