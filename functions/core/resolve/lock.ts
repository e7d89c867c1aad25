// The lock: the exact files a dependency set resolved to, for one target, and its identity.
// The identity (lockHash) is the sha256 of a canonical JSON document holding only what decides
// the installed bytes: the target (runtime, Python, glibc, architecture, OS) and, per package,
// name, version, filename and sha256. URLs (mirrors serve the same bytes), sizes (derived from
// the bytes), `requiredBy` (derived from the metadata) and anything about time or the machine are
// left out, so the same set always has the same hash. (Reading a lock back, with its schema, is
// lock-reader.ts: `measure` never reads one, and zod is a tenth of its start-up.)
import { canonicalJson } from '../shared/canonical-json.ts';
import { sha256Hex } from '../shared/hash.ts';
import { redactUrl } from '../shared/redact.ts';
import type { Lock } from '../shared/types.ts';

export function byName<T extends { name: string }>(left: T, right: T): number {
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
