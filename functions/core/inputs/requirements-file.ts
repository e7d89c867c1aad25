// Reads a pip requirements file the way pip does (pip/_internal/req/req_file.py): line
// continuations, comments, ${VAR} expansion, -r/-c includes, index options and per-line
// --hash, and turns it into a RequirementSet. Where pip would warn, ignore or crash, this
// stops with an InputError that names the file, line and column and says what to do: a
// Lambda dependency set must come from wheels, pinned and traceable.
import { open, realpath, stat, statfs } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { dirname, isAbsolute, posix, resolve } from 'node:path';
import { assertLocationShape } from '../index/locations.ts';
import { versionsEqual } from '../shared/pep440.ts';
import { InputError } from '../shared/errors.ts';
import { registerSecret } from '../shared/redact.ts';
import { canonicalizeName, isValidProjectName } from '../shared/names.ts';
import { parseRequirement } from './pep508.ts';
import { assertIndexAllowed } from './pip-config.ts';
import type { Requirement, RequirementSet, SourceLocation } from '../shared/types.ts';
import type { RequirementsBundle } from './requirements-bundle.ts';

/** Files above this many bytes are refused: a real requirements file is a few kilobytes. */
export const MAX_REQUIREMENTS_FILE_BYTES = 1024 * 1024;
/** Files above this many lines are refused. */
export const MAX_REQUIREMENTS_FILE_LINES = 10_000;

export interface ReadRequirementsOptions {
  /** Variables for `${VAR}` expansion; defaults to process.env. */
  readonly environment?: Record<string, string | undefined>;
  /**
   * Index URL prefixes a file may name (`-i`, `--extra-index-url`, URL `-f`, direct `@ URL`
   * references). null or absent: any.
   */
  readonly allowedIndexes?: readonly string[] | null;
  /** Read the file and its includes from this bundle only (the pipeline's input), never from disk. */
  readonly bundle?: RequirementsBundle;
  /** Where `${VAR}` values come from, for the hint when one is missing. @default 'the environment' */
  readonly variablesFrom?: string;
}

type FileIndexOptions = {
  -readonly [K in keyof RequirementSet['fileIndexOptions']]-?: RequirementSet['fileIndexOptions'][K];
};

interface ReadState {
  readonly environment: Record<string, string | undefined>;
  readonly variablesFrom: string;
  readonly bundle: RequirementsBundle | null;
  /** The text of every file read, by the path it was read as (what a bundle holds). */
  readonly texts: Map<string, string>;
  readonly allowedIndexes: readonly string[] | null;
  readonly requirements: Requirement[];
  readonly constraints: Requirement[];
  readonly index: Partial<FileIndexOptions>;
  readonly optionSources: Record<string, SourceLocation>;
  readonly files: string[];
  /** `path|mode` of files already read completely: reading one again adds nothing new. */
  readonly done: Set<string>;
  requireHashes: SourceLocation | null;
}

/**
 * A logical line's text with where each character was written. Stored as runs: within a
 * run, columns advance with the offset; a `fixed` run (an expanded ${VAR}) maps every
 * character to the variable's position.
 */
interface MappedRun {
  readonly start: number;
  readonly line: number;
  readonly column: number;
  readonly fixed: boolean;
}

class MappedText {
  constructor(
    readonly text: string,
    private readonly runs: readonly MappedRun[],
  ) {}

  static physical(line: number, text: string): MappedText {
    return new MappedText(text, [{ start: 0, line, column: 1, fixed: false }]);
  }

  static fixed(text: string, origin: { line: number; column: number }): MappedText {
    return new MappedText(text, [{ start: 0, ...origin, fixed: true }]);
  }

  static join(parts: readonly MappedText[]): MappedText {
    const runs: MappedRun[] = [];
    let offset = 0;
    for (const part of parts) {
      for (const run of part.runs) runs.push({ ...run, start: run.start + offset });
      offset += part.text.length;
    }
    return new MappedText(parts.map((part) => part.text).join(''), runs);
  }

  slice(start: number, end = this.text.length): MappedText {
    const runs: MappedRun[] = [];
    for (const [index, run] of this.runs.entries()) {
      const runEnd = this.runs[index + 1]?.start ?? this.text.length;
      if (runEnd <= start || run.start >= end) continue;
      const from = Math.max(run.start, start);
      runs.push({
        start: from - start,
        line: run.line,
        column: run.fixed ? run.column : run.column + (from - run.start),
        fixed: run.fixed,
      });
    }
    // An empty slice still knows where it is, for errors that point just past the text.
    if (runs.length === 0) runs.push({ start: 0, ...this.locate(start), fixed: true });
    return new MappedText(this.text.slice(start, end), runs);
  }

  trim(): MappedText {
    const start = this.text.length - this.text.trimStart().length;
    return this.slice(start, start + this.text.trim().length);
  }

  /** Where the character at `offset` was written (just past the end for offsets beyond it). */
  locate(offset: number): { line: number; column: number } {
    const index = Math.min(Math.max(offset, 0), Math.max(this.text.length - 1, 0));
    // The last run starting at or before the index (runs are sorted by start).
    let low = 0;
    let high = this.runs.length - 1;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if ((this.runs[middle]?.start ?? 0) <= index) low = middle;
      else high = middle - 1;
    }
    const run = this.runs[low] ?? { start: 0, line: 1, column: 1, fixed: true };
    const column = run.fixed ? run.column : run.column + (index - run.start);
    return {
      line: run.line,
      column: offset >= this.text.length && this.text.length > 0 ? column + 1 : column,
    };
  }
}

