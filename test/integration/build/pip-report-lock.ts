// Locks for the build's integration tests, resolved by pip itself (`pip install --dry-run
// --report`), so the build is tested against an independent resolver and real wheels from
// this machine's configured indexes.
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { canonicalizeName } from '../../../functions/core/shared/names.ts';
import { lambdaTarget } from '../../../functions/core/shared/targets.ts';
import type { Lock, LockedPackage } from '../../../functions/core/shared/types.ts';
import { indexFlags, type LocalIndexes } from '../../support/pip-indexes.ts';

const execFileAsync = promisify(execFile);

interface PipReport {
  install: {
    metadata: { name: string; version: string };
    download_info: { url: string; archive_info?: { hashes?: { sha256?: string } } };
  }[];
}

/** pip's cross-platform flags for a Lambda runtime on x86_64 (AWS's own recipe). */
export function pipPlatformArguments(pythonVersion: string): string[] {
  return [
    '--platform',
    'manylinux2014_x86_64',
    '--implementation',
    'cp',
    '--python-version',
    pythonVersion,
    '--only-binary=:all:',
  ];
}

/** Resolve `requirements` with pip for python3.X x86_64 and turn its report into a lock. */
export async function lockFromPip(
  requirements: string[],
  indexes: LocalIndexes,
  workDir: string,
  pythonVersion = '3.11',
): Promise<Lock> {
  const report = join(workDir, 'pip-report.json');
  await execFileAsync(
    'python3',
    [
      '-m',
      'pip',
      'install',
      '--dry-run',
      '--ignore-installed',
      '--quiet',
      '--report',
      report,
      '--target',
      join(workDir, 'pip-dry-run'),
      ...pipPlatformArguments(pythonVersion),
      ...indexFlags(indexes),
      ...requirements,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const parsed = JSON.parse(await readFile(report, 'utf8')) as PipReport;
  const packages: LockedPackage[] = [];
  for (const item of parsed.install) {
    const url = item.download_info.url;
    const path = fileURLToPath(url);
    packages.push({
      name: canonicalizeName(item.metadata.name),
      version: item.metadata.version,
      filename: path.slice(path.lastIndexOf('/') + 1),
      url,
      sha256: item.download_info.archive_info?.hashes?.sha256 ?? '',
      size: (await stat(path)).size,
      unzippedSize: 0,
      tag: 'from pip',
      requiredBy: [],
    });
  }
  packages.sort((a, b) => a.name.localeCompare(b.name));
  return { lockVersion: 1, target: lambdaTarget(`python${pythonVersion}`, 'x86_64'), packages };
}
