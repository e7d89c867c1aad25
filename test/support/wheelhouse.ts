// The shared test corpus (../shared/corpus/wheelhouse.py): builds a small real index once per
// spec (cached under the OS temp folder by the spec's hash) and serves it on loopback with
// optional injected faults.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * `shared/corpus` beside the repository, wherever the clone is: the nearest of the clone's parent
 * folders that holds one (a git worktree may sit a level or two deeper than the main clone).
 */
function findCorpus(): string {
  const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  let folder = dirname(repository);
  for (let level = 0; level < 4; level++) {
    const candidate = join(folder, 'shared', 'corpus');
    if (existsSync(join(candidate, 'wheelhouse.py'))) return candidate;
    folder = dirname(folder);
  }
  return join(dirname(repository), 'shared', 'corpus');
}

export const CORPUS_DIR = findCorpus();
export const WHEELHOUSE_SCRIPT = join(CORPUS_DIR, 'wheelhouse.py');
export const WEB_SPEC = join(CORPUS_DIR, 'specs', 'web.json');

export const NO_CORPUS_REASON = `the shared corpus (${WHEELHOUSE_SCRIPT}) is not beside this clone`;

export function corpusAvailable(): boolean {
  return existsSync(WHEELHOUSE_SCRIPT);
}

/** Build (or reuse) the index for a spec; returns its folder (with `simple/` and `packages/`). */
export async function buildWheelhouse(specPath: string = WEB_SPEC): Promise<string> {
  const spec = await readFile(specPath);
  const digest = createHash('sha256').update(spec).digest('hex').slice(0, 16);
  const out = join(tmpdir(), `lambda-deps-wheelhouse-${digest}`);
  if (existsSync(join(out, 'simple'))) return out;
  const staging = await mkdtemp(join(tmpdir(), 'lambda-deps-wheelhouse-build-'));
  await execFileAsync('python3', [WHEELHOUSE_SCRIPT, 'build', specPath, join(staging, 'index')], {
    maxBuffer: 16 * 1024 * 1024,
  });
  // Another test file may have finished the same build meanwhile: the first rename wins.
  await rename(join(staging, 'index'), out).catch(() => undefined);
  await rm(staging, { recursive: true, force: true });
  return out;
}

export interface WheelhouseServerOptions {
  failRate?: number;
  latencyMs?: number;
  noJson?: boolean;
  noRange?: boolean;
}

export interface WheelhouseServer {
  /** `http://127.0.0.1:PORT` (no trailing slash); the index root is `${origin}/simple/`. */
  readonly origin: string;
  readonly indexUrl: string;
  close(): Promise<void>;
}

/** Serve an index folder on 127.0.0.1 with wheelhouse.py. */
export async function serveWheelhouse(
  directory: string,
  options: WheelhouseServerOptions = {},
): Promise<WheelhouseServer> {
  const portDir = await mkdtemp(join(tmpdir(), 'lambda-deps-port-'));
  const portFile = join(portDir, 'port');
  const args = [WHEELHOUSE_SCRIPT, 'serve', directory, '--port', '0', '--port-file', portFile];
  if (options.failRate !== undefined) args.push('--fail-rate', String(options.failRate));
  if (options.latencyMs !== undefined) args.push('--latency-ms', String(options.latencyMs));
  if (options.noJson) args.push('--no-json');
  if (options.noRange) args.push('--no-range');
  const child = spawn('python3', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 15_000;
  let port = '';
  while (!port) {
    if (child.exitCode !== null) throw new Error(`wheelhouse.py serve exited: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`wheelhouse.py serve did not start: ${stderr}`);
    }
    port = (await readFile(portFile, 'utf8').catch(() => '')).trim();
    if (!port) await new Promise((done) => setTimeout(done, 50));
  }
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    indexUrl: `${origin}/simple/`,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill();
        await exited;
      }
      await rm(portDir, { recursive: true, force: true });
    },
  };
}
