// Reads what the Linux dynamic loader will ask of a binary: its ELF class, byte order,
// machine, type, DT_NEEDED libraries, RPATH/RUNPATH, SONAME and the symbol versions it
// needs (GLIBC_2.28, GLIBCXX_3.4.21 …). Also tells Mach-O and PE files apart from ELF.
// Written here rather than taken from npm: the packages found there read headers only,
// not the dynamic section or DT_VERNEED. Every offset is bounds-checked and every count
// capped: a damaged file yields `defects`, never an exception. It reads through a
// random-access byte source so that a 100 MB library costs a few small reads
// (see readElfFactsFromFile).
import {
  blockSource,
  MAX_ELF_READ_BYTES,
  openFileSync,
  readHeadInto,
  type OpenFile,
  type OpenFileFn,
} from './file-bytes.ts';

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
/** Version names over all needs; a real library has a few dozen. */
const MAX_VERSION_NAMES = 16_384;
const MAX_STRING_BYTES = 4_096;
const SHORT_STRING_BYTES = 256;

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

/**
 * Parse an ELF file on disk reading only what the parse touches: its first 4 KiB (the headers),
 * then the 4 KiB blocks of the dynamic segment, the strings it names and the version needs,
 * whatever the file's size. Null when the file is not ELF.
 */
export async function readElfFactsFromFile(
  path: string,
  name: string = path,
  openFile: OpenFileFn = openFileSync,
): Promise<ElfFacts | null> {
  const file = openFile(path);
  try {
    return elfFactsOfOpenFile(file, readHeadInto(file), name);
  } finally {
    file.close();
  }
}

/**
 * The facts of an open file whose first bytes (`head`, from readHeadInto) were read already.
 * A file that would need more than MAX_ELF_READ_BYTES to parse is reported as damaged.
 */
