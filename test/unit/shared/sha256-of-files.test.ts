// sha256OfFiles (core/shared/hash.ts) hashes many files with blocking reads through one buffer,
// yielding to the event loop between slices: each digest must be the file's own, in the order
// asked, for an empty file, one smaller than the buffer and ones bigger than it.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256OfFile, sha256OfFiles } from '../../../functions/core/shared/hash.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-sha256-files-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('sha256OfFiles', () => {
  it('gives each file its own digest, in the order asked, whatever its size', async () => {
    // Prepare: sizes around the 4 MiB read buffer, each file's bytes distinct.
    const sizes = [0, 1, 4 * 1024 ** 2 - 1, 4 * 1024 ** 2, 9 * 1024 ** 2 + 7, 13];
    const files: { path: string; bytes: Buffer }[] = [];
    for (const [index, size] of sizes.entries()) {
      const bytes = Buffer.alloc(size, index + 1);
      if (size > 2) bytes.writeUInt16LE(index, size - 2);
      const path = join(work, `file-${index}.bin`);
      await writeFile(path, bytes);
      files.push({ path, bytes });
    }

    // Act
    const digests = await sha256OfFiles(files.map((file) => file.path).reverse());

    // Assess
    const expected = files.map((file) => createHash('sha256').update(file.bytes).digest('hex')).reverse();
    expect(digests).toEqual(expected);
    expect(digests[0]).toBe(await sha256OfFile(files[files.length - 1]?.path ?? ''));
  });

  it('lets other work run while it hashes many files', async () => {
    // Prepare: enough files that hashing them takes several slices.
    const paths: string[] = [];
    for (let index = 0; index < 800; index++) {
      const path = join(work, `many-${index}.bin`);
      await writeFile(path, Buffer.alloc(64 * 1024, index % 251));
      paths.push(path);
    }
    let turns = 0;
    const counting = setInterval(() => turns++, 0);

    // Act
    const digests = await sha256OfFiles(paths).finally(() => clearInterval(counting));

    // Assess
    expect(digests).toHaveLength(800);
    expect(turns).toBeGreaterThan(0);
  });

  it('rejects when a file cannot be read', async () => {
    await expect(sha256OfFiles([join(work, 'absent.bin')])).rejects.toThrow(/ENOENT/);
  });
});
