// Installs one wheel into a tree the way the binary distribution format spec says
// (packaging.python.org, "Binary distribution format"): `.data/` subfolders, RECORD,
// INSTALLER, console and GUI entry points. It refuses hostile or broken wheels before writing
// a byte: sha256 against the lock, zip-slip, absolute paths, symlinks, duplicate entries,
// zip bombs, a RECORD that disagrees with the content, METADATA that names another project.
// Files a slimming rule drops are checked all the same and then left out. The result keeps,
// for every file that passed through unchanged, where its compressed bytes sit in the wheel,
// so the layer writer can copy them raw.
import { createHash } from 'node:crypto';
import { constants, copyFileSync, linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { eachSettled } from '../shared/each-settled.ts';
import { whileUnchanged } from '../shared/file-identity.ts';
import { eventLoopSlicer } from '../shared/event-loop-slicer.ts';
import { IntegrityError, UnsafeArchiveError } from '../shared/errors.ts';
import { sha256Hex, sha256OfFile } from '../shared/hash.ts';
import { canonicalizeName } from '../shared/names.ts';
import type { TreeLedger } from '../shared/tree-ledger.ts';
import { isProtected, slimContextOf, slimRuleFor, WHEEL_DATA_RULES } from './slim-policy.ts';
import type { SlimPolicy } from './slim-policy.ts';
import type { LockedPackage } from '../shared/types.ts';
import {
  inflateEntry,
  isExecutableEntry,
  openZip,
  openZipBytes,
  readEntry,
  unsafeEntryName,
  writeEntryTo,
  type OpenZip,
  type RatioLimits,
} from '../pack/zip-reader.ts';

export { unsafeEntryName } from '../pack/zip-reader.ts';
import type { ZipEntry, ZipLimits } from '../pack/zip-reader.ts';

/** Zip bomb limits for a wheel. Real wheels stay far below them (torch: ~1.7 GB unpacked). */
export const DEFAULT_WHEEL_LIMITS: ZipLimits & RatioLimits = {
  maxEntries: 100_000,
  maxEntryUncompressedBytes: 1024 ** 3,
  maxTotalUncompressedBytes: 6 * 1024 ** 3,
  // Declared sizes alone let a 3 MB wheel unpack to 2.9 GiB; real wheels compress 2-10:1.
  maxEntryRatio: 200,
  maxTotalRatio: 100,
  ratioFloorBytes: 16 * 1024 ** 2,
};

/** One file in the installed tree, relative to the tree root (`python/numpy/__init__.py`, `bin/f2py`). */
export interface InstalledFile {
  readonly path: string;
  readonly size: number;
  readonly executable: boolean;
  /** Where its bytes come from: the wheel's raw compressed data, or generated here (RECORD, scripts). */
  readonly source:
    | {
        readonly kind: 'wheel';
        readonly method: number;
        readonly crc32: number;
        /** Offset of the compressed data in the wheel file. */
        readonly dataOffset: number;
        readonly compressedSize: number;
        /**
         * sha256 (hex) of what these bytes inflate to, as the install inflated them (CRC and
         * RECORD checked) out of the same lock-checked wheel: what a raw copy of them unzips to.
         */
        readonly sha256: string;
      }
    | { readonly kind: 'generated'; readonly content: Buffer };
}

/** What a slimming rule (or a `.data` rule) took out of one package. */
export interface RemovedFiles {
  readonly rule: string;
  readonly files: number;
  readonly bytes: number;
}

export interface InstalledPackage {
  /** PEP 503 name. */
  readonly name: string;
  readonly version: string;
  readonly wheelPath: string;
  /** The sha256 the wheel was checked against before it was installed (the lock's, or the built wheel's for an sdist). */
  readonly wheelSha256: string;
  /**
   * The wheel file's identity (file-identity.ts) while it held the bytes checked against
   * wheelSha256, when it held still: the packer reads it again without hashing while it is so.
   */
  readonly wheelIdentity?: string;
  /** `numpy-2.2.6.dist-info` */
  readonly distInfo: string;
  /** Kept files, sorted by path. */
  readonly files: readonly InstalledFile[];
  /** Bytes the wheel installs before slimming (its entries, regenerated RECORD and scripts). */
  readonly installedBytes: number;
  /** Bytes kept after slimming. */
  readonly slimmedBytes: number;
  readonly removed: readonly RemovedFiles[];
  /** Top-level importable names (from top_level.txt, or the tree), for smoke import. */
  readonly topLevel: readonly string[];
}

export interface InstallWheelOptions {
  readonly wheelPath: string;
  readonly locked: LockedPackage;
  /** The tree root; the site folder and `bin/` go below it. Created when missing. */
  readonly treeDir: string;
  /** Folder under the tree that is on sys.path. @default 'python' */
  readonly siteDir?: string;
  /** Interpreter written into `#!python` shebangs and entry-point launchers (`lambdaInterpreter('3.11')` for Lambda). */
  readonly interpreter: string;
  readonly slim: SlimPolicy;
  readonly limits?: Partial<ZipLimits & RatioLimits>;
  /** Paths installed so far into the same tree, shared by every install into it: a path two distributions install differently is refused. */
  readonly claims?: TreeClaims;
  /** Also write the files into `treeDir` (verification and smoke import need them). @default true */
  readonly writeTree?: boolean;
  /** Called as each file is written into the tree, with its size (live progress). */
  readonly onFileWritten?: (bytes: number) => void;
  /** Hears each file written, with the sha256 of the bytes written (tree-ledger.ts). */
  readonly ledger?: TreeLedger;
  /**
   * A folder on the tree's filesystem (not inside the tree): an entry too big to wait in memory
   * between the check and the write is inflated into it once, during the check, and linked into
   * the tree when the whole wheel has passed. Without it, such an entry is inflated twice.
   */
  readonly stagingDir?: string;
}

/** The shebang interpreter of a Lambda runtime (`/var/lang/bin/python3.11`). */
export function lambdaInterpreter(pythonVersion: string): string {
  return `/var/lang/bin/python${pythonVersion}`;
}

function recordDigest(data: Buffer): string {
  return `sha256=${createHash('sha256').update(data).digest('base64url')}`;
}

/** The hex sha256 of a RECORD-style `sha256=…` digest (as recordDigest makes them). */
export function hexOfRecordDigest(digest: string): string {
  return Buffer.from(digest.slice('sha256='.length), 'base64url').toString('hex');
}

function unsafe(
  wheel: string,
  entry: string | null,
  message: string,
  hint: string,
  packageName: string,
): UnsafeArchiveError {
  return new UnsafeArchiveError(`${wheel}${entry === null ? '' : `: entry "${entry}"`}: ${message}`, {
    hint,
    packageName,
  });
}

/** Splits one RECORD line (CSV: path, hash, size; paths may be quoted). */
export function parseRecordLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < line.length; index++) {
    const character = line[index];
    if (quoted) {
      if (character === '"' && line[index + 1] === '"') {
        field += '"';
        index++;
      } else if (character === '"') quoted = false;
      else field += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      fields.push(field);
      field = '';
    } else field += character;
  }
  fields.push(field);
  return fields;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Name and Version headers of a METADATA file. */
