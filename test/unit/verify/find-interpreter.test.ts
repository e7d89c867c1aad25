// How the target's interpreter is found: behind a pyenv shim without running the shim (three
// shell scripts deep, about 0.3 s each time), newest patch release first, and each file asked
// once per process. The "interpreters" here are small scripts that log their name and then run
// this machine's real python3.11.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findTargetInterpreter } from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';

const target = lambdaTarget('python3.11', 'x86_64');
const real = await findTargetInterpreter(target);
const noPython = 'reason' in real ? real.reason : null;
const skipNote = noPython ? ` (skipped: ${noPython})` : '';

let work = '';
let log = '';
const originalPath = process.env.PATH;

/** A script that appends `name` to the log, then runs the real interpreter (or fails). */
async function loggingScript(path: string, name: string, body: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, `#!/bin/sh\n# ${body}\necho ${name} >> '${log}'\n${body}\n`);
  await chmod(path, 0o755);
}

async function asked(): Promise<string[]> {
  return (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-find-python-'));
  log = join(work, 'asked.log');
});
afterEach(async () => {
  process.env.PATH = originalPath;
  await rm(log, { force: true });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(noPython !== null)(`findTargetInterpreter${skipNote}`, () => {
  const python = 'reason' in real ? '' : real.executable;

  it('takes pyenv installs behind a pyenv shim, newest patch first, without running the shim', async () => {
    const root = join(work, 'pyenv-root');
    await loggingScript(join(root, 'shims', 'python3.11'), 'shim', 'exit 1 # pyenv exec');
    await loggingScript(
      join(root, 'versions', '3.11.9', 'bin', 'python3.11'),
      '3.11.9',
      `exec '${python}' "$@"`,
    );
    await loggingScript(
      join(root, 'versions', '3.11.10', 'bin', 'python3.11'),
      '3.11.10',
      `exec '${python}' "$@"`,
    );
    await loggingScript(join(root, 'versions', '3.12.1', 'bin', 'python3.12'), '3.12.1', 'exit 1');
    process.env.PATH = [join(root, 'shims'), originalPath].join(delimiter);

    const found = await findTargetInterpreter(target);
    expect('reason' in found ? found.reason : found.version).toBe('3.11');
    expect(await asked()).toEqual(['3.11.10']);
  });

  it('asks each interpreter file once per process, and again once the file is replaced', async () => {
    const bin = join(work, 'plain-bin');
    const script = join(bin, 'python3.11');
    await loggingScript(script, 'first', `exec '${python}' "$@"`);
    process.env.PATH = [bin, originalPath].join(delimiter);

    await findTargetInterpreter(target);
    await findTargetInterpreter(target);
    expect(await asked()).toEqual(['first']);

    await new Promise((done) => setTimeout(done, 20));
    await loggingScript(script, 'second', `exec '${python}' "$@"`);
    await findTargetInterpreter(target);
    expect(await asked()).toEqual(['first', 'second']);
  });

  it('runs a "shims" entry that is not pyenv’s, and says why it did not fit', async () => {
    const folder = join(work, 'other', 'shims');
    await loggingScript(join(folder, 'python3.11'), 'not-pyenv', 'exit 3');
    process.env.PATH = [folder].join(delimiter);

    const found = await findTargetInterpreter(target);
    expect(await asked()).toEqual(['not-pyenv']);
    expect('reason' in found ? found.reason : '').toContain(`${join(folder, 'python3.11')} could not be run`);
  });
});
