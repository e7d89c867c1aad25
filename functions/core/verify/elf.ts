// Reads what the Linux dynamic loader will ask of a binary: its ELF class, byte order,
// machine, type, DT_NEEDED libraries, RPATH/RUNPATH, SONAME and the symbol versions it
// needs (GLIBC_2.28, GLIBCXX_3.4.21 …). Also tells Mach-O and PE files apart from ELF.
// Written here rather than taken from npm: the packages found there read headers only,
// not the dynamic section or DT_VERNEED. Every offset is bounds-checked: a damaged file
// yields `defects`, never an exception. It reads through a random-access byte source so
// that a 100 MB library costs a few small reads (see readElfFactsFromFile).
import { open } from 'node:fs/promises';

/** Which kind of binary a file is, judged by its first bytes. */
export type BinaryFormat = 'elf' | 'mach-o' | 'mach-o-fat' | 'pe' | null;

export type ElfType = 'NONE' | 'REL' | 'EXEC' | 'DYN' | 'CORE' | `OTHER(${number})`;

/** What one ELF file needs from the system that loads it. */
export interface ElfFacts {
  readonly name: string;
  /** 32 or 64; null when the identification bytes are damaged. */
  readonly class: 32 | 64 | null;
  readonly endianness: 'little' | 'big' | null;
  /** `x86_64`, `aarch64`, `i386`, `arm`, `ppc64`, … or `machine-N` for codes not named here. */
  readonly machine: string;
  readonly type: ElfType;
  /** PT_INTERP of executables (`/lib64/ld-linux-x86-64.so.2`). */
  readonly interpreter: string | null;
  /** DT_NEEDED, in order. */
  readonly needed: readonly string[];
  /** DT_RPATH entries, `$ORIGIN` left as written. */
  readonly rpath: readonly string[];
  /** DT_RUNPATH entries (take precedence over RPATH when both exist). */
  readonly runpath: readonly string[];
  readonly soname: string | null;
  /** DT_VERNEED: each needed library file and the version names asked of it. */
  readonly versionNeeds: readonly { readonly file: string; readonly versions: readonly string[] }[];
  /** `GLIBC_x.y[.z]` names needed, sorted by version (GLIBC_PRIVATE left out). */
  readonly glibcVersionsNeeded: readonly string[];
  /** Highest glibc version needed (`2.28`), or null when none. */
  readonly highestGlibc: string | null;
  /** Highest `GLIBCXX_` version needed from libstdc++ (`3.4.21`), or null. */
  readonly highestGlibcxx: string | null;
  /** Highest `CXXABI_` version needed from libstdc++ (`1.3.9`), or null. */
  readonly highestCxxabi: string | null;
  /** What could not be read and why; non-empty means the loader would probably refuse the file too. */
  readonly defects: readonly string[];
}

/** Random access to a file's bytes. `read` returns null when the range lies outside the file. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer | null;
}

const ELF_MAGIC = 0x7f454c46;

const MACHINES: Readonly<Record<number, string>> = {
  2: 'sparc',
  3: 'i386',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390',
  40: 'arm',
  43: 'sparcv9',
  50: 'ia64',
  62: 'x86_64',
  183: 'aarch64',
  243: 'riscv',
  258: 'loongarch',
};

const TYPES: Readonly<Record<number, ElfType>> = { 0: 'NONE', 1: 'REL', 2: 'EXEC', 3: 'DYN', 4: 'CORE' };

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const SHT_DYNAMIC = 6;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_VERNEED = 0x6ffffffe;
const DT_VERNEEDNUM = 0x6fffffff;

/** Caps that keep a hostile file from making us loop or allocate without end. */
const MAX_DYNAMIC_ENTRIES = 65_536;
const MAX_VERNEED_ENTRIES = 4_096;
const MAX_STRING_BYTES = 4_096;

/**
 * Judge a file by its first bytes (64 are enough for ELF and Mach-O; PE needs the byte at
 * `e_lfanew`, usually within the first 512). `0xcafebabe` is also the magic of Java class
 * files: as file(1) does, a fat Mach-O is assumed only when the architecture count is small.
 */
