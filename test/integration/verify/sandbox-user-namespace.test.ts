// The cell as a runner that is not root builds it (core/verify/sandbox.ts, "user-namespace"):
// package code keeps the runner's uid, but the host's writable folders and the artifact are
// read-only and the network is gone, as in the root cell. The set-up mounts through mount(2)
// itself, and a remount inside a user namespace must keep the flags the kernel locked: this runs
// the cell as the unprivileged user `nobody` (through setpriv), which CI's root can become.
import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectionCounter, type ConnectionCounter } from '../../support/escape-witness.ts';

const execFileAsync = promisify(execFile);
const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const NOBODY = 65534;

/** The machine's own python3, which any user may run (a pyenv install under /root may not be). */
const pythonForNobody =
  ['/usr/bin/python3', '/usr/local/bin/python3'].find((candidate) => {
    try {
      const asNobody = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'];
      execFileSync('setpriv', [...asNobody, candidate, '-c', 'pass'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }) ?? null;

/** Why this machine cannot run the check, or null. */
function cannotRun(): string | null {
  if (process.getuid?.() !== 0) return 'not root: cannot become another user';
  const asNobody = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'];
  try {
    execFileSync('setpriv', [...asNobody, 'unshare', '--user', '--map-root-user', '--mount', 'true'], {
      stdio: 'ignore',
    });
  } catch {
    return 'setpriv missing, or no unprivileged user namespaces here';
  }
  if (pythonForNobody === null) return 'no python3 that nobody may run (/usr/bin/python3)';
  try {
    execFileSync(
      'setpriv',
      [...asNobody, 'test', '-r', join(repository, 'functions', 'core', 'verify', 'sandbox.ts')],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    return 'the checkout is not readable by nobody';
  }
  return null;
}

const skip = cannotRun();
const skipNote = skip ? ` (skipped: ${skip})` : '';

/** Run as nobody: open a cell on `root` and try to write through it, to /tmp and to HOME, and to connect. */
const CHECK = String.raw`
import { openSandbox } from ${JSON.stringify(join(repository, 'functions', 'core', 'verify', 'sandbox.ts'))};
import { spawnSync } from 'node:child_process';
const [interpreter, prefix, root, port] = process.argv.slice(2);
const cell = await openSandbox(interpreter, prefix, [root]);
const code = [
  'import os, socket, sys',
  'sys.path.insert(0, sys.argv[1])',
  'import probe_me',
  'facts = {"imported": probe_me.VALUE}',
  'def attempt(name, action):',
  '    try:',
  '        action(); facts[name] = "succeeded"',
  '    except OSError as error:',
  '        facts[name] = type(error).__name__',
  'attempt("writeTmp", lambda: open(sys.argv[2], "w").write("escaped"))',
  'attempt("writeArtifact", lambda: open(os.path.join(sys.argv[1], "planted.py"), "w").write("x"))',
  'attempt("writeScratch", lambda: open(os.path.join(os.environ["HOME"], "scratch.txt"), "w").write("mine"))',
  'attempt("socket", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=3).close())',
  'print("@@facts", __import__("json").dumps(facts))',
].join('\n');
const tmpTarget = root + '-escaped';
const { file, argv, env } = cell.command(interpreter, ['-I', '-S', '-c', code, cell.roots[0], tmpTarget, port]);
const run = spawnSync(file, argv, { env, cwd: cell.home, encoding: 'utf8' });
await cell.dispose();
console.log(JSON.stringify({ isolation: cell.isolation, status: run.status, stdout: run.stdout, stderr: String(run.stderr ?? run.error).slice(-2000) }));
`;

let work = '';
let counter: ConnectionCounter;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lambda-deps-userns-'));
  await chmod(work, 0o777);
  counter = await startConnectionCounter();
});
afterAll(async () => {
  await counter.close();
  await rm(work, { recursive: true, force: true });
});

describe('the cell a runner that is not root builds', () => {
  it.skipIf(skip !== null)(
    `keeps the host and the artifact read-only and the network away${skipNote}`,
    async () => {
      // Prepare
      const root = join(work, 'artifact');
      await mkdir(root, { mode: 0o755 });
      await writeFile(join(root, 'probe_me.py'), 'VALUE = 7\n', { mode: 0o644 });
      const script = join(work, 'check.mts');
      await writeFile(script, CHECK, { mode: 0o644 });
      const asNobody = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'];
      const python = pythonForNobody ?? '';
      const prefix = execFileSync(python, ['-c', 'import sys; print(sys.base_prefix)'], {
        encoding: 'utf8',
      }).trim();

      // Act
      const { stdout } = await execFileAsync(
        'setpriv',
        [
          ...asNobody,
          process.execPath,
          '--import',
          'tsx',
          script,
          python,
          prefix,
          root,
          String(counter.port),
        ],
        { cwd: repository, env: { PATH: process.env.PATH ?? '', HOME: work }, timeout: 60_000 },
      );

      // Assess
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
        isolation: { uid: boolean; filesystem: boolean; network: boolean };
        status: number;
        stdout: string;
        stderr: string;
      };
      const facts = JSON.parse(/@@facts (\{.*\})/.exec(result.stdout)?.[1] ?? '{}') as Record<
        string,
        unknown
      >;
      expect(result.isolation).toMatchObject({ uid: false, filesystem: true, network: true });
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
      expect(facts).toEqual({
        imported: 7,
        writeTmp: 'OSError',
        writeArtifact: 'OSError',
        writeScratch: 'succeeded',
        socket: 'OSError',
      });
      expect(counter.connections()).toBe(0);
    },
  );
});
