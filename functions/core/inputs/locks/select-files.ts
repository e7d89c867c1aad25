// Turns a PinnedSet into a lambda-deps Lock for its target: per pin, the listed wheel whose tag
// the target ranks best (targets.ts), found at the lock's own URL or on the lock's indexes (or on
// the indexes the command line names instead, said in a warning), every hash the lock carries
// checked, and the exact sizes measured. A pin with no wheel for the target is a problem that
// names the package and what to do.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { versionsEqual } from '../../shared/pep440.ts';
import pLimit from 'p-limit';
import { IntegrityError, InputError, ResolutionError } from '../../shared/errors.ts';
import { isWheelFilename, parseWheelFilename } from '../../index/wheel-filename.ts';
import { describeTarget, tagRank } from '../../shared/targets.ts';
import type {
  DistributionFile,
  IndexOptions,
  Lock,
  LockedPackage,
  PackageIndex,
  Target,
} from '../../shared/types.ts';
import { PYPI_SIMPLE_URL, type IndexOptionValues } from '../pip-config.ts';
import { splitHash, type PinnedPackage, type PinnedSet } from './pinned-set.ts';

/** Where a pinned set's files are looked up, and whether the lock's own URLs may be used as they are. */
export interface LockIndexPlan {
  readonly options: IndexOptions;
  /** True when the command line named indexes: files are then found by name there, never at the lock's URLs. */
  readonly overridden: boolean;
  readonly warnings: readonly string[];
}

/**
 * The lock's own sources, unless the command line (or the stack's settings) names indexes: those
 * replace them, and a warning says so. pip's configuration files and PIP_* never do.
 */
export function planLockIndexes(pinned: PinnedSet, cli: IndexOptionValues): LockIndexPlan {
  const named =
    cli.indexUrl !== undefined ||
    (cli.extraIndexUrls?.length ?? 0) > 0 ||
    (cli.findLinks?.length ?? 0) > 0 ||
    cli.noIndex === true;
  const pre = true; // A lock's pins are exact: pre-releases it pinned are wanted.
  if (!named) {
    const sources = pinned.sources.length > 0 ? pinned.sources : [PYPI_SIMPLE_URL];
    return {
      options: { indexUrl: sources[0] ?? null, extraIndexUrls: sources.slice(1), findLinks: [], pre },
      overridden: false,
      warnings: [],
    };
  }
  const options: IndexOptions = {
    indexUrl: cli.noIndex ? null : (cli.indexUrl ?? null),
    extraIndexUrls: cli.noIndex ? [] : [...(cli.extraIndexUrls ?? [])],
    findLinks: [...(cli.findLinks ?? [])],
    pre,
  };
  const given = [options.indexUrl, ...options.extraIndexUrls, ...options.findLinks]
    .filter(Boolean)
    .join(', ');
  const own = pinned.sources.length > 0 ? pinned.sources.join(', ') : 'its own file URLs';
  return {
    options,
    overridden: true,
    warnings: [
      `${pinned.file} names ${own}; its files were looked up on ${given || 'no index'} instead (given on the command line or by the stack), and checked against the lock's hashes.`,
    ],
  };
}

interface Candidate {
  readonly file: DistributionFile;
  readonly tag: string;
  readonly rank: number;
  readonly hashes: Readonly<Record<string, string>>;
}

function bestTag(target: Target, filename: string): { tag: string; rank: number } | null {
  let best: { tag: string; rank: number } | null = null;
  for (const tag of parseWheelFilename(filename).tags) {
    const rank = tagRank(target, tag);
    if (rank !== undefined && (!best || rank < best.rank)) best = { tag, rank };
  }
  return best;
}

function distribution(
  filename: string,
  url: string,
  sha256: string | null,
  size: number | null,
): DistributionFile {
  return {
    filename,
    url,
    sha256,
    requiresPython: null,
    yanked: false,
    size,
    metadataUrl: null,
    metadataSha256: null,
    source: 'lock',
  };
}

