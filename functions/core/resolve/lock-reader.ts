// Reading a lock back: the JSON a lambda-deps lock file must be (zod), refusals that name the
// file, and the URLs it may download from. Kept apart from lock.ts so that writing a lock and
// hashing it load no schema library.
import { z } from 'zod';
import { assertLockUrl } from '../index/lock-urls.ts';
import { InputError } from '../shared/errors.ts';
import type { Lock } from '../shared/types.ts';
import { byName } from './lock.ts';

function buildLockSchema() {
  const target = z.object({
    runtime: z.string().nullable(),
    pythonVersion: z.string().regex(/^3\.\d{1,2}$/),
    pythonFullVersion: z
      .string()
      .regex(/^3\.\d{1,2}\.\d{1,3}$/)
      .optional(),
    glibc: z.string().regex(/^2\.\d{1,2}$/),
    architecture: z.enum(['x86_64', 'arm64']),
    os: z.string(),
  });
  const lockedPackage = z.object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a PEP 503 normalized name'),
    version: z.string().min(1),
    filename: z.string().min(1),
    url: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
    size: z.number().int().nonnegative(),
    unzippedSize: z.number().int().nonnegative(),
    tag: z.string().min(1),
    requiredBy: z.array(z.string()),
  });
  const buildIndexes = z.object({ indexUrls: z.array(z.string()), findLinks: z.array(z.string()) });
  return z.object({
    lockVersion: z.literal(1),
    target,
    packages: z.array(lockedPackage),
    buildIndexes: buildIndexes.optional(),
  });
}

let lockSchema: ReturnType<typeof buildLockSchema> | null = null;

/** Built on the first parse. */
function schema(): ReturnType<typeof buildLockSchema> {
  lockSchema ??= buildLockSchema();
  return lockSchema;
}

/**
 * Read a lock written by serializeLock; InputError naming `origin` when it is not one, or when a
 * URL in it is not one to download from (file: URLs only in a lock the user named locally).
 * @example parseLock(await readFile(path, 'utf8'), path, { localFileUrls: true })
 */
export function parseLock(text: string, origin: string, options: { localFileUrls?: boolean } = {}): Lock {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${origin} is not valid JSON: ${(error as Error).message}.`, {
      hint: 'A lock is the JSON file written by `lambda-deps measure --lock-out FILE`; regenerate it rather than editing it.',
      cause: error,
    });
  }
  const parsed = schema().safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(top level)';
    throw new InputError(`${origin} is not a lambda-deps lock: ${path}: ${issue?.message ?? 'invalid'}.`, {
      hint: 'A lock is the JSON file written by `lambda-deps measure --lock-out FILE`; regenerate it rather than editing it.',
    });
  }
  const names = parsed.data.packages.map((entry) => entry.name);
  const duplicate = names.find((name, position) => names.indexOf(name) !== position);
  if (duplicate) {
    throw new InputError(`${origin} lists the package "${duplicate}" twice.`, {
      hint: 'A lock holds one file per package; regenerate it with `lambda-deps measure --lock-out FILE`.',
    });
  }
  for (const entry of parsed.data.packages) assertLockUrl(entry, origin, options.localFileUrls ?? false);
  return { ...parsed.data, packages: [...parsed.data.packages].sort(byName) };
}
