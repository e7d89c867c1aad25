// Smoke import: imports every top-level module of every installed distribution with a real
// interpreter of the target's Python version and architecture, in fresh isolated processes
// that see only the artifact's folders (`python -I -S`: no user or host site-packages, no
// PYTHON* variables, no .pth processing), writing no bytecode into the artifact. Package code
// runs in a cell (sandbox.ts): no network, an empty environment, host folders read-only and,
// as root, another uid; the result says which of these this machine could give. Skipped, with
// the reason said plainly, when no such interpreter exists here. One process per core; a crash
// or a hang is pinned on the module being imported and the rest go on in a new process.
import { execFile, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { wheelMachine } from '../shared/targets.ts';
import type { Target } from '../shared/types.ts';
import {
  factsHoldOnDisk,
  interpreterBinary,
  readCachedFacts,
  writeCachedFacts,
  type InterpreterFacts,
} from './interpreter-facts-cache.ts';
import { ImportQueue, requiredDistributions } from './import-queue.ts';
import { recordPath } from './artifact-verifier.ts';
import {
  footprintOf,
  IMPORT_WATCH_PY,
  ImportFootprintStore,
  indexTree,
  type ImportTrace,
} from './import-footprints.ts';
import {
  openSandbox,
  outsidePathOf,
  sandboxIsolation,
  type Sandbox,
  type SandboxIsolation,
} from './sandbox.ts';
import { CompileHelp } from './compile-help.ts';
import { cellBytecodeCache } from './stdlib-bytecode.ts';

const execFileAsync = promisify(execFile);

export interface SmokeImportOptions {
  /** Folders to put on sys.path, in order (absolute, or relative to the working folder). */
  readonly roots: readonly string[];
  readonly target: Target;
  /** An interpreter to use instead of `python3.X` from PATH. */
  readonly pythonExecutable?: string | null;
  /** Longest one module's import may take; default 60 s. */
  readonly timeoutMs?: number;
  /** Import exactly these modules instead of every distribution's top-level modules. */
  readonly modules?: readonly string[];
  /** Called with the modules imported (or attempted) so far, of how many: once at 0, then after each. */
  readonly onProgress?: (modules: number, ofModules: number) => void;
  /**
   * Called once the import processes are being started (what to import is known, the cell open),
   * with what the cell keeps package code from: whether it may write the roots, among others.
   */
  readonly onImportsStarting?: (isolation: SandboxIsolation) => void;
  /**
   * A folder of the footprints of earlier passed imports (import-footprints.ts): a module whose
   * footprint still holds in these roots is not imported again, and each passed import adds its own.
   */
  readonly footprints?: string;
  /** A folder of interpreters' facts from earlier runs (findTargetInterpreter's `factsCacheDir`). */
  readonly interpreterFacts?: string;
  /**
   * The target's interpreter, being looked for already (findTargetInterpreter with these
   * options): a build starts looking while it installs, so asking a fresh interpreter for its
   * facts is not one more wait after the install.
   */
  readonly interpreterFound?: Promise<InterpreterFacts | { reason: string }>;
}

export interface SmokeImportFailure {
  readonly module: string;
  readonly package: string;
  /**
   * The last line of the traceback (`ModuleNotFoundError: No module named 'numpy'`), plus the
   * innermost cause when the package re-raised (pandas wraps the missing-numpy error).
   */
  readonly error: string;
}

export interface SmokeImportResult {
  readonly ran: boolean;
  readonly ok: boolean;
  /** Why it did not run (ran: false). */
  readonly reason?: string;
  /** Modules imported (or attempted), with those reused. */
  readonly modules: number;
  /** Of them, the passed imports an earlier one stands for (their footprints still hold). */
  readonly reused?: number;
  /** The modules imported, in the order asked: the list the Probe imports again from what ships. */
  readonly moduleNames?: readonly string[];
  readonly failures: SmokeImportFailure[];
  /** The interpreter used, when it ran. */
  readonly interpreter?: string;
  /** What kept package code from the runner's secrets, network and folders (when it ran). */
  readonly isolation?: SandboxIsolation;
}

const PROBE = [
  'import json, sys, sysconfig',
  'import platform',
  'print(json.dumps({"executable": sys.executable, "version": "%d.%d" % sys.version_info[:2], "release": platform.python_version(), "platform": sysconfig.get_platform(), "prefix": sys.base_prefix}))',
].join('\n');

async function runProbe(command: string): Promise<InterpreterFacts | string> {
  try {
    const { stdout } = await execFileAsync(command, ['-I', '-S', '-c', PROBE], { timeout: 20_000 });
    const facts = JSON.parse(stdout.trim().split('\n').pop() ?? '') as InterpreterFacts;
    return facts;
  } catch (error) {
    const text = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return `${command} could not be run (${text})`;
  }
}

/**
 * One build asks for the target's interpreter in several steps (install, smoke import, probe):
 * each file is asked once per process, keyed by its identity so a replaced file is asked again.
 */
const factsByFile = new Map<string, Promise<InterpreterFacts | string>>();

async function askOnce(command: string): Promise<InterpreterFacts | string> {
  const identity = await stat(command).then(
    (found) => `${command}\0${found.ino}\0${found.size}\0${found.mtimeMs}`,
    () => null,
  );
  if (identity === null) return runProbe(command);
  const known = factsByFile.get(identity);
  if (known) return known;
  const asked = runProbe(command);
  factsByFile.set(identity, asked);
  return asked;
}

/**
 * The interpreter's facts, from `factsCacheDir` when an entry there still holds on disk (a new
 * process then starts no Python), else by asking it once per process and keeping what it said.
 */
async function probe(command: string, factsCacheDir?: string): Promise<InterpreterFacts | string> {
  const binary = factsCacheDir ? await interpreterBinary(command, factsCacheDir) : null;
  if (!binary) return askOnce(command);
  const cached = await readCachedFacts(binary);
  if (cached) return cached;
  const facts = await askOnce(command);
  // Only facts the next reader would accept are kept (never a failure: it may pass next time).
  if (typeof facts !== 'string' && (await factsHoldOnDisk(facts, binary)))
    await writeCachedFacts(binary.entry, facts);
  return facts;
}

/** The first executable file called `name` on PATH, as a shell would find it; null when none. */
async function onPath(name: string): Promise<string | null> {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    if (!folder) continue;
    const candidate = join(folder, name);
    const usable = await access(candidate, constants.X_OK).then(
      async () => (await stat(candidate)).isFile(),
      () => false,
    );
    if (usable) return candidate;
  }
  return null;
}

