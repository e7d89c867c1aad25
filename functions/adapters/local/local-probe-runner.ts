// The local twin of the Probe function: unpacks the artifact exactly as Lambda would (layers in
// order under a fresh /opt-like folder, the EFS version through its PYTHONPATH, the image's
// layers into a root filesystem) and runs the very probe.py the AWS probe function runs, with an
// interpreter of the target's exact Python version and architecture, `-I -S`, and only the
// artifact's folders on sys.path. When this machine cannot run the target, it says so.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobPath, readLayoutImage } from '../../core/deliver/index.ts';
import { extractTreeTar } from '../../core/pack/index.ts';
import {
  efsSysPath,
  imageSysPath,
  layerSysPath,
  probeNotRun,
  type ProbedModule,
  type ProbeRequest,
  type ProbeResult,
} from '../../core/probe/index.ts';
import { findTargetInterpreter } from '../../core/verify/index.ts';
import { extractZip } from '../../cli/commands/verify.ts';
import type { ProbeRunner } from '../probe-port.ts';

/** The probe's Python source: the same file the AWS probe function runs. */
export const PROBE_SCRIPT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'probe-runtime',
  'probe.py',
);

export interface LocalProbeOptions {
  /** An interpreter to use instead of `python3.X` from PATH (it must still be the target's version). */
  readonly pythonExecutable?: string | null;
  /** The whole import, all modules; default 120 s. */
  readonly timeoutMs?: number;
}

/** Unpack the artifact into `workDir` and return the folders a Lambda function would import from. */
async function materialize(request: ProbeRequest, workDir: string): Promise<string[]> {
  const { artifact, target } = request;
  if (artifact.kind === 'layers') {
    const opt = join(workDir, 'opt');
    await mkdir(opt, { recursive: true });
    for (const zip of artifact.zips) await extractZip(zip, opt);
    const task = join(workDir, 'var', 'task');
    await mkdir(task, { recursive: true });
    return [task, ...layerSysPath(opt, target.pythonVersion)];
  }
  if (artifact.kind === 'efs') return efsSysPath(artifact.mountRoot, artifact.mountPath, artifact.pythonPath);
  const image = await readLayoutImage(artifact.layoutDir);
  const root = join(workDir, 'rootfs');
  for (const layer of image.manifest.layers)
    await extractTreeTar(blobPath(artifact.layoutDir, layer.digest), root);
  return imageSysPath(root, target.pythonVersion, image.config.config?.Env ?? []);
}

interface ProbeOutput {
  readonly python: string;
  readonly machine: string;
  readonly importMs: number;
  readonly modules: ProbedModule[];
}

/** Run probe.py; a crash or a hang is pinned on the module that was being imported. */
function runProbeScript(
  interpreter: string,
  paths: readonly string[],
  modules: readonly string[],
  scratch: string,
  timeoutMs: number,
): Promise<ProbeOutput | { crashed: string; module: string | null }> {
  const args = [
    '-I',
    '-S',
    '-X',
    `pycache_prefix=${join(scratch, 'pycache')}`,
    PROBE_SCRIPT,
    JSON.stringify({ paths, modules }),
  ];
  return new Promise((done) => {
    // An empty environment: nothing of this process (credentials included) reaches package code.
    const child = spawn(interpreter, args, {
      cwd: scratch,
      env: { LANG: 'C.UTF-8', HOME: scratch, PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let current: string | null = null;
      for (const line of stdout.split('\n')) {
        if (line.startsWith('@@start ')) current = JSON.parse(line.slice(8)) as string;
        if (line.startsWith('@@result ')) return done(JSON.parse(line.slice(9)) as ProbeOutput);
      }
      const why =
        signal === 'SIGKILL'
          ? `did not finish within ${Math.round(timeoutMs / 1000)} s`
          : `died (${signal ?? `exit ${String(code)}`})`;
      const last = stderr.trim().split('\n').pop() ?? '';
      done({ crashed: `the interpreter ${why}${last ? `: ${last}` : ''}`, module: current });
    });
  });
}

/**
 * Probe an artifact here. Returns `ran: false` with the reason when this machine has no
 * interpreter of the target's version and architecture.
 *
 * @example
 *   const probe = await probeLocally({ target, modules: ['numpy'], artifact: { kind: 'layers', zips: ['out/layers/a/1.zip'] } });
 */
export async function probeLocally(
  request: ProbeRequest,
  options: LocalProbeOptions = {},
): Promise<ProbeResult> {
  const { target } = request;
  const found = await findTargetInterpreter(target, options.pythonExecutable);
  if ('reason' in found) return probeNotRun(target, found.reason, 'local');
  const scratch = await mkdtemp(join(tmpdir(), 'lambda-deps-probe-'));
  try {
    const paths = await materialize(request, scratch);
    const output = await runProbeScript(
      found.executable,
      paths,
      request.modules,
      scratch,
      options.timeoutMs ?? 120_000,
    );
    if ('crashed' in output) {
      const modules = output.module
        ? [{ module: output.module, ok: false, error: output.crashed, ms: 0 }]
        : [];
      return {
        ran: true,
        ok: false,
        from: 'artifact',
        python: null,
        arch: target.architecture,
        modules,
        importMs: null,
        reason: output.crashed,
        where: 'local',
      };
    }
    const failed = output.modules.filter((module) => !module.ok);
    return {
      ran: true,
      ok: failed.length === 0 && output.modules.length > 0,
      from: 'artifact',
      python: output.python,
      arch: target.architecture,
      modules: output.modules,
      importMs: output.importMs,
      ...(output.modules.length === 0 ? { reason: 'the artifact has no module to import' } : {}),
      ...(failed.length > 0
        ? { reason: `${failed.length} of ${output.modules.length} modules did not import` }
        : {}),
      where: 'local',
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The ProbeRunner port, locally. */
export class LocalProbeRunner implements ProbeRunner {
  constructor(private readonly options: LocalProbeOptions = {}) {}

  probe(request: ProbeRequest): Promise<ProbeResult> {
    return probeLocally(request, this.options);
  }
}