function metadataHeader(text: string, header: string): string | null {
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === header.toLowerCase())
      return line.slice(colon + 1).trim();
  }
  return null;
}

/** PEP 440 normalization good enough to compare a lock's version with METADATA's (`1.0` vs `1.0.0` differ on purpose). */
function normalizeVersion(version: string): string {
  return version.trim().toLowerCase().replace(/^v/, '').replace(/[-_]/g, '.');
}

/** Console and GUI scripts from entry_points.txt: `name = module:attr [extras]`. */
export function parseConsoleScripts(text: string): { name: string; module: string; attribute: string }[] {
  const scripts: { name: string; module: string; attribute: string }[] = [];
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]?.trim() ?? '';
      continue;
    }
    if (section !== 'console_scripts' && section !== 'gui_scripts') continue;
    const match = /^([^=\s][^=]*?)\s*=\s*([\w.]+)\s*(?::\s*([\w.]+))?\s*(?:\[.*\])?$/.exec(line);
    if (!match) continue;
    scripts.push({ name: match[1] ?? '', module: match[2] ?? '', attribute: match[3] ?? '' });
  }
  return scripts;
}

/** The launcher pip writes for an entry point, with a fixed shebang. */
export function entryPointScript(interpreter: string, module: string, attribute: string): string {
  const importLine = attribute ? `from ${module} import ${attribute.split('.')[0]}` : `import ${module}`;
  const call = attribute ? attribute : `${module}`;
  return [
    `#!${interpreter}`,
    '# -*- coding: utf-8 -*-',
    'import re',
    'import sys',
    importLine,
    "if __name__ == '__main__':",
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])",
    `    sys.exit(${call}())`,
    '',
  ].join('\n');
}

/** `#!python` (and `#!pythonw`) become the target interpreter, as installers must. */
function rewriteShebang(content: Buffer, interpreter: string): Buffer {
  if (content.subarray(0, 8).toString('latin1') !== '#!python') return content;
  const lineEnd = content.indexOf(0x0a);
  const firstLine = content.subarray(0, lineEnd < 0 ? content.length : lineEnd).toString('latin1');
  const rest = /^#!pythonw?(.*)$/.exec(firstLine.replace(/\r$/, ''))?.[1] ?? '';
  const tail = lineEnd < 0 ? Buffer.alloc(0) : content.subarray(lineEnd);
  return Buffer.concat([Buffer.from(`#!${interpreter}${rest}`, 'latin1'), tail]);
}

/** Who installed each path of a tree (absolute path → package and content digest), shared by every install into it. */
export type TreeClaims = Map<string, { readonly packageName: string; readonly sha256: string }>;

interface PlannedEntry {
  readonly entry: ZipEntry;
  /** Tree-relative destination, or null when the entry is not installed (RECORD, INSTALLER, excluded). */
  readonly destination: string | null;
  readonly rule: string | null;
  readonly script: boolean;
}

/** What the wheel is, once its directory is read: the context every phase works in. */
interface WheelContext {
  readonly zip: OpenZip;
  readonly wheel: string;
  readonly packageName: string;
  readonly siteDir: string;
  readonly distInfo: string;
  readonly dataDir: string;
  readonly files: readonly ZipEntry[];
  readonly byName: ReadonlyMap<string, ZipEntry>;
  /** RECORD and its signatures: not hashed, not installed as they are. */
  readonly unsigned: ReadonlySet<string>;
  /** This install's own folder under `stagingDir` (removed when it ends), or null. */
  readonly staging: string | null;
}

/** What reading every entry once found: its RECORD-style sha256 and, for small metadata and scripts, the bytes. */
interface CheckedContents {
  readonly digests: ReadonlyMap<ZipEntry, string>;
  readonly kept: ReadonlyMap<ZipEntry, Buffer>;
  /** Small entries that will be written, as the check inflated them (so they are not inflated twice). */
  readonly inflated: Map<ZipEntry, Buffer>;
  /** The others that will be written, inflated by the check into the staging folder (by path). */
  readonly staged: ReadonlyMap<ZipEntry, string>;
}

/** Per wheel, at most this many inflated bytes wait between the check and the write. */
const HELD_FOR_WRITE_BYTES = 96 * 1024 ** 2;

/** Entries up to this size may wait inflated; bigger ones are streamed again when written. */
const HELD_FOR_WRITE_ENTRY_BYTES = 48 * 1024 ** 2;