export function elfFactsOfOpenFile(file: OpenFile, head: Buffer, name: string): ElfFacts | null {
  const source = blockSource(file, head);
  const facts = parseElf(source, name);
  if (!facts || !source.exhausted()) return facts;
  const budget = `${MAX_ELF_READ_BYTES / (1024 * 1024)} MiB`;
  return {
    ...facts,
    defects: [
      `its dynamic tables are spread over more than ${budget} of the file (a library needs a few KiB); reading stopped there`,
      ...facts.defects,
    ],
  };
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

const TWO_TO_32 = 2 ** 32;

/**
 * A 64-bit field from its two 32-bit halves, null unless it is a safe integer. No BigInt: this
 * runs for every address-sized field, and BigInt reads cost several times more. Exact: below
 * 2^53 the sum is exact, and anything at or above it rounds to at least 2^53 (not safe).
 */
function wideValue(bytes: Buffer, little: boolean, signed: boolean): number | null {
  const low = little ? bytes.readUInt32LE(0) : bytes.readUInt32BE(4);
  const high = signed
    ? little
      ? bytes.readInt32LE(4)
      : bytes.readInt32BE(0)
    : little
      ? bytes.readUInt32LE(4)
      : bytes.readUInt32BE(0);
  const value = high * TWO_TO_32 + low;
  return Number.isSafeInteger(value) ? value : null;
}

function makeReader(source: ByteSource, is64: boolean, little: boolean): Reader {
  const bytes = (offset: number, length: number): Buffer | null => source.read(offset, length);
  const u32 = (offset: number): number | null => {
    const b = bytes(offset, 4);
    return b ? (little ? b.readUInt32LE(0) : b.readUInt32BE(0)) : null;
  };
  return {
    u8: (offset) => bytes(offset, 1)?.readUInt8(0) ?? null,
    u16: (offset) => {
      const b = bytes(offset, 2);
      return b ? (little ? b.readUInt16LE(0) : b.readUInt16BE(0)) : null;
    },
    u32,
    word: (offset) => {
      if (!is64) return u32(offset);
      const b = bytes(offset, 8);
      return b ? wideValue(b, little, false) : null;
    },
    sword: (offset) => {
      if (!is64) {
        const b = bytes(offset, 4);
        return b ? (little ? b.readInt32LE(0) : b.readInt32BE(0)) : null;
      }
      const b = bytes(offset, 8);
      return b ? wideValue(b, little, true) : null;
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

/** The section headers an unlinked object is read through, one header at a time. */
interface SectionTable {
  /** Section `index`, or null past the table or when its header cannot be read. */
  at(index: number): Section | null;
  /** The first SHT_DYNAMIC section (looked up once). */
  dynamic(): Section | null;
}

/**
 * The section header table, or null (with the defect) when it lies outside the file. Headers are
 * read on demand, never all kept: a table can claim millions of entries (the count in section 0).
 */
function openSectionTable(
  read: Reader,
  fileSize: number,
  header: { shoff: number | null; shnum: number; shentsize: number; is64: boolean },
  defects: string[],
): SectionTable | null {
  const { shoff, shnum, shentsize, is64 } = header;
  if (shnum === 0 || shoff === null || shoff === 0) return null;
  if (shentsize < (is64 ? 64 : 40)) {
    defects.push(`section header table is malformed (entry size ${shentsize})`);
    return null;
  }
  if (shoff + shnum * shentsize > fileSize) {
    defects.push(`section header table runs past the end of the file (${shnum} entries at ${shoff})`);
    return null;
  }
  const at = (index: number): Section | null => {
    const base = shoff + index * shentsize;
    const type = index < shnum ? read.u32(base + 4) : null;
    if (type === null) return null;
    return {
      type,
      offset: read.word(base + (is64 ? 24 : 16)) ?? -1,
      size: read.word(base + (is64 ? 32 : 20)) ?? -1,
      link: read.u32(base + (is64 ? 40 : 24)) ?? 0,
      entsize: read.word(base + (is64 ? 56 : 36)) ?? 0,
    };
  };
  let dynamic: Section | null | undefined;
  const findDynamic = (): Section | null => {
    for (let index = 0; index < shnum; index++) {
      const section = at(index);
      // Unreadable inside a checked table: the read budget ran out (the source says so).
      if (section === null) return null;
      if (section.type === SHT_DYNAMIC) return section;
    }
    return null;
  };
  return { at, dynamic: () => (dynamic === undefined ? (dynamic = findDynamic()) : dynamic) };
}

/** The dynamic table's entries up to DT_NULL, at most MAX_DYNAMIC_ENTRIES (a defect says when more were there). */
function readDynamicEntries(
  read: Reader,
  offset: number,
  available: number,
  is64: boolean,
  defects: string[],
): { tag: number; value: number }[] {
  const entrySize = is64 ? 16 : 8;
  const entries: { tag: number; value: number }[] = [];
  const count = Math.min(available, MAX_DYNAMIC_ENTRIES);
  let index = 0;
  for (; index < count; index++) {
    const at = offset + index * entrySize;
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
  if (index === count && available > count) {
    defects.push(
      `the dynamic section has more than ${MAX_DYNAMIC_ENTRIES} entries before DT_NULL; the rest were not read`,
    );
  }
  return entries;
}

interface VersionNeed {
  readonly file: string;
  readonly versions: string[];
}

/**
 * DT_VERNEED from file offset `at`: up to `count` needs, at most MAX_VERSION_NAMES version names
 * in all (the needs of a hostile file can share one long chain, multiplying it; a defect says so).
 */
function readVersionNeeds(
  read: Reader,
  at: number,
  count: number,
  stringOf: (index: number) => string | null,
  defects: string[],
): VersionNeed[] {
  const needs: VersionNeed[] = [];
  let names = 0;
  for (let index = 0; index < Math.min(count, MAX_VERNEED_ENTRIES); index++) {
    const auxCount = read.u16(at + 2);
    const fileIndex = read.u32(at + 4);
    const auxOffset = read.u32(at + 8);
    const next = read.u32(at + 12);
    if (auxCount === null || fileIndex === null || auxOffset === null || next === null) {
      defects.push(`version need ${index} runs past the end of the file`);
      break;
    }
    const file = stringOf(fileIndex) ?? '?';
    const versions: string[] = [];
    let auxAt = at + auxOffset;
    for (let auxIndex = 0; auxIndex < Math.min(auxCount, MAX_VERNEED_ENTRIES); auxIndex++) {
      if (names++ === MAX_VERSION_NAMES) break;
      const nameIndex = read.u32(auxAt + 8);
      const auxNext = read.u32(auxAt + 12);
      if (nameIndex === null || auxNext === null) {
        defects.push(`version need ${index} (${file}) has an entry past the end of the file`);
        break;
      }
      const version = stringOf(nameIndex);
      if (version === null)
        defects.push(`version need ${index} (${file}) names a version outside the string table`);
      else versions.push(version);
      if (auxNext === 0) break;
      auxAt += auxNext;
    }
    needs.push({ file, versions });
    if (names > MAX_VERSION_NAMES) {
      defects.push(
        `more than ${MAX_VERSION_NAMES} version names are needed (a library needs a few dozen); the rest were not read`,
      );
      break;
    }
    if (next === 0) break;
    at += next;
  }
  return needs;
}

/**
 * Version names that are not of the form GLIBC_x.y but still need a glibc at least that new.
 * GLIBC_ABI_DT_RELR marks binaries linked with `-z pack-relative-relocs` (glibc 2.36 NEWS).
 */
const GLIBC_MARKER_VERSIONS: Readonly<Record<string, string>> = { GLIBC_ABI_DT_RELR: '2.36' };

/**
 * The facts verify needs of one ELF file (machine, interpreter, needed libraries, glibc symbol
 * versions, defects). It walks the file as the loader does (header, then segments, then
 * sections, then the dynamic table through them), and every later step reads the offsets, word
 * size and byte order the earlier ones checked, so most of it stays here, each check next to
 * the read it guards. Only the loops over tables whose counts come from the file (section
 * headers, dynamic entries, version needs) are apart, each with its cap.
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

  // Read only when there are no segments (an unlinked object), and then header by header.
  let sections: SectionTable | null | undefined;
  const sectionTable = (): SectionTable | null =>
    sections === undefined
      ? (sections = openSectionTable(read, source.size, { shoff, shnum, shentsize, is64 }, defects))
      : sections;

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
    // Names are short: a first small read nearly always holds the terminator, sparing a 4 KiB one.
    for (const length of available > SHORT_STRING_BYTES ? [SHORT_STRING_BYTES, available] : [available]) {
      const bytes = source.read(start, length);
      if (!bytes) return null;
      const end = bytes.indexOf(0);
      if (end >= 0) return bytes.toString('latin1', 0, end);
    }
    return null;
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
    const section = sectionTable()?.dynamic();
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
  const entries = readDynamicEntries(read, dynamicOffset, Math.floor(dynamicSize / entrySize), is64, defects);
  const valueOf = (tag: number): number | undefined => entries.find((entry) => entry.tag === tag)?.value;

  const strtabAddress = valueOf(DT_STRTAB);
  const strtabSize = valueOf(DT_STRSZ) ?? 0;
  let strtabOffset: number | null = null;
  if (strtabAddress !== undefined) {
    strtabOffset = segments.length > 0 ? fileOffsetOf(strtabAddress) : null;
    if (strtabOffset === null && segments.length === 0) {
      // An unlinked object: the address is meaningless, the section link names the table.
      const table = sectionTable();
      const dynamicSection = table?.dynamic();
      const linked = dynamicSection ? table?.at(dynamicSection.link) : null;
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

  let versionNeeds: VersionNeed[] = [];
  const verneedAddress = valueOf(DT_VERNEED);
  if (verneedAddress !== undefined && strtabOffset !== null) {
    const at: number | null = segments.length > 0 ? fileOffsetOf(verneedAddress) : null;
    const tableOffset = strtabOffset;
    const stringOf = (index: number): string | null => readString(tableOffset, strtabSize, index);
    if (at === null) defects.push('DT_VERNEED is not inside any loaded segment');
    else versionNeeds = readVersionNeeds(read, at, valueOf(DT_VERNEEDNUM) ?? 0, stringOf, defects);
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
