// Builds small, well-formed ELF shared objects byte by byte (any class, either byte order),
// so the parser and the verifier can be tested on layouts no compiler here produces
// (32-bit, big-endian, chosen DT_NEEDED and symbol versions).

export interface ElfBlueprint {
  readonly is64: boolean;
  readonly little: boolean;
  /** e_machine: 62 x86_64, 183 aarch64, 3 i386, 40 arm, 21 ppc64. */
  readonly machine: number;
  readonly needed?: readonly string[];
  readonly soname?: string | null;
  readonly runpath?: string | null;
  /** Version names needed from libc.so.6 (`GLIBC_2.17`, `GLIBC_ABI_DT_RELR`). */
  readonly glibcVersions?: readonly string[];
  /** Zero bytes between the program headers and the tables, so the tables lie deep in a large file. */
  readonly tablePadding?: number;
  /** Verneed entries, all pointing at the one chain of `glibcVersions` (default 1): a hostile multiplier. */
  readonly versionNeedEntries?: number;
}

/**
 * One PT_LOAD maps the whole file at vaddr 0x1000 (so DT_STRTAB and DT_VERNEED are addresses
 * the parser must translate), then a PT_DYNAMIC, a string table and one Verneed for libc.so.6.
 */
export function buildElf(blueprint: ElfBlueprint): Buffer {
  const { is64, little, machine } = blueprint;
  const needed = blueprint.needed ?? ['libc.so.6', 'libfoo.so.2'];
  const soname = blueprint.soname === undefined ? 'libdemo.so.1' : blueprint.soname;
  const runpath = blueprint.runpath === undefined ? '$ORIGIN/../foo.libs' : blueprint.runpath;
  const versions = blueprint.glibcVersions ?? ['GLIBC_2.17', 'GLIBC_2.28'];
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const dynEntry = is64 ? 16 : 8;
  const strings = [
    '',
    'libc.so.6',
    ...needed,
    ...versions,
    ...(runpath ? [runpath] : []),
    ...(soname ? [soname] : []),
  ];
  const strtab = Buffer.from(`${[...new Set(strings)].join('\0')}\0`, 'latin1');
  const offsetOf = (value: string): number => strtab.indexOf(Buffer.from(`\0${value}\0`, 'latin1')) + 1;
  const phoff = ehsize;
  const strtabOff = phoff + 2 * phentsize + (blueprint.tablePadding ?? 0);
  const verneedOff = strtabOff + strtab.length + ((8 - (strtab.length % 8)) % 8);
  const needEntries = blueprint.versionNeedEntries ?? 1;
  const auxOff = verneedOff + needEntries * 16;
  const verneedSize = versions.length > 0 ? needEntries * 16 + versions.length * 16 : 0;
  const dynOff = verneedOff + verneedSize;
  const dynamic: [number, number][] = [
    ...needed.map((name): [number, number] => [1, offsetOf(name)]),
    ...(soname ? [[14, offsetOf(soname)] as [number, number]] : []),
    ...(runpath ? [[29, offsetOf(runpath)] as [number, number]] : []),
    [5, 0x1000 + strtabOff],
    [10, strtab.length],
    ...(versions.length > 0
      ? [[0x6ffffffe, 0x1000 + verneedOff] as [number, number], [0x6fffffff, needEntries] as [number, number]]
      : []),
    [0, 0],
  ];
  const size = dynOff + dynamic.length * dynEntry;
  const buffer = Buffer.alloc(size);
  const u16 = (at: number, value: number): number =>
    little ? buffer.writeUInt16LE(value, at) : buffer.writeUInt16BE(value, at);
  const u32 = (at: number, value: number): number =>
    little ? buffer.writeUInt32LE(value, at) : buffer.writeUInt32BE(value, at);
  const word = (at: number, value: number): void => {
    if (!is64) u32(at, value);
    else if (little) buffer.writeBigUInt64LE(BigInt(value), at);
    else buffer.writeBigUInt64BE(BigInt(value), at);
  };
  buffer.writeUInt32BE(0x7f454c46, 0);
  buffer[4] = is64 ? 2 : 1;
  buffer[5] = little ? 1 : 2;
  buffer[6] = 1;
  u16(16, 3);
  u16(18, machine);
  u32(20, 1);
  word(is64 ? 32 : 28, phoff);
  u16(is64 ? 52 : 40, ehsize);
  u16(is64 ? 54 : 42, phentsize);
  u16(is64 ? 56 : 44, 2);
  const phdr = (index: number, type: number, offset: number, vaddr: number, filesz: number): void => {
    const at = phoff + index * phentsize;
    u32(at, type);
    if (is64) {
      word(at + 8, offset);
      word(at + 16, vaddr);
      word(at + 24, vaddr);
      word(at + 32, filesz);
      word(at + 40, filesz);
    } else {
      u32(at + 4, offset);
      u32(at + 8, vaddr);
      u32(at + 12, vaddr);
      u32(at + 16, filesz);
      u32(at + 20, filesz);
    }
  };
  phdr(0, 1, 0, 0x1000, size);
  phdr(1, 2, dynOff, 0x1000 + dynOff, dynamic.length * dynEntry);
  strtab.copy(buffer, strtabOff);
  if (versions.length > 0) {
    for (let need = 0; need < needEntries; need++) {
      const at = verneedOff + need * 16;
      u16(at, 1);
      u16(at + 2, versions.length);
      u32(at + 4, offsetOf('libc.so.6'));
      u32(at + 8, auxOff - at);
      u32(at + 12, need === needEntries - 1 ? 0 : 16);
    }
    versions.forEach((version, index) => {
      const at = auxOff + index * 16;
      u32(at + 8, offsetOf(version));
      u32(at + 12, index === versions.length - 1 ? 0 : 16);
    });
  }
  dynamic.forEach(([tag, value], index) => {
    word(dynOff + index * dynEntry, tag);
    word(dynOff + index * dynEntry + dynEntry / 2, value);
  });
  return buffer;
}
