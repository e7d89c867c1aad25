// Sdists the tests make: small real projects for each build backend on the index, and two C
// extensions, one using only old glibc symbols and one calling statx (GLIBC_2.28). Written as
// real .tar.gz sdists (one top folder, PKG-INFO) with Python's own tarfile module.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { localIndexes } from '../../support/pip-indexes.ts';

const run = promisify(execFile);

export interface SdistProject {
  readonly name: string;
  readonly version: string;
  readonly module: string;
  readonly files: Readonly<Record<string, string>>;
  /** The distribution that provides its build backend (what the build environment installs). */
  readonly backendDistribution?: string;
  /** The backend it names in [build-system]. */
  readonly backend?: string;
}

const setuptools = (name: string, module: string, extra = ''): Record<string, string> => ({
  'pyproject.toml': `[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "${name}"\nversion = "1.0"\n${extra}`,
});

export const PURE_PROJECTS: readonly SdistProject[] = [
  {
    name: 'st-pure',
    version: '1.0',
    module: 'st_pure',
    backendDistribution: 'setuptools',
    backend: 'setuptools.build_meta',
    files: { ...setuptools('st-pure', 'st_pure'), 'st_pure/__init__.py': 'VALUE = "setuptools"\n' },
  },
  {
    name: 'flit-pure',
    version: '1.0',
    module: 'flit_pure',
    backendDistribution: 'flit-core',
    backend: 'flit_core.buildapi',
    files: {
      'pyproject.toml':
        '[build-system]\nrequires = ["flit_core>=3.2"]\nbuild-backend = "flit_core.buildapi"\n\n[project]\nname = "flit-pure"\nversion = "1.0"\ndescription = "A flit project."\n',
      'flit_pure.py': '"""A flit project."""\nVALUE = "flit"\n',
    },
  },
  {
    name: 'hatch-pure',
    version: '1.0',
    module: 'hatch_pure',
    backendDistribution: 'hatchling',
    backend: 'hatchling.build',
    files: {
      'pyproject.toml':
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n[project]\nname = "hatch-pure"\nversion = "1.0"\n',
      'hatch_pure/__init__.py': 'VALUE = "hatchling"\n',
    },
  },
  {
    name: 'poetry-pure',
    version: '1.0',
    module: 'poetry_pure',
    backendDistribution: 'poetry-core',
    backend: 'poetry.core.masonry.api',
    files: {
      'pyproject.toml':
        '[build-system]\nrequires = ["poetry-core>=2"]\nbuild-backend = "poetry.core.masonry.api"\n\n[project]\nname = "poetry-pure"\nversion = "1.0"\ndescription = "A poetry project."\n',
      'poetry_pure/__init__.py': 'VALUE = "poetry-core"\n',
    },
  },
  {
    name: 'pdm-pure',
    version: '1.0',
    module: 'pdm_pure',
    backendDistribution: 'pdm-backend',
    backend: 'pdm.backend',
    files: {
      'pyproject.toml':
        '[build-system]\nrequires = ["pdm-backend"]\nbuild-backend = "pdm.backend"\n\n[project]\nname = "pdm-pure"\nversion = "1.0"\n',
      'src/pdm_pure/__init__.py': 'VALUE = "pdm-backend"\n',
    },
  },
];

/**
 * Why `distribution` cannot be installed from the indexes pip is configured with here, or null
 * when one of them (a file:// index or a find-links folder) offers it.
 */
export function missingFromLocalIndexes(distribution: string): string | null {
  const indexes = localIndexes();
  if (!indexes) return 'pip is configured with no index here';
  const project = distribution.toLowerCase().replace(/[-_.]+/g, '-');
  const filePrefix = `${project.replace(/-/g, '_')}-`;
  const inIndex = indexes.indexUrls.some(
    (url) => url.startsWith('file:') && existsSync(join(fileURLToPath(url), project)),
  );
  const inFolder = indexes.findLinks.some(
    (folder) =>
      existsSync(folder) &&
      readdirSync(folder).some((name) => name.toLowerCase().replace(/[-.]/g, '_').startsWith(filePrefix)),
  );
  if (inIndex || inFolder) return null;
  return `${distribution} is on none of pip's configured indexes (${[...indexes.indexUrls, ...indexes.findLinks].join(', ')})`;
}

const extension = (name: string, module: string, body: string): SdistProject => ({
  name,
  version: '1.0',
  module,
  files: {
    ...setuptools(name, module),
    'setup.py': `from setuptools import Extension, setup\nsetup(ext_modules=[Extension("${module}", ["${module}.c"])])\n`,
    [`${module}.c`]: `#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n${body}\nstatic PyMethodDef methods[] = {{"probe", probe, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};\nstatic struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "${module}", NULL, -1, methods};\nPyMODINIT_FUNC PyInit_${module}(void) { return PyModule_Create(&module); }\n`,
  },
});

/** Uses getpid only (GLIBC_2.2.5 on x86_64): fine on every Lambda runtime. */
export const OLD_GLIBC_EXTENSION = extension(
  'oldsym-ext',
  'oldsym_ext',
  '#include <unistd.h>\nstatic PyObject *probe(PyObject *self, PyObject *args) { return PyLong_FromLong((long)getpid()); }',
);

/** Calls statx, which glibc added in 2.28: too new for python3.11's Amazon Linux 2 (2.26). */
export const STATX_EXTENSION = extension(
  'statx-ext',
  'statx_ext',
  '#define _GNU_SOURCE\n#include <fcntl.h>\n#include <sys/stat.h>\nstatic PyObject *probe(PyObject *self, PyObject *args) { struct statx st; return PyLong_FromLong(statx(AT_FDCWD, "/", 0, STATX_BASIC_STATS, &st)); }',
);

/** Write `project` as (PKG-INFO 2.2 or later is what the resolver trusts, PEP 643) `<dir>/<name>-<version>.tar.gz` and return its path. */
export async function writeSdist(
  project: SdistProject,
  dir: string,
  metadataVersion = '2.1',
): Promise<string> {
  const top = `${project.name.replace(/-/g, '_')}-${project.version}`;
  const source = join(dir, 'src', top);
  const files = {
    ...project.files,
    'PKG-INFO': `Metadata-Version: ${metadataVersion}\nName: ${project.name}\nVersion: ${project.version}\n`,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(source, path)), { recursive: true });
    await writeFile(join(source, path), text);
  }
  const archive = join(dir, `${top}.tar.gz`);
  const script =
    'import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz") as tar: tar.add(sys.argv[2], arcname=sys.argv[3])';
  await run('python3', ['-c', script, archive, source, top]);
  return archive;
}
