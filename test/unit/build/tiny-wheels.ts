// Writes small wheels with exactly the files a test names (RECORD generated, Python's zipfile
// as an independent writer) and the lock entry that goes with each.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { sha256Hex } from '../../../functions/core/shared/hash.ts';
import type { LockedPackage } from '../../../functions/core/shared/types.ts';

const execFileAsync = promisify(execFile);

const WRITER = String.raw`
import base64, hashlib, json, sys, zipfile
path, name, version, files = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
def digest(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
dist = '%s-%s.dist-info' % (name, version)
files = dict(files)
files.setdefault(dist + '/METADATA', 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version))
files.setdefault(dist + '/WHEEL', 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
    lines = []
    for entry, text in sorted(files.items()):
        data = (text['repeat'] * text['times']).encode() if isinstance(text, dict) else text.encode()
        info = zipfile.ZipInfo(entry, (2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16
        archive.writestr(info, data)
        lines.append('%s,%s,%d' % (entry, digest(data), len(data)))
    archive.writestr(dist + '/RECORD', '\n'.join(lines + [dist + '/RECORD,,']) + '\n')
`;

export interface TinyWheel {
  readonly path: string;
  readonly locked: LockedPackage;
}

/** A file's text, or a text repeated (a big file without a big command line). */
export type TinyWheelFile = string | { readonly repeat: string; readonly times: number };

/**
 * Write `name-version-py3-none-any.whl` into `dir` holding `files` (path → text); METADATA,
 * WHEEL and RECORD are added unless given.
 */
export async function writeTinyWheel(
  dir: string,
  name: string,
  version: string,
  files: Record<string, TinyWheelFile>,
): Promise<TinyWheel> {
  const filename = `${name}-${version}-py3-none-any.whl`;
  const path = join(dir, filename);
  await execFileAsync('python3', ['-c', WRITER, path, name, version, JSON.stringify(files)]);
  return { path, locked: await lockedWheel(path, name, version) };
}

/** The lock entry of a pure wheel written at `path` (a file:// URL, its sha256 and size). */
export async function lockedWheel(path: string, name: string, version: string): Promise<LockedPackage> {
  const bytes = await readFile(path);
  return {
    name,
    version,
    filename: basename(path),
    url: `file://${path}`,
    sha256: sha256Hex(bytes),
    size: bytes.length,
    unzippedSize: 0,
    tag: 'py3-none-any',
    requiredBy: ['<requirements>'],
  };
}