/** pip's COMMENT_RE: `#` at the start of a line or after whitespace, to the end. */
const COMMENT = /(^|\s+)#.*$/;
/** pip's ENV_VAR_RE: only `${NAME}` with capitals, digits and `_` is expanded. */
const ENVIRONMENT_VARIABLE = /\$\{([A-Z0-9_]+)\}/g;
/** Python's str.splitlines() separators. */
// eslint-disable-next-line no-control-regex -- splitlines() also breaks on the file, group and record separators
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
const ARCHIVE_SUFFIX = /\.(whl|zip|tar\.gz|tgz|tar\.bz2|tbz|tar\.xz|txz|tar|tar\.lz|tlz)$/i;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** A run of characters that shlex copies as they are. */
const PLAIN_WORD = /[^\s'"\\]+/y;

interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  readonly takesValue: boolean;
  /** `line`: only on a line of its own; `requirement`: only after a requirement. */
  readonly scope: 'line' | 'requirement';
}

/** pip's SUPPORTED_OPTIONS and SUPPORTED_OPTIONS_REQ. */
const OPTIONS: readonly OptionSpec[] = [
  { long: 'index-url', short: 'i', takesValue: true, scope: 'line' },
  { long: 'extra-index-url', takesValue: true, scope: 'line' },
  { long: 'no-index', takesValue: false, scope: 'line' },
  { long: 'constraint', short: 'c', takesValue: true, scope: 'line' },
  { long: 'requirement', short: 'r', takesValue: true, scope: 'line' },
  { long: 'editable', short: 'e', takesValue: true, scope: 'line' },
  { long: 'find-links', short: 'f', takesValue: true, scope: 'line' },
  { long: 'no-binary', takesValue: true, scope: 'line' },
  { long: 'only-binary', takesValue: true, scope: 'line' },
  { long: 'prefer-binary', takesValue: false, scope: 'line' },
  { long: 'require-hashes', takesValue: false, scope: 'line' },
  { long: 'pre', takesValue: false, scope: 'line' },
  { long: 'trusted-host', takesValue: true, scope: 'line' },
  { long: 'use-feature', takesValue: true, scope: 'line' },
  { long: 'hash', takesValue: true, scope: 'requirement' },
  { long: 'global-option', takesValue: true, scope: 'requirement' },
  { long: 'config-settings', takesValue: true, scope: 'requirement' },
];

interface ParsedOption {
  readonly spec: OptionSpec;
  /** As written, e.g. `-i` or `--index-url`. */
  readonly written: string;
  readonly value: string | null;
  /** Offset in the logical line where the option starts, and where its value starts. */
  readonly offset: number;
  readonly valueOffset: number;
}

/**
 * Read a requirements file with pip's syntax, following `-r`/`-c` includes.
 * @example const set = await readRequirementsFile('requirements.txt', { environment: { TOKEN: 'x' } });
 */
export async function readRequirementsFile(
  path: string,
  options: ReadRequirementsOptions = {},
): Promise<RequirementSet> {
  const { state } = await readWithState(path, options);
  return state.set;
}

/**
 * Read a requirements file from disk and bundle it with every file it includes, for the
 * pipeline: the bundle is all Measure reads.
 * @example const { bundle } = await collectRequirementsBundle('requirements.txt');
 */
export async function collectRequirementsBundle(
  path: string,
  options: Omit<ReadRequirementsOptions, 'bundle'> = {},
): Promise<{ bundle: RequirementsBundle; set: RequirementSet }> {
  const { state } = await readWithState(path, options);
  const bundle: RequirementsBundle = {
    format: 'lambda-deps-requirements-bundle/1',
    root: state.root,
    files: Object.fromEntries(state.texts),
  };
  return { bundle, set: state.set };
}

async function readWithState(
  path: string,
  options: ReadRequirementsOptions,
): Promise<{ state: { set: RequirementSet; texts: Map<string, string>; root: string } }> {
  const bundle = options.bundle ?? null;
  const state: ReadState = {
    environment: options.environment ?? process.env,
    variablesFrom: options.variablesFrom ?? 'the environment',
    bundle,
    texts: new Map(),
    allowedIndexes: options.allowedIndexes ?? null,
    requirements: [],
    constraints: [],
    index: {},
    optionSources: {},
    files: [],
    done: new Set(),
    requireHashes: null,
  };
  const root = bundle ? posix.normalize(path) : resolve(path);
  await readOneFile(root, [], false, null, state);
  const hashCheckingMode = checkHashes(state);
  checkConflictingPins(state.requirements);
  const set: RequirementSet = {
    requirements: state.requirements,
    constraints: state.constraints,
    fileIndexOptions: state.index,
    optionSources: state.optionSources,
    hashCheckingMode,
    files: state.files,
  };
  return { state: { set, texts: state.texts, root } };
}

