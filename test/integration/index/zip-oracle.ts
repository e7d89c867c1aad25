// Sizes computed independently of the code under test, by Python's zipfile module, for
// every wheel in a folder: the oracle the index tests compare measured sizes with.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type ZipfileSizes = Record<string, { unzipped: number; entries: number }>;

/** `{ filename: { unzipped, entries } }` for each `.whl` in `folder` (or the given files). */
export async function zipfileSizes(folder: string, only: readonly string[] = []): Promise<ZipfileSizes> {
  const script = [
    'import json, os, sys, zipfile',
    'folder, only = sys.argv[1], sys.argv[2:]',
    'out = {}',
    'for name in sorted(only or os.listdir(folder)):',
    '    if name.endswith(".whl"):',
    '        infos = zipfile.ZipFile(os.path.join(folder, name)).infolist()',
    '        out[name] = {"unzipped": sum(i.file_size for i in infos), "entries": len(infos)}',
    'print(json.dumps(out))',
  ].join('\n');
  const { stdout } = await execFileAsync('python3', ['-c', script, folder, ...only], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as ZipfileSizes;
}