/** Newest release first: `3.11.10` before `3.11.9`. */
function newestFirst(a: string, b: string): number {
  return b.localeCompare(a, 'en', { numeric: true });
}

/**
 * When `path` is a pyenv shim (`<root>/shims/<name>`, a shell script, with `<root>/versions`
 * beside it), the interpreters of `version` that pyenv installed, newest first; else null.
 * A shim is three shell scripts deep (about 0.3 s a call) and picks among the same installs: any
 * of them is the target's Python version, which is all a build needs.
 */
async function pyenvInstallsBehindShim(path: string, version: string): Promise<string[] | null> {
  if (basename(dirname(path)) !== 'shims') return null;
  const head = await readFile(path).then(
    (bytes) => bytes.subarray(0, 1024).toString('latin1'),
    () => '',
  );
  if (!head.startsWith('#!') || !head.includes('pyenv')) return null;
  const versions = join(dirname(dirname(path)), 'versions');
  const names = await readdir(versions).catch(() => null);
  if (!names) return null;
  return names
    .filter((name) => name.startsWith(`${version}.`))
    .sort(newestFirst)
    .map((name) => join(versions, name, 'bin', `python${version}`));
}

/** Interpreters installed by pyenv but not selected (their shims refuse to run). */
async function pyenvCandidates(version: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('pyenv', ['root'], { timeout: 10_000 });
    const versions = join(stdout.trim(), 'versions');
    const names = (await readdir(versions))
      .filter((name) => name.startsWith(`${version}.`))
      .sort(newestFirst);
    return names.map((name) => join(versions, name, 'bin', `python${version}`));
  } catch {
    return [];
  }
}