/** The listed wheels the target accepts, best first, each located (at its URL or on the index). */
async function listedCandidates(
  entry: PinnedPackage,
  target: Target,
  index: PackageIndex,
  overridden: boolean,
): Promise<Candidate[]> {
  const ranked = entry.files
    .filter((file) => isWheelFilename(file.filename))
    .map((file) => ({ file, best: bestTag(target, file.filename) }))
    .filter(
      (item): item is { file: (typeof entry.files)[number]; best: { tag: string; rank: number } } =>
        item.best !== null,
    )
    .sort((left, right) => left.best.rank - right.best.rank);
  let offered: readonly DistributionFile[] | null = null;
  const located: Candidate[] = [];
  for (const { file, best } of ranked) {
    const sha256 = file.hashes.sha256 ?? null;
    if (file.url && !overridden) {
      located.push({
        file: distribution(file.filename, file.url, sha256, file.size),
        ...best,
        hashes: file.hashes,
      });
      continue;
    }
    offered ??= await index.listFiles(entry.name);
    const match = offered.find((candidate) => candidate.filename === file.filename);
    if (!match) continue;
    if (sha256 && match.sha256 && match.sha256.toLowerCase() !== sha256) {
      throw new IntegrityError(
        `${file.filename} on ${match.source} has sha256 ${match.sha256}, but the lock says ${sha256}.`,
        {
          packageName: entry.name,
          hint: 'The index serves different bytes than were locked: find out why before trusting either, then lock again.',
        },
      );
    }
    located.push({ file: { ...match, sha256: sha256 ?? match.sha256 }, ...best, hashes: file.hashes });
  }
  return located;
}

/** Pipfile.lock lists only hashes: the index's wheels of the pinned version whose hash is one of them. */
async function hashedCandidates(
  entry: PinnedPackage,
  target: Target,
  index: PackageIndex,
): Promise<Candidate[]> {
  const accepted = new Map<string, Set<string>>();
  for (const value of entry.hashes) {
    const parsed = splitHash(value);
    if (parsed) accepted.set(parsed[0], (accepted.get(parsed[0]) ?? new Set()).add(parsed[1]));
  }
  const offered = await index.listFiles(entry.name);
  const candidates: Candidate[] = [];
  for (const file of offered) {
    if (!isWheelFilename(file.filename)) continue;
    const parsed = parseWheelFilename(file.filename);
    if (!versionsEqual(parsed.version, entry.version)) continue;
    const best = bestTag(target, file.filename);
    if (!best) continue;
    let sha256 = file.sha256?.toLowerCase() ?? null;
    sha256 ??= (await index.measureWheel(file)).sha256 ?? null;
    if (accepted.size > 0 && !(sha256 && accepted.get('sha256')?.has(sha256))) continue;
    candidates.push({ file: { ...file, sha256 }, ...best, hashes: sha256 ? { sha256 } : {} });
  }
  return candidates.sort((left, right) => left.rank - right.rank);
}

/** Digest names as hashlib spells them, mapped to node's. */
const NODE_ALGORITHMS: Readonly<Record<string, string>> = {
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  sha3_256: 'sha3-256',
  sha3_512: 'sha3-512',
  blake2b: 'blake2b512',
  blake2s: 'blake2s256',
};

