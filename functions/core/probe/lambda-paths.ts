// Where a Lambda Python runtime looks for modules, per artifact kind. The probe puts exactly
// these folders on sys.path (mapped to where the artifact was unpacked), so a wrong layout,
// such as python/lib/python3.12/site-packages in a layer for python3.11, fails as in Lambda.
// Source: AWS Lambda "Working with layers for Python" and "Layer paths for each runtime"
// (packaging-layers.html): /var/task first, then /opt/python/lib/python3.x/site-packages,
// then /opt/python, then the runtime's own packages (which the probe leaves out).
import { join, posix, relative, resolve, sep } from 'node:path';
import { InputError } from '../shared/errors.ts';

/** The layer folders on a layers function's sys.path, in order, under an `/opt`-like folder. */
export function layerSysPath(optDir: string, pythonVersion: string): string[] {
  return [join(optDir, 'python', 'lib', `python${pythonVersion}`, 'site-packages'), join(optDir, 'python')];
}

/** The folders an image function imports from, under its unpacked root filesystem. */
export function imageSysPath(
  rootDir: string,
  pythonVersion: string,
  environment: readonly string[],
): string[] {
  const pythonPath = environment
    .find((entry) => entry.startsWith('PYTHONPATH='))
    ?.slice('PYTHONPATH='.length);
  const extra = pythonPath ? pythonPath.split(':').filter(Boolean) : [];
  return [
    ...extra.map((path) => underRoot(rootDir, path)),
    join(rootDir, 'var', 'task'),
    ...layerSysPath(join(rootDir, 'opt'), pythonVersion),
  ];
}

/**
 * The folders an EFS function imports from: its PYTHONPATH, whose entries must sit under the
 * mount path, mapped to the local folder that stands for the mount.
 */
export function efsSysPath(mountRoot: string, mountPath: string, pythonPath: string): string[] {
  return pythonPath
    .split(':')
    .filter(Boolean)
    .map((entry) => {
      const inside = posix.relative(mountPath, entry);
      if (!posix.isAbsolute(entry) || inside.startsWith('..') || posix.isAbsolute(inside))
        throw new InputError(`The PYTHONPATH entry ${entry} is not under the mount path ${mountPath}.`, {
          hint: 'A function reads the EFS tree only through its mount; set PYTHONPATH under it.',
        });
      return resolve(mountRoot, ...inside.split('/'));
    });
}

function underRoot(rootDir: string, absolute: string): string {
  const mapped = resolve(rootDir, `.${posix.normalize(absolute)}`);
  const inside = relative(rootDir, mapped);
  if (inside.startsWith('..') || inside.split(sep).includes('..'))
    throw new InputError(`The image's PYTHONPATH entry ${absolute} climbs out of the image.`, {
      hint: 'Rebuild the image with lambda-deps.',
    });
  return mapped;
}
