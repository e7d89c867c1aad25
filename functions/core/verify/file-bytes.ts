// Positioned reads of one file for verify: the first 4 KiB (enough to tell ELF, Mach-O and PE
// apart), then, for an ELF file, the 4 KiB blocks its dynamic tables lie in, up to a budget.
// The reads are synchronous on purpose: on the files of a tree just written (in the page cache)
// a read costs a few microseconds, while each asynchronous call costs a thread-pool round trip
// and a promise, several times that in main-thread CPU (profiled: verify spent most of its
// time in FileHandle open/read/close, not in bytes or parsing). Callers hand the event loop
// back between files (core/shared/event-loop-slicer.ts).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { ByteSource } from './elf.ts';

/** The first read of every file; also the block size of later ELF reads. */
export const HEAD_BYTES = 4096;

/**
 * Most bytes read of one ELF file beyond its head. A real library's headers, dynamic section,
 * strings and version needs take a few blocks; only a file whose tables point all over a huge
 * file gets near this, and it is then reported as damaged, never read whole.
 */
export const MAX_ELF_READ_BYTES = 16 * 1024 * 1024;

/** One open file, read at chosen offsets. */
export interface OpenFile {
  /** Read up to `length` bytes at `position` into the start of `buffer`; fewer only at the end of the file. */
  read(buffer: Buffer, length: number, position: number): number;
  /** The file's size now. */
  size(): number;
  close(): void;
}

export type OpenFileFn = (path: string) => OpenFile;

// O_NONBLOCK: a file swapped for a FIFO after the folder was listed must not hang the open.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Open a file on disk for positioned synchronous reads. */
export const openFileSync: OpenFileFn = (path) => {
  const fd = openSync(path, READ_FLAGS);
  return {
    read: (buffer, length, position) => readSync(fd, buffer, 0, length, position),
    size: () => fstatSync(fd).size,
    close: () => closeSync(fd),
  };
};

/** Shared by every head read: a non-ELF file allocates nothing. Callers copy what they keep. */
const headBuffer = Buffer.allocUnsafe(HEAD_BYTES);

/** The first bytes of a file (fewer when it is shorter), in a buffer reused by the next call. */
export function readHeadInto(file: OpenFile): Buffer {
  return headBuffer.subarray(0, file.read(headBuffer, HEAD_BYTES, 0));
}

/** A ByteSource over an open file, with `exhausted` set once the read budget refused a block. */
export interface BudgetedSource extends ByteSource {
  exhausted(): boolean;
}

/**
 * Random access to an ELF file in `HEAD_BYTES` blocks, each read once and kept, the head serving
 * as block 0. `read` returns null for ranges outside the file and, once more than `budget`
 * bytes would be read, for any block not read yet.
 */
export function blockSource(
  file: OpenFile,
  head: Buffer,
  budget: number = MAX_ELF_READ_BYTES,
): BudgetedSource {
  const size = head.length < HEAD_BYTES ? head.length : file.size();
  const blocks = new Map<number, Buffer>([[0, Buffer.from(head)]]);
  let spent = 0;
  let refused = false;
  const block = (index: number): Buffer | null => {
    const known = blocks.get(index);
    if (known) return known;
    const length = Math.min(HEAD_BYTES, size - index * HEAD_BYTES);
    if (spent + length > budget) {
      refused = true;
      return null;
    }
    spent += length;
    const buffer = Buffer.allocUnsafe(length);
    const loaded = buffer.subarray(0, file.read(buffer, length, index * HEAD_BYTES));
    blocks.set(index, loaded);
    return loaded;
  };
  return {
    size,
    exhausted: () => refused,
    read(offset, length) {
      if (!Number.isSafeInteger(offset) || length < 0 || offset < 0 || offset + length > size) return null;
      const first = Math.floor(offset / HEAD_BYTES);
      const start = offset - first * HEAD_BYTES;
      if (start + length <= HEAD_BYTES) {
        // Nearly every read (a field, a short string) lies inside one block.
        const part = block(first);
        return part && start + length <= part.length ? part.subarray(start, start + length) : null;
      }
      const last = Math.floor((offset + length - 1) / HEAD_BYTES);
      const parts: Buffer[] = [];
      for (let index = first; index <= last; index++) {
        const part = block(index);
        // A short block before the last means the file shrank under us: the range is not there.
        if (!part || (index < last && part.length < HEAD_BYTES)) return null;
        parts.push(part);
      }
      const joined = Buffer.concat(parts);
      return start + length <= joined.length ? joined.subarray(start, start + length) : null;
    },
  };
}
