// removeTree removes a folder and all below it (with coreutils' rm, else fs.rm), never what a
// link inside it points to, and says nothing of a folder that is not there. removeTreeDetached
// leaves the removal to an rm of its own process group, or, where none starts, removes it itself.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree, removeTreeDetached } from '../../../functions/core/shared/remove-tree.ts';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-remove-tree-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('removeTree', () => {
  it('removes nested folders and files, a name with spaces and a leading dash included', async () => {
    const tree = join(work, '-tree with spaces');
    await mkdir(join(tree, 'a', 'b'), { recursive: true });
    await writeFile(join(tree, 'a', 'b', 'file.py'), 'x = 1\n');
    await writeFile(join(tree, '-f'), '');

    await removeTree(tree);

    expect(existsSync(tree)).toBe(false);
  });

  it('removes a link inside it, not what the link points to', async () => {
    const outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep.txt'), 'kept\n');
    const tree = join(work, 'linked');
    await mkdir(tree);
    await symlink(outside, join(tree, 'link'));

    await removeTree(tree);

    expect(existsSync(tree)).toBe(false);
    expect(await readFile(join(outside, 'keep.txt'), 'utf8')).toBe('kept\n');
  });

  it('does nothing, and throws nothing, for a folder that is not there', async () => {
    await expect(removeTree(join(work, 'never-made'))).resolves.toBeUndefined();
  });
});

/** Whether `path` is gone within a few seconds (polled, bounded). */
async function goneSoon(path: string): Promise<boolean> {
  for (let tries = 0; tries < 100 && existsSync(path); tries++)
    await new Promise((wait) => setTimeout(wait, 50));
  return !existsSync(path);
}

describe('removeTreeDetached', () => {
  it('starts an rm that removes the folder after it returns, links not followed', async () => {
    // Prepare
    const outside = join(work, 'outside-detached');
    await mkdir(outside);
    await writeFile(join(outside, 'keep.txt'), 'kept\n');
    const tree = join(work, '-detached tree');
    await mkdir(join(tree, 'a'), { recursive: true });
    await writeFile(join(tree, 'a', 'file.py'), 'x = 1\n');
    await symlink(outside, join(tree, 'link'));

    // Act
    await removeTreeDetached(tree);

    // Assess
    expect(await goneSoon(tree)).toBe(true);
    expect(await readFile(join(outside, 'keep.txt'), 'utf8')).toBe('kept\n');
  });

  it('removes the folder itself before it returns where rm cannot start', async () => {
    // Prepare: no PATH to find rm on
    const tree = join(work, 'no-rm');
    await mkdir(join(tree, 'a'), { recursive: true });
    await writeFile(join(tree, 'a', 'file.py'), 'x = 1\n');
    const path = process.env.PATH;
    process.env.PATH = join(work, 'empty-path');

    // Act
    try {
      await removeTreeDetached(tree);
    } finally {
      process.env.PATH = path;
    }

    // Assess
    expect(existsSync(tree)).toBe(false);
  });
});