export function detectBinaryFormat(head: Buffer): BinaryFormat {
  if (head.length < 4) return null;
  const be = head.readUInt32BE(0);
  if (be === ELF_MAGIC) return 'elf';
  if (be === 0xfeedface || be === 0xfeedfacf || be === 0xcefaedfe || be === 0xcffaedfe) return 'mach-o';
  if (be === 0xcafebabe || be === 0xcafebabf) {
    if (head.length < 8) return null;
    const count = head.readUInt32BE(4);
    return count > 0 && count < 20 ? 'mach-o-fat' : null;
  }
  if (be === 0xbebafeca || be === 0xbfbafeca) return 'mach-o-fat';
  if (head[0] === 0x4d && head[1] === 0x5a && head.length >= 0x40) {
    const peOffset = head.readUInt32LE(0x3c);
    if (peOffset + 4 <= head.length && head.readUInt32BE(peOffset) === 0x50450000) return 'pe';
  }
  return null;
}

/** A ByteSource over a whole buffer. */
export function bufferSource(buffer: Buffer): ByteSource {
  return {
    size: buffer.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > buffer.length) return null;
      return buffer.subarray(offset, offset + length);
    },
  };
}

/** Parse an ELF file held in memory; null when it is not ELF. */
export function readElfFacts(buffer: Buffer, name: string): ElfFacts | null {
  return parseElf(bufferSource(buffer), name);
}

/** Thrown by a partial source when the parser asks for bytes that have not been loaded yet. */
class MissingBytes {
  constructor(
    readonly offset: number,
    readonly length: number,
  ) {}
}

const CHUNK = 64 * 1024;

/**
 * Parse an ELF file on disk reading only what the parse touches: the headers, the dynamic
 * segment, the dynamic string table and the version needs (typically 2–4 reads of 64 KiB,
 * whatever the file's size). Null when the file is not ELF.
 */
export async function readElfFactsFromFile(path: string, name: string = path): Promise<ElfFacts | null> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const chunks = new Map<number, Buffer>();
    const load = async (index: number): Promise<void> => {
      if (chunks.has(index)) return;
      const start = index * CHUNK;
      const length = Math.min(CHUNK, size - start);
      const buffer = Buffer.alloc(Math.max(0, length));
      if (length > 0) await handle.read(buffer, 0, length, start);
      chunks.set(index, buffer);
    };
    const source: ByteSource = {
      size,
      read(offset, length) {
        if (offset < 0 || length < 0 || offset + length > size) return null;
        const first = Math.floor(offset / CHUNK);
        const last = Math.floor((offset + Math.max(length, 1) - 1) / CHUNK);
        const parts: Buffer[] = [];
        for (let index = first; index <= last; index++) {
          const chunk = chunks.get(index);
          if (!chunk) throw new MissingBytes(offset, length);
          parts.push(chunk);
        }
        const joined = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
        const start = offset - first * CHUNK;
        return joined.subarray(start, start + length);
      },
    };
    await load(0);
    // Each round loads what the previous parse was missing; a sane file needs a handful.
    for (let round = 0; round < 64; round++) {
      try {
        return parseElf(source, name);
      } catch (error) {
        if (!(error instanceof MissingBytes)) throw error;
        const first = Math.floor(error.offset / CHUNK);
        const last = Math.floor((error.offset + Math.max(error.length, 1) - 1) / CHUNK);
        for (let index = first; index <= last; index++) await load(index);
      }
    }
    // Only a file whose structures point all over the place gets here: read it whole.
    const whole = Buffer.alloc(size);
    await handle.read(whole, 0, size, 0);
    return readElfFacts(whole, name);
  } finally {
    await handle.close();
  }
}