/** Entries kept in memory after the check: metadata and scripts, which later phases read or rewrite. */
const MAX_HELD_ENTRY_BYTES = 64 * 1024 ** 2;

/**
 * Wheels up to this size are read into memory once, checked against the lock and unpacked from
 * those very bytes: no read per entry, and nothing can change between the check and the unpack.
 */
const IN_MEMORY_WHEEL_BYTES = 64 * 1024 ** 2;

/**
 * The wheel opened for unpacking once its sha256 is the lock's (see IN_MEMORY_WHEEL_BYTES), with
 * the file's identity while it held those bytes (null when it did not hold still).
 */
async function openLockedWheel(
  wheelPath: string,
  locked: LockedPackage,
  limits: Partial<ZipLimits & RatioLimits>,
): Promise<{ zip: OpenZip; wheelIdentity: string | null }> {
  const origin = { name: locked.filename, packageName: locked.name };
  const inMemory = (await stat(wheelPath)).size <= IN_MEMORY_WHEEL_BYTES;
  const read = inMemory ? await whileUnchanged(wheelPath, () => readFile(wheelPath)) : null;
  // (A wheel that grew past the bound while it was read is streamed like a big one.)
  if (read === null || read.value.length > IN_MEMORY_WHEEL_BYTES) {
    const wheelIdentity = await checkLockedHash(wheelPath, locked);
    return { zip: await openZip(wheelPath, origin, limits), wheelIdentity };
  }
  refuseOtherHash(sha256Hex(read.value), locked);
  return { zip: await openZipBytes(read.value, origin, limits), wheelIdentity: read.identity };
}

/**
 * Streams the wheel and compares its sha256 with the lock's, before anything else reads it.
 * Returns the file's identity when it held still while it was hashed, else null.
 */
export async function checkLockedHash(wheelPath: string, locked: LockedPackage): Promise<string | null> {
  const { value: actual, identity } = await whileUnchanged(wheelPath, () => sha256OfFile(wheelPath));
  refuseOtherHash(actual, locked);
  return identity;
}

function refuseOtherHash(actual: string, locked: LockedPackage): void {
  if (actual !== locked.sha256.toLowerCase())
    throw new IntegrityError(`${locked.filename}: sha256 is ${actual}, the lock says ${locked.sha256}.`, {
      hint: 'The file changed since the lock was made (or the download is corrupt); delete it from the cache and measure again.',
      packageName: locked.name,
    });
}

/** Names: safe, no symlinks, no duplicates, no encryption, known compression. Returns the file entries. */
function checkEntryNames(zip: OpenZip, wheel: string, packageName: string): ZipEntry[] {
  const seen = new Set<string>();
  const files: ZipEntry[] = [];
  const refuse = (entry: ZipEntry, message: string, hint: string): UnsafeArchiveError =>
    unsafe(wheel, entry.name, message, hint, packageName);
  for (const entry of zip.entries) {
    const problem = unsafeEntryName(entry.name);
    if (problem)
      throw refuse(
        entry,
        `${problem}.`,
        'A wheel may only contain relative paths inside itself; this one is crafted or broken. Do not use it.',
      );
    if (entry.isSymlink)
      throw refuse(
        entry,
        'is a symbolic link.',
        'Wheels cannot carry symlinks; a link could point outside the install folder. Do not use this wheel.',
      );
    const key = entry.name.endsWith('/') ? entry.name.slice(0, -1) : entry.name;
    if (seen.has(key))
      throw refuse(
        entry,
        'appears twice in the archive.',
        'Which copy an installer writes is undefined; the wheel is crafted or broken. Do not use it.',
      );
    seen.add(key);
    if ((entry.generalPurposeFlags & 0x1) !== 0)
      throw refuse(entry, 'is encrypted.', 'Wheels are never encrypted.');
    if (entry.method !== 0 && entry.method !== 8)
      throw refuse(
        entry,
        `uses compression method ${entry.method}.`,
        'Wheels use stored (0) or deflate (8) only.',
      );
    if (!entry.name.endsWith('/')) files.push(entry);
  }
  return files;
}

/** The one .dist-info folder, named after the project in the file name. */
function findDistInfo(files: readonly ZipEntry[], wheel: string, packageName: string): string {
  const distInfos = [
    ...new Set(
      files.map((entry) => entry.name.split('/', 1)[0] ?? '').filter((top) => top.endsWith('.dist-info')),
    ),
  ];
  const wheelStem = wheel.replace(/\.whl$/, '').split('-');
  const expectedDistInfo = `${wheelStem[0]}-${wheelStem[1]}.dist-info`;
  const distInfo =
    distInfos.find((name) => name === expectedDistInfo) ??
    distInfos.find(
      (name) =>
        canonicalizeName(name.replace(/-[^-]*\.dist-info$/, '')) === canonicalizeName(wheelStem[0] ?? ''),
    );
  if (!distInfo || distInfos.length !== 1)
    throw unsafe(
      wheel,
      null,
      `has ${distInfos.length === 0 ? 'no' : `${distInfos.length}`} .dist-info folder${distInfos.length === 1 ? ` (${distInfos[0]}), not ${expectedDistInfo}` : 's'}.`,
      'A wheel has exactly one NAME-VERSION.dist-info folder; this one is broken.',
      packageName,
    );
  return distInfo;
}

