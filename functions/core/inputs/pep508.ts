// PEP 508 dependency specifiers: parse `name[extras] (specifiers) ; marker` and
// `name @ url ; marker` the way `packaging` does (its grammar and its error wording), and
// evaluate environment markers for a TARGET rather than for the host (pypa/pip#10050).
import { InputError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import {
  clauseContainsText,
  parseSpecifier as parseVersionSpecifier,
  parseSpecifierSet,
} from '../shared/pep440.ts';
import type { Marker, MarkerEnvironment, MarkerValue, Requirement, SourceLocation } from '../shared/types.ts';

const NAME = /[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/y;
const WHITESPACE = /[ \t]*/y;
const OPERATOR = /(===|~=|==|!=|<=|>=|<|>)/y;
const VERSION_TEXT = /[^,;\s)]+/y;
const ARBITRARY_TEXT = /[^;\s)]*/y;
const URL_TEXT = /[^ \t]+/y;
const MARKER_OPERATOR = /(not[ \t]+in\b|in\b|===|~=|==|!=|<=|>=|<|>)/y;
const QUOTED = /'([^']*)'|"([^"]*)"/y;
const BOOLEAN_OPERATOR = /(and|or)\b/y;
const VARIABLE =
  /(python_version|python_full_version|os[._]name|sys[._]platform|platform_release|platform_system|platform[._]version|platform[._]machine|platform[._]python_implementation|python_implementation|implementation_name|implementation_version|extra)\b/y;

/** Legacy spellings PEP 508 still accepts, mapped to the canonical variable. */
const VARIABLE_ALIASES: Readonly<Record<string, string>> = {
  'os.name': 'os_name',
  'sys.platform': 'sys_platform',
  'platform.version': 'platform_version',
  'platform.machine': 'platform_machine',
  'platform.python_implementation': 'platform_python_implementation',
  python_implementation: 'platform_python_implementation',
};

const SPECIFIER_HINT =
  'Write version specifiers as PEP 440 clauses separated by commas, e.g. "requests>=2.31,<3" or "numpy==1.26.*".';
const NAME_HINT =
  'A package name is letters, digits, ".", "_" and "-" (PEP 508), starting and ending with a letter or digit; shell syntax and paths are not allowed.';
const MARKER_HINT =
  'Write markers as `variable operator "value"`, joined with and/or, e.g. `; python_version >= "3.11" and platform_machine == "x86_64"`.';

/** A position-tracking reader over one requirement or marker string. */
class Cursor {
  position = 0;
  constructor(
    readonly text: string,
    private readonly describe: (offset: number) => { location: SourceLocation | null; suffix: string },
  ) {}

  skipWhitespace(): void {
    this.match(WHITESPACE);
  }

  match(pattern: RegExp): RegExpExecArray | null {
    pattern.lastIndex = this.position;
    const found = pattern.exec(this.text);
    if (found) this.position = pattern.lastIndex;
    return found;
  }

  peek(literal: string): boolean {
    return this.text.startsWith(literal, this.position);
  }

  atEnd(): boolean {
    return this.position >= this.text.length;
  }

  fail(message: string, hint: string, offset = this.position): InputError {
    const { location, suffix } = this.describe(offset);
    return new InputError(`${message}${suffix}`, { location, hint });
  }
}

function cursorFor(text: string, subject: string, source: SourceLocation | null): Cursor {
  return new Cursor(text, (offset) => ({
    location: source ? { ...source, column: source.column + offset } : null,
    suffix: ` in ${subject} "${text}"${source ? '' : ` at column ${offset + 1}`}`,
  }));
}

/**
 * Parse one PEP 508 requirement. `source` says where it was written, so errors point at
 * the exact column (source.column is where the requirement text starts).
 * @example parseRequirement('requests[socks]>=2.31; python_version >= "3.8"')
 */
