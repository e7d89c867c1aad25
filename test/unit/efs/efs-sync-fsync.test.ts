// SyncEfs unpacks without an fsync per file: EFS is durable on close, and per-file fsync made
// large trees approach Lambda's 15-minute limit. The marker and directories are still synced.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type * as TreeArchive from '../../../functions/core/pack/tree-archive.ts';

const extractOptions: unknown[] = [];
vi.mock('../../../functions/core/pack/tree-archive.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof TreeArchive>();
  return {
    ...actual,
    extractTreeTar: (...args: Parameters<typeof actual.extractTreeTar>) => {
      extractOptions.push(args[2]);
      return actual.extractTreeTar(...args);
    },
  };
});

const { syncVersionedTree } = await import('../../../functions/core/deliver/efs-tree.ts');
const { writeTreeTar } = await import('../../../functions/core/pack/tree-archive.ts');
const root = await mkdtemp(join(tmpdir(), 'lambda-deps-fsync-'));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('syncVersionedTree', () => {
  it('unpacks the tree without an fsync per file', async () => {
    // Prepare
    const tree = join(root, 'tree');
    await mkdir(join(tree, 'pkg'), { recursive: true });
    await writeFile(join(tree, 'pkg', '__init__.py'), 'X = 1\n');
    const tarPath = join(root, 'tree.tar');
    await writeTreeTar(tree, tarPath);

    // Act
    await syncVersionedTree({
      mountRoot: join(root, 'mount'),
      setName: 'web',
      lockHash: 'a'.repeat(64),
      tarPath,
    });

    // Assess
    expect(extractOptions).toEqual([expect.objectContaining({ fsync: false })]);
  });
});
