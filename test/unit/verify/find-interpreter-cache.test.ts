// The on-disk cache of interpreters' facts: a new process that finds a true entry starts no
// Python; an entry that is garbage, names another file or claims what the disk contradicts is
// ignored, the interpreter asked again and the entry rewritten; a replaced or touched file and a
// script are asked every time. The "installations" here are copies of this machine's real
// python3.11 binary in folders of their own (its library folder linked in), so their identity is
// the test's to change. Every interpreter start is counted through a pass-through child_process.
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as ChildProcess from 'node:child_process';
import type * as SmokeImport from '../../../functions/core/verify/smoke-import.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';

/** The commands smoke-import.ts ran through execFile, in order. */
const started = vi.hoisted(() => [] as string[]);

vi.mock('node:child_process', async (importOriginal) => {
  const actual = await importOriginal<typeof ChildProcess>();
  const run = promisify(actual.execFile);
  const counted = (file: string, ...rest: unknown[]): unknown => {
    started.push(file);
    return (run as (...args: unknown[]) => unknown)(file, ...rest);
  };
  // smoke-import.ts promisifies execFile: the promisified form is the one to count.
  return { ...actual, execFile: Object.assign(actual.execFile.bind(null), { [promisify.custom]: counted }) };
});

type Find = typeof SmokeImport.findTargetInterpreter;

/** findTargetInterpreter as a new process would run it: with nothing asked yet in this one. */
async function findInNewProcess(...args: Parameters<Find>): ReturnType<Find> {
  vi.resetModules();
  const { findTargetInterpreter } = await import('../../../functions/core/verify/smoke-import.ts');
  return findTargetInterpreter(...args);
}

const architecture = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const target = lambdaTarget('python3.11', architecture);
const platform = architecture === 'arm64' ? 'linux-aarch64' : 'linux-x86_64';
const otherPlatform = architecture === 'arm64' ? 'linux-x86_64' : 'linux-aarch64';
const work = await mkdtemp(join(tmpdir(), 'lambda-deps-interpreter-cache-'));
afterAll(() => rm(work, { recursive: true, force: true }));

interface Install {
  readonly prefix: string;
  readonly python: string;
}

/** A copy of the real binary at `<prefix>/bin/python3.11`, with the real library folder linked in. */
async function copiedInstall(name: string, real: { executable: string; prefix: string }): Promise<Install> {
  const prefix = join(work, name);
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await mkdir(join(prefix, 'lib'), { recursive: true });
  await symlink(join(real.prefix, 'lib', 'python3.11'), join(prefix, 'lib', 'python3.11'));
  const python = join(prefix, 'bin', 'python3.11');
  await copyFile(await realpath(real.executable), python);
  await chmod(python, 0o755);
  return { prefix, python };
}

/** Why these tests cannot run here, or null: a real python3.11 whose copy runs from its own folder. */
async function whyNot(): Promise<string | null> {
  const real = await findInNewProcess(target);
  if ('reason' in real) return real.reason;
  const probe = await copiedInstall('probe', real);
  const { execFile } = await vi.importActual<typeof ChildProcess>('node:child_process');
  const seen = await promisify(execFile)(probe.python, [
    '-I',
    '-S',
    '-c',
    'import sys; print(sys.base_prefix)',
  ])
    .then(({ stdout }) => stdout.trim())
    .catch((error: Error) => error.message);
  return seen === probe.prefix
    ? null
    : `a copy of ${real.executable} does not run as its own installation (${seen})`;
}

const noInstall = await whyNot();
const realFacts = noInstall ? null : await findInNewProcess(target);
const skipNote = noInstall ? ` (skipped: ${noInstall})` : '';

/** The full version the machine's python3.11 reports (the copies are that binary). */
const release = realFacts && !('reason' in realFacts) ? (realFacts.release ?? '') : '';

function factsOf(install: Install) {
  return { executable: install.python, version: '3.11', release, platform, prefix: install.prefix };
}

/** The cache's entries (file names). */
async function entries(cache: string): Promise<string[]> {
  return (await readdir(cache).catch(() => [])).filter((name) => name.endsWith('.json'));
}

/** The one entry an install's first ask left in `cache`. */
async function onlyEntry(cache: string): Promise<string> {
  const names = await entries(cache);
  expect(names).toHaveLength(1);
  return join(cache, names[0] ?? '');
}

let serial = 0;
/** A new copied install and cache folder, the install asked once so that its entry is there. */
async function cachedInstall(): Promise<{ install: Install; cache: string; entry: string }> {
  if (!realFacts || 'reason' in realFacts) throw new Error('no interpreter');
  const install = await copiedInstall(`install-${++serial}`, realFacts);
  const cache = join(work, `cache-${serial}`);
  expect(await findInNewProcess(target, install.python, { factsCacheDir: cache })).toEqual(factsOf(install));
  return { install, cache, entry: await onlyEntry(cache) };
}

beforeEach(() => {
  started.length = 0;
});

