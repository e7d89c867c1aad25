// The on-disk shape of a resolution cache entry, checked when read: the cache folder is this
// machine's disk, not a source of truth, so a garbled, truncated or foreign entry is refused
// (and resolved again), never served. Checked by hand, like the index client's records
// (index/cache-records.ts): loading zod takes about as long as the resolution an entry saves.
import { recordOf } from '../index/cache-records.ts';
import { lockHash } from '../resolve/lock.ts';
import type { BuildIndexes, LockedPackage, Lock, Target } from '../shared/types.ts';
import type { RecordedSource } from './resolution-sources.ts';

/** Bumped whenever the entry's shape or what its key covers changes: an old entry is then never read. */
export const RESOLUTION_ENTRY_FORMAT = 1;

export interface ResolutionEntry {
  readonly format: typeof RESOLUTION_ENTRY_FORMAT;
  /** The key the entry is filed under (resolution-cache.ts): it must be the one looked up. */
  readonly key: string;
  /** When the set was resolved (ISO 8601), for the "unchanged since" message. */
  readonly resolvedAt: string;
  readonly sources: readonly RecordedSource[];
  readonly lock: Lock;
  readonly lockHash: string;
}

const checkEnvelope = recordOf<{ format: number; key: string; resolvedAt: string; lockHash: string }>({
  format: 'count',
  key: 'sha256',
  resolvedAt: 'text',
  lockHash: 'sha256',
});
const checkSource = recordOf<RecordedSource>({ path: 'text', identity: 'text|null' });
const checkPackage = recordOf<LockedPackage>({
  name: 'text',
  version: 'text',
  filename: 'text',
  url: 'text',
  sha256: 'sha256',
  size: 'count',
  unzippedSize: 'count',
  tag: 'text',
  requiredBy: 'texts',
});
const checkTargetText = recordOf<Omit<Target, 'architecture' | 'pythonFullVersion'>>({
  runtime: 'text|null',
  pythonVersion: 'text',
  glibc: 'text',
  os: 'text',
});
const checkBuildIndexes = recordOf<BuildIndexes>({ indexUrls: 'texts', findLinks: 'texts' });

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Each item checked, or the first problem, prefixed by where it is. */
function checkList<T>(value: unknown, where: string, check: (item: unknown) => T | string): T[] | string {
  if (!Array.isArray(value)) return `${where}: expected a list`;
  const items: T[] = [];
  for (const [position, item] of value.entries()) {
    const checked = check(item);
    if (typeof checked === 'string') return `${where}[${position}].${checked}`;
    items.push(checked);
  }
  return items;
}

function checkTarget(value: unknown): Target | string {
  const text = checkTargetText(value);
  if (typeof text === 'string') return text;
  const { architecture, pythonFullVersion } = value as Record<string, unknown>;
  if (architecture !== 'x86_64' && architecture !== 'arm64') return 'architecture: expected x86_64 or arm64';
  if (pythonFullVersion !== undefined && typeof pythonFullVersion !== 'string')
    return 'pythonFullVersion: expected a string';
  return { ...text, architecture, ...(pythonFullVersion !== undefined ? { pythonFullVersion } : {}) };
}

function checkLock(value: unknown): Lock | string {
  if (!isObject(value)) return 'expected an object';
  if (value['lockVersion'] !== 1) return 'lockVersion: expected 1';
  const target = checkTarget(value['target']);
  if (typeof target === 'string') return `target.${target}`;
  const packages = checkList(value['packages'], 'packages', checkPackage);
  if (typeof packages === 'string') return packages;
  if (value['buildIndexes'] === undefined) return { lockVersion: 1, target, packages };
  const buildIndexes = checkBuildIndexes(value['buildIndexes']);
  if (typeof buildIndexes === 'string') return `buildIndexes.${buildIndexes}`;
  return { lockVersion: 1, target, packages, buildIndexes };
}

/**
 * The entry in `text`, or why it is not the entry filed under `key`: not JSON, not the shape,
 * another format or key, or a lock whose hash is not the one recorded (a changed byte).
 * @example const entry = parseResolutionEntry(text, key); if (typeof entry !== 'string') use(entry.lock);
 */
export function parseResolutionEntry(text: string, key: string): ResolutionEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'it is not JSON';
  }
  const envelope = checkEnvelope(value);
  if (typeof envelope === 'string') return envelope;
  if (envelope.format !== RESOLUTION_ENTRY_FORMAT)
    return `format: ${envelope.format} is not ${RESOLUTION_ENTRY_FORMAT}`;
  if (envelope.key !== key) return 'key: it is filed under another key';
  const record = value as Record<string, unknown>;
  const sources = checkList(record['sources'], 'sources', checkSource);
  if (typeof sources === 'string') return sources;
  const lock = checkLock(record['lock']);
  if (typeof lock === 'string') return `lock.${lock}`;
  if (lockHash(lock) !== envelope.lockHash) return 'lockHash: it is not the hash of its lock';
  return { ...envelope, format: RESOLUTION_ENTRY_FORMAT, sources, lock };
}
