// While one smoke-import process is still on a long import, the other, its queue empty,
// compiles that distribution's sources into the bytecode cache they share
// (core/verify/compile-help.ts). Here the long import waits, up to 20 s, for the bytecode of its
// own last file to appear, which only the idle process writes, and fails without it.
import { availableParallelism } from 'node:os';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTargetInterpreter, smokeImport } from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { distributionFiles } from '../../support/installed-distribution.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const interpreter = await findTargetInterpreter(target);
const skip =
  'reason' in interpreter
    ? interpreter.reason
    : availableParallelism() < 2
      ? 'one core: the smoke import runs one process'
      : null;
const skipNote = skip ? ` (skipped: ${skip})` : '';

/** Waits (bounded) for the bytecode of its sibling zz_last.py, then says whether it came. */
const WAITS_FOR_BYTECODE = String.raw`
import importlib.util, os, sys, time
last = os.path.join(os.path.dirname(__file__), "zz_last.py")
deadline = time.monotonic() + 20
while not os.path.exists(importlib.util.cache_from_source(last)) and time.monotonic() < deadline:
    time.sleep(0.02)
assert os.path.exists(importlib.util.cache_from_source(last)), "nobody compiled zz_last.py"
`;

let site = '';
beforeAll(async () => {
  site = join(await mkdtemp(join(tmpdir(), 'lambda-deps-compile-help-')), 'python');
  const files = {
    ...distributionFiles('slow', { 'slow/__init__.py': WAITS_FOR_BYTECODE, 'slow/zz_last.py': 'X = 1\n' }),
    ...distributionFiles('quick', { 'quick.py': 'Y = 2\n' }),
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(site, path)), { recursive: true });
    await writeFile(join(site, path), content);
  }
});
afterAll(async () => {
  await rm(dirname(site), { recursive: true, force: true });
});

describe('the smoke import with its queue empty', () => {
  it.skipIf(skip !== null)(
    `compiles for the import still running${skipNote}`,
    async () => {
      // Act
      const result = await smokeImport({ roots: [site], target });

      // Assess
      expect(result).toMatchObject({ ran: true, ok: true, modules: 2, failures: [] });
    },
    60_000,
  );
});
