// The local object store: a folder, with writes made atomic by rename so a reader never
// sees half an object (the same guarantee S3 gives).
import { randomUUID } from 'node:crypto';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InputError } from '../../core/shared/errors.ts';
import { fileIdentity } from '../../core/shared/file-identity.ts';
import type { LeasingObjectStore, StoredObjectInfo } from '../ports.ts';

/** Rejects keys that could escape the folder. */
export function assertSafeKey(key: string): void {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((part) => part === '..' || part === '.')
  ) {
    throw new InputError(`Object key "${key}" is not a safe relative key.`, {
      hint: 'Keys are relative paths without "." or ".." parts.',
    });
  }
}

export class FolderObjectStore implements LeasingObjectStore {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  /** Opens `file:///abs/dir` (as written by `location`). */
  static fromLocation(location: string): FolderObjectStore {
    if (!location.startsWith('file://'))
      throw new InputError(`"${location}" is not a file:// store location.`);
    return new FolderObjectStore(fileURLToPath(location));
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  async getBytes(key: string): Promise<Buffer> {
    return readFile(this.pathOf(key));
  }

  async getToFile(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await copyFile(this.pathOf(key), path);
  }

  /**
   * A hard link to the object's file when `path` is on the store's filesystem, else a copy. An
   * object is only ever replaced or removed by rename and unlink, never written in place, so the
   * link keeps these bytes whatever the store does next (the 71 MB of the seed set's layers: 2 ms
   * linked against 33 ms copied here). The reader must never write the file.
   */
  async getReadOnlyFile(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await link(this.pathOf(key), path).catch(async (error: NodeJS.ErrnoException) => {
      // Another filesystem, or one without hard links: a copy holds the same bytes.
      if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'ENOTSUP') throw error;
      await copyFile(this.pathOf(key), path);
    });
  }

  /**
   * The object's file identity (core/shared/file-identity.ts), null when it is missing. Objects
   * are only ever replaced by rename, so an unchanged identity is an unchanged object.
   */
  async identity(key: string): Promise<string | null> {
    return fileIdentity(this.pathOf(key));
  }

  private async atomicWrite(key: string, write: (temporary: string) => Promise<void>): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID()}.partial`;
    await write(temporary);
    await rename(temporary, target);
  }

  async putBytes(key: string, body: Buffer | string): Promise<void> {
    await this.atomicWrite(key, (temporary) => writeFile(temporary, body));
  }

  async putFile(key: string, path: string): Promise<void> {
    await this.atomicWrite(key, (temporary) => copyFile(path, temporary));
  }

  /**
   * Moves the file in by rename when it is a regular file on the store's filesystem; else copies
   * it, as putFile (the seed set's 71 MB of layers: 90 ms copied, 1 ms moved). Its other names,
   * if any, are the caller's to keep unwritten (ObjectStore.putFileHandedOver): the store never
   * writes an object in place, and neither may they.
   */
  async putFileHandedOver(key: string, path: string): Promise<void> {
    await this.atomicWrite(key, async (temporary) => {
      const info = await lstat(path);
      const moved = info.isFile()
        ? await rename(path, temporary).then(
            () => true,
            (error: NodeJS.ErrnoException) => {
              if (error.code === 'EXDEV') return false;
              throw error;
            },
          )
        : false;
      if (!moved) await copyFile(path, temporary);
    });
  }

  async exists(key: string): Promise<boolean> {
    return stat(this.pathOf(key)).then(
      (info) => info.isFile(),
      () => false,
    );
  }

  async list(prefix: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (directory: string): Promise<void> => {
      const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && !entry.name.endsWith('.partial'))
          found.push(relative(this.root, path).split(sep).join('/'));
      }
    };
    await walk(this.root);
    return found.filter((key) => key.startsWith(prefix)).sort();
  }

  async head(key: string): Promise<StoredObjectInfo | null> {
    const info = await stat(this.pathOf(key)).catch(() => null);
    if (!info?.isFile()) return null;
    return { size: info.size, etag: null, versionId: null };
  }

  async putIfAbsent(key: string, body: Buffer | string): Promise<boolean> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID()}.partial`;
    await writeFile(temporary, body);
    try {
      // link() refuses an existing name, atomically, across processes: the exclusive create.
      await link(temporary, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}
