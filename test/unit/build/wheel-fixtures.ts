// Small real wheels for the build tests, written by Python's zipfile (an independent writer),
// good and hostile: `.data` folders, entry points, RECORD, and every way a wheel can lie.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LockedPackage } from '../../../functions/core/shared/types.ts';

const execFileAsync = promisify(execFile);

/** Python that writes the wheels; argv[1] is the output folder, argv[2] an absolute path that must never be written. */
const GENERATOR = String.raw`
import base64, hashlib, os, sys, zipfile

out, absolute = sys.argv[1], sys.argv[2]

def digest(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()

METADATA = b'Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nA demo.\n'
WHEEL = b'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'

def base_files():
    return [
        ('demo/__init__.py', b'def main():\n    print("demo")\n    return 0\n'),
        ('demo/core.py', b'VALUE = 42\n' * 50),
        ('demo/tests/__init__.py', b''),
        ('demo/tests/test_core.py', b'def test_value():\n    assert True\n'),
        ('demo/py.typed', b''),
        ('demo/core.pyi', b'VALUE: int\n'),
        ('demo/__pycache__/core.cpython-311.pyc', b'\x00' * 100),
        ('demo-1.0.data/scripts/demo-tool', b'#!python\nimport demo\ndemo.main()\n'),
        ('demo-1.0.data/purelib/demo_extra.py', b'EXTRA = True\n'),
        ('demo-1.0.data/headers/demo.h', b'int demo(void);\n'),
        ('demo-1.0.data/data/share/demo/readme.txt', b'data file\n'),
        ('demo-1.0.dist-info/METADATA', METADATA),
        ('demo-1.0.dist-info/WHEEL', WHEEL),
        ('demo-1.0.dist-info/entry_points.txt', b'[console_scripts]\ndemo = demo:main\n'),
        ('demo-1.0.dist-info/top_level.txt', b'demo\ndemo_extra\n'),
    ]

def write(name, files, record=True, record_skip=(), symlinks=()):
    path = os.path.join(out, name)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as archive:
        lines = []
        for entry, data in files:
            info = zipfile.ZipInfo(entry, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((0o120777 if entry in symlinks else 0o100644) << 16)
            archive.writestr(info, data)
            if entry not in record_skip:
                lines.append('%s,%s,%d' % (entry, digest(data), len(data)))
        if record:
            archive.writestr('demo-1.0.dist-info/RECORD', '\n'.join(lines + ['demo-1.0.dist-info/RECORD,,']) + '\n')

import warnings
warnings.simplefilter('ignore')
files = base_files()
write('demo-1.0-py3-none-any.whl', files)
write('zip-slip.whl', files + [('../evil.py', b'print(1)\n')])
write('absolute.whl', files + [(absolute, b'print(1)\n')])
write('symlink.whl', files + [('demo/link', b'/etc/passwd')], symlinks=('demo/link',))
write('duplicate.whl', files + [('demo/__init__.py', b'import os\n')])
# RECORD lists the original core.py, the archive holds another one.
with zipfile.ZipFile(os.path.join(out, 'record-hash.whl'), 'w', zipfile.ZIP_DEFLATED) as archive:
    lines = []
    for entry, data in files:
        stored = b'VALUE = 666\n' if entry == 'demo/core.py' else data
        archive.writestr(entry, stored)
        lines.append('%s,%s,%d' % (entry, digest(data), len(data)))
    archive.writestr('demo-1.0.dist-info/RECORD', '\n'.join(lines) + '\n')
write('record-unlisted.whl', files, record_skip=('demo/core.py',))
write('no-metadata.whl', [(e, d) for e, d in files if not e.endswith('/METADATA')])
write('metadata-name.whl', [(e, (d.replace(b'Name: demo', b'Name: other') if e.endswith('/METADATA') else d)) for e, d in files])
write('metadata-version.whl', [(e, (d.replace(b'Version: 1.0', b'Version: 6.6.6') if e.endswith('/METADATA') else d)) for e, d in files])
write('bomb.whl', files + [('demo/zeros.bin', b'\x00' * (4 * 1024 * 1024))])
write('many-entries.whl', files + [('demo/data/f%04d.txt' % i, b'x') for i in range(300)])
write('no-record.whl', files, record=False)
write('macho.whl', files + [('demo/_native.cpython-311-darwin.so', b'\xcf\xfa\xed\xfe\x07\x00\x00\x01' + b'\x00' * 64)])
`;

export interface FixtureWheels {
  readonly dir: string;
  /** An absolute path the `absolute.whl` entry names; it must never exist. */
  readonly absoluteTarget: string;
  path(name: string): string;
  /** A lock entry for a wheel in the folder (sha256 of the file as it is, unless given). */
  locked(name: string, overrides?: Partial<LockedPackage>): Promise<LockedPackage>;
}

/** Write every fixture wheel into `dir`. */
export async function writeFixtureWheels(dir: string): Promise<FixtureWheels> {
  const absoluteTarget = join(dir, '..', `absolute-target-${process.pid}-${Date.now()}.py`);
  await execFileAsync('python3', ['-c', GENERATOR, dir, absoluteTarget]);
  const path = (name: string): string => join(dir, name);
  return {
    dir,
    absoluteTarget,
    path,
    async locked(name, overrides = {}) {
      const bytes = await readFile(path(name));
      return {
        name: 'demo',
        version: '1.0',
        filename: 'demo-1.0-py3-none-any.whl',
        url: `file://${path(name)}`,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        unzippedSize: 0,
        tag: 'py3-none-any',
        requiredBy: ['<requirements>'],
        ...overrides,
      };
    },
  };
}

/** Overwrite the uncompressed size of one entry in the central directory (a wheel that lies about its sizes). */
export function lieAboutSize(zip: Buffer, entryName: string, size: number): Buffer {
  const copy = Buffer.from(zip);
  const name = Buffer.from(entryName);
  for (let at = copy.length - 22; at >= 0; at--) {
    if (copy.readUInt32LE(at) !== 0x02014b50) continue;
    const nameLength = copy.readUInt16LE(at + 28);
    if (nameLength === name.length && copy.subarray(at + 46, at + 46 + nameLength).equals(name)) {
      copy.writeUInt32LE(size, at + 24);
      return copy;
    }
  }
  throw new Error(`entry ${entryName} not found`);
}
