// What verify needs to know of one file: which binary format its first bytes say it is and,
// for ELF, the facts the loader will ask about. A file on disk costs one open and one read of
// 4 KiB; an ELF file reuses that read for its headers and then reads only the blocks of its
// dynamic tables (file-bytes.ts). A zip entry is judged from its inflated bytes.
import {
  detectBinaryFormat,
  elfFactsOfOpenFile,
  readElfFacts,
  type BinaryFormat,
  type ElfFacts,
} from './elf.ts';
import { HEAD_BYTES, openFileSync, readHeadInto, type OpenFileFn } from './file-bytes.ts';

export interface FileInspection {
  readonly format: BinaryFormat;
  /** Null unless `format` is ELF. */
  readonly elf: ElfFacts | null;
}

/** Inspect a file on disk (`name` is how findings call it); throws when it cannot be opened or read. */
export function inspectFile(path: string, name: string, openFile: OpenFileFn = openFileSync): FileInspection {
  const file = openFile(path);
  try {
    const head = readHeadInto(file);
    const format = detectBinaryFormat(head);
    return { format, elf: format === 'elf' ? elfFactsOfOpenFile(file, head, name) : null };
  } finally {
    file.close();
  }
}

/** Inspect a file held in memory. */
export function inspectBytes(bytes: Buffer, name: string): FileInspection {
  const format = detectBinaryFormat(bytes.subarray(0, HEAD_BYTES));
  return { format, elf: format === 'elf' ? readElfFacts(bytes, name) : null };
}
