// The blob copier (core/build/blob-copier.ts) writes reused files of the per-wheel cache on
// worker threads. It must write exactly the ranges asked for, create files exclusively as the
// installer does, leave nothing half-written behind a failed copy, report identities the tree
// ledger can trust, and never hold a finished process open.
import { execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobCopier, type RangeCopy } from '../../../functions/core/build/blob-copier.ts';
import { fileIdentitySync } from '../../../functions/core/shared/file-identity.ts';

const repository = join(import.meta.dirname, '..', '..', '..');
/** More than the copier's 4 MiB buffer, so one file takes several reads. */
const BIG = 4 * 1024 ** 2 + 3;

let work = '';
let blobPath = '';
let blob: Buffer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-blob-copier-'));
  blob = Buffer.alloc(BIG + 100);
  for (let at = 0; at < blob.length; at++) blob[at] = (at * 7 + (at >> 12)) & 0xff;
  blobPath = join(work, 'files.bin');
  await writeFile(blobPath, blob);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Buffer equality without a deep comparison (vitest's toEqual walks a 4 MiB buffer byte by byte, for a minute). */
const sameBytes = (one: Buffer, other: Buffer): boolean => one.equals(other);

/** `work` with the blob open, closed afterwards. */
async function withBlob<T>(work: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync(blobPath, 'r');
  try {
    return await work(fd);
  } finally {
    closeSync(fd);
  }
}

describe('BlobCopier', () => {
  it('writes each range into a new file with its mode, and reports the identity the file has', async () => {
    // Arrange
    const tree = await mkdtemp(join(work, 'tree-'));
    const copies: RangeCopy[] = [
      { target: join(tree, 'pkg', 'big.so'), mode: 0o755, offset: 0, size: BIG },
      { target: join(tree, 'pkg', 'sub', 'small.py'), mode: 0o644, offset: BIG, size: 100 },
      { target: join(tree, 'pkg', 'empty.py'), mode: 0o644, offset: BIG, size: 0 },
    ];
    const copier = new BlobCopier();

    // Act
    const results = await withBlob((fd) => copier.copy(fd, copies));
    await copier.close();

    // Assert
    expect(sameBytes(await readFile(copies[0]!.target), blob.subarray(0, BIG))).toBe(true);
    expect(sameBytes(await readFile(copies[1]!.target), blob.subarray(BIG))).toBe(true);
    expect((await readFile(copies[2]!.target)).length).toBe(0);
    expect(((await stat(copies[0]!.target)).mode & 0o777).toString(8)).toBe('755');
    expect(((await stat(copies[1]!.target)).mode & 0o777).toString(8)).toBe('644');
    expect(results).toEqual(copies.map((copy) => ({ identity: fileIdentitySync(copy.target) })));
  });

  it("tells each path's identity on its workers, in order, as lstat does here (null for no file)", async () => {
    // Arrange: files, a folder, a link and a missing path, more than one worker's share
    const tree = await mkdtemp(join(work, 'identities-'));
    const paths: string[] = [];
    for (let index = 0; index < 9; index++) {
      paths.push(join(tree, `file-${index}.py`));
      await writeFile(paths[index]!, `x = ${index}\n`);
    }
    await symlink(paths[0]!, join(tree, 'link.py'));
    paths.push(tree, join(tree, 'link.py'), join(tree, 'missing.py'));
    const copier = new BlobCopier();

    // Act
    const identities = await copier.identities(paths);
    const none = await copier.identities([]);
    await copier.close();

    // Assert
    expect(identities).toEqual(paths.map((path) => fileIdentitySync(path)));
    expect(identities.slice(-3)).toEqual([null, null, null]);
    expect(none).toEqual([]);
  });

  it('answers every batch in order across its workers, whichever finishes first', async () => {
    // Arrange: a big batch first, so the second worker answers the small ones before it.
    const tree = await mkdtemp(join(work, 'tree-'));
    const batches: RangeCopy[][] = Array.from({ length: 6 }, (_, batch) =>
      Array.from({ length: 5 }, (_, file) => ({
        target: join(tree, `b${batch}`, `f${file}`),
        mode: 0o644,
        offset: batch + file,
        size: batch === 0 ? BIG : 50 + file,
      })),
    );
    const copier = new BlobCopier(2);

    // Act
    const results = await withBlob((fd) => Promise.all(batches.map((copies) => copier.copy(fd, copies))));
    await copier.close();

    // Assert
    for (const [batch, copies] of batches.entries())
      for (const [file, copy] of copies.entries()) {
        expect(results[batch]?.[file]).toEqual({ identity: fileIdentitySync(copy.target) });
        expect(
          sameBytes(await readFile(copy.target), blob.subarray(copy.offset, copy.offset + copy.size)),
        ).toBe(true);
      }
  });

  it('never replaces a file that is there already (EEXIST, the file untouched)', async () => {
    // Arrange
    const tree = await mkdtemp(join(work, 'tree-'));
    const target = join(tree, 'taken.py');
    await writeFile(target, 'mine\n');
    const copier = new BlobCopier();

    // Act
    const [result] = await withBlob((fd) => copier.copy(fd, [{ target, mode: 0o644, offset: 0, size: 10 }]));
    await copier.close();

    // Assert
    expect(result).toMatchObject({ code: 'EEXIST' });
    expect(await readFile(target, 'utf8')).toBe('mine\n');
  });

  it('removes a file whose range runs past the blob, and still writes the rest of the batch', async () => {
    // Arrange
    const tree = await mkdtemp(join(work, 'tree-'));
    const short = join(tree, 'short.bin');
    const good = join(tree, 'good.bin');
    const copier = new BlobCopier();

    // Act
    const results = await withBlob((fd) =>
      copier.copy(fd, [
        { target: short, mode: 0o644, offset: blob.length - 10, size: 20 },
        { target: good, mode: 0o644, offset: 5, size: 10 },
      ]),
    );
    await copier.close();

    // Assert
    expect(results[0]).toMatchObject({ message: expect.stringContaining('10 bytes early') });
    expect(existsSync(short)).toBe(false);
    expect(sameBytes(await readFile(good), blob.subarray(5, 15))).toBe(true);
  });

  it('fails the copies, not the process, when the blob descriptor is not open', async () => {
    // Arrange
    const tree = await mkdtemp(join(work, 'tree-'));
    const target = join(tree, 'never.bin');
    const notOpen = 1_000_000; // above any descriptor this process holds (a closed one may be reused at once)
    const copier = new BlobCopier();

    // Act
    const [result] = await copier.copy(notOpen, [{ target, mode: 0o644, offset: 0, size: 10 }]);
    await copier.close();

    // Assert
    expect(result).toMatchObject({ code: 'EBADF' });
    expect(existsSync(target)).toBe(false);
  });

  it('does not keep a process alive once its copies are done, though it is never closed', () => {
    // Arrange
    const target = join(work, `alive-${Date.now()}.bin`);
    const script = [
      "const { openSync } = await import('node:fs');",
      "const { BlobCopier } = await import('./functions/core/build/blob-copier.ts');",
      `const fd = openSync(${JSON.stringify(blobPath)}, 'r');`,
      `const [result] = await new BlobCopier().copy(fd, [{ target: ${JSON.stringify(target)}, mode: 0o644, offset: 0, size: 10 }]);`,
      "process.stdout.write('identity' in result ? 'copied' : result.message);",
    ].join('\n');

    // Act: execFileSync's timeout kills a process the worker would hold open.
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repository,
      encoding: 'utf8',
      timeout: 30_000,
    });

    // Assert
    expect(output).toBe('copied');
  });
});
