// The one PEP 440 implementation of lambda-deps: versions, their order, and version specifiers
// with the semantics of `packaging` 26 (what pip 26 vendors). Specifiers in requirements, in
// Requires-Python and in environment markers all go through here. Parsing is @renovatebot/pep440's
// `explain` (correct once the input is trimmed); the order and the operators are written here,
// because the library's `satisfies` follows older rules (it rejects `3.11.0 > 3.11.0rc1`, for one).
import { explain } from '@renovatebot/pep440';

export interface Version {
  /** As written (trimmed). */
  readonly text: string;
  readonly epoch: number;
  readonly release: readonly number[];
  readonly pre: readonly [string, number] | null;
  readonly post: number | null;
  readonly dev: number | null;
  /** Normalized local label (`abc.1`), or null. */
  readonly local: string | null;
  readonly isPrerelease: boolean;
  readonly isPostrelease: boolean;
  /** packaging's `str(Version)`: the normalized form. */
  readonly normalized: string;
  /** Equal keys ⇔ equal versions (`1.0` and `1.0.0` share one). */
  readonly key: string;
}

const versionCache = new Map<string, Version | null>();

/** Parse a PEP 440 version the way packaging's `Version()` does; null when it is not one. */
export function parseVersion(text: string): Version | null {
  const cached = versionCache.get(text);
  if (cached !== undefined) return cached;
  const trimmed = text.trim();
  // explain() accepts a trailing "+" and some spellings packaging refuses; the regex keeps them out.
  const explained = VERSION_PATTERN.test(trimmed) ? explain(trimmed) : null;
  let version: Version | null = null;
  if (explained) {
    // The library's types say arrays, but post and dev arrive as numbers (the cause of the
    // `segment.join is not a function` crash); read each shape defensively.
    const pre = explained.pre ? ([String(explained.pre[0]), Number(explained.pre[1])] as const) : null;
    const parts = {
      epoch: explained.epoch,
      release: explained.release,
      pre,
      post: segmentNumber(explained.post),
    };
    const base = { ...parts, dev: segmentNumber(explained.dev), local: explained.local ?? null };
    version = {
      text: trimmed,
      ...base,
      isPrerelease: pre !== null || base.dev !== null,
      isPostrelease: base.post !== null,
      normalized: normalize(base),
      key: equalityKey(base),
    };
  }
  if (versionCache.size > 50_000) versionCache.clear();
  versionCache.set(text, version);
  return version;
}

function segmentNumber(segment: unknown): number | null {
  if (segment === null || segment === undefined) return null;
  return Number(Array.isArray(segment) ? segment.at(-1) : segment);
}

// PEP 440's appendix regex, anchored; whitespace around the version is allowed as in packaging.
const VERSION_PATTERN =
  /^v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$/i;

type Parts = Pick<Version, 'epoch' | 'release' | 'pre' | 'post' | 'dev' | 'local'>;

function normalize(parts: Parts): string {
  const epoch = parts.epoch ? `${parts.epoch}!` : '';
  const pre = parts.pre ? `${parts.pre[0]}${parts.pre[1]}` : '';
  const post = parts.post !== null ? `.post${parts.post}` : '';
  const dev = parts.dev !== null ? `.dev${parts.dev}` : '';
  const local = parts.local !== null ? `+${parts.local}` : '';
  return `${epoch}${parts.release.join('.')}${pre}${post}${dev}${local}`;
}

function trimmedRelease(release: readonly number[]): number[] {
  const trimmed = [...release];
  while (trimmed.length > 1 && trimmed.at(-1) === 0) trimmed.pop();
  return trimmed;
}

function equalityKey(parts: Parts): string {
  const local = parts.local === null ? '' : localParts(parts.local).join('.');
  return `${parts.epoch}!${trimmedRelease(parts.release).join('.')}|${parts.pre?.join('') ?? ''}|${parts.post ?? ''}|${parts.dev ?? ''}|${local}`;
}

function localParts(local: string): (number | string)[] {
  return local.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part.toLowerCase()));
}

const PRE_ORDER: Readonly<Record<string, number>> = { a: 0, b: 1, rc: 2 };

/** packaging's `_cmpkey` order: negative when left < right. */
export function compareVersions(left: Version, right: Version): number {
  if (left.key === right.key) return 0;
  return (
    left.epoch - right.epoch ||
    compareRelease(trimmedRelease(left.release), trimmedRelease(right.release)) ||
    preRank(left) - preRank(right) ||
    comparePre(left, right) ||
    (left.post ?? -1) - (right.post ?? -1) ||
    (left.dev ?? Number.POSITIVE_INFINITY) - (right.dev ?? Number.POSITIVE_INFINITY) ||
    compareLocal(left.local, right.local)
  );
}

