// What an idle smoke-import process compiles for the imports still running (core/verify/compile-help.ts):
// the sources of the distributions being imported, from the end of their listing, as the cell
// sees them, never their test suites, a chunk at a time until none is left.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompileHelp } from '../../../functions/core/verify/compile-help.ts';

let root = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-compile-help-'));
  const files = [
    'slow/__init__.py',
    'slow/a.py',
    'slow/core/b.py',
    'slow/tests/test_a.py',
    'slow/data.json',
    'single.py',
    ...Array.from({ length: 20 }, (_, index) => `many/m${String(index).padStart(2, '0')}.py`),
  ];
  for (const file of files) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), 'X = 1\n');
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const help = () =>
  new CompileHelp({
    groups: [
      { name: 'Slow-Package', modules: ['slow'] },
      { name: 'single', modules: ['single'] },
      { name: 'many', modules: ['many'] },
    ],
    roots: [root],
    cellRoots: ['/cell/roots/0'],
  });

describe('CompileHelp', () => {
  it("hands out the importing distributions' sources from the end, in the cell's paths, never tests", () => {
    // Prepare
    const compile = help();

    // Act
    const chunk = compile.next(['slow-package', 'single']);

    // Assess
    expect(chunk).toEqual([
      '/cell/roots/0/slow/core/b.py',
      '/cell/roots/0/slow/a.py',
      '/cell/roots/0/slow/__init__.py',
      '/cell/roots/0/single.py',
    ]);
    expect(compile.next(['slow-package', 'single'])).toEqual([]);
  });

  it('hands out at most 16 files at a time, each once, and nothing for what is not being imported', () => {
    // Prepare
    const compile = help();

    // Act
    const chunks = [compile.next(['many']), compile.next(['many']), compile.next(['many'])];

    // Assess
    expect(chunks.map((chunk) => chunk.length)).toEqual([16, 4, 0]);
    expect(new Set(chunks.flat()).size).toBe(20);
    expect(chunks[0]?.[0]).toBe('/cell/roots/0/many/m19.py');
    expect(compile.next([])).toEqual([]);
    expect(compile.next(['not-in-the-set'])).toEqual([]);
  });
});