/** METADATA must name the locked project and version. */
async function checkMetadata(context: WheelContext, locked: LockedPackage): Promise<void> {
  const { wheel, packageName, distInfo } = context;
  const metadataEntry = context.byName.get(`${distInfo}/METADATA`);
  if (!metadataEntry)
    throw new IntegrityError(`${wheel}: ${distInfo}/METADATA is missing.`, {
      hint: 'Every wheel carries METADATA; this one is broken. Do not use it.',
      packageName,
    });
  const metadataText = (await readEntry(context.zip, metadataEntry)).toString('utf8');
  const metadataName = metadataHeader(metadataText, 'Name');
  const metadataVersion = metadataHeader(metadataText, 'Version');
  if (metadataName === null || canonicalizeName(metadataName) !== canonicalizeName(locked.name))
    throw new IntegrityError(
      `${wheel}: METADATA names the project "${metadataName ?? '(none)'}", the lock says "${locked.name}".`,
      { hint: 'The wheel is not what the lock expects; measure again or check the index.', packageName },
    );
  if (metadataVersion === null || normalizeVersion(metadataVersion) !== normalizeVersion(locked.version))
    throw new IntegrityError(
      `${wheel}: METADATA says version "${metadataVersion ?? '(none)'}", the lock says "${locked.version}".`,
      { hint: 'The wheel is not what the lock expects; measure again or check the index.', packageName },
    );
}

/** RECORD: every file but RECORD (and its signatures) listed, with a hash that is checked later. */
async function readRecord(context: WheelContext): Promise<Map<string, { hash: string; size: string }>> {
  const { wheel, packageName, distInfo, files, byName, unsigned } = context;
  const recordName = `${distInfo}/RECORD`;
  const recordEntry = byName.get(recordName);
  if (!recordEntry)
    throw unsafe(
      wheel,
      recordName,
      'is missing.',
      'Every wheel lists its files in RECORD; this one is broken.',
      packageName,
    );
  const record = new Map<string, { hash: string; size: string }>();
  for (const line of (await readEntry(context.zip, recordEntry)).toString('utf8').split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const [path = '', hash = '', size = ''] = parseRecordLine(line);
    record.set(path, { hash, size });
  }
  for (const entry of files) {
    if (unsigned.has(entry.name)) continue;
    const listed = record.get(entry.name);
    if (!listed)
      throw unsafe(
        wheel,
        entry.name,
        'is not listed in RECORD.',
        'RECORD must list every file of a wheel; the archive was altered after it was built.',
        packageName,
      );
    if (!/^sha(256|384|512)=/.test(listed.hash))
      throw unsafe(
        wheel,
        entry.name,
        `has no usable hash in RECORD ("${listed.hash}").`,
        'RECORD must give a sha256 (or stronger) for every file.',
        packageName,
      );
  }
  for (const path of record.keys()) {
    if (!unsigned.has(path) && !byName.has(path) && !path.endsWith('/'))
      throw unsafe(
        wheel,
        path,
        'is listed in RECORD but not in the archive.',
        'The archive was altered after it was built.',
        packageName,
      );
  }
  return record;
}

/** Where a `.data/<scheme>/…` entry goes: a site path, a script, or a rule that keeps it out. */
function dataDestination(
  context: WheelContext,
  entry: ZipEntry,
): { sitePath: string | null; script: boolean; rule: string | null } {
  const { wheel, packageName } = context;
  const [, scheme = '', ...rest] = entry.name.split('/');
  const inner = rest.join('/');
  if (inner === '')
    throw unsafe(
      wheel,
      entry.name,
      'is a .data scheme without a file.',
      'The archive is broken.',
      packageName,
    );
  if (scheme === 'purelib' || scheme === 'platlib') return { sitePath: inner, script: false, rule: null };
  if (scheme === 'scripts') return { sitePath: null, script: true, rule: null };
  if (scheme === 'headers') return { sitePath: null, script: false, rule: WHEEL_DATA_RULES.headers.id };
  if (scheme === 'data') return { sitePath: null, script: false, rule: WHEEL_DATA_RULES.data.id };
  throw unsafe(
    wheel,
    entry.name,
    `uses the unknown .data scheme "${scheme}".`,
    'Wheels may use purelib, platlib, scripts, headers and data only.',
    packageName,
  );
}

/**
 * Where installWheel puts an entry it installs, tree-relative: `<siteDir>/…`, or `bin/<name>` for
 * a script; null for `.data` headers and data. (planEntries refuses malformed names first.)
 */
export function installedPathOf(entryName: string, siteDir: string, distInfo: string): string | null {
  const dataDir = `${distInfo.slice(0, -'.dist-info'.length)}.data/`;
  if (!entryName.startsWith(dataDir)) return `${siteDir}/${entryName}`;
  const [scheme = '', ...rest] = entryName.slice(dataDir.length).split('/');
  if (scheme === 'purelib' || scheme === 'platlib') return `${siteDir}/${rest.join('/')}`;
  return scheme === 'scripts' ? `bin/${rest.join('/')}` : null;
}

