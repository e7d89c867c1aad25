// The on-disk cache of the synthesized state machine: a second load reads it, a changed source
// changes its key, and a corrupted entry is discarded and synthesized again.
import { mkdtemp, readdir, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPipelineParts } from '../../../functions/cli/local-pipeline.ts';
import {
  definitionSourcesKey,
  readCachedDefinition,
  writeCachedDefinition,
  type CachedPipelineParts,
} from '../../../functions/cli/pipeline-definition-cache.ts';

const folders: string[] = [];
async function freshFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'lambda-deps-definition-cache-'));
  folders.push(folder);
  return folder;
}
afterEach(async () => {
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

const PARTS: CachedPipelineParts = {
  definition: { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } },
  template: { Resources: {} },
  targets: {},
};

async function sourcesIn(root: string, options: unknown = { functionsToUpdate: [] }) {
  return definitionSourcesKey({
    root,
    folders: [join(root, 'infra')],
    handlerFolders: [join(root, 'functions')],
    files: [join(root, 'package.json')],
    options,
  });
}

describe('the pipeline definition cache', () => {
  it('reads back what was written under the same key', async () => {
    // Prepare
    const cacheDir = await freshFolder();
    // Act
    await writeCachedDefinition(cacheDir, 'a'.repeat(64), PARTS);
    // Assess
    expect(await readCachedDefinition(cacheDir, 'a'.repeat(64))).toEqual(PARTS);
    expect(await readCachedDefinition(cacheDir, 'b'.repeat(64))).toBeNull();
  });

  it('changes its key when an infra file, a handler, package.json or the options change', async () => {
    // Prepare
    const root = await freshFolder();
    await mkdir(join(root, 'infra', 'constructs'), { recursive: true });
    await mkdir(join(root, 'functions', 'measure'), { recursive: true });
    await writeFile(join(root, 'infra', 'constructs', 'stack.ts'), 'one');
    await writeFile(join(root, 'functions', 'measure', 'handler.ts'), 'one');
    await writeFile(join(root, 'functions', 'measure', 'other.ts'), 'one');
    await writeFile(join(root, 'package.json'), '{"version":"1.0.0"}');
    const first = await sourcesIn(root);
    // Act + Assess
    expect(await sourcesIn(root)).toBe(first);
    await writeFile(join(root, 'functions', 'measure', 'other.ts'), 'two');
    expect(await sourcesIn(root)).toBe(first);
    await writeFile(join(root, 'infra', 'constructs', 'stack.ts'), 'two');
    const second = await sourcesIn(root);
    expect(second).not.toBe(first);
    await writeFile(join(root, 'functions', 'measure', 'handler.ts'), 'two');
    const third = await sourcesIn(root);
    expect(third).not.toBe(second);
    await writeFile(join(root, 'package.json'), '{"version":"1.0.1"}');
    const fourth = await sourcesIn(root);
    expect(fourth).not.toBe(third);
    expect(await sourcesIn(root, { functionsToUpdate: ['api'] })).not.toBe(fourth);
  });

  it.each([
    ['not JSON', '{"schema":1,'],
    ['an edited body', 'edit'],
    ['another schema', 'schema'],
  ])('discards an entry that is %s', async (_label, corruption) => {
    // Prepare
    const cacheDir = await freshFolder();
    const key = 'c'.repeat(64);
    await writeCachedDefinition(cacheDir, key, PARTS);
    const path = join(cacheDir, 'pipeline-definition', `${key}.json`);
    const entry = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown> & {
      parts: CachedPipelineParts;
    };
    if (corruption === 'edit') entry.parts = { ...entry.parts, template: { Resources: { Evil: {} } } };
    if (corruption === 'schema') entry.schema = 0;
    await writeFile(path, corruption.startsWith('{') ? corruption : JSON.stringify(entry));
    // Act
    const read = await readCachedDefinition(cacheDir, key);
    // Assess
    expect(read).toBeNull();
    expect(await readdir(join(cacheDir, 'pipeline-definition'))).toEqual([]);
  });

  it('serves the second load from disk, and synthesizes again after a corrupted entry', async () => {
    // Prepare
    const cacheDir = await freshFolder();
    // Act
    const first = await loadPipelineParts([], cacheDir);
    const second = await loadPipelineParts([], cacheDir);
    const [entry] = await readdir(join(cacheDir, 'pipeline-definition'));
    await writeFile(join(cacheDir, 'pipeline-definition', entry as string), 'garbage');
    const third = await loadPipelineParts([], cacheDir);
    const otherOptions = await loadPipelineParts(['my-function'], cacheDir);
    // Assess
    expect(first.source).toBe('synthesized');
    expect(second.source).toBe('cache');
    expect(second.parts).toEqual(first.parts);
    expect(third.source).toBe('synthesized');
    expect(otherOptions.source).toBe('synthesized');
    expect(Object.values(second.parts.targets).some((target) => target.entry?.endsWith('handler.ts'))).toBe(
      true,
    );
    // Nothing in an entry names where this checkout is: the package can ship one.
    expect(JSON.stringify(second.parts)).not.toContain(process.cwd());
  }, 120_000);
});
