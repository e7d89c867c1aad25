// Optional changes to the packed packages after install: `.pyc` precompiled by the target's
// Python (--precompile) and symbols stripped from extension modules (--strip-symbols). Each
// regenerates the package's RECORD so verification and the smoke import see what ships.
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { wheelMachine } from '../shared/targets.ts';
import type { Lock } from '../shared/types.ts';
import type { BuildContext } from './build-events.ts';
import type { SlimPolicy } from './slim-policy.ts';
import { listFiles } from './build-cache.ts';
import { SITE_DIR } from './tree-files.ts';
import { withUpdatedRecord, type InstalledPackage } from './wheel-installer.ts';

const execFileAsync = promisify(execFile);

function totalBytes(packages: readonly InstalledPackage[]): number {
  return packages.reduce((sum, pkg) => sum + pkg.slimmedBytes, 0);
}

/** Which interpreter to look for, and where earlier runs left interpreters' facts (the run's cache). */
export interface PostProcessInterpreter {
  readonly pythonExecutable?: string | undefined;
  readonly factsCacheDir?: string | undefined;
}

/** Precompile and strip as the slim policy asks; what cannot be done is a warning, never a silent skip. */
export async function postProcess(
  packed: InstalledPackage[],
  slim: SlimPolicy,
  treeDir: string,
  lock: Lock,
  wanted: PostProcessInterpreter,
  context: BuildContext,
): Promise<InstalledPackage[]> {
  let result = packed;
  if (slim.precompile) {
    const before = totalBytes(result);
    const compiled = await precompileTree(result, treeDir, lock, wanted);
    if (typeof compiled === 'string') context.warn(`not precompiled: ${compiled}`);
    else {
      result = compiled;
      context.warn(
        `precompiled .pyc for Python ${lock.target.pythonVersion}: ${before} bytes before, ${totalBytes(result)} bytes after (faster cold starts, more bytes).`,
      );
    }
  }
  if (slim.stripSymbols) {
    const before = totalBytes(result);
    const stripped = await stripExtensionModules(result, treeDir, lock, wanted);
    if (typeof stripped === 'string') context.warn(`symbols not stripped: ${stripped}`);
    else {
      result = stripped.packages;
      context.warn(
        `stripped symbols from ${stripped.files} extension module(s): ${before} bytes before, ${totalBytes(result)} after; the smoke import checks they still load (*.libs untouched).`,
      );
      for (const failure of stripped.failures) context.warn(`not stripped: ${failure}`);
    }
  }
  return result;
}

/** The target's interpreter, or why there is none (smoke-import.ts loads only when a step needs it). */
async function targetInterpreter(lock: Lock, wanted: PostProcessInterpreter) {
  const { findTargetInterpreter } = await import('../verify/smoke-import.ts');
  return findTargetInterpreter(lock.target, wanted.pythonExecutable ?? null, {
    factsCacheDir: wanted.factsCacheDir,
  });
}

/**
 * Compile every module of the packed packages to hash-checked `.pyc` (deterministic: no
 * timestamps) with an interpreter of the target's exact Python version, and add the files to
 * their packages. Returns why not when there is no such interpreter.
 */
async function precompileTree(
  packed: readonly InstalledPackage[],
  treeDir: string,
  lock: Lock,
  wanted: PostProcessInterpreter,
): Promise<InstalledPackage[] | string> {
  const interpreter = await targetInterpreter(lock, wanted);
  if ('reason' in interpreter) return interpreter.reason;
  const site = join(treeDir, SITE_DIR);
  await execFileAsync(
    interpreter.executable,
    [
      '-I',
      '-m',
      'compileall',
      '-q',
      '-j',
      '0',
      '--invalidation-mode',
      'unchecked-hash',
      // Recorded source paths are where layers land (/opt/python), not this scratch folder: deterministic and true.
      '-s',
      site,
      '-p',
      '/opt/python',
      site,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60 * 1000 },
  ).catch((error: { stdout?: string }) => {
    // compileall exits 1 when some file does not compile (e.g. Python 2 leftovers); what compiled is kept.
    if (error.stdout === undefined) throw error;
  });
  const owner = new Map<string, number>();
  packed.forEach((pkg, index) => {
    for (const file of pkg.files) owner.set(file.path, index);
  });
  const added = packed.map(() => [] as InstalledPackage['files'][number][]);
  for (const path of await listFiles(site)) {
    const match = /^(.*?)(?:\/)?__pycache__\/([^/]+?)\.[^/.]+\.pyc$/.exec(path);
    if (!match) continue;
    const source = `${SITE_DIR}/${match[1] ? `${match[1]}/` : ''}${match[2]}.py`;
    const index = owner.get(source);
    if (index === undefined) continue;
    const content = await readFile(join(site, ...path.split('/')));
    added[index]?.push({
      path: `${SITE_DIR}/${path}`,
      size: content.length,
      executable: false,
      source: { kind: 'generated', content },
    });
  }
  return Promise.all(
    packed.map(async (pkg, index) => {
      const extra = added[index] ?? [];
      const grown = {
        ...pkg,
        files: [...pkg.files, ...extra].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      };
      return writeRecord(
        withUpdatedRecord(
          grown,
          extra.map((file) => ({
            path: file.path,
            content: file.source.kind === 'generated' ? file.source.content : Buffer.alloc(0),
          })),
          SITE_DIR,
        ),
        treeDir,
      );
    }),
  );
}