export function parseRequirement(text: string, source: SourceLocation | null = null): Requirement {
  const cursor = cursorFor(text, 'requirement', source);
  cursor.skipWhitespace();
  const nameStart = cursor.position;
  const name = cursor.match(NAME);
  if (!name) {
    throw cursor.fail(
      cursor.atEnd()
        ? 'Expected a package name'
        : `Expected a package name, found "${text.slice(nameStart)}"`,
      NAME_HINT,
    );
  }
  const displayName = name[0];
  cursor.skipWhitespace();
  const extras = cursor.peek('[') ? parseExtras(cursor) : [];
  cursor.skipWhitespace();

  let specifier = '';
  let url: string | null = null;
  let marker: Marker | null = null;
  if (cursor.peek('@')) {
    cursor.position += 1;
    cursor.skipWhitespace();
    const urlStart = cursor.position;
    const urlMatch = cursor.match(URL_TEXT);
    if (!urlMatch)
      throw cursor.fail(
        'Expected a URL after "@"',
        'Write a direct reference as "name @ https://host/path/file.whl".',
      );
    url = urlMatch[0];
    if (!URL.canParse(url)) {
      throw cursor.fail(
        `"${url}" is not a valid URL`,
        'Write a direct reference as "name @ https://host/path/file.whl".',
        urlStart,
      );
    }
    if (!cursor.atEnd()) {
      const before = cursor.position;
      cursor.skipWhitespace();
      if (cursor.position === before || !cursor.peek(';')) {
        if (cursor.atEnd()) return build();
        throw cursor.fail(
          'Expected a semicolon (after URL and whitespace)',
          'Separate a marker from the URL with a space, e.g. "name @ https://host/x.whl ; python_version >= \\"3.11\\"".',
        );
      }
    }
  } else {
    specifier = parseSpecifier(cursor);
  }
  cursor.skipWhitespace();
  if (cursor.peek(';')) {
    cursor.position += 1;
    marker = parseMarkerTail(cursor);
  } else if (!cursor.atEnd()) {
    const after = specifier ? 'version specifier' : 'name and no valid version specifier';
    throw cursor.fail(
      `Expected end or semicolon (after ${after}), found "${text.slice(cursor.position)}"`,
      specifier ? SPECIFIER_HINT : NAME_HINT,
    );
  }
  return build();

  function build(): Requirement {
    return {
      name: canonicalizeName(displayName),
      displayName,
      extras,
      specifier,
      marker,
      url,
      hashes: [],
      source,
    };
  }
}

function parseExtras(cursor: Cursor): string[] {
  cursor.position += 1;
  const extras = new Set<string>();
  cursor.skipWhitespace();
  if (cursor.peek(']')) {
    cursor.position += 1;
    return [];
  }
  for (;;) {
    cursor.skipWhitespace();
    const extra = cursor.match(NAME);
    if (!extra) {
      throw cursor.fail(
        'Expected an extra name',
        'Write extras as names in brackets separated by commas, e.g. "requests[socks,security]".',
      );
    }
    extras.add(canonicalizeName(extra[0]));
    cursor.skipWhitespace();
    if (cursor.peek(',')) {
      cursor.position += 1;
      continue;
    }
    if (cursor.peek(']')) {
      cursor.position += 1;
      return [...extras].sort();
    }
    throw cursor.fail(
      'Expected a comma or a closing "]" after an extra',
      'Write extras as names in brackets separated by commas, e.g. "requests[socks,security]".',
    );
  }
}

