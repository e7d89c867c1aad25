// A cell's bytecode cache starts with the installation's own standard-library bytecode
// (functions/core/verify/stdlib-bytecode.ts): Python under `-X pycache_prefix` then loads json,
// email … from those files instead of compiling them again, and still compiles the set's own.
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import { findTargetInterpreter } from '../../../functions/core/verify/smoke-import.ts';
import { seedStandardLibraryBytecode } from '../../../functions/core/verify/stdlib-bytecode.ts';

const execFileAsync = promisify(execFile);
const found = await findTargetInterpreter(lambdaTarget('python3.11', 'x86_64'));
const skip = 'reason' in found ? found.reason : null;

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-stdlib-bytecode-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('seedStandardLibraryBytecode', () => {
  it.skipIf(skip !== null)(
    `lets Python load the standard library's shipped bytecode under a pycache prefix${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      // Prepare
      if ('reason' in found) return;
      const prefix = join(work, 'pycache');
      const site = join(work, 'site');
      await execFileAsync('mkdir', ['-p', site]);
      await writeFile(join(site, 'mine.py'), 'import json\nVALUE = json.dumps([1])\n');
      seedStandardLibraryBytecode(prefix, found, null);

      // Act
      const { stdout } = await execFileAsync(found.executable, [
        '-I',
        '-S',
        '-X',
        `pycache_prefix=${prefix}`,
        '-c',
        `import sys; sys.path.insert(0, ${JSON.stringify(site)}); import mine, json.decoder; print(mine.VALUE, json.decoder.__cached__)`,
      ]);

      // Assess: json's bytecode is still the link to the installation's file (Python used it,
      // it did not write its own); the set's module was compiled into the prefix.
      const [value, cached = ''] = stdout.trim().split(' ');
      expect(value).toBe('[1]');
      expect(cached.startsWith(prefix)).toBe(true);
      expect((await lstat(cached)).isSymbolicLink()).toBe(true);
      expect((await lstat(join(prefix, site, 'mine.cpython-311.pyc'))).isFile()).toBe(true);
    },
  );

  it('seeds nothing, and fails nothing, for an installation it cannot read', async () => {
    // Prepare
    const prefix = join(work, 'nothing');

    // Act
    seedStandardLibraryBytecode(prefix, { prefix: join(work, 'no-such-python'), version: '3.11' }, null);

    // Assess
    await expect(lstat(prefix)).rejects.toThrow();
  });
});
