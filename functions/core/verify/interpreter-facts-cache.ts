// Interpreters' facts kept between processes (findTargetInterpreter's `factsCacheDir`): an ELF
// interpreter, as its file identity shows it now, need not be started again to say its version,
// platform and prefix. The folder is untrusted: an entry is used only when the disk bears it out
// (its executable is the file asked for, inside its prefix, whose lib/pythonX.Y exists, built
// for its platform), so a planted one can neither widen the cell nor name another interpreter.

import { constants } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import { identityOfStats } from '../shared/file-identity.ts';
import { sha256Hex } from '../shared/hash.ts';

/** What an interpreter says of itself (`-I -S -c …`). */
/** Where a run's cache keeps interpreters' facts (findTargetInterpreter's `factsCacheDir`). */
export function interpreterFactsFolder(cacheDir: string): string {
  return join(cacheDir, 'interpreters');
}

export interface InterpreterFacts {
  readonly executable: string;
  readonly version: string;
  /** The full version (`3.11.7`), as platform.python_version() says it. */
  readonly release?: string;
  readonly platform: string;
  /** sys.base_prefix: the installation the cell must expose. */
  readonly prefix: string;
}

/** Bumped when an entry's meaning changes, so an older entry is never read as a newer one. */
const FACTS_CACHE_FORMAT = 2;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
/** The platforms a Lambda target runs on, by the ELF e_machine of their binaries. */
const ELF_MACHINE_OF_PLATFORM = new Map([
  ['linux-x86_64', 62],
  ['linux-aarch64', 183],
]);
/** The shape of a cache entry; what it claims is checked against the disk (factsHoldOnDisk). */
const cachedFactsSchema = z.object({
  executable: z.string(),
  version: z.string(),
  release: z.string().max(64).optional(),
  platform: z.string(),
  prefix: z.string(),
});

/** An interpreter whose facts may be cached: an ELF file, as it is on disk now. */
export interface InterpreterBinary {
  /** The candidate as named (maybe a symlink: a venv's python is one). */
  readonly path: string;
  readonly realPath: string;
  /** e_machine of a little-endian ELF file; null for a big-endian one (no Lambda platform). */
  readonly machine: number | null;
  /** The cache entry of exactly this file: `<cache dir>/<sha256 of its identity>.json`. */
  readonly entry: string;
}

/** A regular file opened for reading; null for anything else (never blocks on a FIFO). */
async function openRegularFile(path: string): Promise<{ handle: FileHandle; identity: string } | null> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => null);
  if (!handle) return null;
  const info = await handle.stat({ bigint: true }).catch(() => null);
  if (info?.isFile()) return { handle, identity: identityOfStats(info) };
  await handle.close();
  return null;
}

/**
 * The ELF file behind `path` and where its entry is, or null when it is no ELF file: a script's
 * own identity says nothing about the interpreter it runs, so a script is always asked.
 */
export async function interpreterBinary(path: string, cacheDir: string): Promise<InterpreterBinary | null> {
  const realPath = await realpath(path).catch(() => null);
  const file = realPath ? await openRegularFile(realPath) : null;
  if (!realPath || !file) return null;
  try {
    const head = Buffer.alloc(20);
    const { bytesRead } = await file.handle.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.subarray(0, 4).equals(ELF_MAGIC)) return null;
    const key = JSON.stringify({
      format: FACTS_CACHE_FORMAT,
      path,
      realPath,
      file: file.identity,
      // Read by sysconfig.get_platform() even under -I (it is not a PYTHON* variable).
      hostPlatform: process.env._PYTHON_HOST_PLATFORM ?? null,
    });
    const machine = head[5] === 1 ? head.readUInt16LE(18) : null; // EI_DATA 1: ELFDATA2LSB
    return { path, realPath, machine, entry: join(cacheDir, `${sha256Hex(key)}.json`) };
  } finally {
    await file.handle.close();
  }
}

/** The entry's facts when it parses and holds on disk; null otherwise (anyone may write there). */
export async function readCachedFacts(binary: InterpreterBinary): Promise<InterpreterFacts | null> {
  // An entry is a hundred-odd bytes: a bigger file is not one of ours.
  const text = await readCacheFile(binary.entry, 4096);
  if (text === null) return null;
  let value: unknown = null;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // cut short or garbled
  }
  const parsed = cachedFactsSchema.safeParse(value);
  return parsed.success && (await factsHoldOnDisk(parsed.data, binary)) ? parsed.data : null;
}

/** Whether the facts can be true of `binary` as the disk shows it now. */
export async function factsHoldOnDisk(facts: InterpreterFacts, binary: InterpreterBinary): Promise<boolean> {
  const { executable, version, release, platform, prefix } = facts;
  if (executable !== binary.path) return false;
  // The file lies inside the installation the cell exposes, which is never all of / (the machine).
  if (prefix === '/' || !isAbsolute(prefix) || !binary.realPath.startsWith(`${prefix}/`)) return false;
  if (!/^3\.\d+$/.test(version) || ELF_MACHINE_OF_PLATFORM.get(platform) !== binary.machine) return false;
  if (release !== undefined && !release.startsWith(`${version}.`)) return false;
  // A 3.10 installation has no lib/python3.11: a wrong version names a library that is not there.
  return stat(join(prefix, 'lib', `python${version}`)).then(
    (found) => found.isDirectory(),
    () => false,
  );
}

/**
 * Publish an entry (temporary file + rename: a reader sees a whole entry or none). Not through
 * atomic-write.ts: its counted steps are the build's publishing, and a cache miss must not add
 * one. Errors are dropped: a read-only or full cache costs one interpreter start, not the build.
 */
export async function writeCachedFacts(entry: string, facts: InterpreterFacts): Promise<void> {
  await writeCacheFile(entry, JSON.stringify(facts)).catch(() => undefined);
}