/** Specifier clauses, optionally in parentheses; returns them joined by `,` without spaces. */
function parseSpecifier(cursor: Cursor): string {
  const parenthesized = cursor.peek('(');
  if (parenthesized) {
    cursor.position += 1;
    cursor.skipWhitespace();
  }
  const clauses: string[] = [];
  for (;;) {
    const clauseStart = cursor.position;
    const operator = cursor.match(OPERATOR);
    if (!operator) {
      if (clauses.length === 0 && !parenthesized) return '';
      throw cursor.fail('Expected a version specifier (such as ">=1.0")', SPECIFIER_HINT);
    }
    cursor.skipWhitespace();
    // packaging's arbitrary-equality version runs to whitespace, ";" or ")": commas included.
    const version = cursor.match(operator[0] === '===' ? ARBITRARY_TEXT : VERSION_TEXT);
    if (!version) throw cursor.fail(`Expected a version after "${operator[0]}"`, SPECIFIER_HINT);
    const clause = `${operator[0]}${version[0]}`;
    if (!parseVersionSpecifier(clause)) {
      throw cursor.fail(`"${clause}" is not a valid PEP 440 version specifier`, SPECIFIER_HINT, clauseStart);
    }
    clauses.push(clause);
    cursor.skipWhitespace();
    if (cursor.peek(',')) {
      cursor.position += 1;
      cursor.skipWhitespace();
      continue;
    }
    break;
  }
  if (parenthesized) {
    if (!cursor.peek(')'))
      throw cursor.fail('Expected a closing ")" after the version specifier', SPECIFIER_HINT);
    cursor.position += 1;
  }
  const joined = clauses.join(',');
  // An `===` version may have swallowed commas (as in packaging): the set must still be valid.
  if (!parseSpecifierSet(joined))
    throw cursor.fail(`"${joined}" is not a valid PEP 440 version specifier`, SPECIFIER_HINT);
  return joined;
}

/**
 * Parse a PEP 508 environment marker (the part after `;`). `and` binds tighter than `or`.
 * @example parseMarker('python_version >= "3.11" and extra == "socks"')
 */
export function parseMarker(text: string): Marker {
  return parseMarkerTail(cursorFor(text, 'marker', null));
}

function parseMarkerTail(cursor: Cursor): Marker {
  cursor.skipWhitespace();
  if (cursor.atEnd()) throw cursor.fail('Expected a marker after ";"', MARKER_HINT);
  const marker = parseOr(cursor);
  cursor.skipWhitespace();
  if (!cursor.atEnd()) {
    throw cursor.fail(
      `Expected "and", "or" or the end of the marker, found "${cursor.text.slice(cursor.position)}"`,
      MARKER_HINT,
    );
  }
  return marker;
}

function parseOr(cursor: Cursor): Marker {
  let left = parseAnd(cursor);
  for (;;) {
    cursor.skipWhitespace();
    const start = cursor.position;
    const operator = cursor.match(BOOLEAN_OPERATOR);
    if (!operator || operator[1] !== 'or') {
      cursor.position = start;
      return left;
    }
    left = { op: 'or', left, right: parseAnd(cursor) };
  }
}

function parseAnd(cursor: Cursor): Marker {
  let left = parseAtom(cursor);
  for (;;) {
    cursor.skipWhitespace();
    const start = cursor.position;
    const operator = cursor.match(BOOLEAN_OPERATOR);
    if (!operator || operator[1] !== 'and') {
      cursor.position = start;
      return left;
    }
    left = { op: 'and', left, right: parseAtom(cursor) };
  }
}

function parseAtom(cursor: Cursor): Marker {
  cursor.skipWhitespace();
  if (cursor.peek('(')) {
    cursor.position += 1;
    const inner = parseOr(cursor);
    cursor.skipWhitespace();
    if (!cursor.peek(')')) throw cursor.fail('Expected a closing ")" in the marker', MARKER_HINT);
    cursor.position += 1;
    return inner;
  }
  const lhs = parseMarkerValue(cursor);
  cursor.skipWhitespace();
  const operator = cursor.match(MARKER_OPERATOR);
  if (!operator) {
    throw cursor.fail(
      'Expected a marker operator (one of <, <=, ==, !=, >=, >, ~=, ===, in, not in)',
      MARKER_HINT,
    );
  }
  cursor.skipWhitespace();
  const rhs = parseMarkerValue(cursor);
  const comparator = operator[1]?.startsWith('not') ? 'not in' : (operator[1] ?? '');
  return { op: 'compare', lhs, comparator, rhs };
}

