// Which undefined dynamic symbols of an ELF file ask for which versioned library version
// (`statx` → `GLIBC_2.28`), read from the section headers: .dynsym with its string table,
// .gnu.version (one version index per symbol) and .gnu.version_r (the needed versions and their
// indexes). This lets an error name the call that needs a newer glibc, not only the version.
// Every offset and count is bounds-checked; a damaged file gives an empty answer, never a throw.
import type { ByteSource } from './elf.ts';

const SHT_DYNSYM = 11;
const SHT_GNU_VERSYM = 0x6fffffff;
const SHT_GNU_VERNEED = 0x6ffffffe;
/** More symbols or version entries than this is a damaged file, not a library. */
const MAX_ENTRIES = 1_000_000;

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
}

interface Reader {
  u16(offset: number): number | null;
  u32(offset: number): number | null;
  word(offset: number): number | null;
  is64: boolean;
  cString(offset: number): string | null;
}

function readerFor(source: ByteSource): Reader | null {
  const ident = source.read(0, 6);
  if (!ident || ident.readUInt32BE(0) !== 0x7f454c46) return null;
  const is64 = ident[4] === 2;
  const little = ident[5] === 1;
  const at = (offset: number, length: number): Buffer | null =>
    offset < 0 ? null : source.read(offset, length);
  const u16 = (offset: number) => at(offset, 2)?.[little ? 'readUInt16LE' : 'readUInt16BE'](0) ?? null;
  const u32 = (offset: number) => at(offset, 4)?.[little ? 'readUInt32LE' : 'readUInt32BE'](0) ?? null;
  const u64 = (offset: number) => {
    const bytes = at(offset, 8);
    if (!bytes) return null;
    const value = little ? bytes.readBigUInt64LE(0) : bytes.readBigUInt64BE(0);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(value);
  };
  const cString = (offset: number): string | null => {
    const chunk = at(offset, Math.min(256, source.size - offset));
    if (!chunk) return null;
    const end = chunk.indexOf(0);
    return end < 0 ? null : chunk.subarray(0, end).toString('latin1');
  };
  return { u16, u32, word: is64 ? u64 : u32, is64, cString };
}

function sections(reader: Reader): Section[] {
  const { is64 } = reader;
  const shoff = reader.word(is64 ? 0x28 : 0x20);
  const entsize = reader.u16(is64 ? 0x3a : 0x2e);
  const count = reader.u16(is64 ? 0x3c : 0x30);
  if (!shoff || !entsize || !count) return [];
  const result: Section[] = [];
  for (let index = 0; index < count; index++) {
    const base = shoff + index * entsize;
    const type = reader.u32(base + 4);
    const offset = reader.word(base + (is64 ? 0x18 : 0x10));
    const size = reader.word(base + (is64 ? 0x20 : 0x14));
    const link = reader.u32(base + (is64 ? 0x28 : 0x18));
    const info = reader.u32(base + (is64 ? 0x2c : 0x1c));
    if (type === null || offset === null || size === null || link === null || info === null) return [];
    result.push({ type, offset, size, link, info });
  }
  return result;
}

/** Version index → version name (`GLIBC_2.28`), from .gnu.version_r. */
function neededVersions(reader: Reader, verneed: Section, strings: Section): Map<number, string> {
  const names = new Map<number, string>();
  let entry = verneed.offset;
  for (let files = 0; files < Math.min(verneed.info, MAX_ENTRIES); files++) {
    const count = reader.u16(entry + 2) ?? 0;
    let aux = entry + (reader.u32(entry + 8) ?? 0);
    for (let index = 0; index < count && index < MAX_ENTRIES; index++) {
      const other = reader.u16(aux + 6);
      const name = reader.cString(strings.offset + (reader.u32(aux + 8) ?? 0));
      if (other !== null && name) names.set(other & 0x7fff, name);
      const next = reader.u32(aux + 12) ?? 0;
      if (next === 0) break;
      aux += next;
    }
    const next = reader.u32(entry + 12) ?? 0;
    if (next === 0) break;
    entry += next;
  }
  return names;
}

/**
 * Undefined dynamic symbols grouped by the version they need: `{ 'GLIBC_2.28': ['statx'] }`.
 *
 * @example
 *   const needs = versionedSymbolNeeds(bufferSource(await readFile('ext.so')));
 *   needs.get('GLIBC_2.28'); // ['statx']
 */
export function versionedSymbolNeeds(source: ByteSource): Map<string, string[]> {
  const result = new Map<string, string[]>();
  const reader = readerFor(source);
  if (!reader) return result;
  const all = sections(reader);
  const dynsym = all.find((section) => section.type === SHT_DYNSYM);
  const versym = all.find((section) => section.type === SHT_GNU_VERSYM);
  const verneed = all.find((section) => section.type === SHT_GNU_VERNEED);
  const dynstr = dynsym ? all[dynsym.link] : undefined;
  const verstr = verneed ? all[verneed.link] : undefined;
  if (!dynsym || !versym || !verneed || !dynstr || !verstr) return result;
  const versions = neededVersions(reader, verneed, verstr);
  const entrySize = reader.is64 ? 24 : 16;
  const symbols = Math.min(Math.floor(dynsym.size / entrySize), MAX_ENTRIES);
  for (let index = 1; index < symbols; index++) {
    const base = dynsym.offset + index * entrySize;
    const shndx = reader.u16(base + (reader.is64 ? 6 : 14));
    const version = versions.get((reader.u16(versym.offset + index * 2) ?? 0) & 0x7fff);
    if (shndx !== 0 || !version) continue;
    const name = reader.cString(dynstr.offset + (reader.u32(base) ?? 0));
    if (name) result.set(version, [...(result.get(version) ?? []), name]);
  }
  return result;
}