async function readOneFile(
  path: string,
  chain: readonly string[],
  asConstraint: boolean,
  includedFrom: SourceLocation | null,
  state: ReadState,
): Promise<void> {
  const whereIncluded = includedFrom ?? { file: path, line: 1, column: 1 };
  const identity = state.bundle ? path : await realpath(path).catch(() => path);
  const cycleStart = chain.indexOf(identity);
  if (cycleStart >= 0) {
    throw new InputError(`Include cycle: ${[...chain.slice(cycleStart), identity].join(' -> ')}`, {
      location: whereIncluded,
      hint: 'Remove the -r/-c line that includes a file already being read; a file may not include itself, even indirectly.',
    });
  }
  const doneKey = `${identity}|${asConstraint ? 'c' : 'r'}`;
  if (state.done.has(doneKey)) return;

  const text = state.bundle
    ? readFromBundle(state.bundle, path, whereIncluded)
    : decodeUtf8(await readBytes(path, whereIncluded, includedFrom !== null), path);
  state.texts.set(path, text);
  if (!state.files.includes(path)) state.files.push(path);
  const physicalLines = text.split(LINE_BREAK);
  // Like Python's splitlines(): a final line break does not start another line.
  if (physicalLines.length > 1 && physicalLines.at(-1) === '') physicalLines.pop();
  if (physicalLines.length > MAX_REQUIREMENTS_FILE_LINES) {
    throw new InputError(
      `${path} has ${physicalLines.length} lines, more than the ${MAX_REQUIREMENTS_FILE_LINES} allowed`,
      {
        location: { file: path, line: MAX_REQUIREMENTS_FILE_LINES + 1, column: 1 },
        hint: 'This is not a plausible requirements file; check that the right file was given (a lock or wheel list should be split or trimmed).',
      },
    );
  }
  const nextChain = [...chain, identity];
  for (const line of logicalLines(physicalLines)) {
    const expanded = expandVariables(line, path, state);
    if (expanded.text === '') continue;
    await handleLine(expanded, path, nextChain, asConstraint, state);
  }
  state.done.add(doneKey);
}

/** Folders that are views of the system, never files a person wrote: refused even when they look like files. */
const SYSTEM_ROOTS = ['/proc', '/dev', '/sys'];
/** statfs magic numbers of pseudo file systems (proc, sysfs, debugfs, securityfs, cgroup, cgroup2, configfs, tracefs, bpf, devpts). */
const PSEUDO_FILE_SYSTEMS = new Set([
  0x9fa0, 0x62656572, 0x64626720, 0x73636673, 0x27e0eb, 0x63677270, 0x62656570, 0x74726163, 0xcafe4a11,
  0x1cd1,
]);

/**
 * The bytes of a requirements file: a regular file on a real file system only (never /proc,
 * /dev, /sys, a FIFO or a device: /proc/self/environ would put the environment in every
 * report), opened without following a final symlink swapped in after the check, and at most
 * MAX_REQUIREMENTS_FILE_BYTES.
 */
