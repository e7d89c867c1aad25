// The cell the smoke import runs package code in. Importing a package runs its code, and that
// code must not see what the build runner holds: the runner's credentials (files and
// environment), the network, or the host's folders for writing. On Linux the cell is a new
// mount and network namespace (`unshare`); as root the code then runs as an unprivileged uid
// (nobody, 65534); when not root a user namespace stands in (same uid outside, so other
// processes of that uid stay readable, and the manifest says so). The environment is always
// empty but for a fixed PATH, HOME and locale. What could not be had is reported, never hidden.
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeTree } from '../shared/remove-tree.ts';
import { atInterrupt } from '../shared/interrupt-cleanup.ts';

const execFileAsync = promisify(execFile);

/** The uid and gid package code runs as when the runner is root. */
export const SANDBOX_UID = 65534;

/** What the cell achieved; each false means that protection is missing here. */
export interface SandboxIsolation {
  /** Runs as another, unprivileged uid (cannot read the runner's processes or 0600 files). */
  readonly uid: boolean;
  /** In a network namespace of its own with no interfaces up: no connection anywhere. */
  readonly network: boolean;
  /** Host folders are read-only to it (the world-writable ones included); only its scratch is writable. */
  readonly filesystem: boolean;
  /** No variable of the runner's environment reaches it. */
  readonly environment: boolean;
  /** Why a protection is missing, when one is. */
  readonly reason?: string;
}

/** How to spawn one process in the cell (its environment never holds the runner's variables). */
export interface CellCommand {
  readonly file: string;
  readonly argv: string[];
  readonly env: Record<string, string>;
}

/** A cell prepared for one smoke import run; `dispose` removes its scratch. */
export interface Sandbox {
  readonly isolation: SandboxIsolation;
  /** The roots as the code sees them. */
  readonly roots: readonly string[];
  /** Writable scratch (HOME, bytecode). */
  readonly home: string;
  /** The command, argv and environment that run `interpreter args…` inside the cell. */
  command(interpreter: string, args: readonly string[]): CellCommand;
  dispose(): Promise<void>;
}

/** A path as the cell's code saw it, mapped back to the root (of `roots`, in the cell's order) it stands for. */
export function outsidePathOf(
  cell: Pick<Sandbox, 'roots'>,
  roots: readonly string[],
): (path: string) => string {
  return (path) => {
    const index = cell.roots.findIndex((root) => path.startsWith(`${root}/`));
    const inside = cell.roots[index];
    return inside === undefined ? path : `${roots[index] ?? inside}${path.slice(inside.length)}`;
  };
}

/**
 * Runs as root inside the new namespaces, before any package code: makes host folders read-only,
 * binds the roots and the interpreter's prefix where the code can reach them, hides the folders
 * the unprivileged uid could not traverse anyway (root's home), then drops to that uid and execs
 * the real command. argv[1] is a JSON request, so no path is ever parsed by a shell. It mounts
 * through mount(2) itself: a `mount` process for each of its 14 mounts took half of a cell's
 * start (57 ms, now 28 ms), and every smoke-import process and probe starts one.
 */