/** Plan where each entry goes (or which rule keeps it out); two entries never share a destination. */
function planEntries(context: WheelContext, slim: SlimPolicy): PlannedEntry[] {
  const { wheel, packageName, siteDir, distInfo, dataDir, files, unsigned } = context;
  const firstPass = files.map((entry) =>
    entry.name.startsWith(`${dataDir}/`)
      ? { entry, ...dataDestination(context, entry) }
      : { entry, sitePath: entry.name as string | null, script: false, rule: null as string | null },
  );
  const slimContext = slimContextOf(
    firstPass.flatMap(({ sitePath }) => (sitePath === null ? [] : [sitePath])),
  );
  // The installer writes these itself; no entry may stand in for them (a `.data/purelib/…/RECORD` would).
  const generated = new Set([`${siteDir}/${distInfo}/RECORD`, `${siteDir}/${distInfo}/INSTALLER`]);
  const planned: PlannedEntry[] = [];
  for (const { entry, sitePath, script, rule } of firstPass) {
    if (
      entry.name === `${distInfo}/RECORD` ||
      entry.name === `${distInfo}/INSTALLER` ||
      unsigned.has(entry.name)
    ) {
      planned.push({ entry, destination: null, rule: null, script: false });
    } else if (script) {
      const name = entry.name.split('/').slice(2).join('/');
      if (name.includes('/'))
        throw unsafe(
          wheel,
          entry.name,
          'is a script in a sub-folder.',
          'Scripts are single files under .data/scripts.',
          packageName,
        );
      planned.push({
        entry,
        destination: installedPathOf(entry.name, siteDir, distInfo),
        rule: null,
        script: true,
      });
    } else {
      const destination = installedPathOf(entry.name, siteDir, distInfo);
      // (Both are null for `.data` headers and data, which a rule keeps out.)
      if (sitePath === null || destination === null) {
        planned.push({ entry, destination: null, rule, script: false });
        continue;
      }
      if (generated.has(destination))
        throw unsafe(
          wheel,
          entry.name,
          `would replace ${destination}, which the installer writes.`,
          'A wheel cannot ship its own installed RECORD or INSTALLER (through .data/purelib or otherwise); it is crafted or broken. Do not use it.',
          packageName,
        );
      planned.push({
        entry,
        destination,
        rule: slimRuleFor(slim, sitePath, slimContext)?.id ?? null,
        script: false,
      });
    }
  }
  const destinations = new Set<string>();
  for (const plan of planned) {
    if (plan.destination === null) continue;
    if (destinations.has(plan.destination))
      throw unsafe(
        wheel,
        plan.entry.name,
        `installs to ${plan.destination}, like another entry.`,
        'Two entries of the wheel would overwrite each other; the archive is broken.',
        packageName,
      );
    destinations.add(plan.destination);
  }
  return planned;
}

/**
 * Check every entry's content (also the ones slimming drops) against RECORD, streaming: nothing
 * is written and only metadata and scripts stay in memory.
 */
async function checkContents(
  context: WheelContext,
  record: ReadonlyMap<string, { hash: string; size: string }>,
  planned: readonly PlannedEntry[],
): Promise<CheckedContents> {
  const { wheel, packageName, distInfo, files, unsigned } = context;
  const scripts = new Set(planned.filter((plan) => plan.script).map((plan) => plan.entry));
  const digests = new Map<ZipEntry, string>();
  const kept = new Map<ZipEntry, Buffer>();
  const inflated = new Map<ZipEntry, Buffer>();
  const written = new Set(planned.filter((plan) => plan.destination && !plan.rule).map((plan) => plan.entry));
  let heldForWrite = 0;
  const staged = new Map<ZipEntry, string>();
  await eachSettled(files, 4, async (entry) => {
    const listed = unsigned.has(entry.name) ? undefined : record.get(entry.name);
    const [algorithm = 'sha256', expected = ''] = listed ? listed.hash.split('=', 2) : [];
    const hash = createHash(algorithm);
    const ours = algorithm === 'sha256' ? hash : createHash('sha256');
    const hold = scripts.has(entry) || entry.name.startsWith(`${distInfo}/`);
    if (hold && entry.uncompressedSize > MAX_HELD_ENTRY_BYTES)
      throw unsafe(
        wheel,
        entry.name,
        `declares ${entry.uncompressedSize} bytes of metadata or script.`,
        'No real wheel has metadata or scripts this big; do not use it.',
        packageName,
      );
    const chunks: Buffer[] = [];
    const keepForWrite =
      !hold &&
      written.has(entry) &&
      entry.uncompressedSize <= HELD_FOR_WRITE_ENTRY_BYTES &&
      heldForWrite + entry.uncompressedSize <= HELD_FOR_WRITE_BYTES;
    if (keepForWrite) heldForWrite += entry.uncompressedSize;
    const onChunk = (chunk: Buffer): void => {
      hash.update(chunk);
      if (ours !== hash) ours.update(chunk);
      if (hold || keepForWrite) chunks.push(chunk);
    };
    // torch's entries past the held bytes (613 of its 709 MB) were inflated here and again when
    // written: 1.3 s of its install. Inflated into the staging folder, they are linked instead.
    const staging = !hold && !keepForWrite && written.has(entry) ? context.staging : null;
    if (staging !== null) {
      // (With the mode it will be written with: scripts, the other executables, are held, never staged.)
      const path = join(staging, String(staged.size));
      staged.set(entry, path);
      await writeEntryTo(context.zip, entry, path, isExecutableEntry(entry) ? 0o755 : 0o644, onChunk);
    } else await inflateEntry(context.zip, entry, onChunk);
    const ourDigest = ours.digest('base64url');
    const digest = ours === hash ? ourDigest : hash.digest('base64url');
    if (listed && digest !== expected.replace(/=+$/, ''))
      throw unsafe(
        wheel,
        entry.name,
        `does not match its RECORD hash (${algorithm} ${digest}, RECORD says ${expected}).`,
        'The archive was altered after it was built; do not use it.',
        packageName,
      );
    if (listed?.size && Number(listed.size) !== entry.uncompressedSize)
      throw unsafe(
        wheel,
        entry.name,
        `is ${entry.uncompressedSize} bytes, RECORD says ${listed.size}.`,
        'The archive was altered after it was built; do not use it.',
        packageName,
      );
    digests.set(entry, `sha256=${ourDigest}`);
    // (One chunk is the entry's own buffer already: concatenating it would copy it again.)
    const content =
      hold || chunks.length > 0 ? (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)) : null;
    if (hold && content) kept.set(entry, content);
    else if (content) inflated.set(entry, content);
  });
  return { digests, kept, inflated, staged };
}

/** Where an entry's compressed bytes sit in the wheel, and `digest` (RECORD style) of what they inflated to. */
function wheelSource(context: WheelContext, entry: ZipEntry, digest: string): InstalledFile['source'] {
  return {
    kind: 'wheel',
    method: entry.method,
    crc32: entry.crc32,
    dataOffset: context.zip.dataOffset(entry),
    compressedSize: entry.compressedSize,
    sha256: hexOfRecordDigest(digest),
  };
}