async function readBytes(path: string, where: SourceLocation, included: boolean): Promise<Buffer> {
  const missingHint = included
    ? 'Check the path on this -r/-c line: it is relative to the file that includes it.'
    : 'Check the path: give the requirements file to read.';
  const refuse = (why: string): InputError =>
    new InputError(`Could not open requirements file ${path}: ${why}`, {
      location: where,
      hint: `${missingHint} Only regular files are read (never /proc, /dev, /sys, FIFOs or devices).`,
    });
  let real: string;
  try {
    real = await realpath(path);
    if (!(await stat(real)).isFile()) throw refuse('it is not a regular file');
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(
      `Could not open requirements file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      { location: where, hint: missingHint, cause: error },
    );
  }
  if (SYSTEM_ROOTS.some((root) => real === root || real.startsWith(`${root}/`))) {
    throw refuse(`it is under ${real.split('/').slice(0, 2).join('/')}, a view of the system, not a file`);
  }
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refuse('it is not a regular file');
    if (PSEUDO_FILE_SYSTEMS.has((await statfs(real)).type)) throw refuse('it is on a pseudo file system');
    const tooBig = (bytes: number): InputError =>
      new InputError(
        `${path} is ${bytes} bytes, more than the ${MAX_REQUIREMENTS_FILE_BYTES} bytes (1 MiB) allowed for a requirements file`,
        {
          location: { file: path, line: 1, column: 1 },
          hint: 'This is not a plausible requirements file; check that the right file was given.',
        },
      );
    if (info.size > MAX_REQUIREMENTS_FILE_BYTES) throw tooBig(info.size);
    // Read one byte past the limit: the file may have grown since fstat().
    const buffer = Buffer.alloc(MAX_REQUIREMENTS_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_REQUIREMENTS_FILE_BYTES) throw tooBig(length);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** A file of the bundle; an include the client did not bundle is an error naming the including line. */
function readFromBundle(bundle: RequirementsBundle, path: string, where: SourceLocation): string {
  const text = bundle.files[path];
  if (text === undefined) {
    throw new InputError(`${path} is not in the uploaded requirements bundle`, {
      location: where,
      hint: 'A file uploaded to the bucket cannot include others: inline the included lines, or run `lambda-deps submit`/`build`, which upload the file with its includes.',
    });
  }
  return text;
}

/** UTF-8 only (a leading BOM is dropped); the first invalid byte is reported with its line. */
function decodeUtf8(bytes: Buffer, path: string): string {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(start));
  } catch (error) {
    const offset = firstInvalidUtf8Offset(bytes, start);
    const before = bytes.subarray(0, offset);
    const line = before.filter((byte) => byte === 0x0a).length + 1;
    const lineStart = before.lastIndexOf(0x0a) + 1;
    throw new InputError(
      `${path} is not valid UTF-8: byte ${offset} (0x${(bytes[offset] ?? 0).toString(16)})`,
      {
        location: { file: path, line, column: offset - lineStart + 1 },
        hint: 'Save the requirements file as UTF-8 (pip reads it as UTF-8 too); UTF-16 and Latin-1 files must be converted.',
        cause: error,
      },
    );
  }
}

function firstInvalidUtf8Offset(bytes: Uint8Array, start: number): number {
  let index = start;
  while (index < bytes.length) {
    const lead = bytes[index] ?? 0;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead < 0xe0
          ? 2
          : lead >= 0xe0 && lead < 0xf0
            ? 3
            : lead >= 0xf0 && lead < 0xf5
              ? 4
              : 0;
    if (length === 0) return index;
    const sequence = bytes.subarray(index, index + length);
    if (sequence.length < length) return index;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(sequence);
    } catch {
      return index;
    }
    index += length;
  }
  return Math.min(index, bytes.length - 1);
}

/**
 * pip's join_lines + ignore_comments: a line ending in `\` continues on the next one
 * (unless it is a comment line); comments are cut; blank lines dropped.
 */
function* logicalLines(physicalLines: readonly string[]): Generator<MappedText> {
  let pending: MappedText[] = [];
  const isCommentLine = (text: string): boolean => /^\s*#/.test(text);
  for (const [index, raw] of physicalLines.entries()) {
    let line = MappedText.physical(index + 1, raw);
    if (!raw.endsWith('\\') || isCommentLine(raw)) {
      if (isCommentLine(raw)) line = MappedText.join([MappedText.physical(index + 1, ' '), line]);
      if (pending.length > 0) {
        pending.push(line);
        yield withoutComment(MappedText.join(pending));
        pending = [];
      } else {
        yield withoutComment(line);
      }
    } else {
      const leading = raw.length - raw.replace(/^\\+/, '').length;
      const trailing = raw.length - raw.replace(/\\+$/, '').length;
      pending.push(line.slice(leading, Math.max(leading, raw.length - trailing)));
    }
  }
  if (pending.length > 0) yield withoutComment(MappedText.join(pending));
}

function withoutComment(line: MappedText): MappedText {
  const comment = COMMENT.exec(line.text);
  return (comment ? line.slice(0, comment.index) : line).trim();
}

/** Whether the text at `offset` belongs to a URL (its whitespace-free word has a `://`). */
function insideUrl(text: string, offset: number): boolean {
  const word = `${text.slice(0, offset).split(/\s/).pop() ?? ''}${text.slice(offset).split(/\s/)[0] ?? ''}`;
  return word.includes('://');
}

function expandVariables(line: MappedText, file: string, state: ReadState): MappedText {
  const environment = state.environment;
  const parts: MappedText[] = [];
  let last = 0;
  // A small file must not expand into a huge one (a variable repeated many times).
  let expandedLength = line.text.length;
  for (const match of line.text.matchAll(ENVIRONMENT_VARIABLE)) {
    const name = match[1] ?? '';
    const value = environment[name];
    if (value === undefined || value === '') {
      throw new InputError(
        `Environment variable ${name} is not set (or empty), but \${${name}} is used here`,
        {
          location: { file, ...line.locate(match.index) },
          hint: `Set ${name} in ${state.variablesFrom} before running, or remove \${${name}} from the file.`,
        },
      );
    }
    expandedLength += value.length - match[0].length;
    if (expandedLength > MAX_REQUIREMENTS_FILE_BYTES) {
      throw new InputError(
        `Expanding \${${name}} makes this line longer than ${MAX_REQUIREMENTS_FILE_BYTES} characters`,
        {
          location: { file, ...line.locate(match.index) },
          hint: `Check the value of ${name}: a requirements line never needs to be this long.`,
        },
      );
    }
    if (insideUrl(line.text, match.index)) registerSecret(value);
    parts.push(line.slice(last, match.index));
    parts.push(MappedText.fixed(value, line.locate(match.index)));
    last = match.index + match[0].length;
  }
  if (parts.length === 0) return line;
  parts.push(line.slice(last));
  return MappedText.join(parts);
}

async function handleLine(
  line: MappedText,
  file: string,
  chain: readonly string[],
  asConstraint: boolean,
  state: ReadState,
): Promise<void> {
  const at = (offset: number): SourceLocation => ({ file, ...line.locate(offset) });
  // pip's break_args_options: the requirement is every token before the first one that starts with `-`.
  let optionsStart = line.text.length;
  for (const token of line.text.matchAll(/\S+/g)) {
    if (token[0].startsWith('-')) {
      optionsStart = token.index;
      break;
    }
  }
  const requirementText = line.text.slice(0, optionsStart).trimEnd();
  if (requirementText === '') {
    await handleOptionLine(parseOptions(line, optionsStart, at), file, chain, asConstraint, state, at);
    return;
  }
  // The requirement is read first: its error is the one a person can act on
  // (`requests; rm -rf /` is a bad marker, not a bad `-r` option).
  const requirement = parseRequirementLine(requirementText, at, state);
  const options = parseOptions(line, optionsStart, at);
  for (const option of options) {
    if (option.spec.scope === 'line') {
      throw new InputError(`${option.written} must be on a line of its own, not after a requirement`, {
        location: at(option.offset),
        hint: `Move ${option.written} to its own line; pip silently ignores it here.`,
      });
    }
  }
  const hashes: string[] = [...requirement.hashes];
  for (const option of options) {
    if (option.spec.long === 'hash') {
      hashes.push(parseHash(option, at));
    } else {
      throw new InputError(
        `${option.written} is not supported: lambda-deps installs wheels and never builds here with custom options`,
        {
          location: at(option.offset),
          hint: `Remove ${option.written}; build the package into a wheel beforehand if it needs build options.`,
        },
      );
    }
  }
  const withHashes: Requirement = { ...requirement, hashes: [...new Set(hashes)] };
  if (asConstraint) {
    if (requirement.url) {
      throw new InputError(`Constraints cannot be direct references (${requirement.displayName})`, {
        location: at(0),
        hint: 'In a constraints file give only a name and a version specifier, e.g. "urllib3<2"; put direct references in the requirements file.',
      });
    }
    if (requirement.extras.length > 0) {
      throw new InputError(`Constraints cannot have extras (${requirement.displayName})`, {
        location: at(0),
        hint: `Write the constraint without extras, e.g. "${requirement.displayName}${requirement.specifier}".`,
      });
    }
    state.constraints.push(withHashes);
  } else {
    state.requirements.push(withHashes);
  }
}

function parseRequirementLine(
  text: string,
  at: (offset: number) => SourceLocation,
  state: ReadState,
): Requirement {
  const beforeMarker = text.split(';')[0]?.trim() ?? '';
  const looksLikeUrl = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(beforeMarker);
  // pip takes a line as a local path when it names an archive or starts like a path;
  // anything else with a separator (`foo/bar`) fails the PEP 508 name grammar below.
  const looksLikePath =
    !looksLikeUrl &&
    !/^[^@\s]+\s*@/.test(beforeMarker) &&
    (/^(\.|~|\/|\\|[A-Za-z]:[\\/])/.test(beforeMarker) ||
      ARCHIVE_SUFFIX.test(beforeMarker.split(/\s/)[0] ?? ''));
  if (looksLikePath) {
    throw new InputError(
      'This line names a local path: a Lambda dependency set must come from wheels on an index',
      {
        location: at(0),
        hint: 'Put the wheel in a folder and add "--find-links FOLDER" plus its name and version (e.g. "mypkg==1.0"), or publish it to your index.',
      },
    );
  }
  if (looksLikeUrl) return bareUrlRequirement(text, at, state);
  const requirement = parseMappedRequirement(text, at);
  if (requirement.url) return checkDirectUrl(requirement, requirement.url, at(0), state.allowedIndexes);
  return requirement;
}

/**
 * parseRequirement with columns mapped back through continuations and ${VAR} expansion:
 * it is given column 1, so its error column minus one is the offset in the logical line.
 */
function parseMappedRequirement(text: string, at: (offset: number) => SourceLocation): Requirement {
  const origin = at(0);
  try {
    return { ...parseRequirement(text, { ...origin, column: 1 }), source: origin };
  } catch (error) {
    if (!(error instanceof InputError) || !error.location) throw error;
    throw new InputError(withoutQuotedLine(error.message, text), {
      location: at(error.location.column - 1),
      hint: error.hint,
      cause: error,
    });
  }
}

/** PEP 440's comparison operators: the parser names the one it read. */
const COMPARISON_OPERATORS = new Set(['===', '==', '!=', '~=', '<=', '>=', '<', '>']);

/**
 * A parse error without the text it quotes from the line (` in requirement "…"`, or a quoted
 * part of it): the line may not be a requirement at all (a secret, an environment dump), and
 * the location already says where to look. What was read is named by its kind instead: the
 * comparison operator, or the text at that column. The parser's own punctuation (`"@"`, `";"`,
 * `")"`) is its vocabulary, not the line's, and stays.
 */
function withoutQuotedLine(message: string, line: string): string {
  const unquoted = message.replace(/ in requirement ".*"( at column \d+)?$/s, '');
  const named = unquoted.replace(/"([^"]*)"/g, (quoted, inner: string) => {
    if (inner === '' || !line.includes(inner) || /^[@;()[\],]$/.test(inner)) return quoted;
    return COMPARISON_OPERATORS.has(inner) ? 'the comparison operator' : 'the text at that column';
  });
  // `the text at that column is not …` starts a sentence.
  return named.replace(/^the text/, 'The text');
}