const SETUP = String.raw`
import ctypes, json, os, sys
req = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_MOVE, MS_RELATIME = 1, 32, 4096, 8192, 1 << 21
# What a remount keeps of the mount's flags (nosuid, nodev, noexec, noatime, nodiratime: statvfs
# gives them as the same bits; relatime apart): in a user namespace the kernel refuses to drop them.
KEPT, ST_RELATIME = 2 | 4 | 8 | 1024 | 2048, 4096
def mount(source, target, fstype, flags, data=None):
    name = lambda text: None if text is None else os.fsencode(text)
    if libc.mount(name(source), name(target), name(fstype), flags, name(data)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, "mount on %s: %s" % (target, os.strerror(number)))
def remount(target, read_only):
    current = os.statvfs(target).f_flag
    kept = (current & KEPT) | (MS_RELATIME if current & ST_RELATIME else 0)
    mount(None, target, None, MS_REMOUNT | MS_BIND | kept | (MS_RDONLY if read_only else 0))
def read_only_bind(source, target):
    mount(source, target, None, MS_BIND)
    remount(target, True)
for folder in req["readOnly"]:
    if os.path.isdir(folder) and not os.path.islink(folder):
        read_only_bind(folder, folder)
for source, target in req["binds"]:
    read_only_bind(source, target)
if req["hide"]:
    read_only_bind(req["prefix"], req["stage"])
    mount("lambda-deps-hidden", req["hide"], "tmpfs", 0, "mode=0755,size=1m")
    os.makedirs(req["prefix"], exist_ok=True)
    mount(req["stage"], req["prefix"], None, MS_MOVE)
mount(req["home"], req["home"], None, MS_BIND)
remount(req["home"], False)
if req["uid"] is not None:
    os.setgroups([])
    os.setgid(req["uid"])
    os.setuid(req["uid"])
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.chdir(req["home"])
os.execve(req["argv"][0], req["argv"], req["env"])
`;

/** Room a cell's scratch may take in RAM: its bytecode cache (the seed set's is 36 MB) and HOME. */
const RAM_SCRATCH_BYTES = 1024 ** 3;

/**
 * Where cells keep their scratch: RAM (/dev/shm) when it has room, since a cell's bytecode cache
 * is thousands of small files (the standard library's links alone took 185 ms on this machine's
 * ext4 /tmp, 4 ms in /dev/shm); else the temporary folder. (The cell binds its own scratch
 * writable again after making /dev/shm read-only.)
 */
async function cellScratchRoot(): Promise<string> {
  const info = await statfs('/dev/shm').catch(() => null);
  return info && info.bavail * info.bsize > RAM_SCRATCH_BYTES ? '/dev/shm' : tmpdir();
}

/** World-writable host folders made read-only inside the cell. */
const WRITABLE_HOST_FOLDERS = ['/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/dev/mqueue'];

type Mechanism = 'root' | 'user-namespace' | 'none';

const probes = new Map<string, Promise<{ mechanism: Mechanism; reason?: string }>>();

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function unshareFlags(mechanism: Mechanism): string[] {
  return mechanism === 'root' ? ['--mount', '--net'] : ['--user', '--map-root-user', '--mount', '--net'];
}

/** The topmost ancestor of `path` that others cannot traverse (to hide and re-expose), or null. */
async function untraversableAncestor(path: string): Promise<string | null> {
  const parts = path.split('/').filter(Boolean);
  for (let index = 1; index < parts.length; index++) {
    const folder = `/${parts.slice(0, index).join('/')}`;
    const info = await stat(folder).catch(() => null);
    if (info && (info.mode & 0o001) === 0) return folder;
  }
  return null;
}

/** Can this machine build the cell with `interpreter`? Asked once per interpreter, then remembered. */
function probe(interpreter: string, prefix: string): Promise<{ mechanism: Mechanism; reason?: string }> {
  const cached = probes.get(interpreter);
  if (cached) return cached;
  const attempt = (async () => {
    if (process.platform !== 'linux') return { mechanism: 'none' as const, reason: 'not Linux' };
    const mechanisms: Mechanism[] = isRoot() ? ['root', 'user-namespace'] : ['user-namespace'];
    const reasons: string[] = [];
    for (const mechanism of mechanisms) {
      const cell = await prepare(interpreter, prefix, mechanism, []);
      try {
        const { file, argv, env } = cell.command(interpreter, ['-I', '-S', '-c', 'print("cell ok")']);
        const { stdout } = await execFileAsync(file, argv, { timeout: 20_000, env });
        if (stdout.includes('cell ok')) return { mechanism };
        reasons.push(`${mechanism}: no answer`);
      } catch (error) {
        const text = error instanceof Error ? error.message.split('\n').slice(-2).join(' ') : String(error);
        reasons.push(`${mechanism}: ${text.trim()}`);
      } finally {
        await cell.dispose();
      }
    }
    return { mechanism: 'none' as const, reason: `no namespaces here (${reasons.join('; ')})` };
  })();
  probes.set(interpreter, attempt);
  return attempt;
}