interface Reader {
  u8(offset: number): number | null;
  u16(offset: number): number | null;
  u32(offset: number): number | null;
  /** An address-sized value (u32 for ELF32, u64 for ELF64); null when unreadable or above 2^53. */
  word(offset: number): number | null;
  /** A signed tag-sized value (d_tag): i32 or i64, null when it does not fit a JS number. */
  sword(offset: number): number | null;
}

function makeReader(source: ByteSource, is64: boolean, little: boolean): Reader {
  const bytes = (offset: number, length: number): Buffer | null => source.read(offset, length);
  return {
    u8: (offset) => bytes(offset, 1)?.readUInt8(0) ?? null,
    u16: (offset) => {
      const b = bytes(offset, 2);
      return b ? (little ? b.readUInt16LE(0) : b.readUInt16BE(0)) : null;
    },
    u32: (offset) => {
      const b = bytes(offset, 4);
      return b ? (little ? b.readUInt32LE(0) : b.readUInt32BE(0)) : null;
    },
    word: (offset) => {
      if (!is64) {
        const b = bytes(offset, 4);
        return b ? (little ? b.readUInt32LE(0) : b.readUInt32BE(0)) : null;
      }
      const b = bytes(offset, 8);
      if (!b) return null;
      const value = little ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
    },
    sword: (offset) => {
      if (!is64) {
        const b = bytes(offset, 4);
        return b ? (little ? b.readInt32LE(0) : b.readInt32BE(0)) : null;
      }
      const b = bytes(offset, 8);
      if (!b) return null;
      const value = little ? b.readBigInt64LE(0) : b.readBigInt64BE(0);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : null;
    },
  };
}

interface Segment {
  readonly type: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly filesz: number;
}

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly entsize: number;
}

/** Compare dotted versions numerically (`2.9` < `2.17`). */
export function compareDottedVersions(left: string, right: string): number {
  const a = left.split('.').map(Number);
  const b = right.split('.').map(Number);
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function highestWithPrefix(names: Iterable<string>, prefix: string): string | null {
  let best: string | null = null;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const version = name.slice(prefix.length);
    if (!/^\d+(\.\d+)*$/.test(version)) continue;
    if (best === null || compareDottedVersions(version, best) > 0) best = version;
  }
  return best;
}

/**
 * Version names that are not of the form GLIBC_x.y but still need a glibc at least that new.
 * GLIBC_ABI_DT_RELR marks binaries linked with `-z pack-relative-relocs` (glibc 2.36 NEWS).
 */
const GLIBC_MARKER_VERSIONS: Readonly<Record<string, string>> = { GLIBC_ABI_DT_RELR: '2.36' };

/**
 * The facts verify needs of one ELF file (machine, interpreter, needed libraries, glibc symbol
 * versions, defects). Kept as one function on purpose: it walks the file as the loader does
 * (header, then segments, then sections, then the dynamic table through them), and every later
 * step reads the offsets, word size and byte order the earlier ones checked. Split into pieces,
 * each would take and re-check that whole state; read top to bottom, each check sits next to
 * the read it guards.
 */