/** pip accepts a bare URL to a wheel (`https://host/name-1.0-py3-none-any.whl`); the name comes from the filename. */
function bareUrlRequirement(
  text: string,
  at: (offset: number) => SourceLocation,
  state: ReadState,
): Requirement {
  const where = at(0);
  const separator = text.indexOf('; ');
  const url = (separator >= 0 ? text.slice(0, separator) : text).trim();
  const markerText = separator >= 0 ? text.slice(separator + 2) : '';
  const parsed = URL.canParse(url) ? new URL(url) : null;
  const filename = safeDecode(parsed?.pathname.split('/').pop() ?? '');
  const name = filename.split('-')[0] ?? '';
  if (!parsed || !filename.endsWith('.whl') || !isValidProjectName(name)) {
    return checkDirectUrl(null, url, where, state.allowedIndexes);
  }
  const requirement = parseRequirement(`${name} @ ${url}${markerText ? ` ; ${markerText}` : ''}`, where);
  return checkDirectUrl(
    { ...requirement, displayName: name, name: canonicalizeName(name) },
    url,
    where,
    state.allowedIndexes,
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A direct reference must be a wheel over http(s) under the allow-list; a `#sha256=` URL
 * fragment becomes its hash. Also used for pyproject.toml dependencies.
 * @example checkDirectUrl(requirement, requirement.url, requirement.source, null)
 */
export function checkDirectUrl(
  requirement: Requirement | null,
  url: string,
  where: SourceLocation | null,
  allowedIndexes: readonly string[] | null,
): Requirement {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed?.protocol === 'file:') {
    throw new InputError(
      `${requirement ? `${requirement.displayName}: ` : ''}a file:// URL is a local file: a Lambda dependency set must come from wheels on an index`,
      {
        location: where,
        hint: 'Put the wheel in a folder and use "--find-links FOLDER" with "name==version", or publish it to your index.',
      },
    );
  }
  if (
    !parsed ||
    !['https:', 'http:'].includes(parsed.protocol) ||
    !parsed.pathname.endsWith('.whl') ||
    !requirement
  ) {
    throw new InputError(
      `${requirement ? `${requirement.displayName}: the` : 'The'} direct reference is not a wheel (.whl) over http(s)`,
      {
        location: where,
        hint: 'Point at a built wheel ("name @ https://host/name-1.0-py3-none-any.whl"); source archives and VCS links cannot be installed on Lambda without building them first.',
      },
    );
  }
  assertIndexAllowed(url, allowedIndexes, where);
  const fragment = /(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(parsed.hash.slice(1));
  return fragment?.[1] ? { ...requirement, hashes: [fragment[1].toLowerCase()] } : requirement;
}

function parseHash(option: ParsedOption, at: (offset: number) => SourceLocation): string {
  const value = option.value ?? '';
  const [algorithm, digest, extra] = value.split(':');
  const hint =
    'Write hashes as --hash=sha256:<64 hex digits> (pip hash FILE or pip-compile --generate-hashes prints them).';
  if (extra !== undefined || !algorithm || digest === undefined) {
    throw new InputError('Bad --hash value: expected ALGORITHM:HEX', {
      location: at(option.valueOffset),
      hint,
    });
  }
  if (algorithm.toLowerCase() !== 'sha256') {
    throw new InputError(`--hash uses ${algorithm}; lambda-deps checks sha256 only`, {
      location: at(option.valueOffset),
      hint: 'Give the sha256 digest of each allowed file instead (indexes publish sha256).',
    });
  }
  if (!SHA256_HEX.test(digest)) {
    throw new InputError('Bad --hash value: a sha256 digest is 64 hex digits', {
      location: at(option.valueOffset),
      hint,
    });
  }
  return digest.toLowerCase();
}

/** POSIX shlex.split of the options part, with each token's offset, then optparse-style matching. */
function parseOptions(
  line: MappedText,
  start: number,
  at: (offset: number) => SourceLocation,
): ParsedOption[] {
  const tokens = splitShellWords(line.text, start, at);
  const parsed: ParsedOption[] = [];
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    if (!token) continue;
    const { word, offset } = token;
    let spec: OptionSpec | undefined;
    let inlineValue: string | null = null;
    let written: string;
    if (word.startsWith('--') && word.length > 2) {
      const equals = word.indexOf('=');
      const name = equals >= 0 ? word.slice(2, equals) : word.slice(2);
      inlineValue = equals >= 0 ? word.slice(equals + 1) : null;
      written = `--${name}`;
      // optparse accepts any unambiguous prefix of a long option, and so does pip.
      const exact = OPTIONS.find((option) => option.long === name);
      const prefixed = OPTIONS.filter((option) => option.long.startsWith(name));
      spec = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
      if (!spec && prefixed.length > 1) {
        throw new InputError(
          `Ambiguous option ${written} (could be ${prefixed.map((option) => `--${option.long}`).join(', ')})`,
          {
            location: at(offset),
            hint: 'Write the option name in full.',
          },
        );
      }
    } else if (/^-[A-Za-z]/.test(word)) {
      written = word.slice(0, 2);
      spec = OPTIONS.find((option) => option.short === word[1]);
      inlineValue = word.length > 2 ? word.slice(2) : null;
    } else {
      throw new InputError('Unexpected text after the options on this line', {
        location: at(offset),
        hint: 'Put each requirement on its own line, before its options (e.g. "requests==2.31.0 --hash=sha256:…").',
      });
    }
    if (!spec) {
      // The option's name is only repeated when it looks like one (the line may be anything).
      const shown = /^--?[a-z][a-z0-9-]{0,30}$/.test(written) ? `${written} ` : '';
      throw new InputError(`Unknown option ${shown}in a requirements file`, {
        location: at(offset),
        hint: 'Requirements files accept -r, -c, -i/--index-url, --extra-index-url, -f/--find-links, --no-index, --pre, --only-binary, --no-binary, --prefer-binary, --require-hashes, --trusted-host and --hash; remove the others.',
      });
    }
    if (!spec.takesValue) {
      if (inlineValue !== null && (word.startsWith('--') || inlineValue !== '')) {
        throw new InputError(`Option --${spec.long} takes no value`, {
          location: at(offset),
          hint: `Write just --${spec.long}.`,
        });
      }
      parsed.push({ spec, written, value: null, offset, valueOffset: offset });
      continue;
    }
    let value = inlineValue;
    let valueOffset = offset + (inlineValue === null ? 0 : word.length - inlineValue.length);
    if (value === null) {
      const next = tokens[index + 1];
      if (!next) {
        throw new InputError(`Option ${written} needs a value`, {
          location: at(offset),
          hint: `Write ${written} VALUE (or --${spec.long}=VALUE).`,
        });
      }
      value = next.word;
      valueOffset = next.offset;
      index++;
    }
    parsed.push({ spec, written, value, offset, valueOffset });
  }
  return parsed;
}

function splitShellWords(
  text: string,
  start: number,
  at: (offset: number) => SourceLocation,
): { word: string; offset: number }[] {
  const words: { word: string; offset: number }[] = [];
  let index = start;
  while (index < text.length) {
    while (index < text.length && /\s/.test(text[index] ?? '')) index++;
    if (index >= text.length) break;
    const offset = index;
    let word = '';
    while (index < text.length && !/\s/.test(text[index] ?? '')) {
      const character = text[index] ?? '';
      if (character === "'" || character === '"') {
        const close = findClosingQuote(text, index + 1, character);
        if (close < 0) {
          throw new InputError('No closing quotation', {
            location: at(index),
            hint: `Close the ${character === '"' ? 'double' : 'single'} quote opened here.`,
          });
        }
        const inner = text.slice(index + 1, close);
        word += character === '"' ? inner.replace(/\\(["\\])/g, '$1') : inner;
        index = close + 1;
      } else if (character === '\\' && index + 1 < text.length) {
        word += text[index + 1];
        index += 2;
      } else {
        PLAIN_WORD.lastIndex = index;
        const plain = PLAIN_WORD.exec(text)?.[0] ?? character;
        word += plain;
        index += plain.length;
      }
    }
    words.push({ word, offset });
  }
  return words;
}

function findClosingQuote(text: string, from: number, quote: string): number {
  for (let index = from; index < text.length; index++) {
    if (quote === '"' && text[index] === '\\') {
      index++;
      continue;
    }
    if (text[index] === quote) return index;
  }
  return -1;
}

/** Options on a line of their own; they act in the order pip applies them (handle_option_line). */
async function handleOptionLine(
  options: readonly ParsedOption[],
  file: string,
  chain: readonly string[],
  asConstraint: boolean,
  state: ReadState,
  at: (offset: number) => SourceLocation,
): Promise<void> {
  const index = state.index;
  const record = (key: string, offset: number): void => {
    state.optionSources[key] ??= at(offset);
  };
  const value = (option: ParsedOption): string => option.value ?? '';
  const named = (long: string): ParsedOption[] => options.filter((option) => option.spec.long === long);

  for (const option of options) {
    switch (option.spec.long) {
      case 'editable':
        throw new InputError('An editable install (-e) cannot go into a Lambda dependency set', {
          location: at(option.offset),
          hint: 'Build the project into a wheel (python -m build --wheel), put it in a --find-links folder and require it by name and version.',
        });
      case 'hash':
        throw new InputError('--hash on a line without a requirement', {
          location: at(option.offset),
          hint: 'Put --hash after the requirement it checks, on the same logical line (use "\\" to continue lines).',
        });
      case 'global-option':
      case 'config-settings':
        throw new InputError(`${option.written} on a line without a requirement`, {
          location: at(option.offset),
          hint: `Remove ${option.written}; lambda-deps installs wheels and does not pass build options.`,
        });
    }
  }

  // pip: --no-index empties the index list and blocks later index options; -i replaces the
  // list gathered so far (command line, environment, config and earlier lines included);
  // --extra-index-url appends; -f appends.
  if (named('no-index').length > 0) {
    index.noIndex = true;
    delete index.indexUrl;
    index.extraIndexUrls = [];
  }
  for (const option of named('index-url')) {
    checkIndexUrl(option, state, at);
    if (index.noIndex) continue;
    index.indexUrl = value(option);
    index.extraIndexUrls = [];
    record(value(option), option.valueOffset);
  }
  for (const option of named('extra-index-url')) {
    checkIndexUrl(option, state, at);
    if (index.noIndex) continue;
    index.extraIndexUrls = [...(index.extraIndexUrls ?? []), value(option)];
    record(value(option), option.valueOffset);
  }
  for (const option of named('find-links')) {
    assertLocationShape(value(option), option.written, at(option.valueOffset));
    const link = findLinksLocation(value(option), file, state.bundle !== null);
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(link) && !link.startsWith('file:')) {
      assertIndexAllowed(link, state.allowedIndexes, at(option.valueOffset));
    }
    index.findLinks = [...(index.findLinks ?? []), link];
    record(link, option.valueOffset);
  }
  if (named('pre').length > 0) index.pre = true;
  if (named('prefer-binary').length > 0) index.preferBinary = true;
  for (const option of named('only-binary')) {
    index.onlyBinary = [...(index.onlyBinary ?? []), ...formatControlNames(option, at)];
  }
  for (const option of named('no-binary')) {
    index.noBinary = [...(index.noBinary ?? []), ...formatControlNames(option, at)];
  }
  for (const option of named('trusted-host')) {
    index.trustedHosts = [...(index.trustedHosts ?? []), value(option)];
  }
  for (const option of named('require-hashes')) state.requireHashes ??= at(option.offset);

  for (const option of options) {
    const long = option.spec.long;
    if (long !== 'requirement' && long !== 'constraint') continue;
    const target = value(option);
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) {
      throw new InputError(`Including requirements from a URL (${option.written}) is not supported`, {
        location: at(option.valueOffset),
        hint: 'Download the file next to this one and include it by path.',
      });
    }
    const included = state.bundle
      ? posix.normalize(posix.isAbsolute(target) ? target : posix.join(posix.dirname(file), target))
      : isAbsolute(target)
        ? target
        : resolve(dirname(file), target);
    // A file included with -c is read as constraints, and so is everything it includes.
    await readOneFile(included, chain, asConstraint || long === 'constraint', at(option.valueOffset), state);
  }
}

function checkIndexUrl(option: ParsedOption, state: ReadState, at: (offset: number) => SourceLocation): void {
  const url = option.value ?? '';
  if (!URL.canParse(url)) {
    throw new InputError(`The ${option.written} value is not a URL`, {
      location: at(option.valueOffset),
      hint: 'Give the index root as a URL, e.g. https://pypi.org/simple/ or file:///srv/simple/.',
    });
  }
  assertLocationShape(url, option.written, at(option.valueOffset));
  assertIndexAllowed(url, state.allowedIndexes, at(option.valueOffset));
}

/** pip: a relative find-links path is taken from the requirements file's folder when it exists there. */
function findLinksLocation(value: string, file: string, inBundle: boolean): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value) && !/^[A-Za-z]:[\\/]/.test(value)) return value;
  if (isAbsolute(value)) return value;
  // In a bundle the including file's path is the client's: the folder is taken beside it.
  if (inBundle) return posix.join(posix.dirname(file), value);
  const besideFile = resolve(dirname(file), value);
  return existsSync(besideFile) ? besideFile : resolve(value);
}