/** The kept files (slimming applied), rewritten scripts, entry-point launchers and the new INSTALLER and RECORD. */
function assembleFiles(
  context: WheelContext,
  planned: readonly PlannedEntry[],
  checked: CheckedContents,
  interpreter: string,
): { kept: InstalledFile[]; digests: Map<string, string>; installedBytes: number; removed: RemovedFiles[] } {
  const { wheel, packageName, siteDir, distInfo } = context;
  const kept: InstalledFile[] = [];
  const digests = new Map<string, string>();
  const removedByRule = new Map<string, { files: number; bytes: number }>();
  let installedBytes = 0;
  const remove = (rule: string, bytesRemoved: number): void => {
    const current = removedByRule.get(rule) ?? { files: 0, bytes: 0 };
    removedByRule.set(rule, { files: current.files + 1, bytes: current.bytes + bytesRemoved });
  };
  const generate = (path: string, content: Buffer, executable: boolean): void => {
    kept.push({ path, size: content.length, executable, source: { kind: 'generated', content } });
    digests.set(path, recordDigest(content));
  };
  for (const plan of planned) {
    const size = plan.entry.uncompressedSize;
    if (plan.destination === null) {
      if (plan.rule !== null) {
        installedBytes += size;
        remove(plan.rule, size);
      }
      continue;
    }
    installedBytes += size;
    if (plan.rule !== null) {
      remove(plan.rule, size);
      continue;
    }
    const content = checked.kept.get(plan.entry);
    const rewritten = plan.script && content ? rewriteShebang(content, interpreter) : content;
    if (plan.script && rewritten && rewritten !== content) {
      installedBytes += rewritten.length - size;
      generate(plan.destination, rewritten, true);
      continue;
    }
    const digest = checked.digests.get(plan.entry) ?? '';
    kept.push({
      path: plan.destination,
      size,
      executable: plan.script || isExecutableEntry(plan.entry),
      source: wheelSource(context, plan.entry, digest),
    });
    digests.set(plan.destination, digest);
  }
  const entryPoints = context.byName.get(`${distInfo}/entry_points.txt`);
  for (const script of parseConsoleScripts(
    (entryPoints && checked.kept.get(entryPoints)?.toString('utf8')) ?? '',
  )) {
    if (unsafeEntryName(script.name) !== null || script.name.includes('/'))
      throw unsafe(
        wheel,
        `${distInfo}/entry_points.txt`,
        `declares the script name "${script.name}", which is not a plain file name.`,
        'Entry point names become files in bin/; this one could escape it.',
        packageName,
      );
    const path = `bin/${script.name}`;
    if (kept.some((file) => file.path === path)) continue;
    const content = Buffer.from(entryPointScript(interpreter, script.module, script.attribute));
    installedBytes += content.length;
    generate(path, content, true);
  }
  const installer = Buffer.from('lambda-deps\n');
  generate(`${siteDir}/${distInfo}/INSTALLER`, installer, false);
  const recordContent = recordOf(kept, digests, siteDir, distInfo);
  installedBytes += installer.length + recordContent.length;
  generate(`${siteDir}/${distInfo}/RECORD`, recordContent, false);
  kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const removed = [...removedByRule.entries()]
    .map(([rule, totals]) => ({ rule, ...totals }))
    .sort((a, b) => a.rule.localeCompare(b.rule));
  return { kept, digests, installedBytes, removed };
}

/** The RECORD the installer writes: every kept file with its digest, and RECORD itself. */
function recordOf(
  kept: readonly InstalledFile[],
  digests: ReadonlyMap<string, string>,
  siteDir: string,
  distInfo: string,
): Buffer {
  const lines = kept.map((file) => {
    const relative = file.path.startsWith(`${siteDir}/`)
      ? file.path.slice(siteDir.length + 1)
      : `../${file.path}`;
    return `${csvField(relative)},${digests.get(file.path) ?? ''},${file.size}`;
  });
  lines.push(`${csvField(`${distInfo}/RECORD`)},,`);
  lines.sort();
  return Buffer.from(`${lines.join('\n')}\n`);
}

/**
 * One tree, one truth: claim every path this wheel installs. A path another distribution
 * already installed is refused, naming both, unless the bytes are identical (then it is not
 * written twice). Synchronous, so parallel installs cannot both claim a path.
 * @returns tree-relative paths already present with the same bytes (skip writing them)
 */
export function claimPaths(
  claims: TreeClaims,
  root: string,
  kept: readonly Pick<InstalledFile, 'path'>[],
  digests: ReadonlyMap<string, string>,
  wheel: string,
  packageName: string,
): Set<string> {
  const identical = new Set<string>();
  // Each path resolved once (a wheel has thousands).
  const keys = kept.map((file) => resolve(root, ...file.path.split('/')));
  for (const [index, file] of kept.entries()) {
    const key = keys[index] ?? '';
    const claim = claims.get(key);
    if (!claim || claim.packageName === packageName) continue;
    if (claim.sha256 === digests.get(file.path)) identical.add(file.path);
    else
      throw new UnsafeArchiveError(
        `${wheel}: ${file.path} is also installed by ${claim.packageName}, with other content; ${packageName} and ${claim.packageName} cannot both be installed.`,
        {
          hint: `Only one copy can exist in the artifact, and the smoke import would check a different one than ships. Drop one of ${packageName} and ${claim.packageName}, or pin versions that agree.`,
          packageName,
        },
      );
  }
  for (const [index, file] of kept.entries()) {
    const key = keys[index] ?? '';
    if (!claims.has(key)) claims.set(key, { packageName, sha256: digests.get(file.path) ?? '' });
  }
  return identical;
}

