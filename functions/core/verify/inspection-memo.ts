// What verify learned of files by their content, kept for the next build
// (`<cache>/inspections/<wheel sha256>.json`, one per wheel). Whether a file is ELF, and its ELF
// facts, depend only on its bytes: when a file of the tree is still the very one the build wrote
// with a known sha256 (tree-ledger.ts), its inspection can come from here instead of an open and
// a read. In the build that adds one package to the seed set, inspecting the 6,210 unchanged
// files was 0.15 s of the main thread, on the build's critical path.
//
// A memo is untrusted input: it is read only as a regular file of bounded size and checked
// against the schema, and anything else is ignored (the files are inspected again). Its facts
// are taken as they stand: whoever can rewrite them could as well rewrite a whole cached build
// in builds/, which these checks do not defend against either (installed-tree-cache.ts). Files
// whose facts have defects are never kept: they are read again each time.
import { join } from 'node:path';
import { z } from 'zod';
import { readCacheFile, writeCacheFile } from '../shared/cache-file.ts';
import type { ElfFacts } from './elf.ts';
import type { FileInspection } from './file-inspection.ts';

/** Bumped whenever inspectFile could say otherwise of the same bytes. */
export const INSPECTION_MEMO_FORMAT = 1;
const MAX_MEMO_BYTES = 64 * 1024 ** 2;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const names = z.array(z.string().max(4096)).max(100_000);
const elfSchema = z.strictObject({
  class: z.union([z.literal(32), z.literal(64), z.null()]),
  endianness: z.union([z.literal('little'), z.literal('big'), z.null()]),
  machine: z.string().max(64),
  type: z.union([
    z.enum(['NONE', 'REL', 'EXEC', 'DYN', 'CORE']),
    z.templateLiteral(['OTHER(', z.number().int(), ')']),
  ]),
  interpreter: z.string().max(4096).nullable(),
  needed: names,
  rpath: names,
  runpath: names,
  soname: z.string().max(4096).nullable(),
  versionNeeds: z.array(z.strictObject({ file: z.string().max(4096), versions: names })).max(100_000),
  glibcVersionsNeeded: names,
  highestGlibc: z.string().max(64).nullable(),
  highestGlibcxx: z.string().max(64).nullable(),
  highestCxxabi: z.string().max(64).nullable(),
  defects: z.array(z.string()).max(0),
});
const memoSchema = z.strictObject({
  format: z.literal(INSPECTION_MEMO_FORMAT),
  /** Files in no binary format. */
  plain: z.array(sha256),
  binary: z.array(
    z.strictObject({
      sha256,
      format: z.enum(['elf', 'mach-o', 'mach-o-fat', 'pe']),
      elf: elfSchema.nullable(),
    }),
  ),
});
type Kept = Omit<FileInspection, 'elf'> & { readonly elf: Omit<ElfFacts, 'name'> | null };
/** A memo as stored (memoSchema). */
interface Memo {
  readonly format: typeof INSPECTION_MEMO_FORMAT;
  readonly plain: string[];
  readonly binary: { sha256: string; format: NonNullable<Kept['format']>; elf: Kept['elf'] }[];
}

/** Inspections by file sha256, as kept; `name` is the path verify calls the file by. */
export class InspectionMemo {
  readonly #bySha = new Map<string, Kept>();

  /** The inspection of a file with these bytes, if one is kept. */
  inspectionOf(sha256: string, name: string): FileInspection | null {
    const kept = this.#bySha.get(sha256);
    if (!kept) return null;
    return { format: kept.format, elf: kept.elf ? { ...kept.elf, name } : null };
  }

  /** Keep what inspectFile said of bytes with this sha256 (not when the ELF facts have defects). */
  keep(sha256: string, inspection: FileInspection): void {
    if (inspection.elf && inspection.elf.defects.length > 0) return;
    const { name: _name, ...elf } = inspection.elf ?? { name: '' };
    this.#bySha.set(sha256, { format: inspection.format, elf: inspection.elf ? (elf as Kept['elf']) : null });
  }

  has(sha256: string): boolean {
    return this.#bySha.has(sha256);
  }

  /** The memo as stored, for the files with these digests that it holds. */
  toStored(digests: Iterable<string>): Memo {
    const memo: Memo = { format: INSPECTION_MEMO_FORMAT, plain: [], binary: [] };
    for (const digest of new Set(digests)) {
      const kept = this.#bySha.get(digest);
      if (!kept) continue;
      if (kept.format === null) memo.plain.push(digest);
      else memo.binary.push({ sha256: digest, format: kept.format, elf: kept.elf });
    }
    return memo;
  }

  /** Add a stored memo's inspections; false (nothing added) when it is not one. */
  add(stored: unknown): boolean {
    const parsed = memoSchema.safeParse(stored);
    if (!parsed.success) return false;
    for (const digest of parsed.data.plain) this.#bySha.set(digest, { format: null, elf: null });
    for (const { sha256: digest, format, elf } of parsed.data.binary)
      this.#bySha.set(digest, { format, elf: elf as Kept['elf'] });
    return true;
  }
}

/** The memo file kept for one wheel. */
export function inspectionMemoFile(cacheDir: string, wheelSha256: string): string {
  return join(cacheDir, 'inspections', `${wheelSha256.toLowerCase()}.json`);
}

/** Read the memos of these wheels into `memo` (one missing or unusable adds nothing). */
export async function readInspectionMemos(
  cacheDir: string,
  wheelSha256s: readonly string[],
  memo: InspectionMemo,
): Promise<void> {
  await Promise.all(
    wheelSha256s.map(async (wheel) => {
      const text = await readCacheFile(inspectionMemoFile(cacheDir, wheel), MAX_MEMO_BYTES);
      let value: unknown = null;
      try {
        value = text === null ? null : JSON.parse(text);
      } catch {
        // (cut short or garbled: inspected again)
      }
      memo.add(value);
    }),
  );
}

/** Store the memo of one wheel's files (their digests). */
export async function writeInspectionMemo(
  cacheDir: string,
  wheelSha256: string,
  memo: InspectionMemo,
  digests: Iterable<string>,
): Promise<void> {
  await writeCacheFile(inspectionMemoFile(cacheDir, wheelSha256), JSON.stringify(memo.toStored(digests)));
}
