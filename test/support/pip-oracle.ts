// pip 26 as the resolver's oracle: the venv .ci/install-pip-oracle makes under .work/ (created
// once, reused after), a dry run that reports what pip 26 would install for a target (markers
// evaluated for the target, not this machine: pypa/pip#10050), and folders of small synthetic
// wheels that pip and lambda-deps can both read as a find-links location.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ZipFile } from 'yazl';
import { canonicalizeName } from '../../functions/core/shared/names.ts';
import {
  manylinuxPlatforms,
  markerEnvironment,
  pythonFullVersion,
} from '../../functions/core/shared/targets.ts';
import type { Target } from '../../functions/core/shared/types.ts';
import type { FakeRelease } from './fake-package-index.ts';

const execFileAsync = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const INSTALL_SCRIPT = join(REPO, '.ci', 'install-pip-oracle');

let oracle: Promise<string | null> | null = null;
let failure = '';

/** The venv's python with pip 26 and packaging, or null (see `pipOracleUnavailable()`). */
export function pipOraclePython(): Promise<string | null> {
  oracle ??= execFileAsync(INSTALL_SCRIPT, [], {
    cwd: REPO,
    maxBuffer: 8 * 1024 * 1024,
    timeout: 300_000,
  }).then(
    ({ stdout }) => stdout.trim().split('\n').at(-1) ?? null,
    (error: unknown) => {
      failure = String((error as { stderr?: string }).stderr ?? error).slice(-500);
      return null;
    },
  );
  return oracle;
}

/** Why the oracle is missing, for skip messages. */
export function pipOracleUnavailable(): string {
  return `pip 26 could not be installed into .work/pip-oracle from the configured indexes (${failure || 'not tried'})`;
}

/** True when a previous run left the venv in place (for `skipIf` decided at collection time). */
export function pipOracleInstalled(): boolean {
  return existsSync(join(REPO, '.work', 'pip-oracle', 'venv', '.lambda-deps-oracle'));
}

// Runs pip with packaging's default marker environment replaced by the target's.
const PIP_WITH_TARGET_MARKERS = `
import json, sys
environment = json.loads(sys.argv[1])
from pip._vendor.packaging import markers
markers.default_environment = lambda: dict(environment)
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
`;

export interface DryRunInput {
  readonly python: string;
  readonly target: Target;
  readonly lines: readonly string[];
  readonly workDir: string;
  readonly indexUrls?: readonly string[];
  readonly findLinks?: readonly string[];
  readonly pre?: boolean;
}

export type DryRunOutcome =
  | { readonly ok: true; readonly picked: string[]; readonly milliseconds: number }
  | { readonly ok: false; readonly stderr: string; readonly milliseconds: number };

function indexArguments(input: DryRunInput): string[] {
  const [first, ...extra] = input.indexUrls ?? [];
  return [
    ...(first ? ['--index-url', first] : ['--no-index']),
    ...extra.flatMap((url) => ['--extra-index-url', url]),
    ...(input.findLinks ?? []).flatMap((location) => ['--find-links', location]),
  ];
}

