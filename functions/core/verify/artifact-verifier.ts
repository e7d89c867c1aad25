// Verifies a built artifact (a folder or a zip) before anything is published: every file is
// judged by its magic bytes, and each ELF file must suit the target (machine, glibc and
// libstdc++ symbol versions, every DT_NEEDED library findable), each CPython extension must
// carry the target's suffix, and Mach-O or PE files are refused. Each problem names the
// file, the distribution it came from and what to do. Reads only the headers it needs: one
// 4 KiB read per file, and for ELF files the blocks of their dynamic tables (file-inspection.ts).
// Before any file, the artifact's shape: no symlink pointing outside it, no entry twice, no two
// names differing only in case, no unsafe name (a zip could write any of these on extraction).
import { readdirSync, readlinkSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import pLimit from 'p-limit';
import { openZip, readEntry, unsafeEntryName } from '../pack/zip-reader.ts';
import { compareDottedVersions, type BinaryFormat, type ElfFacts } from './elf.ts';
import { eventLoopSlicer } from '../shared/event-loop-slicer.ts';
import { inspectBytes, inspectFile, type FileInspection } from './file-inspection.ts';
import { InputError } from '../shared/errors.ts';
import { exceedsCeiling, runtimeLibraries, type RuntimeLibrarySet } from './runtime-libraries.ts';
import { describeTarget, wheelMachine } from '../shared/targets.ts';
import type { Problem, Target } from '../shared/types.ts';

export interface VerifyArtifactOptions {
  /** A folder or a `.zip`. */
  readonly root: string;
  readonly target: Target;
  /** Folders (relative to root) that are on sys.path at run time; detected when absent. */
  readonly pythonRoots?: readonly string[];
  /** The distribution a file belongs to; derived from `*.dist-info/RECORD` when absent. */
  readonly packageOf?: (relativePath: string) => string | null;
  /**
   * For a folder: the inspection of a file (by its path relative to root) known without reading
   * it, or null to read it (the build's, from an earlier build's inspection of the same bytes).
   */
  readonly knownInspection?: (relativePath: string) => FileInspection | null;
  /** For a folder: hears each inspection that was read from the file. */
  readonly onInspected?: (relativePath: string, inspection: FileInspection) => void;
}

/** What a folder's files may be known by without reading them (VerifyArtifactOptions). */
type InspectionHooks = Pick<VerifyArtifactOptions, 'knownInspection' | 'onInspected'>;

/** A library the verifier took to be in the base image on the strength of an unconfirmed entry. */
export interface AssumedLibrary {
  readonly library: string;
  readonly source: string;
  /** How many files needed it. */
  readonly files: number;
}

export interface VerifyArtifactResult {
  readonly ok: boolean;
  readonly problems: Problem[];
  /**
   * Findings that do not stop publishing: a stand-alone program (not a library or extension module)
   * whose libraries are not found. Python never loads such a file on import; it fails only if
   * the package runs it as a subprocess (torch ships `torch/bin/test_shim`, which needs
   * `libtorch.so` from `torch/lib` but looks only in its own folder).
   */
  readonly warnings: Problem[];
  /** Regular files whose first bytes were read. */
  readonly filesChecked: number;
  readonly elfFiles: number;
  /** Versioned symbol needs (DT_VERNEED names) compared with the target's glibc and libstdc++ ceilings. */
  readonly symbolVersionsChecked?: number;
  /** Unconfirmed base-image libraries relied on; empty when every need was certain. */
  readonly assumedLibraries: AssumedLibrary[];
  /** Python roots used (given or detected). */
  readonly pythonRoots: string[];
}

/** One file in the artifact, whatever holds it. */
interface ArtifactEntry {
  readonly path: string;
  readonly symlink: boolean;
  /** Its binary format by its first bytes, and its ELF facts when it is ELF. */
  inspect(): Promise<FileInspection>;
  text(): Promise<string>;
  /** Drop anything held in memory for this entry. */
  release?(): void;
}

interface ArtifactTree {
  readonly entries: Map<string, ArtifactEntry>;
  /** Every folder that holds at least one entry (posix, relative, no trailing slash; `.` is the root). */
  readonly folders: Set<string>;
  readonly concurrency: number;
  /** Problems of the artifact's shape found while opening it (links out, duplicates, case clashes). */
  readonly structural: Problem[];
  close(): Promise<void>;
}

/** Where a link at `path` pointing at `target` lands, relative to the artifact root; null when outside it. */
function linkLanding(path: string, target: string): string | null {
  if (target.startsWith('/')) return null;
  const landing = posix.normalize(posix.join(posix.dirname(path), target));
  return landing === '..' || landing.startsWith('../') ? null : landing;
}

function structuralProblem(file: string, message: string, hint: string): Problem {
  return { package: null, file, message, hint };
}

/** Entry names that differ only in case: one overwrites the other on a case-insensitive disk, and which one ships is luck. */
function caseClashes(paths: Iterable<string>): Problem[] {
  const byFolded = new Map<string, string>();
  const problems: Problem[] = [];
  for (const path of paths) {
    const folded = path.toLowerCase();
    const other = byFolded.get(folded);
    if (other !== undefined && other !== path)
      problems.push(
        structuralProblem(
          path,
          `${path} and ${other} differ only in case.`,
          'Extracted on a case-insensitive file system one replaces the other; rename one of them or drop the package that ships both.',
        ),
      );
    else byFolded.set(folded, path);
  }
  return problems;
}

/** A symlink whose target leaves the artifact (or is absolute): it would read the host's files. */
function escapingLink(path: string, target: string): Problem | null {
  if (linkLanding(path, target) !== null) return null;
  return structuralProblem(
    path,
    `${path} is a symlink to ${target}, outside the artifact.`,
    'A link out of the artifact reads whatever the host has there (a crafted archive); remove it or replace it with the file.',
  );
}

/**
 * A folder read with synchronous calls between pauses (see file-bytes.ts for why): the listing
 * gives each entry's type, so files are never stat'ed; inspecting one is an open and a read.
 */
async function folderTree(root: string, hooks: InspectionHooks): Promise<ArtifactTree> {
  const entries = new Map<string, ArtifactEntry>();
  const structural: Problem[] = [];
  const pause = eventLoopSlicer();
  const walk = async (relative: string): Promise<void> => {
    await pause();
    const absolute = relative === '.' ? root : join(root, relative);
    for (const child of readdirSync(absolute, { withFileTypes: true })) {
      const path = relative === '.' ? child.name : `${relative}/${child.name}`;
      // Joined by hand: path.join normalizes every time, and `absolute` is normal already.
      const full = `${absolute}${sep}${child.name}`;
      if (child.isSymbolicLink()) {
        const problem = escapingLink(path, readlinkSync(full));
        if (problem) structural.push(problem);
      }
      if (child.isDirectory()) await walk(path);
      else if (child.isFile() || child.isSymbolicLink()) {
        entries.set(path, {
          path,
          symlink: child.isSymbolicLink(),
          inspect: async () => {
            const known = hooks.knownInspection?.(path);
            if (known) return known;
            await pause();
            const inspection = inspectFile(full, path);
            hooks.onInspected?.(path, inspection);
            return inspection;
          },
          text: () => readFile(full, 'utf8'),
        });
      }
    }
  };
  await walk('.');
  structural.push(...caseClashes(entries.keys()));
  return {
    entries,
    folders: foldersOf(entries.keys()),
    // Inspection is synchronous: files in parallel would only interleave the same CPU work.
    concurrency: 1,
    structural,
    close: async () => undefined,
  };
}

/** A zip as a flat list of files, read through the one zip reader (bounded, CRC-checked, bomb-guarded). */
async function zipTree(path: string): Promise<ArtifactTree> {
  const zip = await openZip(path, { name: path });
  const entries = new Map<string, ArtifactEntry>();
  const structural: Problem[] = [];
  const names = new Set<string>();
  try {
    for (const entry of zip.entries) {
      const name = entry.name.endsWith('/') ? entry.name.slice(0, -1) : entry.name;
      const unsafe = unsafeEntryName(entry.name);
      if (unsafe) {
        structural.push(
          structuralProblem(
            entry.name,
            `${entry.name} ${unsafe}.`,
            'Extracting it would write outside the folder; the archive is crafted or broken.',
          ),
        );
        continue;
      }
      if (names.has(name)) {
        structural.push(
          structuralProblem(
            name,
            `${name} appears more than once in the zip.`,
            'Which copy an extractor keeps is undefined; rebuild the zip with each path once.',
          ),
        );
        continue;
      }
      names.add(name);
      if (entry.name.endsWith('/')) continue;
      if (entry.isSymlink) {
        const problem = escapingLink(name, (await readEntry(zip, entry)).toString('utf8'));
        if (problem) structural.push(problem);
      }
      // A zip entry is inflated once for all checks, and dropped when its check is done.
      let content: Promise<Buffer> | null = null;
      const load = (): Promise<Buffer> => (content ??= readEntry(zip, entry));
      entries.set(name, {
        path: name,
        symlink: entry.isSymlink,
        inspect: async () => inspectBytes(await load(), name),
        text: async () => (await load()).toString('utf8'),
        release: () => {
          content = null;
        },
      });
    }
  } catch (error) {
    await zip.close();
    throw error;
  }
  structural.push(...caseClashes(names));
  return {
    entries,
    folders: foldersOf(entries.keys()),
    concurrency: 4,
    structural,
    close: () => zip.close(),
  };
}

function foldersOf(paths: Iterable<string>): Set<string> {
  const folders = new Set<string>(['.']);
  for (const path of paths) {
    let folder = posix.dirname(path);
    while (folder !== '.' && !folders.has(folder)) {
      folders.add(folder);
      folder = posix.dirname(folder);
    }
  }
  return folders;
}

/** Open a folder or a zip as a flat list of files. */
async function openArtifact(root: string, hooks: InspectionHooks = {}): Promise<ArtifactTree> {
  const stats = await lstat(root).catch(() => null);
  if (!stats) {
    throw new InputError(`${root} does not exist.`, {
      hint: 'Give a layer folder, a site-packages folder or a .zip.',
    });
  }
  if (stats.isDirectory()) return folderTree(root, hooks);
  try {
    return await zipTree(root);
  } catch (error) {
    throw new InputError(
      `${root} is neither a folder nor a readable zip: ${error instanceof Error ? error.message : String(error)}.`,
      {
        hint: 'Give the layer zip as Lambda would receive it, or the folder it was made from.',
        cause: error,
      },
    );
  }
}

/**
 * The folders of an artifact that Python puts on sys.path: `python/lib/python3.X/site-packages`
 * and `python` for a layer (docs: packaging-layers.html), else every folder holding a
 * `*.dist-info`, else the root itself.
 */
export function detectPythonRoots(paths: Iterable<string>): string[] {
  const sitePackages = new Set<string>();
  const distInfoParents = new Set<string>();
  let hasPythonFolder = false;
  for (const path of paths) {
    const site = /^(python\/lib\/python3\.\d+\/site-packages)\//.exec(path);
    if (site?.[1]) sitePackages.add(site[1]);
    if (path.startsWith('python/')) hasPythonFolder = true;
    const distInfo = /^(?:(.*)\/)?[^/]+\.dist-info\/[^/]+$/.exec(path);
    if (distInfo) distInfoParents.add(distInfo[1] ?? '.');
  }
  if (hasPythonFolder) return [...[...sitePackages].sort(), 'python'];
  if (distInfoParents.size > 0) return [...distInfoParents].sort();
  return ['.'];
}

/** Split one RECORD line (CSV, paths may be quoted). */
export function recordPath(line: string): string | null {
  if (!line.trim()) return null;
  if (!line.startsWith('"')) return line.split(',')[0] ?? null;
  let value = '';
  for (let index = 1; index < line.length; index++) {
    const character = line[index];
    if (character === '"') {
      if (line[index + 1] === '"') {
        value += '"';
        index++;
      } else return value;
    } else value += character;
  }
  return value;
}

/** Map files to the distributions that installed them, from every `*.dist-info/RECORD`. */
async function packagesFromRecords(tree: ArtifactTree): Promise<(path: string) => string | null> {
  const owners = new Map<string, string>();
  /** `site-root/top-level-name` → distribution, for files a RECORD does not list (compiled later, added by hand). */
  const topLevels = new Map<string, string>();
  const records = [...tree.entries.keys()].filter((path) => /(^|\/)[^/]+\.dist-info\/RECORD$/.test(path));
  for (const record of records) {
    const distInfo = posix.dirname(record);
    const siteRoot = posix.dirname(distInfo);
    let name =
      posix
        .basename(distInfo)
        .replace(/\.dist-info$/, '')
        .split('-')[0] ?? distInfo;
    const metadata = tree.entries.get(`${distInfo}/METADATA`);
    if (metadata) {
      const header = /^Name:\s*(.+)$/m.exec(await metadata.text().catch(() => ''));
      if (header?.[1]) name = header[1].trim();
    }
    const lines =
      (await tree.entries
        .get(record)
        ?.text()
        .catch(() => '')) ?? '';
    for (const line of lines.split(/\r?\n/)) {
      const path = recordPath(line);
      if (!path) continue;
      const full = posix.normalize(siteRoot === '.' ? path : `${siteRoot}/${path}`);
      owners.set(full, name);
      const first = path.split('/')[0];
      if (first && path.includes('/') && !first.endsWith('.dist-info') && first !== '..') {
        topLevels.set(siteRoot === '.' ? first : `${siteRoot}/${first}`, name);
      }
    }
  }
  return (path) => {
    const owner = owners.get(path);
    if (owner) return owner;
    for (let folder = posix.dirname(path); folder !== '.'; folder = posix.dirname(folder)) {
      const top = topLevels.get(folder);
      if (top) return top;
    }
    return null;
  };
}

/** Expand `$ORIGIN` and map Lambda's `/opt` (where layers are extracted) to the artifact root. */
function searchFolder(entry: string, fileFolder: string): string | null {
  const expanded = entry.replace(/\$\{ORIGIN\}|\$ORIGIN/g, fileFolder === '.' ? '' : `/${fileFolder}`);
  let relative: string;
  if (entry.startsWith('$ORIGIN') || entry.startsWith('${ORIGIN}')) relative = expanded.replace(/^\//, '');
  else if (expanded === '/opt' || expanded.startsWith('/opt/')) relative = expanded.slice('/opt/'.length);
  else return null;
  const normalized = posix.normalize(relative || '.');
  return normalized.startsWith('..') ? null : normalized.replace(/\/$/, '');
}

interface FileFinding {
  readonly problems: Problem[];
  /** Findings that cannot break an import (see `checkElf`). */
  readonly warnings?: Problem[];
  readonly elf: boolean;
  readonly assumed: { library: string; source: string }[];
  /** The ELF machine or class is not the target's. */
  readonly machineMismatch?: boolean;
  /** Symbol versions this file needs that were checked. */
  readonly symbolVersions?: number;
}

interface CheckContext {
  readonly tree: ArtifactTree;
  readonly target: Target;
  readonly runtime: RuntimeLibrarySet;
  readonly packageOf: (path: string) => string | null;
  readonly libsFolders: readonly string[];
  readonly pythonRoots: readonly string[];
}

const EXTENSION_SUFFIX = /^([^.]+)\.cpython-(3)(\d+)([a-z]*)-(.+)\.so$/;

/** The build command that selects files for the target (`lambda-deps build --runtime python3.12 --arch arm64`). */
function buildCommand(target: Target): string {
  const selector = target.runtime
    ? `--runtime ${target.runtime}`
    : `--python ${target.pythonVersion} --glibc ${target.glibc}`;
  return `lambda-deps build ${selector} --arch ${target.architecture}`;
}

/** The dotted module name of an extension file, relative to the Python root that holds it. */
function importName(path: string, stem: string, pythonRoots: readonly string[]): string {
  const root = [...pythonRoots]
    .filter((candidate) => candidate === '.' || path.startsWith(`${candidate}/`))
    .sort((a, b) => b.length - a.length)[0];
  const inside = root === undefined || root === '.' ? path : path.slice(root.length + 1);
  const folders = posix.dirname(inside);
  return folders === '.' ? stem : `${folders.split('/').join('.')}.${stem}`;
}

/** The `*.cpython-3XY-<platform>.so` check: the interpreter only loads its own suffix (or abi3). */
function checkExtensionSuffix(
  path: string,
  context: CheckContext,
): { problem: Problem; mismatch: 'version' | 'flags' | 'platform' } | null {
  const base = posix.basename(path);
  const match = EXTENSION_SUFFIX.exec(base);
  if (!match) return null;
  const [, stem = '', , minor = '', flags = '', platform = ''] = match;
  const { target } = context;
  const module = importName(path, stem, context.pythonRoots);
  const machine = wheelMachine(target.architecture);
  const expected = `${stem}.cpython-3${target.pythonVersion.split('.')[1]}-${machine}-linux-gnu.so`;
  const pkg = context.packageOf(path);
  const builtFor = `CPython 3.${minor}${flags ? ` (ABI flags "${flags}")` : ''} on ${platform}`;
  if (base === expected) return null;
  const mismatch = `3.${minor}` !== target.pythonVersion ? 'version' : flags ? 'flags' : 'platform';
  const reason =
    mismatch === 'version'
      ? `is built for CPython 3.${minor}`
      : mismatch === 'flags'
        ? `is built for a "${flags}" interpreter build (debug or free-threaded)`
        : `is built for ${platform}`;
  const problem: Problem = {
    package: pkg,
    file: path,
    message: `${base} ${reason}; ${describeTarget(target)} only loads ${expected} or ${stem}.abi3.so, so "import ${module}" fails with "No module named '${module}'".`,
    hint:
      `Reinstall ${pkg ?? 'the package'} from a wheel tagged cp3${target.pythonVersion.split('.')[1]}-…-manylinux…_${machine} ` +
      `(${buildCommand(target)} picks it), ` +
      `or run the function on the runtime it was built for (${builtFor}).`,
  };
  return { problem, mismatch };
}

function foreignBinaryProblem(path: string, format: BinaryFormat, context: CheckContext): Problem {
  const pkg = context.packageOf(path);
  const kind = format === 'pe' ? 'a Windows (PE) binary' : 'a macOS (Mach-O) binary';
  const where = format === 'pe' ? 'Windows' : 'macOS';
  return {
    package: pkg,
    file: path,
    message: `${posix.basename(path)} is ${kind}; Lambda runs Linux and cannot load it.`,
    hint:
      `${pkg ?? 'This package'} was installed on ${where}. Install Linux wheels instead: ` +
      `${buildCommand(context.target)}, ` +
      `or pip install --platform manylinux2014_${wheelMachine(context.target.architecture)} --only-binary=:all:.`,
  };
}

function glibcHint(needed: string, context: CheckContext): string {
  const { target } = context;
  const minor = target.glibc.split('.')[1] ?? '';
  const advice = [`pick a wheel tagged manylinux_2_${minor} or lower (manylinux2014 = manylinux_2_17)`];
  if (
    target.runtime &&
    compareDottedVersions(target.glibc, '2.34') < 0 &&
    compareDottedVersions(needed, '2.34') <= 0
  ) {
    advice.push('or use python3.12 or later (Amazon Linux 2023, glibc 2.34)');
  }
  return `${advice.join(', ')}; lambda-deps build selects such wheels by itself.`;
}

function findLibrary(
  library: string,
  facts: ElfFacts,
  path: string,
  context: CheckContext,
): { found: boolean; searched: string[] } {
  const folder = posix.dirname(path);
  const searched: string[] = [];
  const candidates: string[] = [];
  // The loader uses RUNPATH when present, else RPATH; we accept either (the loader may
  // also reuse a library already loaded under the same soname).
  for (const entry of [...facts.runpath, ...facts.rpath]) {
    const resolved = searchFolder(entry, folder);
    if (resolved !== null) candidates.push(resolved);
  }
  // Same folder, Lambda's /opt/lib (on LD_LIBRARY_PATH), and the auditwheel `*.libs` folders.
  candidates.push(folder, 'lib', ...context.libsFolders);
  for (const candidate of new Set(candidates)) {
    searched.push(candidate === '.' ? '(root)' : `${candidate}/`);
    const file = candidate === '.' ? library : `${candidate}/${library}`;
    if (context.tree.entries.has(file)) return { found: true, searched };
  }
  return { found: false, searched };
}

function checkElf(path: string, facts: ElfFacts | null, context: CheckContext): FileFinding {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const assumed: { library: string; source: string }[] = [];
  if (!facts) return { problems, elf: false, assumed };
  const pkg = context.packageOf(path);
  const { target } = context;
  const base = posix.basename(path);
  if (facts.defects.length > 0) {
    problems.push({
      package: pkg,
      file: path,
      message: `${base} is a damaged ELF file: ${facts.defects.slice(0, 3).join('; ')}.`,
      hint: `Reinstall ${pkg ?? 'the package'} from its wheel; never strip or patch its shared libraries (serverless-python-requirements#318).`,
    });
  }
  const machine = wheelMachine(target.architecture);
  if (facts.type !== 'REL' && (facts.machine !== machine || facts.class !== 64)) {
    const bits = facts.class === 32 ? '32-bit ' : '';
    const other = machine === 'x86_64' ? 'arm64' : 'x86_64';
    problems.push({
      package: pkg,
      file: path,
      message: `${base} is built for ${bits}${facts.machine}, but ${describeTarget(target)} runs ${machine}.`,
      hint:
        `Install ${pkg ?? 'the package'} from a wheel tagged …_${machine} (${buildCommand(target)}), ` +
        (facts.machine === wheelMachine(other)
          ? `or deploy the function with --architectures ${other}.`
          : 'or rebuild it.'),
    });
    return { problems, elf: true, assumed, machineMismatch: true };
  }
  if (facts.type !== 'EXEC' && facts.type !== 'DYN') return { problems, elf: true, assumed };
  if (exceedsCeiling(facts.highestGlibc, target.glibc)) {
    const needed = facts.highestGlibc ?? '';
    problems.push({
      package: pkg,
      file: path,
      message: `${base} needs GLIBC_${needed}, but ${describeTarget(target)} has glibc ${target.glibc}: the import fails with "version \`GLIBC_${needed}' not found".`,
      hint: glibcHint(needed, context),
    });
  }
  const { runtime } = context;
  // A libstdc++ shipped in the artifact (and found by the loader) answers the C++ version needs itself.
  const ownStdcxx = findLibrary('libstdc++.so.6', facts, path, context).found;
  if (!ownStdcxx && exceedsCeiling(facts.highestGlibcxx, runtime.glibcxxCeiling)) {
    problems.push({
      package: pkg,
      file: path,
      message: `${base} needs GLIBCXX_${facts.highestGlibcxx} from libstdc++, newer than the ${runtime.os} one (GLIBCXX_${runtime.glibcxxCeiling}; ${runtime.ceilingSource}).`,
      hint: `Pick a manylinux2014 wheel of ${pkg ?? 'the package'} (built with a libstdc++ it may assume), or bundle a newer libstdc++ under lib/.`,
    });
  } else if (!ownStdcxx && exceedsCeiling(facts.highestCxxabi, runtime.cxxabiCeiling)) {
    problems.push({
      package: pkg,
      file: path,
      message: `${base} needs CXXABI_${facts.highestCxxabi} from libstdc++, newer than the ${runtime.os} one (CXXABI_${runtime.cxxabiCeiling}; ${runtime.ceilingSource}).`,
      hint: `Pick a manylinux2014 wheel of ${pkg ?? 'the package'}, or bundle a newer libstdc++ under lib/.`,
    });
  }
  for (const library of facts.needed) {
    if (library.includes('/')) {
      const relative = posix.normalize(posix.join(posix.dirname(path), library));
      if (!context.tree.entries.has(relative)) {
        problems.push({
          package: pkg,
          file: path,
          message: `${base} needs ${library} by path, and it is not in the artifact.`,
          hint: `Reinstall ${pkg ?? 'the package'} from a manylinux wheel.`,
        });
      }
      continue;
    }
    const { found, searched } = findLibrary(library, facts, path, context);
    if (found) continue;
    const provided = runtime.libraries.get(library);
    if (provided) {
      if (provided.confidence === 'unconfirmed') assumed.push({ library, source: provided.source });
      continue;
    }
    if (facts.interpreter !== null && !base.endsWith('.so') && !base.includes('.so.')) {
      warnings.push({
        package: pkg,
        file: path,
        message: `the program ${base} needs ${library}, which is neither in the artifact (searched ${searched.join(', ')}) nor in the base image; imports are not affected, but running the program fails.`,
        hint: `Only matters if ${pkg ?? 'the package'} runs ${base}; set LD_LIBRARY_PATH to the folder that has ${library} if it does.`,
      });
      continue;
    }
    problems.push({
      package: pkg,
      file: path,
      message: `${base} needs ${library}, which is neither in the artifact (searched ${searched.join(', ')}) nor in the ${describeTarget(target)} base image: the import fails with "${library}: cannot open shared object file".`,
      hint:
        `Install ${pkg ?? 'the package'} from a manylinux wheel (auditwheel bundles such libraries into <package>.libs/), ` +
        `or ship ${library} in the layer's lib/ folder (Lambda puts /opt/lib on LD_LIBRARY_PATH).`,
    });
  }
  const symbolVersions = facts.versionNeeds.reduce((sum, need) => sum + need.versions.length, 0);
  return { problems, warnings, elf: true, assumed, symbolVersions };
}

async function checkEntry(entry: ArtifactEntry, context: CheckContext): Promise<FileFinding> {
  const { format, elf } = await entry.inspect();
  if (format === 'mach-o' || format === 'mach-o-fat') {
    return { problems: [foreignBinaryProblem(entry.path, format, context)], elf: false, assumed: [] };
  }
  if (format === 'pe') {
    // setuptools, pip and distlib ship Windows launchers (cli-64.exe …) as data: never loaded on Linux.
    if (entry.path.toLowerCase().endsWith('.exe')) return { problems: [], elf: false, assumed: [] };
    return { problems: [foreignBinaryProblem(entry.path, format, context)], elf: false, assumed: [] };
  }
  const suffix = checkExtensionSuffix(entry.path, context);
  const finding: FileFinding =
    format === 'elf' ? checkElf(entry.path, elf, context) : { problems: [], elf: false, assumed: [] };
  if (!suffix) return finding;
  // A suffix naming the wrong machine says the same as the ELF machine check: report it once.
  if (suffix.mismatch === 'platform' && finding.machineMismatch) return finding;
  return { ...finding, problems: [suffix.problem, ...finding.problems] };
}

/** Layer folders laid out for another Python version are simply not on sys.path. */
function checkLayout(tree: ArtifactTree, target: Target): Problem[] {
  const problems: Problem[] = [];
  for (const folder of tree.folders) {
    const match = /^python\/lib\/python(3\.\d+)$/.exec(folder);
    if (!match || match[1] === target.pythonVersion) continue;
    problems.push({
      package: null,
      file: `${folder}/`,
      message: `${folder}/ is only on sys.path for Python ${match[1]}; ${describeTarget(target)} never looks there.`,
      hint: `Lay the layer out as python/ or python/lib/python${target.pythonVersion}/site-packages/ (lambda-deps build does).`,
    });
  }
  return problems;
}

/**
 * Verify every file of a folder or zip against the target.
 *
 * @example
 * const result = await verifyArtifact({ root: 'out/layer-1.zip', target: lambdaTarget('python3.12', 'arm64') });
 * if (!result.ok) for (const problem of result.problems) console.error(problem.file, problem.message);
 */
export async function verifyArtifact(options: VerifyArtifactOptions): Promise<VerifyArtifactResult> {
  const tree = await openArtifact(options.root, options);
  try {
    const paths = [...tree.entries.keys()];
    const pythonRoots = options.pythonRoots ? [...options.pythonRoots] : detectPythonRoots(paths);
    const packageOf = options.packageOf ?? (await packagesFromRecords(tree));
    const libsFolders = [...tree.folders].filter((folder) => folder.endsWith('.libs')).sort();
    const context: CheckContext = {
      tree,
      target: options.target,
      runtime: runtimeLibraries(options.target),
      packageOf,
      libsFolders,
      pythonRoots,
    };
    const limit = pLimit(tree.concurrency);
    const regular = [...tree.entries.values()]
      .filter((entry) => !entry.symlink)
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    const findings = await Promise.all(
      regular.map((entry) =>
        limit(async (): Promise<FileFinding> => {
          try {
            return await checkEntry(entry, context);
          } finally {
            entry.release?.();
          }
        }).catch((error: unknown): FileFinding => {
          return {
            problems: [
              {
                package: packageOf(entry.path),
                file: entry.path,
                message: `${entry.path} could not be read: ${error instanceof Error ? error.message : String(error)}.`,
                hint: 'Check that the artifact is complete and readable.',
              },
            ],
            elf: false,
            assumed: [],
          };
        }),
      ),
    );
    const problems = [
      ...tree.structural,
      ...checkLayout(tree, options.target),
      ...findings.flatMap((finding) => finding.problems),
    ];
    const assumedCounts = new Map<string, AssumedLibrary>();
    for (const { library, source } of findings.flatMap((finding) => finding.assumed)) {
      const known = assumedCounts.get(library);
      assumedCounts.set(library, { library, source, files: (known?.files ?? 0) + 1 });
    }
    return {
      ok: problems.length === 0,
      problems,
      warnings: findings.flatMap((finding) => finding.warnings ?? []),
      filesChecked: regular.length,
      elfFiles: findings.filter((finding) => finding.elf).length,
      symbolVersionsChecked: findings.reduce((sum, finding) => sum + (finding.symbolVersions ?? 0), 0),
      assumedLibraries: [...assumedCounts.values()].sort((a, b) => (a.library < b.library ? -1 : 1)),
      pythonRoots,
    };
  } finally {
    await tree.close();
  }
}