describe.skipIf(noInstall !== null)(`findTargetInterpreter with a facts cache${skipNote}`, () => {
  const real = realFacts && !('reason' in realFacts) ? realFacts : { executable: '', prefix: '' };

  it('answers a new process from the cache, starting no interpreter', async () => {
    const { install, cache, entry } = await cachedInstall();
    expect(started).toEqual([install.python]);
    expect(JSON.parse(await readFile(entry, 'utf8'))).toEqual(factsOf(install));

    const again = await findInNewProcess(target, install.python, { factsCacheDir: cache });
    expect(again).toEqual(factsOf(install));
    expect(started).toEqual([install.python]);
  });

  it.each([
    ['text that is not JSON', () => '{"executable": '],
    ['the wrong shape', (facts: Record<string, string>) => JSON.stringify({ ...facts, version: 3.11 })],
    [
      'another executable',
      (facts: Record<string, string>) => JSON.stringify({ ...facts, executable: real.executable }),
    ],
    ['a prefix of /', (facts: Record<string, string>) => JSON.stringify({ ...facts, prefix: '/' })],
    [
      'a prefix the file is not in',
      (facts: Record<string, string>) => JSON.stringify({ ...facts, prefix: real.prefix }),
    ],
    [
      'a version that is no version',
      (facts: Record<string, string>) => JSON.stringify({ ...facts, version: '3.11/' }),
    ],
    [
      'a full version of another Python',
      (facts: Record<string, string>) => JSON.stringify({ ...facts, release: '3.12.1' }),
    ],
    [
      'a platform its ELF header denies',
      (facts: Record<string, string>) => JSON.stringify({ ...facts, platform: otherPlatform }),
    ],
  ])('ignores an entry with %s, asks again and rewrites it', async (_case, entryText) => {
    const { install, cache, entry } = await cachedInstall();
    await writeFile(entry, entryText(factsOf(install)));

    const found = await findInNewProcess(target, install.python, { factsCacheDir: cache });
    expect(found).toEqual(factsOf(install));
    expect(started).toEqual([install.python, install.python]);
    expect(JSON.parse(await readFile(entry, 'utf8'))).toEqual(factsOf(install));
  });

  it('ignores a version whose library folder is not in the installation', async () => {
    // A poisoned entry calling this 3.11 binary 3.10 would otherwise pass it off as a 3.10 target's.
    const { install, cache, entry } = await cachedInstall();
    await writeFile(entry, JSON.stringify({ ...factsOf(install), version: '3.10' }));

    const found = await findInNewProcess(lambdaTarget('python3.10', architecture), install.python, {
      factsCacheDir: cache,
    });
    expect('reason' in found ? found.reason : found).toContain('is Python 3.11, not 3.10');
    expect(started).toEqual([install.python, install.python]);
    expect(JSON.parse(await readFile(entry, 'utf8'))).toEqual(factsOf(install));
  });

  it('ignores a relative prefix, even from a working folder where it would name the library', async () => {
    // An empty prefix is "below" every absolute path; from the installation, lib/python3.11 is there.
    const { install, cache, entry } = await cachedInstall();
    await writeFile(entry, JSON.stringify({ ...factsOf(install), prefix: '' }));

    const workingFolder = process.cwd();
    process.chdir(install.prefix);
    const found = await findInNewProcess(target, install.python, { factsCacheDir: cache }).finally(() =>
      process.chdir(workingFolder),
    );
    expect(found).toEqual(factsOf(install));
    expect(started).toEqual([install.python, install.python]);
  });

  it('asks again once the file is touched', async () => {
    const { install, cache } = await cachedInstall();
    const later = new Date(Date.now() + 60_000);
    await utimes(install.python, later, later);

    const found = await findInNewProcess(target, install.python, { factsCacheDir: cache });
    expect(found).toEqual(factsOf(install));
    expect(started).toEqual([install.python, install.python]);
    expect(await entries(cache)).toHaveLength(2);
  });

  it('never caches a script: it runs in every process', async () => {
    // A wrapper whose facts would otherwise hold: it runs the copied binary as itself (argv[0]).
    // (Its e_machine would not match either: only with both checks gone would it be cached.)
    const { install } = await cachedInstall();
    const script = join(install.prefix, 'bin', 'python3.11-wrapper');
    await writeFile(script, `#!/bin/bash\nexec -a "$0" '${install.python}' "$@"\n`);
    await chmod(script, 0o755);
    const cache = join(work, 'cache-script');
    started.length = 0;

    for (const _process of [1, 2]) {
      const found = await findInNewProcess(target, script, { factsCacheDir: cache });
      expect(found).toEqual({ ...factsOf(install), executable: script });
    }
    expect(started).toEqual([script, script]);
    expect(await entries(cache)).toEqual([]);
  });

  it('finds the interpreter when the cache cannot be written', async () => {
    const { install } = await cachedInstall();
    const blocked = join(work, 'not-a-folder');
    await writeFile(blocked, '');

    const found = await findInNewProcess(target, install.python, { factsCacheDir: join(blocked, 'cache') });
    expect(found).toEqual(factsOf(install));
  });
});
