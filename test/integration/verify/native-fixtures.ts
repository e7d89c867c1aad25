// Real artifacts for the verification tests: shared objects compiled at test time, wheels
// found through pip's own configuration (PEP 503 pages of the on-disk indexes, or pip
// download), installed by unzipping, and cached under the OS temp folder between runs.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { indexFlags, localIndexes } from '../../support/pip-indexes.ts';

export const execFileAsync = promisify(execFile);

/** Does the command run at all here (`gcc --version` …)? */
export async function commandWorks(command: string, args: string[] = ['--version']): Promise<boolean> {
  try {
    await execFileAsync(command, args, { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Compile C source into a shared object with the given compiler and extra arguments. */
export async function compileSharedObject(
  compiler: string,
  source: string,
  output: string,
  extra: string[] = [],
): Promise<void> {
  const file = `${output}.c`;
  await mkdir(join(output, '..'), { recursive: true });
  await writeFile(file, source);
  await execFileAsync(compiler, ['-shared', '-fPIC', '-o', output, file, ...extra]);
  await rm(file);
}

/** Files (absolute paths) the on-disk indexes and find-links folders offer for a project. */
export async function indexFiles(project: string): Promise<string[]> {
  const indexes = localIndexes();
  if (!indexes) return [];
  const files: string[] = [];
  for (const indexUrl of indexes.indexUrls) {
    if (!indexUrl.startsWith('file:')) continue;
    const pageUrl = new URL(`${project}/`, indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`);
    const pagePath = join(fileURLToPath(pageUrl), 'index.html');
    const page = await readFile(pagePath, 'utf8').catch(() => '');
    for (const match of page.matchAll(/href="([^"]+)"/g)) {
      const url = new URL(match[1] ?? '', pageUrl);
      url.hash = '';
      if (url.protocol === 'file:') files.push(fileURLToPath(url));
    }
  }
  for (const folder of indexes.findLinks) {
    const names = await readdir(folder).catch(() => [] as string[]);
    const prefix = project.replace(/-/g, '_').toLowerCase();
    files.push(
      ...names
        .filter((name) => name.toLowerCase().startsWith(`${prefix}-`))
        .map((name) => join(folder, name)),
    );
  }
  return files;
}

/** pip's index options for the on-disk indexes: the first index replaces PyPI, which is unreachable here. */
export function pipIndexArguments(): string[] {
  const indexes = localIndexes();
  return indexes ? indexFlags(indexes) : [];
}

/**
 * Download the wheels (with their dependencies) that pip picks for python3.11 x86_64 on
 * glibc 2.26, once per requirement list; later runs reuse the cached folder.
 */
export async function downloadWheels(requirements: string[]): Promise<string[]> {
  const key = createHash('sha256')
    .update(JSON.stringify([requirements, pipIndexArguments()]))
    .digest('hex')
    .slice(0, 16);
  const folder = join(tmpdir(), `lambda-deps-verify-wheels-${key}`);
  if (!existsSync(join(folder, 'complete'))) {
    const staging = await mkdtemp(join(tmpdir(), 'lambda-deps-verify-download-'));
    const platforms = [
      'manylinux2014_x86_64',
      'manylinux_2_17_x86_64',
      'manylinux_2_24_x86_64',
      'manylinux_2_26_x86_64',
    ];
    await execFileAsync(
      'python3.11',
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--only-binary=:all:',
        ...platforms.flatMap((platform) => ['--platform', platform]),
        '--python-version',
        '3.11',
        '--implementation',
        'cp',
        ...pipIndexArguments(),
        '-d',
        staging,
        ...requirements,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
    );
    await writeFile(join(staging, 'complete'), '');
    await rename(staging, folder).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return (await readdir(folder)).filter((name) => name.endsWith('.whl')).map((name) => join(folder, name));
}

/**
 * The wheels of `requirements` unzipped into `<cache>/python`, once per machine: the tests
 * only read it (the smoke import writes its bytecode elsewhere). Returns the layer root.
 */
export async function installedSet(requirements: string[], wheels: string[]): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify([requirements, wheels]))
    .digest('hex')
    .slice(0, 16);
  const folder = join(tmpdir(), `lambda-deps-verify-site-${key}`);
  if (!existsSync(join(folder, 'complete'))) {
    const staging = await mkdtemp(join(tmpdir(), 'lambda-deps-verify-install-'));
    await unzipWheels(wheels, join(staging, 'python'));
    await writeFile(join(staging, 'complete'), '');
    await rename(staging, folder).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return folder;
}

/** Install wheels by unzipping them into `site` (enough for purelib/platlib-only wheels). */
export async function unzipWheels(wheels: string[], site: string): Promise<void> {
  await mkdir(site, { recursive: true });
  await execFileAsync(
    'python3',
    [
      '-c',
      'import sys, zipfile\nfor wheel in sys.argv[2:]: zipfile.ZipFile(wheel).extractall(sys.argv[1])',
      site,
      ...wheels,
    ],
    { timeout: 300_000 },
  );
}

/** Extract only the named members of a zip (wheel) into a folder. */
export async function unzipMembers(
  zip: string,
  destination: string,
  members: (name: string) => boolean,
): Promise<string[]> {
  const { stdout } = await execFileAsync('python3', [
    '-c',
    [
      'import sys, zipfile, json',
      'z = zipfile.ZipFile(sys.argv[1])',
      'names = [n for n in z.namelist() if not n.endswith("/")]',
      'print(json.dumps(names))',
    ].join('\n'),
    zip,
  ]);
  const wanted = (JSON.parse(stdout) as string[]).filter(members);
  await execFileAsync('python3', [
    '-c',
    'import sys, zipfile\nzipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=sys.argv[3:])',
    zip,
    destination,
    ...wanted,
  ]);
  return wanted;
}

/** Zip a folder's contents (paths relative to the folder) with Python's zipfile. */
export async function zipFolder(folder: string, output: string): Promise<void> {
  await execFileAsync('python3', [
    '-c',
    [
      'import os, sys, zipfile',
      'root, out = sys.argv[1], sys.argv[2]',
      'with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:',
      '    for base, _, files in os.walk(root):',
      '        for name in sorted(files):',
      '            full = os.path.join(base, name)',
      '            z.write(full, os.path.relpath(full, root))',
    ].join('\n'),
    folder,
    output,
  ]);
}

/**
 * A minimal but well-formed 64-bit Mach-O bundle (what a Python extension is on macOS):
 * mach_header_64 for arm64, MH_BUNDLE, and one LC_UUID load command.
 */
export function minimalMachO(): Buffer {
  const buffer = Buffer.alloc(32 + 24);
  buffer.writeUInt32LE(0xfeedfacf, 0);
  buffer.writeUInt32LE(0x0100000c, 4);
  buffer.writeUInt32LE(0, 8);
  buffer.writeUInt32LE(8, 12);
  buffer.writeUInt32LE(1, 16);
  buffer.writeUInt32LE(24, 20);
  buffer.writeUInt32LE(0x85, 24);
  buffer.writeUInt32LE(0x1b, 32);
  buffer.writeUInt32LE(24, 36);
  createHash('md5').update('lambda-deps').digest().copy(buffer, 40);
  return buffer;
}

/** A `.dist-info` with METADATA and RECORD, so files can be attributed to a distribution. */
export async function writeDistInfo(
  site: string,
  name: string,
  version: string,
  files: string[],
): Promise<void> {
  const distInfo = join(site, `${name.replace(/-/g, '_')}-${version}.dist-info`);
  await mkdir(distInfo, { recursive: true });
  await writeFile(join(distInfo, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`);
  const record = [
    ...files,
    `${distInfo.slice(site.length + 1)}/METADATA`,
    `${distInfo.slice(site.length + 1)}/RECORD`,
  ];
  await writeFile(join(distInfo, 'RECORD'), record.map((file) => `${file},,`).join('\n') + '\n');
}