/** `pip install --dry-run --report` for the target; picks as sorted `name version filename` lines. */
export async function pipDryRun(input: DryRunInput): Promise<DryRunOutcome> {
  await mkdir(input.workDir, { recursive: true });
  const stem = join(input.workDir, `set-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await writeFile(`${stem}.txt`, `${input.lines.join('\n')}\n`);
  const environment = { ...markerEnvironment(input.target) };
  const argv = [
    ...['install', '--dry-run', '--report', `${stem}.json`, '--ignore-installed', '--progress-bar', 'off'],
    ...['--target', `${stem}-target`, '--implementation', 'cp', '--only-binary=:all:'],
    ...manylinuxPlatforms(input.target).flatMap((platform) => ['--platform', platform]),
    ...['--python-version', pythonFullVersion(input.target)],
    ...(input.pre ? ['--pre'] : []),
    ...indexArguments(input),
    ...['-r', `${stem}.txt`],
  ];
  // pip's configuration (and its global constraint file) is switched off: both tools get the same inputs.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PIP_CONFIG_FILE: '/dev/null' };
  const started = performance.now();
  try {
    await execFileAsync(input.python, ['-c', PIP_WITH_TARGET_MARKERS, JSON.stringify(environment), ...argv], {
      env,
      maxBuffer: 32 * 1024 * 1024,
      timeout: 300_000,
    });
  } catch (error) {
    // Without --quiet pip explains conflicts ("The conflict is caused by: …") on stdout.
    const failed = error as { stdout?: string; stderr?: string };
    const stderr = `${failed.stdout ?? ''}\n${failed.stderr ?? String(error)}`;
    return { ok: false, stderr, milliseconds: performance.now() - started };
  }
  const milliseconds = performance.now() - started;
  const report = JSON.parse(await readFile(`${stem}.json`, 'utf8')) as {
    install: { metadata: { name: string; version: string }; download_info: { url: string } }[];
  };
  const picked = report.install
    .map((item) => {
      const filename = decodeURIComponent(item.download_info.url.split('/').at(-1) ?? '');
      return `${canonicalizeName(item.metadata.name)} ${item.metadata.version} ${filename}`;
    })
    .sort();
  return { ok: true, picked, milliseconds };
}

function wheelFilename(name: string, version: string, tag: string): string {
  return `${name.replace(/[-.]+/g, '_')}-${version}-${tag}.whl`;
}

function metadataText(name: string, release: FakeRelease): string {
  const lines = [
    'Metadata-Version: 2.1',
    `Name: ${name}`,
    `Version: ${release.metadataVersion ?? release.version}`,
  ];
  if (release.requiresPython) lines.push(`Requires-Python: ${release.requiresPython}`);
  for (const extra of release.providesExtra ?? []) lines.push(`Provides-Extra: ${extra}`);
  for (const requirement of release.requiresDist ?? []) lines.push(`Requires-Dist: ${requirement}`);
  return `${lines.join('\n')}\n\n`;
}

function zipToBuffer(entries: Record<string, string>): Promise<Buffer> {
  const zip = new ZipFile();
  for (const [path, text] of Object.entries(entries))
    zip.addBuffer(Buffer.from(text), path, { mtime: new Date(0) });
  zip.end();
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolvePromise(Buffer.concat(chunks)));
  });
}

/**
 * Write each release as a real (tiny) wheel into `folder`, a find-links location both pip and
 * lambda-deps read. Files default to one `py3-none-any` wheel, as in fake-package-index.ts.
 */
export async function writeWheelFolder(
  folder: string,
  projects: Readonly<Record<string, readonly FakeRelease[]>>,
): Promise<string> {
  await mkdir(folder, { recursive: true });
  for (const [name, releases] of Object.entries(projects)) {
    for (const release of releases) {
      for (const file of release.files ?? [{ tag: 'py3-none-any' }]) {
        const filename = file.filename ?? wheelFilename(name, release.version, file.tag ?? 'py3-none-any');
        const distInfo = `${name.replace(/[-.]+/g, '_')}-${release.version}.dist-info`;
        const module = `${name.replace(/[-.]+/g, '_')}/__init__.py`;
        const wheel = `Wheel-Version: 1.0\nGenerator: lambda-deps-tests\nRoot-Is-Purelib: true\nTag: ${file.tag ?? 'py3-none-any'}\n`;
        const record = [module, `${distInfo}/METADATA`, `${distInfo}/WHEEL`, `${distInfo}/RECORD`]
          .map((path) => `${path},,`)
          .join('\n');
        const bytes = await zipToBuffer({
          [module]: '',
          [`${distInfo}/METADATA`]: metadataText(name, release),
          [`${distInfo}/WHEEL`]: wheel,
          [`${distInfo}/RECORD`]: `${record}\n`,
        });
        await writeFile(join(folder, filename), bytes);
      }
    }
  }
  return folder;
}