/** Write one file exclusively; an existing file is accepted only when its bytes are the same. */
export async function writeExclusive(
  target: string,
  write: () => Promise<void>,
  expected: () => Promise<string>,
  describe: string,
  packageName: string,
): Promise<void> {
  try {
    await write();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await acceptExisting(target, await expected(), describe, packageName);
  }
}

/** A file found at `target` when writing it (EEXIST) is fine only when it holds the bytes whose sha256 is `expected`. */
export async function acceptExisting(
  target: string,
  expected: string,
  describe: string,
  packageName: string,
): Promise<void> {
  if ((await sha256OfFile(target)) === expected) return;
  throw new UnsafeArchiveError(`${describe} is already in the tree with other content.`, {
    hint: 'Two distributions install the same file differently; only one copy could ship. Drop one of them.',
    packageName,
  });
}

/**
 * Put a staged file at `target` (exclusively: EEXIST when something is there already) and let
 * go of the staged name. A staging folder on another filesystem is copied.
 */
function linkStaged(staged: string, target: string): void {
  try {
    linkSync(staged, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    copyFileSync(staged, target, constants.COPYFILE_EXCL);
  }
  unlinkSync(staged);
}

/**
 * Write the kept files into `treeDir`, streaming each wheel entry from the wheel once more
 * unless the check kept its bytes (those are also put into `written`).
 */
async function writeFiles(
  context: WheelContext,
  treeDir: string,
  kept: readonly InstalledFile[],
  skip: ReadonlySet<string>,
  { inflated, staged }: Pick<CheckedContents, 'inflated' | 'staged'>,
  written: Map<string, Buffer>,
  { onFileWritten = () => undefined, ledger }: Pick<InstallWheelOptions, 'onFileWritten' | 'ledger'>,
): Promise<void> {
  const { wheel, packageName } = context;
  const root = resolve(treeDir);
  const byPath = new Map(
    [...context.byName.values()].map((entry) => [context.zip.dataOffset(entry), entry] as const),
  );
  const made = new Set<string>();
  // Bytes in memory are written with blocking calls between event-loop turns: thousands of small
  // files each cost three round trips through libuv's pool otherwise, queued behind the others.
  const pause = eventLoopSlicer();
  await eachSettled(kept, 16, async (file) => {
    if (skip.has(file.path)) return;
    const target = resolve(root, ...file.path.split('/'));
    if (!target.startsWith(root + sep))
      throw unsafe(
        wheel,
        file.path,
        'would be written outside the install folder.',
        'Do not use this wheel.',
        packageName,
      );
    const folder = dirname(target);
    if (!made.has(folder)) {
      mkdirSync(folder, { recursive: true });
      made.add(folder);
    }
    const source = file.source;
    const entry = source.kind === 'wheel' ? byPath.get(source.dataOffset) : undefined;
    const mode = file.executable ? 0o755 : 0o644;
    // Bytes the check already inflated (and matched against RECORD) are written as they are.
    const checkedBytes = source.kind === 'generated' ? source.content : entry && inflated.get(entry);
    const stagedPath = entry && !checkedBytes ? staged.get(entry) : undefined;
    if (entry) inflated.delete(entry);
    if (entry && checkedBytes) written.set(file.path, checkedBytes);
    // The sha256 of what this install wrote there: of bytes hashed before, or hashed on the way.
    let writtenSha256: string | null = null;
    const write = async (): Promise<void> => {
      if (checkedBytes) {
        await pause();
        writeFileSync(target, checkedBytes, { flag: 'wx', mode });
        writtenSha256 = source.kind === 'wheel' ? source.sha256 : sha256Hex(checkedBytes);
      } else if (stagedPath && source.kind === 'wheel') {
        // The check inflated it there, with this mode, and matched it against RECORD: linked, as it is.
        await pause();
        linkStaged(stagedPath, target);
        writtenSha256 = source.sha256;
      } else if (entry) {
        const hash = createHash('sha256');
        await writeEntryTo(context.zip, entry, target, mode, (chunk) => void hash.update(chunk));
        writtenSha256 = hash.digest('hex');
      }
    };
    const expected = async (): Promise<string> => {
      if (source.kind === 'generated') return sha256Hex(source.content);
      const hash = createHash('sha256');
      if (entry) await inflateEntry(context.zip, entry, (chunk) => void hash.update(chunk));
      return hash.digest('hex');
    };
    await writeExclusive(target, write, expected, `${wheel}: ${file.path}`, packageName);
    if (writtenSha256 !== null) ledger?.record(target, writtenSha256);
    onFileWritten(file.size);
  });
}

/**
 * Install a wheel into `treeDir` after checking it end to end. Throws IntegrityError or
 * UnsafeArchiveError (naming the wheel and the entry) before writing anything when it is not
 * safe; never writes outside `treeDir`. Memory stays bounded: the wheel is streamed, never loaded.
 * @example
 *   const installed = await installWheel({ wheelPath, locked, treeDir: '/tmp/tree',
 *     interpreter: lambdaInterpreter('3.11'), slim: DEFAULT_SLIM_POLICY });
 */
export async function installWheel(options: InstallWheelOptions): Promise<InstalledPackage> {
  return (await installWheelWithDigests(options)).installed;
}

/** A fresh install as the installed-tree cache (installed-tree-cache.ts) stores it. */
export interface FreshInstall {
  readonly installed: InstalledPackage;
  /** Every kept file's RECORD digest (`sha256=…`, of the bytes written), by tree-relative path. */
  readonly digests: ReadonlyMap<string, string>;
  /** Kept paths not written, because another distribution claimed them with the same bytes. */
  readonly skipped: ReadonlySet<string>;
  /** The bytes of the wheel's files written from memory, by path (bigger ones were streamed from the wheel). */
  readonly written: ReadonlyMap<string, Buffer>;
}

/**
 * {@link installWheel}, also telling what the install checked and skipped, so a cache need not
 * hash the tree again. What this produces for the same inputs must not change without bumping
 * INSTALLED_TREE_FORMAT (installed-tree-cache.ts): cached trees would keep the old output.
 */
export async function installWheelWithDigests(options: InstallWheelOptions): Promise<FreshInstall> {
  const { wheelPath, locked, interpreter, slim } = options;
  const siteDir = options.siteDir ?? 'python';
  const wheel = locked.filename;
  const packageName = locked.name;
  const { zip, wheelIdentity } = await openLockedWheel(wheelPath, locked, {
    ...DEFAULT_WHEEL_LIMITS,
    ...options.limits,
  });
  const stagingDir = options.writeTree === false ? undefined : options.stagingDir;
  if (stagingDir) await mkdir(stagingDir, { recursive: true });
  const staging = stagingDir ? await mkdtemp(join(stagingDir, 'wheel-')) : null;
  try {
    const files = checkEntryNames(zip, wheel, packageName);
    const distInfo = findDistInfo(files, wheel, packageName);
    const context: WheelContext = {
      zip,
      wheel,
      packageName,
      siteDir,
      distInfo,
      dataDir: `${distInfo.slice(0, -'.dist-info'.length)}.data`,
      files,
      byName: new Map(files.map((entry) => [entry.name, entry])),
      unsigned: new Set([`${distInfo}/RECORD`, `${distInfo}/RECORD.jws`, `${distInfo}/RECORD.p7s`]),
      staging,
    };
    await checkMetadata(context, locked);
    const record = await readRecord(context);
    const planned = planEntries(context, slim);
    const checked = await checkContents(context, record, planned);
    const { kept, digests, installedBytes, removed } = assembleFiles(context, planned, checked, interpreter);
    const written = new Map<string, Buffer>();
    const skip = options.claims
      ? claimPaths(options.claims, resolve(options.treeDir), kept, digests, wheel, packageName)
      : new Set<string>();
    if (options.writeTree ?? true)
      await writeFiles(context, options.treeDir, kept, skip, checked, written, options);
    const topLevelEntry = context.byName.get(`${distInfo}/top_level.txt`);
    const installed: InstalledPackage = {
      name: canonicalizeName(locked.name),
      version: locked.version,
      wheelPath,
      wheelSha256: locked.sha256.toLowerCase(),
      ...(wheelIdentity ? { wheelIdentity } : {}),
      distInfo,
      files: kept,
      installedBytes,
      slimmedBytes: kept.reduce((sum, file) => sum + file.size, 0),
      removed,
      topLevel: topLevelNames(topLevelEntry ? checked.kept.get(topLevelEntry) : undefined, kept, siteDir),
    };
    return { installed, digests, skipped: skip, written };
  } finally {
    await zip.close();
    // (What was staged and not linked: skipped paths, or a wheel that failed its check.)
    if (staging) await rm(staging, { recursive: true, force: true });
  }
}

/** Top-level importable names: top_level.txt when it names any, else what the tree holds. */
function topLevelNames(
  declared: Buffer | undefined,
  kept: readonly InstalledFile[],
  siteDir: string,
): string[] {
  const names = (declared ?? Buffer.alloc(0))
    .toString('utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.includes('/'));
  // An empty top_level.txt says nothing: the tree does.
  return [...new Set(names.length > 0 ? names : topLevelOf(kept, siteDir))].sort();
}

/** Importable top-level names from the installed files: packages and single modules (not dist-info/libs). */
function topLevelOf(files: readonly InstalledFile[], siteDir: string): string[] {
  const names = new Set<string>();
  for (const file of files) {
    if (!file.path.startsWith(`${siteDir}/`)) continue;
    const relative = file.path.slice(siteDir.length + 1);
    const [first = '', ...rest] = relative.split('/');
    if (isProtected(relative) || first === '__pycache__') continue;
    if (rest.length > 0 && rest.join('/') === '__init__.py') names.add(first);
    else if (rest.length === 0 && first.endsWith('.py')) names.add(first.slice(0, -3));
    else if (rest.length === 0 && /\.(abi3|cpython-[^.]+)\.so$|\.so$/.test(first))
      names.add(first.split('.')[0] ?? first);
  }
  return [...names];
}

/**
 * The package with its RECORD brought up to date after files were changed or added by a
 * later step (symbols stripped, .pyc precompiled), so RECORD keeps telling the truth.
 * @param changed tree-relative paths with their new content
 */
export function withUpdatedRecord(
  installed: InstalledPackage,
  changed: readonly { path: string; content: Buffer }[],
  siteDir = 'python',
): InstalledPackage {
  const recordPath = `${siteDir}/${installed.distInfo}/RECORD`;
  const recordFile = installed.files.find((file) => file.path === recordPath);
  if (!recordFile || recordFile.source.kind !== 'generated' || changed.length === 0) return installed;
  const relativeOf = (path: string): string =>
    path.startsWith(`${siteDir}/`) ? path.slice(siteDir.length + 1) : `../${path}`;
  const lines = new Map<string, string>();
  for (const line of recordFile.source.content.toString('utf8').split('\n')) {
    if (line.trim() !== '') lines.set(parseRecordLine(line)[0] ?? '', line);
  }
  for (const { path, content } of changed) {
    const relative = relativeOf(path);
    lines.set(relative, `${csvField(relative)},${recordDigest(content)},${content.length}`);
  }
  const content = Buffer.from(`${[...lines.values()].sort().join('\n')}\n`);
  const files = installed.files.map((file) =>
    file.path === recordPath
      ? { ...file, size: content.length, source: { kind: 'generated' as const, content } }
      : file,
  );
  return { ...installed, files, slimmedBytes: files.reduce((sum, file) => sum + file.size, 0) };
}
