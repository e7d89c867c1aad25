// The lock: the exact files a dependency set resolved to, for one target, and its identity.
// The identity (lockHash) is the sha256 of a canonical JSON document holding only what decides
// the installed bytes: the target (runtime, Python, glibc, architecture, OS) and, per package,
// name, version, filename and sha256. URLs (mirrors serve the same bytes), sizes (derived from
// the bytes), `requiredBy` (derived from the metadata) and anything about time or the machine are
// left out, so the same set always has the same hash.
import { sha256Hex } from '../shared/hash.ts';
import { z } from 'zod';
import { assertLockUrl } from '../index/lock-urls.ts';
import { InputError } from '../shared/errors.ts';
import { redactUrl } from '../shared/redact.ts';
import type { Lock } from '../shared/types.ts';

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
  return z.object({ lockVersion: z.literal(1), target, packages: z.array(lockedPackage) });
}

let lockSchema: ReturnType<typeof buildLockSchema> | null = null;

/** Built on the first parse: `measure` never parses a lock. */
function schema(): ReturnType<typeof buildLockSchema> {
  lockSchema ??= buildLockSchema();
  return lockSchema;
}

/** JSON with object keys sorted at every level: the same data always gives the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function byName<T extends { name: string }>(left: T, right: T): number {
  return left.name < right.name ? -1 : left.name > right.name ? 1 : 0;
}

/**
 * The set's identity: sha256 (hex) of the canonical JSON of the target and each package's
 * name, version, filename and sha256, packages sorted by name.
 * @example lockHash(lock) // '3f1c…'
 */
export function lockHash(lock: Lock): string {
  const { runtime, pythonVersion, glibc, architecture, os } = lock.target;
  const identity = {
    lockVersion: lock.lockVersion,
    target: { runtime, pythonVersion, glibc, architecture, os },
    packages: [...lock.packages]
      .map(({ name, version, filename, sha256 }) => ({
        name,
        version,
        filename,
        sha256: sha256.toLowerCase(),
      }))
      .sort(byName),
  };
  return sha256Hex(canonicalJson(identity));
}

/**
 * The lock as a stable, readable JSON file (sorted keys, packages by name, trailing newline).
 * @example await writeFile('lambda-deps.lock.json', serializeLock(lock));
 */
export function serializeLock(lock: Lock): string {
  const packages = lock.packages.map((entry) => ({ ...entry, url: redactUrl(entry.url) }));
  const sorted: Lock = { ...lock, packages: packages.sort(byName) };
  return `${JSON.stringify(JSON.parse(canonicalJson(sorted)), null, 2)}\n`;
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
