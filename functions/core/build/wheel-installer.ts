// Installs one wheel into a tree the way the binary distribution format spec says
// (packaging.python.org, "Binary distribution format"): `.data/` subfolders, RECORD,
// INSTALLER, console and GUI entry points. It refuses hostile or broken wheels before writing
// a byte: sha256 against the lock, zip-slip, absolute paths, symlinks, duplicate entries,
// zip bombs, a RECORD that disagrees with the content, METADATA that names another project.
// Files a slimming rule drops are checked all the same and then left out. The result keeps,
// for every file that passed through unchanged, where its compressed bytes sit in the wheel,
// so the layer writer can copy them raw.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { crc32, inflateRaw } from 'node:zlib';
import pLimit from 'p-limit';
import { IntegrityError, UnsafeArchiveError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';
import { isProtected, slimContextOf, slimRuleFor, WHEEL_DATA_RULES } from './slim-policy.ts';
import type { SlimPolicy } from './slim-policy.ts';
import type { LockedPackage } from '../shared/types.ts';
import {
  locateCentralDirectory,
  localDataOffset,
  MAX_END_RECORD_SPAN,
  readCentralDirectory,
} from '../index/zip-directory.ts';
import type { ZipEntry, ZipLimits } from '../index/zip-directory.ts';

const inflateRawAsync = promisify(inflateRaw);

/** Zip bomb limits for a wheel. Real wheels stay far below them (torch: ~1.7 GB unpacked). */
export const DEFAULT_WHEEL_LIMITS: ZipLimits = {
  maxEntries: 100_000,
  maxEntryUncompressedBytes: 1024 ** 3,
  maxTotalUncompressedBytes: 6 * 1024 ** 3,
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
  readonly limits?: Partial<ZipLimits>;
  /** Also write the files into `treeDir` (verification and smoke import need them). @default true */
  readonly writeTree?: boolean;
}

/** The shebang interpreter of a Lambda runtime (`/var/lang/bin/python3.11`). */
export function lambdaInterpreter(pythonVersion: string): string {
  return `/var/lang/bin/python${pythonVersion}`;
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function recordDigest(data: Buffer): string {
  return `sha256=${createHash('sha256').update(data).digest('base64url')}`;
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

/**
 * Why an entry name is unsafe to write, or null. Names are `/`-separated, relative, with no
 * `..`, `.` or empty parts (a trailing `/` marks a directory), no backslashes, no NUL.
 */
export function unsafeEntryName(name: string): string | null {
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'is an absolute Windows path';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.includes('\0')) return 'contains a NUL byte';
  const parts = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (parts.some((part) => part === '..')) return 'climbs out of the archive with ".."';
  if (parts.some((part) => part === '' || part === '.')) return 'has an empty or "." path segment';
  return null;
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

interface PlannedEntry {
  readonly entry: ZipEntry;
  /** Tree-relative destination, or null when the entry is not installed (RECORD, INSTALLER, excluded). */
  readonly destination: string | null;
  readonly rule: string | null;
  readonly script: boolean;
}

/**
 * Install a wheel into `treeDir` after checking it end to end. Throws IntegrityError or
 * UnsafeArchiveError (naming the wheel and the entry) before writing anything when it is not
 * safe; never writes outside `treeDir`.
 * @example
 *   const installed = await installWheel({ wheelPath, locked, treeDir: '/tmp/tree',
 *     interpreter: lambdaInterpreter('3.11'), slim: DEFAULT_SLIM_POLICY });
 */
export async function installWheel(options: InstallWheelOptions): Promise<InstalledPackage> {
  const { wheelPath, locked, interpreter, slim } = options;
  const siteDir = options.siteDir ?? 'python';
  const wheel = locked.filename;
  const packageName = locked.name;
  const limits = { ...DEFAULT_WHEEL_LIMITS, ...options.limits };

  const bytes = await readFile(wheelPath);
  const actual = sha256Hex(bytes);
  if (actual !== locked.sha256.toLowerCase()) {
    throw new IntegrityError(`${wheel}: sha256 is ${actual}, the lock says ${locked.sha256}.`, {
      hint: 'The file changed since the lock was made (or the download is corrupt); delete it from the cache and measure again.',
      packageName,
    });
  }

  const location = locateCentralDirectory(
    bytes.subarray(Math.max(0, bytes.length - MAX_END_RECORD_SPAN)),
    bytes.length,
    wheel,
  );
  const entries = readCentralDirectory(
    bytes.subarray(location.offset, location.offset + location.size),
    location,
    wheel,
    limits,
  );

  // Names: safe, no symlinks, no duplicates, no encryption, known compression.
  const seen = new Set<string>();
  const files: ZipEntry[] = [];
  for (const entry of entries) {
    const problem = unsafeEntryName(entry.name);
    if (problem)
      throw unsafe(
        wheel,
        entry.name,
        `${problem}.`,
        'A wheel may only contain relative paths inside itself; this one is crafted or broken. Do not use it.',
        packageName,
      );
    if (entry.isSymlink)
      throw unsafe(
        wheel,
        entry.name,
        'is a symbolic link.',
        'Wheels cannot carry symlinks; a link could point outside the install folder. Do not use this wheel.',
        packageName,
      );
    const key = entry.name.endsWith('/') ? entry.name.slice(0, -1) : entry.name;
    if (seen.has(key))
      throw unsafe(
        wheel,
        entry.name,
        'appears twice in the archive.',
        'Which copy an installer writes is undefined; the wheel is crafted or broken. Do not use it.',
        packageName,
      );
    seen.add(key);
    if ((entry.generalPurposeFlags & 0x1) !== 0)
      throw unsafe(wheel, entry.name, 'is encrypted.', 'Wheels are never encrypted.', packageName);
    if (entry.method !== 0 && entry.method !== 8)
      throw unsafe(
        wheel,
        entry.name,
        `uses compression method ${entry.method}.`,
        'Wheels use stored (0) or deflate (8) only.',
        packageName,
      );
    if (!entry.name.endsWith('/')) files.push(entry);
  }
  // No two entries may share bytes (overlapping entries are the classic non-recursive zip bomb).
  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const dataOffsets = new Map<ZipEntry, number>();
  let previousEnd = 0;
  for (const entry of byOffset) {
    if (entry.localHeaderOffset < previousEnd)
      throw unsafe(
        wheel,
        entry.name,
        'overlaps another entry.',
        'Overlapping entries are a zip bomb technique; do not use this wheel.',
        packageName,
      );
    const relative = localDataOffset(
      bytes.subarray(entry.localHeaderOffset, entry.localHeaderOffset + 30),
      entry,
      wheel,
    );
    if (relative === null)
      throw unsafe(
        wheel,
        entry.name,
        'has a truncated local header.',
        'The archive is truncated; download it again.',
        packageName,
      );
    const nameLength = bytes.readUInt16LE(entry.localHeaderOffset + 26);
    const localName = bytes
      .subarray(entry.localHeaderOffset + 30, entry.localHeaderOffset + 30 + nameLength)
      .toString('utf8');
    if (localName !== entry.name)
      throw unsafe(
        wheel,
        entry.name,
        `has the name "${localName}" in its local header.`,
        'The local and central headers disagree: a crafted or corrupt archive. Do not use it.',
        packageName,
      );
    const start = entry.localHeaderOffset + relative;
    if (start + entry.compressedSize > location.offset)
      throw unsafe(
        wheel,
        entry.name,
        'runs into the central directory.',
        'The archive is corrupt or crafted.',
        packageName,
      );
    dataOffsets.set(entry, start);
    previousEnd = start + entry.compressedSize;
  }

  const inflate = async (entry: ZipEntry): Promise<Buffer> => {
    const start = dataOffsets.get(entry) ?? 0;
    const raw = bytes.subarray(start, start + entry.compressedSize);
    let content: Buffer;
    if (entry.method === 0) content = raw;
    else {
      try {
        // One byte over the declared size is enough to catch an entry that lies about its size.
        content = await inflateRawAsync(raw, { maxOutputLength: entry.uncompressedSize + 1 });
      } catch (error) {
        throw new UnsafeArchiveError(
          `${wheel}: entry "${entry.name}" does not inflate (${(error as Error).message}).`,
          {
            hint: 'The archive is corrupt or unpacks to more than it declares (a zip bomb); do not use it.',
            packageName,
            cause: error,
          },
        );
      }
    }
    if (content.length !== entry.uncompressedSize)
      throw unsafe(
        wheel,
        entry.name,
        `unpacks to ${content.length} bytes, the directory says ${entry.uncompressedSize}.`,
        'The archive lies about its sizes (a zip bomb or corruption); do not use it.',
        packageName,
      );
    if (crc32(content) >>> 0 !== entry.crc32 >>> 0)
      throw unsafe(
        wheel,
        entry.name,
        'fails its CRC-32 check.',
        'The archive is corrupt; download it again.',
        packageName,
      );
    return content;
  };

  // The one .dist-info folder, named after the project in the file name.
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
  const dataDir = `${distInfo.slice(0, -'.dist-info'.length)}.data`;
  const byName = new Map(files.map((entry) => [entry.name, entry]));

  // METADATA must name the locked project and version.
  const metadataEntry = byName.get(`${distInfo}/METADATA`);
  if (!metadataEntry)
    throw new IntegrityError(`${wheel}: ${distInfo}/METADATA is missing.`, {
      hint: 'Every wheel carries METADATA; this one is broken. Do not use it.',
      packageName,
    });
  const metadataText = (await inflate(metadataEntry)).toString('utf8');
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

  // RECORD: every file but RECORD (and its signatures) listed, with a hash that we check below.
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
  for (const line of (await inflate(recordEntry)).toString('utf8').split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const [path = '', hash = '', size = ''] = parseRecordLine(line);
    record.set(path, { hash, size });
  }
  const unsigned = new Set([recordName, `${distInfo}/RECORD.jws`, `${distInfo}/RECORD.p7s`]);
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
    if (
      !listed.hash.startsWith('sha256=') &&
      !listed.hash.startsWith('sha384=') &&
      !listed.hash.startsWith('sha512=')
    )
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

  // Plan where each entry goes (or which rule keeps it out).
  const planned: PlannedEntry[] = [];
  const sitePaths: string[] = [];
  const firstPass = files.map((entry) => {
    let sitePath: string | null = entry.name;
    let script = false;
    let rule: string | null = null;
    if (entry.name.startsWith(`${dataDir}/`)) {
      const [, scheme = '', ...rest] = entry.name.split('/');
      const inner = rest.join('/');
      if (scheme === 'purelib' || scheme === 'platlib') sitePath = inner;
      else if (scheme === 'scripts') {
        sitePath = null;
        script = true;
      } else if (scheme === 'headers') {
        sitePath = null;
        rule = WHEEL_DATA_RULES.headers.id;
      } else if (scheme === 'data') {
        sitePath = null;
        rule = WHEEL_DATA_RULES.data.id;
      } else
        throw unsafe(
          wheel,
          entry.name,
          `uses the unknown .data scheme "${scheme}".`,
          'Wheels may use purelib, platlib, scripts, headers and data only.',
          packageName,
        );
      if (inner === '')
        throw unsafe(
          wheel,
          entry.name,
          'is a .data scheme without a file.',
          'The archive is broken.',
          packageName,
        );
    }
    if (sitePath !== null) sitePaths.push(sitePath);
    return { entry, sitePath, script, rule };
  });
  const context = slimContextOf(sitePaths);
  const destinations = new Set<string>();
  for (const { entry, sitePath, script, rule } of firstPass) {
    if (entry.name === recordName || entry.name === `${distInfo}/INSTALLER` || unsigned.has(entry.name)) {
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
      planned.push({ entry, destination: `bin/${name}`, rule: null, script: true });
    } else if (sitePath === null) {
      planned.push({ entry, destination: null, rule, script: false });
    } else {
      const slimRule = slimRuleFor(slim, sitePath, context);
      planned.push({
        entry,
        destination: `${siteDir}/${sitePath}`,
        rule: slimRule?.id ?? null,
        script: false,
      });
    }
  }

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

  // Check every entry's content (also the ones slimming drops) against RECORD.
  const limit = pLimit(8);
  const contents = new Map<ZipEntry, Buffer>();
  await Promise.all(
    files.map((entry) =>
      limit(async () => {
        const content = await inflate(entry);
        if (!unsigned.has(entry.name)) {
          const listed = record.get(entry.name);
          const [algorithm = '', expected = ''] = (listed?.hash ?? '').split('=', 2);
          const digest = createHash(algorithm).update(content).digest('base64url');
          if (digest !== expected.replace(/=+$/, ''))
            throw unsafe(
              wheel,
              entry.name,
              `does not match its RECORD hash (${algorithm} ${digest}, RECORD says ${expected}).`,
              'The archive was altered after it was built; do not use it.',
              packageName,
            );
          if (listed?.size && Number(listed.size) !== content.length)
            throw unsafe(
              wheel,
              entry.name,
              `is ${content.length} bytes, RECORD says ${listed.size}.`,
              'The archive was altered after it was built; do not use it.',
              packageName,
            );
        }
        contents.set(entry, content);
      }),
    ),
  );

  // Build the kept file list, generated scripts and the new RECORD/INSTALLER.
  const kept: InstalledFile[] = [];
  const contentOf = new Map<string, Buffer>();
  const removedByRule = new Map<string, { files: number; bytes: number }>();
  let installedBytes = 0;
  const remove = (rule: string, bytesRemoved: number): void => {
    const current = removedByRule.get(rule) ?? { files: 0, bytes: 0 };
    removedByRule.set(rule, { files: current.files + 1, bytes: current.bytes + bytesRemoved });
  };
  for (const plan of planned) {
    const content = contents.get(plan.entry) ?? Buffer.alloc(0);
    if (plan.destination === null) {
      if (plan.rule !== null) {
        installedBytes += content.length;
        remove(plan.rule, content.length);
      }
      continue;
    }
    installedBytes += content.length;
    if (plan.rule !== null) {
      remove(plan.rule, content.length);
      continue;
    }
    const mode = (plan.entry.externalAttributes >>> 16) & 0o777;
    contentOf.set(plan.destination, content);
    if (plan.script) {
      const rewritten = rewriteShebang(content, interpreter);
      contentOf.set(plan.destination, rewritten);
      installedBytes += rewritten.length - content.length;
      kept.push({
        path: plan.destination,
        size: rewritten.length,
        executable: true,
        source:
          rewritten === content
            ? {
                kind: 'wheel',
                method: plan.entry.method,
                crc32: plan.entry.crc32,
                dataOffset: dataOffsets.get(plan.entry) ?? 0,
                compressedSize: plan.entry.compressedSize,
              }
            : { kind: 'generated', content: rewritten },
      });
      continue;
    }
    kept.push({
      path: plan.destination,
      size: content.length,
      executable: (mode & 0o111) !== 0,
      source: {
        kind: 'wheel',
        method: plan.entry.method,
        crc32: plan.entry.crc32,
        dataOffset: dataOffsets.get(plan.entry) ?? 0,
        compressedSize: plan.entry.compressedSize,
      },
    });
  }
  const entryPoints = byName.get(`${distInfo}/entry_points.txt`);
  if (entryPoints) {
    for (const script of parseConsoleScripts(
      (contents.get(entryPoints) ?? Buffer.alloc(0)).toString('utf8'),
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
      kept.push({ path, size: content.length, executable: true, source: { kind: 'generated', content } });
    }
  }
  const installer = Buffer.from('lambda-deps\n');
  kept.push({
    path: `${siteDir}/${distInfo}/INSTALLER`,
    size: installer.length,
    executable: false,
    source: { kind: 'generated', content: installer },
  });
  const recordLines: string[] = [];
  for (const file of kept) {
    const relative = file.path.startsWith(`${siteDir}/`)
      ? file.path.slice(siteDir.length + 1)
      : `../${file.path}`;
    const content =
      file.source.kind === 'generated' ? file.source.content : (contentOf.get(file.path) ?? Buffer.alloc(0));
    recordLines.push(`${csvField(relative)},${recordDigest(content)},${content.length}`);
  }
  recordLines.push(`${csvField(`${distInfo}/RECORD`)},,`);
  recordLines.sort();
  const recordContent = Buffer.from(`${recordLines.join('\n')}\n`);
  installedBytes += installer.length + recordContent.length;
  kept.push({
    path: `${siteDir}/${recordName}`,
    size: recordContent.length,
    executable: false,
    source: { kind: 'generated', content: recordContent },
  });
  kept.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  if (options.writeTree ?? true) {
    const root = resolve(options.treeDir);
    const writeLimit = pLimit(32);
    const made = new Set<string>();
    await Promise.all(
      kept.map((file) =>
        writeLimit(async () => {
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
            await mkdir(folder, { recursive: true });
            made.add(folder);
          }
          const content =
            file.source.kind === 'generated'
              ? file.source.content
              : (contentOf.get(file.path) ?? Buffer.alloc(0));
          await writeFile(target, content, { mode: file.executable ? 0o755 : 0o644 });
        }),
      ),
    );
  }

  const topLevelEntry = byName.get(`${distInfo}/top_level.txt`);
  const declared = topLevelEntry
    ? (contents.get(topLevelEntry) ?? Buffer.alloc(0))
        .toString('utf8')
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.includes('/'))
    : [];
  // An empty top_level.txt says nothing: the tree does.
  const topLevel = declared.length > 0 ? declared : topLevelOf(kept, siteDir);

  return {
    name: canonicalizeName(locked.name),
    version: locked.version,
    wheelPath,
    distInfo,
    files: kept,
    installedBytes,
    slimmedBytes: kept.reduce((sum, file) => sum + file.size, 0),
    removed: [...removedByRule.entries()]
      .map(([rule, totals]) => ({ rule, ...totals }))
      .sort((a, b) => a.rule.localeCompare(b.rule)),
    topLevel: [...new Set(topLevel)].sort(),
  };
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