function parseMarkerValue(cursor: Cursor): MarkerValue {
  const quoted = cursor.match(QUOTED);
  if (quoted) return { kind: 'literal', value: quoted[1] ?? quoted[2] ?? '' };
  const variable = cursor.match(VARIABLE);
  if (variable) {
    const written = variable[1] ?? '';
    return { kind: 'variable', name: VARIABLE_ALIASES[written] ?? written };
  }
  throw cursor.fail(
    cursor.atEnd()
      ? 'Expected a marker variable or quoted string'
      : `Expected a marker variable or quoted string, found "${cursor.text.slice(cursor.position)}"`,
    MARKER_HINT,
  );
}

/**
 * Evaluate a marker for a target environment (see `markerEnvironment` in targets.ts), as
 * packaging 26 does: for the version variables (python_version, python_full_version,
 * implementation_version, platform_release) a right-hand side that forms a valid specifier is
 * compared as PEP 440 (pre-releases included); everything else compares strings, where `<` and
 * `>` never hold, `<=`/`>=` mean equality, and `~=`/`===` are undefined (an InputError, where
 * pip raises UndefinedComparison). `extra` is compared PEP 503-normalized and, as in pip, is the
 * empty string when no extra is given, so `extra == "x"` is false then.
 * @example evaluateMarker(parseMarker('python_version < "3.12"'), markerEnvironment(target))
 */
export function evaluateMarker(
  marker: Marker,
  environment: MarkerEnvironment,
  extra: string | null = null,
): boolean {
  if (marker.op !== 'compare') {
    // Both sides are always evaluated, as packaging does: an undefined comparison raises even
    // where the other side already decides the result.
    const left = evaluateMarker(marker.left, environment, extra);
    const right = evaluateMarker(marker.right, environment, extra);
    return marker.op === 'and' ? left && right : left || right;
  }
  const variable =
    marker.lhs.kind === 'variable' ? marker.lhs.name : marker.rhs.kind === 'variable' ? marker.rhs.name : '';
  const resolve = (side: MarkerValue): string => {
    if (side.kind === 'literal') return side.value;
    if (side.name === 'extra') return extra ?? '';
    return environment[side.name] ?? '';
  };
  let lhs = resolve(marker.lhs);
  let rhs = resolve(marker.rhs);
  if (variable === 'extra') {
    lhs = canonicalizeName(lhs);
    rhs = canonicalizeName(rhs);
  }
  return compareMarkerValues(lhs, marker.comparator, rhs, variable);
}

/** The variables packaging compares as versions (its MARKERS_REQUIRING_VERSION). */
const VERSION_VARIABLES: ReadonlySet<string> = new Set([
  'implementation_version',
  'platform_release',
  'python_full_version',
  'python_version',
]);

function compareMarkerValues(lhs: string, comparator: string, rhs: string, variable: string): boolean {
  if (VERSION_VARIABLES.has(variable)) {
    const specifier = parseVersionSpecifier(`${comparator}${rhs}`);
    if (specifier) return clauseContainsText(specifier, lhs);
  }
  switch (comparator) {
    case 'in':
      return rhs.includes(lhs);
    case 'not in':
      return !rhs.includes(lhs);
    case '==':
    case '<=':
    case '>=':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
    case '<':
    case '>':
      return false;
    default:
      throw new InputError(
        `The marker comparison ${JSON.stringify(lhs)} ${comparator} ${JSON.stringify(rhs)} is undefined.`,
        {
          hint: `"${comparator}" compares versions only; for ${variable || 'this value'} use == or != (as pip, which raises UndefinedComparison).`,
        },
      );
  }
}

/**
 * Whether a requirement applies to the target: no marker → true; otherwise true when the
 * marker holds with no extra or with any of the requested extras.
 * @example requirementApplies(parseRequirement('pysocks; extra == "socks"'), environment, ['socks']) // true
 */
export function requirementApplies(
  requirement: Requirement,
  environment: MarkerEnvironment,
  extras: readonly string[] = [],
): boolean {
  const marker = requirement.marker;
  if (!marker) return true;
  if (evaluateMarker(marker, environment, null)) return true;
  return extras.some((extra) => evaluateMarker(marker, environment, extra));
}
