import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDependencySet } from '../../../functions/core/build/build.ts';
import type { BuildManifest, Lock, PackageIndex } from '../../../functions/core/shared/types.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';
import { lockFromPip } from './pip-report-lock.ts';
import { hasPython311 } from '../../support/python-on-path.ts';

const execFileAsync = promisify(execFile);
const indexes = localIndexes();
const fileIndex: Pick<PackageIndex, 'download'> = { download: async (file) => fileURLToPath(file.url) };

/** sha256 of each entry's uncompressed content, by name, read by Python's zipfile. */
async function entryDigests(zip: string): Promise<Record<string, string>> {
  const script = [
    'import hashlib, json, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist() if not i.is_dir()}))',
  ].join('\n');
  const { stdout } = await execFileAsync('python3', ['-c', script, zip], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Record<string, string>;
}

const skip = indexes === null || !hasPython311();
const reason =
  indexes === null ? NO_LOCAL_INDEXES_REASON : 'no python3.11 here to prove stripped files still load';

describe.skipIf(skip)(`--strip-symbols on numpy for python3.11 x86_64 (skipped when: ${reason})`, () => {
  let work: string;
  let lock: Lock;
  let plain: BuildManifest;
  let stripped: BuildManifest;

  beforeAll(async () => {
    if (!indexes) return;
    work = await mkdtemp(join(tmpdir(), 'lambda-deps-strip-'));
    lock = await lockFromPip(['numpy'], indexes, work);
    plain = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'plain'),
      policy: { forceStrategy: 'layers' },
      cacheDir: join(work, 'cache'),
    });
    stripped = await buildDependencySet({
      lock,
      index: fileIndex,
      outDir: join(work, 'stripped'),
      policy: { forceStrategy: 'layers', stripSymbols: true },
      cacheDir: join(work, 'cache'),
    });
  }, 180_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('makes the extension modules smaller and they still import', () => {
    // Assess
    expect(
      stripped.warnings?.some((warning) => /^stripped symbols from [1-9]\d* extension module/.test(warning)),
    ).toBe(true);
    expect(stripped.sizes.slimmed).toBeLessThan(plain.sizes.slimmed);
    expect(stripped.verification.ok).toBe(true);
    expect(stripped.smokeImport).toMatchObject({ ran: true, ok: true, failures: [] });
  });

  it('never touches the auditwheel numpy.libs folder', async () => {
    // Act
    const before = await entryDigests(join(work, 'plain', plain.layers[0]?.file ?? ''));
    const after = await entryDigests(join(work, 'stripped', stripped.layers[0]?.file ?? ''));

    // Assess
    const libs = Object.keys(before).filter((name) => name.startsWith('python/numpy.libs/'));
    expect(libs.length).toBeGreaterThan(0);
    for (const name of libs) expect(after[name]).toBe(before[name]);
    const changed = Object.keys(before).filter((name) => after[name] !== before[name]);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((name) => /\.so$/.test(name) || name.endsWith('.dist-info/RECORD'))).toBe(true);
  });

  it('rewrites RECORD so it matches the stripped files', async () => {
    // Prepare
    const script = [
      'import base64, csv, hashlib, io, posixpath, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'record = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")][0]',
      'bad = []',
      'for path, digest, size in csv.reader(io.StringIO(z.read(record).decode())):',
      '    if not digest: continue',
      '    data = z.read(posixpath.normpath("python/" + path))',
      '    if "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() != digest: bad.append(path)',
      'print(len(bad))',
    ].join('\n');

    // Act
    const { stdout } = await execFileAsync('python3', [
      '-c',
      script,
      join(work, 'stripped', stripped.layers[0]?.file ?? ''),
    ]);

    // Assess
    expect(stdout.trim()).toBe('0');
  });
});