async function digest(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hashes other than sha256 (or a missing sha256) need the whole file: download once and check every one. */
async function checkOtherHashes(
  candidate: Candidate,
  index: PackageIndex,
  name: string,
): Promise<string | null> {
  const others = Object.entries(candidate.hashes).filter(([algorithm]) => algorithm !== 'sha256');
  if (others.length === 0 && candidate.file.sha256) return candidate.file.sha256;
  const path = await index.download(candidate.file);
  for (const [algorithm, expected] of others) {
    const nodeName = NODE_ALGORITHMS[algorithm];
    if (!nodeName) {
      throw new InputError(
        `The lock gives a ${algorithm} hash for ${candidate.file.filename}, which lambda-deps cannot check.`,
        {
          packageName: name,
          hint: `Lock again with sha256 hashes (every tool writes them); known: ${Object.keys(NODE_ALGORITHMS).join(', ')}.`,
        },
      );
    }
    const actual = await digest(path, nodeName);
    if (actual !== expected) {
      throw new IntegrityError(
        `${candidate.file.filename} has ${algorithm} ${actual}, but the lock says ${expected}.`,
        {
          packageName: name,
          hint: 'The file is not the one that was locked: find out why, then lock again.',
        },
      );
    }
  }
  return candidate.file.sha256 ?? (await digest(path, 'sha256'));
}

/** Why a pinned version has no file for the target, and what to do, in the target's terms. */
export function explainNoWheel(
  entry: PinnedPackage,
  target: Target,
  pinned: PinnedSet,
): { package: string; message: string } {
  const listed = entry.files.map((file) => file.filename);
  const wheels = listed.filter(isWheelFilename);
  const label = `${entry.name} ${entry.version}`;
  const cp = `cp3${target.pythonVersion.split('.')[1]}`;
  const glibcNeeded = wheels
    .flatMap((name) => parseWheelFilename(name).tags)
    .map((tag) => /-manylinux_(\d+)_(\d+)_(x86_64|aarch64)$/.exec(tag))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[2]));
  let why: string;
  if (listed.length > 0 && wheels.length === 0)
    why = `the lock lists only a source distribution (${listed[0]}); lambda-deps installs wheels only`;
  else if (wheels.length === 0 && entry.hashes.length > 0)
    why = 'no wheel of that version with one of the locked hashes is on the index';
  else if (glibcNeeded.length > 0 && Math.min(...glibcNeeded) > Number(target.glibc.split('.')[1]))
    why = `its Linux wheels need glibc 2.${Math.min(...glibcNeeded)}; the target has glibc ${target.glibc}`;
  else
    why = `none of its ${wheels.length} wheels fits ${cp} manylinux (${wheels.slice(0, 3).join(', ')}${wheels.length > 3 ? ', …' : ''})`;
  return {
    package: entry.name,
    message: `${label} (pinned by ${pinned.file}) has no wheel for ${describeTarget(target)}: ${why}. Lock again for the target (e.g. uv: add "sys_platform == 'linux' and platform_machine == '${target.architecture === 'arm64' ? 'aarch64' : 'x86_64'}'" to [tool.uv] required-environments), pin a version of ${entry.name} that has a manylinux wheel for it, or pick a target its wheels fit.`,
  };
}

/**
 * The Lock a pinned set builds for `target`: exactly its pins, one wheel each, hashes checked.
 * ResolutionError (exit 1) listing every pin that has no wheel for the target.
 */
export async function lockFromPins(
  pinned: PinnedSet,
  target: Target,
  index: PackageIndex,
  overridden: boolean,
): Promise<Lock> {
  const limit = pLimit(8);
  const problems: { package: string; message: string }[] = [];
  const packages = await Promise.all(
    pinned.packages.map((entry) =>
      limit(async (): Promise<LockedPackage | null> => {
        const candidates =
          entry.files.length > 0
            ? await listedCandidates(entry, target, index, overridden)
            : await hashedCandidates(entry, target, index);
        const chosen = candidates[0];
        if (!chosen) {
          problems.push(explainNoWheel(entry, target, pinned));
          return null;
        }
        const sha256 = await checkOtherHashes(chosen, index, entry.name);
        const measured = await index.measureWheel({ ...chosen.file, sha256 });
        const actual = sha256 ?? measured.sha256 ?? null;
        if (!actual)
          throw new IntegrityError(`No sha256 is known for ${chosen.file.filename}.`, {
            packageName: entry.name,
            hint: 'Lock again with hashes.',
          });
        return {
          name: entry.name,
          version: entry.version,
          filename: chosen.file.filename,
          url: chosen.file.url,
          sha256: actual,
          size: measured.size,
          unzippedSize: measured.unzippedSize,
          tag: chosen.tag,
          requiredBy: [],
        };
      }),
    ),
  );
  if (problems.length > 0) {
    problems.sort((left, right) => (left.package < right.package ? -1 : 1));
    throw new ResolutionError(
      `${problems.length} pinned package${problems.length === 1 ? '' : 's'} of ${pinned.file} ${problems.length === 1 ? 'has' : 'have'} no wheel for ${describeTarget(target)}: ${problems.map((problem) => problem.message).join(' ')}`,
      problems,
      { packageName: problems[0]?.package ?? null, hint: 'Each problem above says what to do.' },
    );
  }
  return {
    lockVersion: 1,
    target,
    packages: packages.filter((entry): entry is LockedPackage => entry !== null),
  };
}
