// pip's PackageFinder for a target: judge each file an index offers (tags, Requires-Python,
// version) and order the usable wheels the way pip prefers them.
import { canonicalizeName } from '../shared/names.ts';
import {
  compareVersionText as compareVersions,
  filterVersions,
  parseSpecifierSet,
  parseVersion,
  specifiersContain,
} from '../shared/pep440.ts';
import type { Specifier, Version } from '../shared/pep440.ts';
import { tagRank, wheelMachine } from '../shared/targets.ts';
import type { DistributionFile, Target } from '../shared/types.ts';
import { parseWheelFilename } from '../index/wheel-filename.ts';
import type { FileVerdict } from './candidates.ts';
import type { DistributionFormat } from './format-control.ts';

/** The formats one package may use, and whether an older wheel beats a newer sdist. */
export interface FormatChoice {
  readonly allowed: ReadonlySet<DistributionFormat>;
  readonly preferBinary: boolean;
}

const WHEELS_ONLY: FormatChoice = { allowed: new Set(['binary']), preferBinary: false };

/** The tag recorded for a chosen sdist: it has none until it is built. */
export const SDIST_TAG = 'sdist';

type ParsedVersion = Version;
type Clause = Specifier;

// ---------------------------------------------------------------------------------------------
// PEP 440 (functions/core/shared/pep440.ts) in the shapes the finder uses.

/**
 * The versions pip 26's finder lets through (packaging 26's SpecifierSet.filter): with `--pre`
 * every match; otherwise the final releases that match, or the matching pre-releases when no final
 * matches or a clause names a pre-release.
 */
function allowedVersions(
  versions: readonly Version[],
  clauses: readonly Specifier[],
  pre: boolean,
): Set<string> {
  const allowed = filterVersions(clauses, versions, (version) => version, pre ? true : null);
  return new Set(allowed.map((version) => version.text));
}

/** Requires-Python against the target's full Python version; invalid values are ignored, as pip does. */
export function pythonAllowed(requiresPython: string | null, pythonFullVersion: string): boolean {
  if (!requiresPython || !requiresPython.trim()) return true;
  const clauses = parseSpecifierSet(requiresPython);
  const version = parseVersion(pythonFullVersion);
  if (!clauses || !version) return true;
  return specifiersContain(clauses, version);
}

export function judgeFile(
  target: Target,
  pythonFullVersion: string,
  name: string,
  file: DistributionFile,
): FileVerdict {
  const pythonOk = pythonAllowed(file.requiresPython, pythonFullVersion);
  if (!file.filename.toLowerCase().endsWith('.whl')) {
    return {
      file,
      version: sdistVersion(name, file.filename),
      rank: undefined,
      tag: null,
      build: null,
      wheelTags: [],
      isWheel: false,
      pythonOk,
    };
  }
  // A wheel whose name does not parse, or names another project, is never a candidate.
  const unusable = {
    file,
    version: null,
    rank: undefined,
    tag: null,
    build: null,
    wheelTags: [],
    isWheel: true,
    pythonOk,
  };
  let wheel;
  try {
    wheel = parseWheelFilename(file.filename);
  } catch {
    return unusable;
  }
  if (wheel.name !== name) return unusable;
  const ranked = bestTag(target, wheel.tags);
  const buildMatch = wheel.build ? /^(\d+)(.*)$/.exec(wheel.build) : null;
  return {
    file,
    version: parseVersion(wheel.version),
    rank: ranked?.rank,
    tag: ranked?.tag ?? null,
    build: buildMatch ? [Number(buildMatch[1]), buildMatch[2] as string] : null,
    wheelTags: wheel.tags,
    isWheel: true,
    pythonOk,
  };
}

/**
 * The files pip would offer, best first: compatible wheels whose version the specifier and the
 * pre-release rule let through, hash-filtered, sorted by (allowed hash, not yanked, version,
 * tag priority, build tag), with yanked files dropped unless every one is yanked and the
 * specifier pins `==`.
 */
