// Measure's project folder (functions/measure/project-folder.ts) is part of the untrusted cache:
// whatever was left or planted there, it holds exactly the uploaded files when it is used.
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectFolder } from '../../../functions/measure/project-folder.ts';

let cache = '';
beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), 'lambda-deps-project-folder-'));
});
afterEach(() => rm(cache, { recursive: true, force: true }));

const FILES = new Map([['pyproject.toml', '[project]\nname = "p"\nversion = "1"\n']]);

describe('projectFolder', () => {
  it('is the same folder for the same files, and leaves an unchanged file as it was', async () => {
    // Act
    const first = await projectFolder(cache, FILES);
    const before = await stat(join(first, 'pyproject.toml'));
    const second = await projectFolder(cache, FILES);

    // Assess
    expect(second).toBe(first);
    expect((await stat(join(second, 'pyproject.toml'))).ino).toBe(before.ino);
    expect(await projectFolder(cache, new Map([['pyproject.toml', 'other']]))).not.toBe(first);
  });

  it('rewrites a file changed there, and removes what the upload did not hold', async () => {
    // Prepare: an edited pyproject.toml and a planted uv.lock beside it
    const folder = await projectFolder(cache, FILES);
    await writeFile(join(folder, 'pyproject.toml'), '[project]\nname = "evil"\n');
    await writeFile(join(folder, 'uv.lock'), 'version = 1\n');

    // Act
    const again = await projectFolder(cache, FILES);

    // Assess
    expect(await readdir(again)).toEqual(['pyproject.toml']);
    expect(await readFile(join(again, 'pyproject.toml'), 'utf8')).toBe(FILES.get('pyproject.toml'));
  });

  it('makes a real folder where a link or a file stood, and refuses a name that is not a file name', async () => {
    // Prepare: the folder's name taken by a link to elsewhere
    const folder = await projectFolder(cache, FILES);
    const elsewhere = join(cache, 'elsewhere');
    await mkdir(elsewhere);
    await rm(folder, { recursive: true });
    await symlink(elsewhere, folder);

    // Act
    const again = await projectFolder(cache, FILES);

    // Assess
    expect((await lstat(again)).isDirectory()).toBe(true);
    expect(await readdir(elsewhere)).toEqual([]);
    await expect(projectFolder(cache, new Map([['..', 'x']]))).rejects.toThrow(
      /cannot be the name of an uploaded project file/,
    );
  });
});