function parseElf(source: ByteSource, name: string): ElfFacts | null {
  const ident = source.read(0, Math.min(16, source.size));
  if (!ident || ident.length < 4 || ident.readUInt32BE(0) !== ELF_MAGIC) return null;
  const defects: string[] = [];
  const empty = (machine: string): ElfFacts => ({
    name,
    class: null,
    endianness: null,
    machine,
    type: 'NONE',
    interpreter: null,
    needed: [],
    rpath: [],
    runpath: [],
    soname: null,
    versionNeeds: [],
    glibcVersionsNeeded: [],
    highestGlibc: null,
    highestGlibcxx: null,
    highestCxxabi: null,
    defects,
  });
  if (ident.length < 16) {
    defects.push(`the ELF identification is truncated (${source.size} bytes)`);
    return empty('unknown');
  }
  const elfClass = ident[4];
  const data = ident[5];
  if (elfClass !== 1 && elfClass !== 2) {
    defects.push(`unknown ELF class ${String(elfClass)}`);
    return empty('unknown');
  }
  if (data !== 1 && data !== 2) {
    defects.push(`unknown ELF byte order ${String(data)}`);
    return empty('unknown');
  }
  const is64 = elfClass === 2;
  const little = data === 1;
  const read = makeReader(source, is64, little);
  const headerSize = is64 ? 64 : 52;
  if (source.size < headerSize) {
    defects.push(`the ELF header is truncated (${source.size} of ${headerSize} bytes)`);
    return { ...empty('unknown'), class: is64 ? 64 : 32, endianness: little ? 'little' : 'big' };
  }
  const typeCode = read.u16(16) ?? 0;
  const machineCode = read.u16(18) ?? 0;
  const machine = MACHINES[machineCode] ?? `machine-${machineCode}`;
  const type: ElfType = TYPES[typeCode] ?? `OTHER(${typeCode})`;
  const phoff = read.word(is64 ? 32 : 28);
  const shoff = read.word(is64 ? 40 : 32);
  const phentsize = read.u16(is64 ? 54 : 42) ?? 0;
  let phnum = read.u16(is64 ? 56 : 44) ?? 0;
  const shentsize = read.u16(is64 ? 58 : 46) ?? 0;
  let shnum = read.u16(is64 ? 60 : 48) ?? 0;
  const base = {
    ...empty(machine),
    class: (is64 ? 64 : 32) as 32 | 64,
    endianness: (little ? 'little' : 'big') as 'little' | 'big',
    type,
  };

  // Section 0 carries the real counts when they overflow 16 bits (PN_XNUM / SHN_UNDEF).
  const minShent = is64 ? 64 : 40;
  if (shoff !== null && shoff > 0 && shentsize >= minShent && (phnum === 0xffff || shnum === 0)) {
    if (shnum === 0) shnum = read.word(shoff + (is64 ? 32 : 20)) ?? 0;
    if (phnum === 0xffff) phnum = read.u32(shoff + (is64 ? 44 : 28)) ?? 0;
  }

  const segments: Segment[] = [];
  const minPhent = is64 ? 56 : 32;
  if (phnum > 0) {
    if (phoff === null || phentsize < minPhent) {
      defects.push(`program header table is malformed (entry size ${phentsize})`);
    } else if (phoff + phnum * phentsize > source.size) {
      defects.push(`program header table runs past the end of the file (${phnum} entries at ${phoff})`);
    } else {
      for (let index = 0; index < phnum; index++) {
        const at = phoff + index * phentsize;
        const segmentType = read.u32(at) ?? 0;
        const offset = read.word(at + (is64 ? 8 : 4));
        const vaddr = read.word(at + (is64 ? 16 : 8));
        const filesz = read.word(at + (is64 ? 32 : 16));
        if (offset === null || vaddr === null || filesz === null) {
          defects.push(`program header ${index} holds values too large to use`);
          continue;
        }
        segments.push({ type: segmentType, offset, vaddr, filesz });
      }
    }
  }

  const sections: Section[] = [];
  const readSections = (): void => {
    if (sections.length > 0 || shnum === 0 || shoff === null || shoff === 0) return;
    if (shentsize < minShent) {
      defects.push(`section header table is malformed (entry size ${shentsize})`);
      return;
    }
    if (shoff + shnum * shentsize > source.size) {
      defects.push(`section header table runs past the end of the file (${shnum} entries at ${shoff})`);
      return;
    }
    for (let index = 0; index < shnum; index++) {
      const at = shoff + index * shentsize;
      sections.push({
        type: read.u32(at + 4) ?? 0,
        offset: read.word(at + (is64 ? 24 : 16)) ?? -1,
        size: read.word(at + (is64 ? 32 : 20)) ?? -1,
        link: read.u32(at + (is64 ? 40 : 24)) ?? 0,
        entsize: read.word(at + (is64 ? 56 : 36)) ?? 0,
      });
    }
  };

  /** A virtual address inside a loaded segment, as a file offset. */
  const fileOffsetOf = (address: number): number | null => {
    for (const segment of segments) {
      if (segment.type !== PT_LOAD) continue;
      if (address >= segment.vaddr && address < segment.vaddr + segment.filesz) {
        return segment.offset + (address - segment.vaddr);
      }
    }
    return null;
  };

  const readString = (tableOffset: number, tableSize: number, index: number): string | null => {
    if (index < 0 || index >= tableSize) return null;
    const start = tableOffset + index;
    const available = Math.min(MAX_STRING_BYTES, tableSize - index, source.size - start);
    if (available <= 0) return null;
    const bytes = source.read(start, available);
    if (!bytes) return null;
    const end = bytes.indexOf(0);
    return end < 0 ? null : bytes.toString('latin1', 0, end);
  };

  let interpreter: string | null = null;
  const interp = segments.find((segment) => segment.type === PT_INTERP);
  if (interp) {
    const bytes = source.read(interp.offset, Math.min(interp.filesz, MAX_STRING_BYTES));
    if (!bytes) defects.push('PT_INTERP runs past the end of the file');
    else {
      const end = bytes.indexOf(0);
      interpreter = bytes.toString('latin1', 0, end < 0 ? bytes.length : end);
    }
  }

  // The dynamic table: from PT_DYNAMIC as the loader does, else from the SHT_DYNAMIC section.
  let dynamicOffset: number | null = null;
  let dynamicSize = 0;
  const dynamicSegment = segments.find((segment) => segment.type === PT_DYNAMIC);
  if (dynamicSegment) {
    dynamicOffset = dynamicSegment.offset;
    dynamicSize = dynamicSegment.filesz;
  } else if (segments.length === 0) {
    readSections();
    const section = sections.find((candidate) => candidate.type === SHT_DYNAMIC);
    if (section && section.offset >= 0 && section.size >= 0) {
      dynamicOffset = section.offset;
      dynamicSize = section.size;
    }
  }
  if (dynamicOffset === null) {
    return { ...base, interpreter, defects };
  }
  const entrySize = is64 ? 16 : 8;
  if (dynamicOffset + dynamicSize > source.size) {
    defects.push(
      `the dynamic section runs past the end of the file (${dynamicSize} bytes at ${dynamicOffset})`,
    );
    dynamicSize = Math.max(0, source.size - dynamicOffset);
  }
  const entries: { tag: number; value: number }[] = [];
  const count = Math.min(Math.floor(dynamicSize / entrySize), MAX_DYNAMIC_ENTRIES);
  for (let index = 0; index < count; index++) {
    const at = dynamicOffset + index * entrySize;
    const tag = read.sword(at);
    const value = read.word(at + entrySize / 2);
    if (tag === null) {
      defects.push(`dynamic entry ${index} is unreadable`);
      break;
    }
    if (tag === DT_NULL) break;
    if (value === null) {
      defects.push(`dynamic entry ${index} (tag ${tag}) holds a value too large to use`);
      continue;
    }
    entries.push({ tag, value });
  }
  const valueOf = (tag: number): number | undefined => entries.find((entry) => entry.tag === tag)?.value;

  const strtabAddress = valueOf(DT_STRTAB);
  const strtabSize = valueOf(DT_STRSZ) ?? 0;
  let strtabOffset: number | null = null;
  if (strtabAddress !== undefined) {
    strtabOffset = segments.length > 0 ? fileOffsetOf(strtabAddress) : null;
    if (strtabOffset === null && segments.length === 0) {
      // An unlinked object: the address is meaningless, the section link names the table.
      readSections();
      const dynamicSection = sections.find((candidate) => candidate.type === SHT_DYNAMIC);
      const linked = dynamicSection ? sections[dynamicSection.link] : undefined;
      if (linked && linked.offset >= 0) strtabOffset = linked.offset;
    }
  }
  const needed: string[] = [];
  const rpath: string[] = [];
  const runpath: string[] = [];
  let soname: string | null = null;
  const stringAt = (index: number, what: string): string | null => {
    if (strtabOffset === null) {
      defects.push(`${what} cannot be read: the dynamic string table is not inside any loaded segment`);
      return null;
    }
    const value = readString(strtabOffset, strtabSize, index);
    if (value === null) defects.push(`${what} points outside the dynamic string table`);
    return value;
  };
  const splitPath = (value: string): string[] => value.split(':').filter((part) => part.length > 0);
  for (const entry of entries) {
    if (entry.tag === DT_NEEDED) {
      const value = stringAt(entry.value, 'a DT_NEEDED entry');
      if (value !== null) needed.push(value);
    } else if (entry.tag === DT_SONAME) {
      soname = stringAt(entry.value, 'DT_SONAME');
    } else if (entry.tag === DT_RPATH) {
      const value = stringAt(entry.value, 'DT_RPATH');
      if (value !== null) rpath.push(...splitPath(value));
    } else if (entry.tag === DT_RUNPATH) {
      const value = stringAt(entry.value, 'DT_RUNPATH');
      if (value !== null) runpath.push(...splitPath(value));
    }
  }

  const versionNeeds: { file: string; versions: string[] }[] = [];
  const verneedAddress = valueOf(DT_VERNEED);
  const verneedCount = valueOf(DT_VERNEEDNUM) ?? 0;
  if (verneedAddress !== undefined && strtabOffset !== null) {
    let at: number | null = segments.length > 0 ? fileOffsetOf(verneedAddress) : null;
    if (at === null) {
      defects.push('DT_VERNEED is not inside any loaded segment');
    }
    for (let index = 0; at !== null && index < Math.min(verneedCount, MAX_VERNEED_ENTRIES); index++) {
      const auxCount = read.u16(at + 2);
      const fileIndex = read.u32(at + 4);
      const auxOffset = read.u32(at + 8);
      const next = read.u32(at + 12);
      if (auxCount === null || fileIndex === null || auxOffset === null || next === null) {
        defects.push(`version need ${index} runs past the end of the file`);
        break;
      }
      const file = readString(strtabOffset, strtabSize, fileIndex) ?? '?';
      const versions: string[] = [];
      let auxAt = at + auxOffset;
      for (let auxIndex = 0; auxIndex < Math.min(auxCount, MAX_VERNEED_ENTRIES); auxIndex++) {
        const nameIndex = read.u32(auxAt + 8);
        const auxNext = read.u32(auxAt + 12);
        if (nameIndex === null || auxNext === null) {
          defects.push(`version need ${index} (${file}) has an entry past the end of the file`);
          break;
        }
        const version = readString(strtabOffset, strtabSize, nameIndex);
        if (version === null)
          defects.push(`version need ${index} (${file}) names a version outside the string table`);
        else versions.push(version);
        if (auxNext === 0) break;
        auxAt += auxNext;
      }
      versionNeeds.push({ file, versions });
      if (next === 0) break;
      at += next;
    }
  }

  const allVersions = versionNeeds.flatMap((need) => need.versions);
  const glibcNames = new Set(allVersions.filter((version) => /^GLIBC_\d+(\.\d+)+$/.test(version)));
  const glibcVersionsNeeded = [...glibcNames].sort((left, right) =>
    compareDottedVersions(left.slice(6), right.slice(6)),
  );
  let highestGlibc = highestWithPrefix(glibcNames, 'GLIBC_');
  for (const version of allVersions) {
    const implied = GLIBC_MARKER_VERSIONS[version];
    if (implied && (highestGlibc === null || compareDottedVersions(implied, highestGlibc) > 0)) {
      highestGlibc = implied;
    }
  }

  return {
    ...base,
    interpreter,
    needed,
    rpath,
    runpath,
    soname,
    versionNeeds,
    glibcVersionsNeeded,
    highestGlibc,
    highestGlibcxx: highestWithPrefix(allVersions, 'GLIBCXX_'),
    highestCxxabi: highestWithPrefix(allVersions, 'CXXABI_'),
    defects,
  };
}
