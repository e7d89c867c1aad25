// What an sdist says about how to build it: pyproject.toml's [build-system] (PEP 517/518),
// with the defaults PEP 517 fixes when the table or its keys are absent.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { InputError } from '../shared/errors.ts';

export interface BuildSystem {
  readonly requires: readonly string[];
  /** `setuptools.build_meta:__legacy__` when the sdist names none (PEP 517). */
  readonly backend: string;
  /** In-tree backend folders (PEP 517 `backend-path`). */
  readonly backendPath: readonly string[];
}

const LEGACY: BuildSystem = {
  requires: ['setuptools>=40.8.0'],
  backend: 'setuptools.build_meta:__legacy__',
  backendPath: [],
};

const buildSystemSchema = z.object({
  'build-system': z
    .object({
      requires: z.array(z.string()).optional(),
      'build-backend': z.string().optional(),
      'backend-path': z.array(z.string()).optional(),
    })
    .optional(),
});

/** Read the build system of an unpacked sdist's source folder. */
export async function readBuildSystem(sourceDir: string, label: string): Promise<BuildSystem> {
  const text = await readFile(join(sourceDir, 'pyproject.toml'), 'utf8').catch(() => null);
  if (text === null) return LEGACY;
  let parsed: z.infer<typeof buildSystemSchema>;
  try {
    parsed = buildSystemSchema.parse(parseToml(text));
  } catch (error) {
    throw new InputError(`${label}: its pyproject.toml has no valid [build-system] table.`, {
      hint: 'The sdist is broken; pin a version that ships a wheel or a valid sdist.',
      cause: error,
    });
  }
  const table = parsed['build-system'];
  if (!table) return LEGACY;
  return {
    requires: table.requires ?? LEGACY.requires,
    backend: table['build-backend'] ?? LEGACY.backend,
    backendPath: table['backend-path'] ?? [],
  };
}