/** Write a package's (regenerated) RECORD into the tree, so verification and smoke import see what ships. */
async function writeRecord(pkg: InstalledPackage, treeDir: string): Promise<InstalledPackage> {
  const record = pkg.files.find((file) => file.path === `${SITE_DIR}/${pkg.distInfo}/RECORD`);
  if (record?.source.kind === 'generated')
    await writeFile(join(treeDir, ...record.path.split('/')), record.source.content);
  return { ...pkg, slimmedBytes: pkg.files.reduce((sum, file) => sum + file.size, 0) };
}

/** The strip tool for the target's machine on this host. */
function stripTool(lock: Lock): string {
  const machine = wheelMachine(lock.target.architecture);
  const host = process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch;
  return machine === host ? 'strip' : `${machine}-linux-gnu-strip`;
}

/**
 * Strip symbols from the packages' extension modules (never the auditwheel `*.libs` folders,
 * whose libraries break when stripped: serverless-python-requirements#318). Refused without an
 * interpreter of the target, because the smoke import is what proves the stripped files load.
 */
async function stripExtensionModules(
  packed: readonly InstalledPackage[],
  treeDir: string,
  lock: Lock,
  wanted: PostProcessInterpreter,
): Promise<{ packages: InstalledPackage[]; files: number; failures: string[] } | string> {
  const interpreter = await targetInterpreter(lock, wanted);
  if ('reason' in interpreter)
    return `nothing could check that stripped files still load (${interpreter.reason})`;
  const tool = stripTool(lock);
  const limit = pLimit(4);
  let count = 0;
  const failures: string[] = [];
  const packages = await Promise.all(
    packed.map(async (pkg) => {
      const files = await Promise.all(
        pkg.files.map((file) =>
          limit(async () => {
            const [site, top = ''] = file.path.split('/');
            if (site !== SITE_DIR || top.endsWith('.libs') || !/\.so(\.|$)/.test(file.path)) return file;
            const path = join(treeDir, ...file.path.split('/'));
            const strippedPath = `${path}.stripped`;
            try {
              await execFileAsync(tool, ['--strip-unneeded', '-o', strippedPath, path], { timeout: 120_000 });
            } catch (error) {
              // Not an ELF file strip understands (the verifier reports those), or no strip for this machine: keep it.
              failures.push(`${file.path} (${(error as Error).message.split('\n')[0]})`);
              await rm(strippedPath, { force: true });
              return file;
            }
            const content = await readFile(strippedPath);
            await rm(strippedPath, { force: true });
            if (content.length >= file.size) return file;
            await writeFile(path, content, { mode: file.executable ? 0o755 : 0o644 });
            count++;
            return { ...file, size: content.length, source: { kind: 'generated' as const, content } };
          }),
        ),
      );
      const changed = files.filter((file, position) => file !== pkg.files[position]);
      return writeRecord(
        withUpdatedRecord(
          { ...pkg, files },
          changed.map((file) => ({
            path: file.path,
            content: file.source.kind === 'generated' ? file.source.content : Buffer.alloc(0),
          })),
          SITE_DIR,
        ),
        treeDir,
      );
    }),
  );
  return { packages, files: count, failures };
}