/**
 * Where `python3.X` is looked for first: pyenv's installs behind a pyenv shim (without running
 * the shim), then the PATH entry itself.
 */
async function pathCandidates(version: string): Promise<string[]> {
  const command = `python${version}`;
  const found = await onPath(command);
  const behindShim = found ? await pyenvInstallsBehindShim(found, version) : null;
  return [...new Set([...(behindShim ?? []), found ?? command])];
}

export interface FindInterpreterOptions {
  /**
   * A folder of interpreters' facts from earlier processes (the run's cache): an entry that still
   * holds on disk stands for starting that interpreter. Without it every process asks again.
   */
  readonly factsCacheDir?: string;
}

/**
 * Find an interpreter of the target's Python version whose platform is the target's
 * (`linux-x86_64` / `linux-aarch64`). Returns the facts, or the reason there is none.
 */
export async function findTargetInterpreter(
  target: Target,
  pythonExecutable?: string | null,
  options: FindInterpreterOptions = {},
): Promise<InterpreterFacts | { reason: string }> {
  const platform = `linux-${wheelMachine(target.architecture)}`;
  const reasons: string[] = [];
  const check = async (candidate: string): Promise<InterpreterFacts | null> => {
    const facts = await probe(candidate, options.factsCacheDir);
    if (typeof facts === 'string') reasons.push(facts);
    else if (facts.version !== target.pythonVersion)
      reasons.push(`${candidate} is Python ${facts.version}, not ${target.pythonVersion}`);
    else if (facts.platform !== platform)
      reasons.push(`${candidate} runs on ${facts.platform}, not ${platform}`);
    else return facts;
    return null;
  };
  if (pythonExecutable) {
    const facts = await check(pythonExecutable);
    if (facts) return facts;
  } else {
    // pyenv's installs that no shim selects are asked for last: `pyenv root` is a shell script too.
    for (const candidates of [pathCandidates, pyenvCandidates]) {
      for (const candidate of await candidates(target.pythonVersion)) {
        const facts = await check(candidate);
        if (facts) return facts;
      }
    }
  }
  return {
    reason: `no Python ${target.pythonVersion} interpreter for ${platform} here: ${reasons.join('; ')}`,
  };
}

/**
 * findTargetInterpreter started now, and (`cellTried`, never rejecting) the trial of its cell
 * once it is found (an interpreter started in a trial cell, 50 ms here): a smoke import or a
 * probe of the target that asks the same later finds both answers waiting. A failure to find is
 * for whoever awaits `found` to report, never an unhandled rejection here.
 */
export function findTargetInterpreterEarly(
  target: Target,
  pythonExecutable?: string | null,
  options: FindInterpreterOptions = {},
): { found: Promise<InterpreterFacts | { reason: string }>; cellTried: Promise<void> } {
  const found = findTargetInterpreter(target, pythonExecutable, options);
  found.catch(() => undefined);
  const cellTried = found
    .then(async (facts) => {
      if (!('reason' in facts)) await sandboxIsolation(facts.executable, facts.prefix);
    })
    .catch(() => undefined);
  return { found, cellTried };
}