function compareRelease(left: readonly number[], right: readonly number[]): number {
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? -1) - (right[index] ?? -1);
    if (difference) return difference;
  }
  return 0;
}

/** A dev release of a final sorts before its pre-releases; a final after them. */
function preRank(version: Version): number {
  if (version.pre === null && version.post === null && version.dev !== null) return 0;
  return version.pre === null ? 2 : 1;
}

function comparePre(left: Version, right: Version): number {
  if (!left.pre || !right.pre) return 0;
  return (PRE_ORDER[left.pre[0]] ?? 0) - (PRE_ORDER[right.pre[0]] ?? 0) || left.pre[1] - right.pre[1];
}

function compareLocal(left: string | null, right: string | null): number {
  if (left === right) return 0;
  if (left === null) return -1;
  if (right === null) return 1;
  const a = localParts(left);
  const b = localParts(right);
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const x = a[index] as number | string;
    const y = b[index] as number | string;
    if (x === y) continue;
    // Numeric segments sort after alphanumeric ones.
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    if (typeof x === 'number') return 1;
    if (typeof y === 'number') return -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Compare two version strings; invalid ones throw (callers parse first). */
export function compareVersionText(left: string, right: string): number {
  const a = parseVersion(left);
  const b = parseVersion(right);
  if (!a || !b) throw new TypeError(`not a PEP 440 version: ${a ? right : left}`);
  return compareVersions(a, b);
}

// ---------------------------------------------------------------------------------------------
// Specifiers.

export interface Specifier {
  readonly operator: '===' | '~=' | '==' | '!=' | '<=' | '>=' | '<' | '>';
  /** The version as written after the operator (trimmed). */
  readonly version: string;
  readonly wildcard: boolean;
  /** The parsed version (without `.*`); null only for `===`. */
  readonly parsed: Version | null;
}

const RELEASE = String.raw`v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*`;
const PRE = String.raw`(?:[-_.]?(?:alpha|beta|preview|pre|a|b|c|rc)[-_.]?[0-9]*)?`;
const POST = String.raw`(?:(?:-[0-9]+)|(?:[-_.]?(?:post|rev|r)[-_.]?[0-9]*))?`;
const DEV = String.raw`(?:[-_.]?dev[-_.]?[0-9]*)?`;
const LOCAL = String.raw`(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?`;
// packaging's Specifier regex, one alternative per operator family.
const SPECIFIER_PATTERN = new RegExp(
  String.raw`^\s*(?:(===)\s*([^\s;)]*)|(==|!=)\s*(${RELEASE}(?:\.\*|${PRE}${POST}${DEV}${LOCAL}))|(~=)\s*(v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)+${PRE}${POST}${DEV})|(<=|>=|<|>)\s*(${RELEASE}${PRE}${POST}${DEV}))\s*$`,
  'i',
);

/** Parse one clause (`>=1.0`); null when packaging would raise InvalidSpecifier. */
export function parseSpecifier(text: string): Specifier | null {
  const match = SPECIFIER_PATTERN.exec(text);
  if (!match) return null;
  const operator = (match[1] ?? match[3] ?? match[5] ?? match[7]) as Specifier['operator'];
  const version = (match[2] ?? match[4] ?? match[6] ?? match[8] ?? '').trim();
  const wildcard = version.endsWith('.*');
  if (operator === '===') return { operator, version, wildcard: false, parsed: null };
  const parsed = parseVersion(wildcard ? version.slice(0, -2) : version);
  return parsed ? { operator, version, wildcard, parsed } : null;
}

/** Parse `>=1.0, <2` (a SpecifierSet); null when any clause is invalid. Empty text → no clauses. */
export function parseSpecifierSet(text: string): Specifier[] | null {
  if (!text.trim()) return [];
  const specifiers: Specifier[] = [];
  for (const part of text.split(',')) {
    // packaging skips empty clauses (`>=1,`).
    if (!part.trim()) continue;
    const specifier = parseSpecifier(part);
    if (!specifier) return null;
    specifiers.push(specifier);
  }
  return specifiers;
}

function releasePrefixMatches(version: Version, epoch: number, prefix: readonly number[]): boolean {
  return version.epoch === epoch && prefix.every((part, index) => (version.release[index] ?? 0) === part);
}

function publicOf(version: Version): Version {
  return version.local === null ? version : (parseVersion(version.text.split('+')[0] as string) as Version);
}

/** The version's own `.dev0` (packaging's `_earliest_prerelease`). */
function earliestPrerelease(version: Version): Version {
  return parseVersion(normalize({ ...version, dev: 0, local: null })) as Version;
}

function postBase(version: Version): Version {
  return parseVersion(normalize({ ...version, post: null, dev: null, local: null })) as Version;
}

/** Whether the operator holds, ignoring pre-release policy (packaging's `_compare_*`). */
export function operatorHolds(
  specifier: Specifier,
  version: Version,
  written: string = version.normalized,
): boolean {
  const spec = specifier.parsed;
  if (specifier.operator === '===' || !spec) return written.toLowerCase() === specifier.version.toLowerCase();
  switch (specifier.operator) {
    case '==':
    case '!=': {
      const equal = specifier.wildcard
        ? releasePrefixMatches(version, spec.epoch, spec.release)
        : compareVersions(spec.local !== null ? version : publicOf(version), spec) === 0;
      return specifier.operator === '==' ? equal : !equal;
    }
    case '~=':
      return (
        compareVersions(publicOf(version), spec) >= 0 &&
        releasePrefixMatches(version, spec.epoch, spec.release.slice(0, -1))
      );
    case '<=':
      return compareVersions(publicOf(version), spec) <= 0;
    case '>=':
      return compareVersions(publicOf(version), spec) >= 0;
    case '<':
      if (compareVersions(version, spec) >= 0) return false;
      return !(
        !spec.isPrerelease &&
        version.isPrerelease &&
        compareVersions(version, earliestPrerelease(spec)) >= 0
      );
    case '>':
      if (compareVersions(version, spec) <= 0) return false;
      if (!spec.isPostrelease && version.isPostrelease && compareVersions(postBase(version), spec) === 0)
        return false;
      return !(version.local !== null && compareVersions(publicOf(version), spec) === 0);
  }
}

/** packaging's `Specifier.prereleases`: does the clause itself name a pre-release? */
export function specifierNamesPrerelease(specifier: Specifier): boolean | null {
  if (specifier.operator === '!=' || (specifier.operator === '==' && specifier.wildcard)) return false;
  if (!specifier.parsed) {
    const parsed = parseVersion(specifier.version);
    return parsed ? parsed.isPrerelease : null;
  }
  return specifier.parsed.isPrerelease;
}

/** packaging's `SpecifierSet.prereleases`: true when any clause names a pre-release, else unknown. */
function setNamesPrerelease(specifiers: readonly Specifier[]): boolean | null {
  if (specifiers.length === 0) return null;
  return specifiers.some((specifier) => specifierNamesPrerelease(specifier)) ? true : null;
}

/**
 * packaging 26's `SpecifierSet.filter(versions, prereleases)`: the versions every clause allows;
 * with `prereleases` null (pip without `--pre`), pre-releases only when no final release matches
 * or a clause names a pre-release. Order is kept.
 */
export function filterVersions<T>(
  specifiers: readonly Specifier[],
  items: readonly T[],
  versionOf: (item: T) => Version,
  prereleases: boolean | null = null,
): T[] {
  const effective = prereleases ?? setNamesPrerelease(specifiers);
  const matching = items.filter((item) => {
    const version = versionOf(item);
    if (effective === false && version.isPrerelease) return false;
    return specifiers.every((specifier) => operatorHolds(specifier, version));
  });
  if (effective !== null) return matching;
  const finals = matching.filter((item) => !versionOf(item).isPrerelease);
  return finals.length > 0 ? finals : matching;
}

/** `SpecifierSet.contains(version, prereleases=True)`: what pip checks a candidate with. */
export function specifiersContain(specifiers: readonly Specifier[], version: Version): boolean {
  return specifiers.every((specifier) => operatorHolds(specifier, version));
}

/** `Specifier(clause).contains(text, prereleases=True)` for marker values (text may be no version). */
export function clauseContainsText(specifier: Specifier, text: string): boolean {
  const version = parseVersion(text);
  if (!version) return specifier.operator === '===' && text.toLowerCase() === specifier.version.toLowerCase();
  return operatorHolds(specifier, version, text);
}

/** Whether the text is a PEP 440 version. */
export function isVersion(text: string): boolean {
  return parseVersion(text) !== null;
}

/** PEP 440 equality (`1.0` equals `1.0.0`); false when either side is not a version. */
export function versionsEqual(left: string, right: string): boolean {
  const a = parseVersion(left);
  const b = parseVersion(right);
  return a !== null && b !== null && a.key === b.key;
}

/** Whether `version` satisfies `specifier` as pip checks a candidate (pre-releases included); false when either is invalid. */
export function satisfiesSpecifier(version: string, specifier: string): boolean {
  const clauses = parseSpecifierSet(specifier);
  const parsed = parseVersion(version);
  return clauses !== null && parsed !== null && specifiersContain(clauses, parsed);
}

/** Whether the text is a valid specifier set (`>=1,<2`). */
export function isSpecifierSet(text: string): boolean {
  return parseSpecifierSet(text) !== null;
}