export function orderFiles(
  verdicts: readonly FileVerdict[],
  clauses: readonly Clause[],
  hashes: readonly string[],
  pre: boolean,
  formats: FormatChoice = WHEELS_ONLY,
): FileVerdict[] {
  const usable = verdicts.filter((verdict) => usableFormat(verdict, formats) && verdict.pythonOk);
  const allowed = allowedVersions(
    uniqueVersions(usable.map((verdict) => verdict.version as ParsedVersion)),
    clauses,
    pre,
  );
  let applicable = usable.filter((verdict) => allowed.has((verdict.version as ParsedVersion).text));
  const hashAllowed = (verdict: FileVerdict): boolean =>
    hashes.length > 0 && verdict.file.sha256 !== null && hashes.includes(verdict.file.sha256.toLowerCase());
  if (hashes.length > 0 && applicable.some(hashAllowed)) {
    applicable = applicable.filter((verdict) => verdict.file.sha256 === null || hashAllowed(verdict));
  }
  applicable.sort((left, right) => {
    const byHash = Number(hashAllowed(right)) - Number(hashAllowed(left));
    if (byHash) return byHash;
    const byYank = Number(left.file.yanked !== false) - Number(right.file.yanked !== false);
    if (byYank) return byYank;
    // pip's `binary_preference`: with --prefer-binary every wheel sorts before every sdist.
    const byBinary = formats.preferBinary ? Number(right.isWheel) - Number(left.isWheel) : 0;
    if (byBinary) return byBinary;
    const byVersion = compareVersions(
      (right.version as ParsedVersion).text,
      (left.version as ParsedVersion).text,
    );
    if (byVersion) return byVersion;
    // Within a version an sdist comes after every wheel (pip gives it the lowest tag priority).
    const byRank = (left.rank ?? Number.MAX_SAFE_INTEGER) - (right.rank ?? Number.MAX_SAFE_INTEGER);
    if (byRank) return byRank;
    return compareBuild(right.build, left.build);
  });
  const allYanked = applicable.every((verdict) => verdict.file.yanked !== false);
  const pinned = clauses.some(
    (clause) => clause.operator === '===' || (clause.operator === '==' && !clause.wildcard),
  );
  return applicable.filter((verdict) => verdict.file.yanked === false || (allYanked && pinned));
}

/** A wheel whose tags fit, or an sdist, each only where the package's allowed formats admit it. */
function usableFormat(verdict: FileVerdict, formats: FormatChoice): boolean {
  if (!verdict.version) return false;
  if (verdict.isWheel) return verdict.rank !== undefined && formats.allowed.has('binary');
  return formats.allowed.has('source') && /\.(tar\.gz|zip)$/i.test(verdict.file.filename);
}

export function describeWheelTarget(target: Target): string {
  const cp = `cp3${target.pythonVersion.split('.')[1]}`;
  return `${cp}-${cp}-manylinux_2_17_${wheelMachine(target.architecture)} or py3-none-any`;
}

export function bestTag(target: Target, tags: readonly string[]): { rank: number; tag: string } | null {
  let best: { rank: number; tag: string } | null = null;
  for (const tag of tags) {
    const rank = tagRank(target, tag);
    if (rank !== undefined && (!best || rank < best.rank)) best = { rank, tag };
  }
  return best;
}

export function sdistVersion(name: string, filename: string): ParsedVersion | null {
  const stem = filename.replace(/\.(tar\.gz|tar\.bz2|tar\.xz|zip|tgz|tar)$/i, '');
  const dash = stem.lastIndexOf('-');
  if (dash <= 0 || canonicalizeName(stem.slice(0, dash)) !== name) return null;
  return parseVersion(stem.slice(dash + 1));
}

export function uniqueVersions(versions: readonly ParsedVersion[]): ParsedVersion[] {
  const seen = new Map<string, ParsedVersion>();
  for (const version of versions) seen.set(version.text, version);
  return [...seen.values()];
}

export function compareBuild(
  left: readonly [number, string] | null,
  right: readonly [number, string] | null,
): number {
  if (!left && !right) return 0;
  if (!left) return -1;
  if (!right) return 1;
  if (left[0] !== right[0]) return left[0] - right[0];
  return left[1] < right[1] ? -1 : left[1] > right[1] ? 1 : 0;
}

/** pip's Hashes `&`: an empty side allows everything; otherwise only the common digests. */
export function intersectHashes(current: string[] | null, more: readonly string[]): string[] {
  const lowered = more.map((hash) => hash.toLowerCase());
  if (current === null || current.length === 0) return lowered;
  return current.filter((hash) => lowered.includes(hash));
}
