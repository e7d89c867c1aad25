// The blocking tree listing (functions/core/shared/tree-listing.ts) that the build's checks and
// the smoke import's index read: every file and folder, each path below the root.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listTree, resolverBelow } from '../../../functions/core/shared/tree-listing.ts';

let work = '';
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-tree-listing-'));
});
afterEach(() => rm(work, { recursive: true, force: true }));

describe('listTree', () => {
  it('lists every file and folder by its path below the root, a link as itself', async () => {
    // Prepare
    await mkdir(join(work, 'python', 'pkg', 'sub'), { recursive: true });
    await writeFile(join(work, 'python', 'top.py'), '');
    await writeFile(join(work, 'python', 'pkg', 'sub', 'deep.py'), '');
    await symlink(join(work, 'python', 'pkg'), join(work, 'python', 'link'));

    // Act: the root given with a trailing separator and a dot segment
    const listed = listTree(`${join(work, 'python')}${sep}.${sep}`);

    // Assess
    expect(listed.map(({ path, isDirectory }) => `${path}${isDirectory ? '/' : ''}`).sort()).toEqual(
      ['link', 'pkg/', `pkg${sep}sub/`, `pkg${sep}sub${sep}deep.py`, 'top.py'].sort(),
    );
  });

  it('throws for a root that is not there', () => {
    expect(() => listTree(join(work, 'missing'))).toThrow(/ENOENT/);
  });
});

describe('resolverBelow', () => {
  it('is resolve() for plain paths, dotted ones, absolute ones and odd roots', () => {
    const roots = ['/opt/python', '/opt/python/', '/', '/a/./b', 'relative/root'];
    const paths = [
      'numpy/__init__.py',
      '../../bin/f2py',
      './six.py',
      'a//b.py',
      'pkg/',
      '/etc/passwd',
      'pkg/../../x',
      'pkg/.hidden/x.py',
      '..',
      '.',
      'a/..b/c.py',
      'a/b..',
    ];
    for (const root of roots)
      for (const path of paths)
        expect(resolverBelow(root)(path), `${root} + ${path}`).toBe(resolve(root, path));
  });
});
