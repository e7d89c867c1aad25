// A folder of small files for the packed-artifact tests: the "verified tree" they compare against.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A new folder under `parent` holding `files` (relative path → content); returns its path. */
export async function writeTree(parent: string, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(parent, 'tree-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}