/** A distribution and the top-level modules it installs. */
export interface InstalledDistribution {
  readonly name: string;
  readonly modules: string[];
  /** The distributions its METADATA requires (unconditionally), as written there. */
  readonly requires: string[];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Does `name` exist as a package folder, a `.py` file or an extension module in the root? */
async function presentIn(root: string, name: string, files: readonly string[]): Promise<boolean> {
  if (files.includes(`${name}.py`)) return true;
  if (files.some((file) => file.startsWith(`${name}.`) && file.endsWith('.so'))) return true;
  return files.includes(name) && (await stat(join(root, name))).isDirectory();
}

function moduleFromRecordPath(path: string): string | null {
  const parts = path.split('/');
  const first = parts[0] ?? '';
  if (!first || first === '..' || first === '__pycache__' || first === 'bin') return null;
  if (first.endsWith('.dist-info') || first.endsWith('.data')) return null;
  if (parts.length > 1) return IDENTIFIER.test(first) ? first : null;
  const stem = first.split('.')[0] ?? '';
  if (first.endsWith('.py') || first.endsWith('.so')) return IDENTIFIER.test(stem) ? stem : null;
  return null;
}

/**
 * Every distribution installed in the roots and its top-level modules: from
 * `top_level.txt` when present, else from RECORD; only names that exist on disk.
 */
export async function installedDistributions(roots: readonly string[]): Promise<InstalledDistribution[]> {
  const distributions: InstalledDistribution[] = [];
  for (const root of roots) {
    const files = await readdir(root).catch(() => [] as string[]);
    for (const folder of files.filter((file) => file.endsWith('.dist-info')).sort()) {
      const distInfo = join(root, folder);
      let name = folder.replace(/\.dist-info$/, '').split('-')[0] ?? folder;
      const metadata = await readFile(join(distInfo, 'METADATA'), 'utf8').catch(() => '');
      const header = /^Name:\s*(.+)$/m.exec(metadata);
      if (header?.[1]) name = header[1].trim();
      const candidates = new Set<string>();
      const topLevel = await readFile(join(distInfo, 'top_level.txt'), 'utf8').catch(() => '');
      for (const line of topLevel.split(/\r?\n/)) {
        const module = line.trim().replace(/\//g, '.');
        if (module && module.split('.').every((part) => IDENTIFIER.test(part))) candidates.add(module);
      }
      // No top_level.txt, or an empty one (which would make "0 modules: ok"): RECORD says what is there.
      if (candidates.size === 0) {
        const record = await readFile(join(distInfo, 'RECORD'), 'utf8').catch(() => '');
        for (const line of record.split(/\r?\n/)) {
          const path = recordPath(line);
          const module = path ? moduleFromRecordPath(path) : null;
          if (module) candidates.add(module);
        }
      }
      const modules: string[] = [];
      for (const module of [...candidates].sort()) {
        const top = module.split('.')[0] ?? module;
        if (await presentIn(root, top, files)) modules.push(module);
      }
      distributions.push({ name, modules, requires: requiredDistributions(metadata) });
    }
  }
  return distributions;
}

/**
 * The bootstrap each process runs. sys.path becomes exactly the roots plus the interpreter's
 * own standard library (-S already kept site-packages out). It imports each module named on a
 * line of stdin (JSON), until stdin ends. Imports print to stderr so that stdout carries only
 * our marked lines: `start` before each import, `done` with the result. A line `{"compile":
 * [paths]}` instead compiles those sources into the bytecode cache, where none is yet, for
 * another process's import (compile-help.ts), and answers `compiled`.
 */
const BOOTSTRAP = String.raw`
import json, os, sys, traceback, importlib
request = json.loads(sys.argv[1])
sys.path[:] = request["roots"] + [p for p in sys.path if p and "site-packages" not in p and "dist-packages" not in p]
out = sys.stdout
sys.stdout = sys.stderr
${IMPORT_WATCH_PY}
while True:
    line = sys.stdin.readline()
    if not line:
        break
    name = json.loads(line)
    if isinstance(name, dict):
        import importlib.util, py_compile
        compiled = 0
        for path in name.get("compile", []):
            try:
                if not os.path.exists(importlib.util.cache_from_source(path)):
                    compiled += py_compile.compile(path, quiet=2) is not None
            except Exception:
                pass
        out.write("@@compiled %d\n" % compiled); out.flush()
        continue
    out.write("@@start " + json.dumps(name) + "\n"); out.flush()
    try:
        importlib.import_module(name)
        error = None
    except BaseException as exc:
        def last_line(e):
            lines = traceback.format_exception_only(type(e), e)
            return " ".join(lines[-1].split()) if lines else type(e).__name__
        error = last_line(exc)
        root, seen = exc, 0
        while (root.__cause__ or root.__context__) is not None and seen < 20:
            root, seen = root.__cause__ or root.__context__, seen + 1
        if root is not exc:
            error += " (caused by " + last_line(root) + ")"
    files, missing = trace()
    out.write("@@done " + json.dumps({"module": name, "error": error, "files": files, "missing": missing}) + "\n"); out.flush()
`;

type ImportResult = { module: string; error: string | null; trace?: ImportTrace };
/** An @@done line: what the import added to the process's loaded files and missed names. */
type ImportReport = { module: string; error: string | null; files?: string[]; missing?: string[] };

interface ImportRun {
  readonly interpreter: string;
  /** The cell the code runs in; its roots are the artifact's folders as the code sees them. */
  readonly cell: Sandbox;
  /** Longest one import may take. */
  readonly timeoutMs: number;
  /** Compiled bytecode goes here (in the cell's scratch), never into the artifact (which must stay as built). */
  readonly pycachePrefix: string;
  /** Called as each import ends (or is pinned on a crash or hang). */
  readonly onImported: () => void;
  readonly queue: ImportQueue;
  /** A path as the cell saw it, as it is outside the cell. */
  readonly outsidePath: (path: string) => string;
  /** Sources to compile for the imports still running, once the queue is empty (compile-help.ts). */
  readonly compileHelp: CompileHelp;
}

/**
 * One interpreter importing what the queue hands it, starting with `first`, until the queue is
 * empty (stdin is then closed) or the interpreter dies or hangs (the module it was on is then
 * pinned with the reason, and `crashed` says a new process must carry on).
 */
function importProcess(
  run: ImportRun,
  first: { module: string; unit: string },
): Promise<{ results: ImportResult[]; crashed: boolean }> {
  const { interpreter, cell, timeoutMs, queue } = run;
  const args = ['-I', '-S', '-X', `pycache_prefix=${run.pycachePrefix}`, '-c', BOOTSTRAP];
  const { file, argv, env } = cell.command(interpreter, [...args, JSON.stringify({ roots: cell.roots })]);
  return new Promise((resolve) => {
    const child = spawn(file, argv, { cwd: cell.home, env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // a dead interpreter is reported on close
    let pending = '';
    let stderr = '';
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const results: ImportResult[] = [];
    // Everything this process loaded and missed so far: a module's footprint includes what came before it.
    const loaded: string[] = [];
    const missed: string[] = [];
    let current: { module: string; unit: string } | null = first;
    let started = false;
    let closed = false;
    // Set while waiting for the queue's next module (other processes may be importing its requirements).
    let taking: Promise<void> | null = null;
    const send = (next: { module: string; unit: string } | null): void => {
      // The interpreter exited while the queue was deciding: the module goes back for a new process.
      if (closed) return void (next && queue.release(next));
      current = next;
      started = false;
      clearTimeout(timer);
      if (!next) return void (helpCompile() || child.stdin.end());
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdin.write(`${JSON.stringify(next.module)}\n`);
    };
    // Nothing left to import: compile for the imports other processes are still on, a chunk at a time.
    const helpCompile = (): boolean => {
      const chunk = queue.drained ? run.compileHelp.next(queue.importing()) : [];
      if (chunk.length === 0) return false;
      timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdin.write(`${JSON.stringify({ compile: chunk })}\n`);
      return true;
    };
    // The marked lines are read as they come, so that each finished import is reported at once.
    const readLine = (line: string): void => {
      if (line.startsWith('@@compiled ')) send(null);
      else if (line.startsWith('@@start ')) started = true;
      else if (line.startsWith('@@done ') && current) {
        const report = JSON.parse(line.slice(7)) as ImportReport;
        loaded.push(...(report.files ?? []).map(run.outsidePath));
        missed.push(...(report.missing ?? []));
        const trace = { files: [...loaded], missing: [...missed] };
        results.push({ module: report.module, error: report.error, trace });
        const { unit } = current;
        current = null;
        clearTimeout(timer);
        run.onImported();
        queue.finish(unit);
        taking = queue.take().then((next) => {
          taking = null;
          send(next);
        });
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) readLine(line);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep the tail only: a noisy import must not hold megabytes.
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      readLine(pending);
      closed = true;
      // An exit between two imports: whatever the queue hands out next goes to a new process.
      if (taking) return void taking.then(() => resolve({ results, crashed: true }));
      const interrupted = current;
      if (!interrupted) return resolve({ results, crashed: false });
      const lastLine = stderr.trim().split('\n').pop() ?? '';
      const how = `${signal ?? `exit ${String(code)}`})${lastLine ? `: ${lastLine}` : ''}`;
      results.push({
        module: interrupted.module,
        error: timedOut
          ? `the import did not finish within ${Math.round(timeoutMs / 1000)} s`
          : started
            ? `the interpreter died while importing it (${how}`
            : `the interpreter did not start the import (${how}`,
      });
      run.onImported();
      queue.finish(interrupted.unit);
      resolve({ results, crashed: true });
    });
    send(first);
  });
}

/** One of the parallel importers: after a crash or hang it carries on in a new process. */
async function importWorker(run: ImportRun): Promise<ImportResult[]> {
  const results: ImportResult[] = [];
  for (let next = await run.queue.take(); next; next = await run.queue.take()) {
    const outcome = await importProcess(run, next);
    results.push(...outcome.results);
    if (!outcome.crashed) break;
  }
  return results;
}

/** The modules to import, each with the distribution it belongs to (the first that names it). */
function moduleOwners(groups: readonly InstalledDistribution[]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const group of groups)
    for (const module of group.modules) if (!owners.has(module)) owners.set(module, group.name);
  return owners;
}

/**
 * How many interpreters import `plan.modules`: one per core, but no more than there are
 * distributions to import. One distribution's modules import each other, and a second
 * interpreter for them (attrs's attr and attrs, when one package was added to a set) only
 * starts another Python while the checks and the packing need the cores.
 */
export function importProcessCount(
  plan: {
    groups: readonly InstalledDistribution[];
    owners: ReadonlyMap<string, string>;
    modules: readonly string[];
  },
  cores: number,
): number {
  const wanted = new Set(plan.modules);
  const distributions = plan.groups.filter((group) =>
    group.modules.some((module) => plan.owners.get(module) === group.name && wanted.has(module)),
  ).length;
  return Math.max(1, Math.min(cores, distributions));
}

/** Import `modules` (each owned by a group) in the cell, one process per core; returns each result. */
async function importInCell(
  cell: Sandbox,
  interpreter: InterpreterFacts,
  plan: { groups: readonly InstalledDistribution[]; owners: Map<string, string>; modules: readonly string[] },
  options: { roots: readonly string[]; timeoutMs: number; onImported: () => void },
): Promise<ImportResult[]> {
  // A few long-lived processes instead of one per distribution, sharing one bytecode cache and
  // fed requirements first (import-queue.ts): numpy is compiled once, not once per dependent
  // package. A crash or hang still costs only the module it happened in (a new process carries on).
  const wanted = new Set(plan.modules);
  const queue = new ImportQueue(
    plan.groups.map((group) => ({
      name: group.name,
      modules: group.modules.filter((module) => plan.owners.get(module) === group.name && wanted.has(module)),
      requires: group.requires,
    })),
  );
  const pycachePrefix = await cellBytecodeCache(cell, interpreter);
  const run: ImportRun = {
    interpreter: interpreter.executable,
    cell,
    timeoutMs: options.timeoutMs,
    pycachePrefix,
    onImported: options.onImported,
    queue,
    outsidePath: outsidePathOf(cell, options.roots),
    compileHelp: new CompileHelp({ groups: plan.groups, roots: options.roots, cellRoots: cell.roots }),
  };
  const processes = importProcessCount(plan, availableParallelism());
  const outcomes = await Promise.all(Array.from({ length: processes }, () => importWorker(run)));
  return outcomes.flat();
}

/** The failures among the results, sorted; "0 modules" in a tree that holds importable files is one too. */
async function failuresOf(
  results: readonly ImportResult[],
  owners: Map<string, string>,
  noneFound: () => Promise<boolean>,
): Promise<SmokeImportFailure[]> {
  const failures: SmokeImportFailure[] = results
    .filter((result) => result.error !== null)
    .map((result) => ({
      module: result.module,
      package: owners.get(result.module) ?? '?',
      error: result.error ?? '',
    }));
  if (await noneFound())
    failures.push({
      module: '(none)',
      package: '?',
      error: 'no module was found to import, though the artifact holds importable files',
    });
  return failures.sort((a, b) => a.package.localeCompare(b.package) || a.module.localeCompare(b.module));
}

/**
 * Import every top-level module installed in `roots`, in as many processes as there are cores.
 *
 * @example
 * const result = await smokeImport({ roots: ['out/tree/python'], target: lambdaTarget('python3.11', 'x86_64') });
 * if (!result.ran) console.log(`smoke import skipped: ${result.reason}`);
 */
export async function smokeImport(options: SmokeImportOptions): Promise<SmokeImportResult> {
  const found = await (options.interpreterFound ??
    findTargetInterpreter(options.target, options.pythonExecutable, {
      factsCacheDir: options.interpreterFacts,
    }));
  if ('reason' in found) return { ran: false, ok: false, reason: found.reason, modules: 0, failures: [] };
  const roots: string[] = [];
  for (const root of options.roots) if (await exists(root)) roots.push(resolve(root));
  const groups: InstalledDistribution[] = options.modules
    ? await attributeModules(options.modules, roots)
    : (await installedDistributions(roots)).filter((distribution) => distribution.modules.length > 0);
  const owners = moduleOwners(groups);
  const allModules = [...owners.keys()];
  // (The cell's folder is removed on Ctrl-C from the moment it exists: sandbox.ts.)
  const cell = await openSandbox(found.executable, found.prefix, roots);
  try {
    const store = options.footprints
      ? await ImportFootprintStore.open(options.footprints, found.executable, options.target, cell.isolation)
      : null;
    // Indexed while the imports run when no footprint is on record (a first build waits for nothing).
    const tree = store ? indexTree(roots) : null;
    const reused = store && tree ? await store.reusable(allModules, tree) : new Set<string>();
    let done = reused.size;
    options.onProgress?.(done, allModules.length);
    options.onImportsStarting?.(cell.isolation);
    const results = await importInCell(
      cell,
      found,
      { groups, owners, modules: allModules.filter((module) => !reused.has(module)) },
      {
        roots,
        timeoutMs: options.timeoutMs ?? 60_000,
        onImported: () => options.onProgress?.(++done, allModules.length),
      },
    );
    if (store && tree) {
      const index = await tree;
      await Promise.all(
        results.map(async ({ module, error, trace }) => {
          if (error === null && trace) await store.record(module, await footprintOf(trace, index));
        }),
      );
    }
    const modules = results.length + reused.size;
    const noneFound = async (): Promise<boolean> =>
      modules === 0 && !options.modules && (await hasImportableFiles(roots));
    const failures = await failuresOf(results, owners, noneFound);
    return {
      ran: true,
      ok: failures.length === 0,
      modules,
      ...(reused.size > 0 ? { reused: reused.size } : {}),
      moduleNames: allModules,
      failures,
      interpreter: found.executable,
      isolation: cell.isolation,
    };
  } finally {
    await cell.dispose();
  }
}

/** Group explicitly requested modules by the distribution that installs them (`?` when none does). */
async function attributeModules(
  modules: readonly string[],
  roots: readonly string[],
): Promise<InstalledDistribution[]> {
  const owners = new Map<string, string>();
  const requires = new Map<string, string[]>();
  for (const distribution of await installedDistributions(roots)) {
    requires.set(distribution.name, distribution.requires);
    for (const module of distribution.modules) owners.set(module.split('.')[0] ?? module, distribution.name);
  }
  const groups = new Map<string, string[]>();
  for (const module of modules) {
    const owner = owners.get(module.split('.')[0] ?? module) ?? '?';
    groups.set(owner, [...(groups.get(owner) ?? []), module]);
  }
  return [...groups].map(([name, grouped]) => ({
    name,
    modules: grouped,
    requires: requires.get(name) ?? [],
  }));
}

/** Does any root hold a top-level `.py`/`.so` file or a package folder with `__init__.py`? */
async function hasImportableFiles(roots: readonly string[]): Promise<boolean> {
  for (const root of roots) {
    for (const entry of await readdir(root, { withFileTypes: true }).catch(() => [])) {
      if (entry.isFile() && /\.(py|so)$/.test(entry.name)) return true;
      if (
        entry.isDirectory() &&
        IDENTIFIER.test(entry.name) &&
        (await exists(join(root, entry.name, '__init__.py')))
      )
        return true;
    }
  }
  return false;
}