const SETUP_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

function isolationOf(mechanism: Mechanism, reason?: string): SandboxIsolation {
  if (mechanism === 'root') return { uid: true, network: true, filesystem: true, environment: true };
  if (mechanism === 'user-namespace')
    return {
      uid: false,
      network: true,
      filesystem: true,
      environment: true,
      reason: 'not running as root: the code keeps the runner’s uid (in a user namespace)',
    };
  return {
    uid: false,
    network: false,
    filesystem: false,
    environment: true,
    reason: reason ?? 'no namespaces here',
  };
}

async function prepare(
  interpreter: string,
  prefix: string,
  mechanism: Mechanism,
  roots: readonly string[],
): Promise<Sandbox> {
  const work = await mkdtemp(join(await cellScratchRoot(), 'lambda-deps-cell-'));
  // Removed on Ctrl-C or SIGTERM from the moment it exists (a cell's own set-up may be what is cut short).
  const forget = atInterrupt(() => removeTree(work));
  await chmod(work, 0o755);
  const home = join(work, 'home');
  await mkdir(home, { mode: 0o700 });
  const uid = mechanism === 'root' ? SANDBOX_UID : null;
  if (uid !== null) await chown(home, uid, uid);
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    // One BLAS thread keeps parallel imports from oversubscribing.
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
  };
  // (The smoke import's bytecode cache is thousands of files.)
  const dispose = (): Promise<void> => {
    forget();
    return removeTree(work);
  };
  if (mechanism === 'none')
    return {
      isolation: isolationOf(mechanism),
      roots,
      home,
      dispose,
      command: (file, args) => ({ file, argv: [...args], env: { ...env } }),
    };
  const binds: [string, string][] = [];
  const inner: string[] = [];
  for (const [index, root] of roots.entries()) {
    const target = join(work, 'roots', String(index));
    await mkdir(target, { recursive: true });
    binds.push([root, target]);
    inner.push(target);
  }
  const stage = join(work, 'stage');
  await mkdir(stage);
  const hide = await untraversableAncestor(prefix);
  return {
    isolation: isolationOf(mechanism),
    roots: inner,
    home,
    dispose,
    command: (file, args) => {
      const request = {
        readOnly: WRITABLE_HOST_FOLDERS,
        binds,
        hide,
        prefix,
        stage,
        home,
        uid,
        argv: [file, ...args],
        env,
      };
      return {
        file: 'unshare',
        argv: [
          ...unshareFlags(mechanism),
          '--',
          interpreter,
          '-I',
          '-S',
          '-c',
          SETUP,
          JSON.stringify(request),
        ],
        env: { PATH: SETUP_PATH },
      };
    },
  };
}

/**
 * A cell for running `interpreter` (whose installation lives under `prefix`) on `roots`, as
 * isolated as this machine allows. The roots are bound read-only into the cell.
 * @example
 *   const cell = await openSandbox('/usr/bin/python3.11', '/usr', ['/tmp/tree/python']);
 *   const { file, argv } = cell.command('/usr/bin/python3.11', ['-I', '-S', '-c', 'import numpy']);
 */
export async function openSandbox(
  interpreter: string,
  prefix: string,
  roots: readonly string[],
): Promise<Sandbox> {
  const { mechanism, reason } = await probe(interpreter, prefix);
  const cell = await prepare(interpreter, prefix, mechanism, roots);
  return reason ? { ...cell, isolation: isolationOf(mechanism, reason) } : cell;
}

/** Which protections are there for `interpreter` here (for reports; probes once). */
export async function sandboxIsolation(interpreter: string, prefix: string): Promise<SandboxIsolation> {
  const { mechanism, reason } = await probe(interpreter, prefix);
  return isolationOf(mechanism, reason);
}
