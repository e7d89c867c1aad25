// The check that what ships is the tree that was verified and imported hashes the tree while the
// checks run, and believes that hash only when package code could not write the tree: the smoke
// import's cell saw it read-only. An import that ran where it could write (no filesystem
// isolation on this machine) and changed a file makes the build read the tree again, and so
// refuse it. (smokeImport is replaced by one that edits the tree, as package code could.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import type * as PackedTreeCheck from '../../../functions/core/pack/packed-tree-check.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { SmokeImportOptions, SmokeImportResult } from '../../../functions/core/verify/smoke-import.ts';
import { writeTinyWheel } from '../build/tiny-wheels.ts';

/** What the stand-in import does: whether its cell was read-only, and how often the tree was hashed. */
const cell = vi.hoisted(() => ({ readOnly: true, treeHashes: 0 }));

vi.mock('../../../functions/core/verify/smoke-import.ts', () => ({
  async smokeImport(options: SmokeImportOptions): Promise<SmokeImportResult> {
    // Package code at import time rewriting its own file, once the tree's first hash is done
    // (where the cell lets it).
    await new Promise((done) => setTimeout(done, 150));
    if (!cell.readOnly)
      await writeFile(join(options.roots[0] ?? '', 'writes', '__init__.py'), 'CHANGED = True\n');
    const isolation = { uid: true, network: true, filesystem: cell.readOnly, environment: true };
    return { ran: true, ok: true, modules: 1, moduleNames: ['writes'], failures: [], isolation };
  },
}));

vi.mock('../../../functions/core/pack/packed-tree-check.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof PackedTreeCheck>();
  return {
    ...actual,
    treeDigests(...args: Parameters<typeof actual.treeDigests>) {
      cell.treeHashes++;
      return actual.treeDigests(...args);
    },
  };
});

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-tree-after-import-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  cell.treeHashes = 0;
});

async function build(name: string) {
  const wheel = await writeTinyWheel(work, name, '1.0', { 'writes/__init__.py': 'ORIGINAL = True\n' });
  return buildDependencySet({
    lock: { lockVersion: 1, target: lambdaTarget('python3.11', 'x86_64'), packages: [wheel.locked] },
    index: { download: async (file) => fileURLToPath(file.url) },
    outDir: join(work, `out-${name}`),
    cacheDir: join(work, `cache-${name}`),
    policy: { forceStrategy: 'layers', cache: false },
  });
}

describe('the tree check after a smoke import', () => {
  it('reads the tree again after an import that could write it, and refuses what it changed', async () => {
    cell.readOnly = false;

    const building = build('writable');

    await expect(building).rejects.toThrow(/python\/writes\/__init__\.py differs from the verified tree/);
    expect(cell.treeHashes).toBe(2);
  });

  it('takes the hash made while the checks ran when the cell saw the tree read-only', async () => {
    cell.readOnly = true;

    const manifest = await build('readonly');

    expect(manifest.layers.length).toBeGreaterThan(0);
    expect(cell.treeHashes).toBe(1);
  });
});