function formatControlNames(option: ParsedOption, at: (offset: number) => SourceLocation): string[] {
  return (option.value ?? '').split(',').map((name) => {
    const trimmed = name.trim();
    if (trimmed === ':all:' || trimmed === ':none:') return trimmed;
    if (!isValidProjectName(trimmed)) {
      throw new InputError(`The ${option.written} value is not a package name, :all: or :none:`, {
        location: at(option.valueOffset),
        hint: `Write ${option.written}=:all: or a comma-separated list of package names.`,
      });
    }
    return canonicalizeName(trimmed);
  });
}

/**
 * pip's hash-checking mode: once any requirement has --hash (or --require-hashes is given),
 * every requirement must be pinned to one version with `==` (or `===`) and carry a hash.
 */
function checkHashes(state: ReadState): boolean {
  const hashed = state.requirements.find((requirement) => requirement.hashes.length > 0);
  const trigger = hashed?.source ?? state.requireHashes;
  if (!trigger) return false;
  const why = hashed
    ? `${hashed.displayName} has --hash (${hashed.source?.file}:${hashed.source?.line})`
    : `--require-hashes is set (${trigger.file}:${trigger.line})`;
  for (const requirement of state.requirements) {
    const pinned = requirement.url !== null || /^(===?)[^,*]+$/.test(requirement.specifier);
    if (!pinned) {
      throw new InputError(
        `Hash-checking mode is on because ${why}, but ${requirement.displayName}${requirement.specifier} is not pinned with ==`,
        {
          location: requirement.source,
          packageName: requirement.name,
          hint: `Pin it to one version with its hashes, e.g. "${requirement.displayName}==X.Y.Z --hash=sha256:…" (pip-compile --generate-hashes writes these).`,
        },
      );
    }
    if (requirement.hashes.length === 0) {
      throw new InputError(
        `Hash-checking mode is on because ${why}, but ${requirement.displayName}${requirement.specifier} has no --hash`,
        {
          location: requirement.source,
          packageName: requirement.name,
          hint: `Add --hash=sha256:… for each allowed file of ${requirement.displayName} (pip hash FILE prints it), or remove every --hash.`,
        },
      );
    }
  }
  return true;
}

/** Two `==` pins of one package to different versions under the same marker can never both hold. */
function checkConflictingPins(requirements: readonly Requirement[]): void {
  const pins = new Map<string, Requirement>();
  for (const requirement of requirements) {
    const pin = /^==([^,*]+)$/.exec(requirement.specifier)?.[1];
    if (!pin || requirement.url) continue;
    const key = `${requirement.name}|${JSON.stringify(requirement.marker)}`;
    const earlier = pins.get(key);
    const earlierPin = earlier ? /^==([^,*]+)$/.exec(earlier.specifier)?.[1] : undefined;
    if (earlier && earlierPin && !versionsEqual(earlierPin, pin)) {
      const where = earlier.source ? `${earlier.source.file}:${earlier.source.line}` : 'earlier';
      throw new InputError(
        `${requirement.displayName}==${pin} conflicts with ${earlier.displayName}==${earlierPin} (${where})`,
        {
          location: requirement.source,
          packageName: requirement.name,
          hint: `Keep one version of ${requirement.displayName}: remove or change one of the two pins.`,
        },
      );
    }
    if (!earlier) pins.set(key, requirement);
  }
}
