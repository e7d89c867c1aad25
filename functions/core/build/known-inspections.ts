// The verifier's view of a build tree through the inspection memo (verify/inspection-memo.ts):
// a file the installs wrote, and nothing changed since (the tree ledger vouches for its sha256),
// is known by what an earlier build's verify read from the same bytes; every file read now is
// kept for the next build, in the memo of the wheel it came from.
import type { InstalledPackage } from './wheel-installer.ts';
import type { TreeLedger } from '../shared/tree-ledger.ts';
import { resolverBelow } from '../shared/tree-listing.ts';
import type { Lock } from '../shared/types.ts';
import type { FileInspection } from '../verify/file-inspection.ts';
import { InspectionMemo, readInspectionMemos, writeInspectionMemo } from '../verify/inspection-memo.ts';

export interface KnownInspections {
  readonly knownInspection: (relativePath: string) => FileInspection | null;
  readonly onInspected: (relativePath: string, inspection: FileInspection) => void;
  /** Store the memo of each wheel whose files were read now (a failure is only the cache's loss). */
  readonly keep: () => Promise<void>;
}

/**
 * The memos of the lock's wheels, read (and checked) while the installs run: the main thread
 * waits on the copies then, and reading the seed set's 14 memos after them took it 22 ms.
 */
export async function readLockedInspections(cacheDir: string, lock: Lock): Promise<InspectionMemo> {
  const memo = new InspectionMemo();
  const wheels = new Set(lock.packages.map((locked) => locked.sha256.toLowerCase()));
  await readInspectionMemos(cacheDir, [...wheels], memo);
  return memo;
}

/**
 * Hooks for verifyArtifact on `treeDir`, whose files `packed` installed and `ledger` recorded;
 * `memo` holds the memos of at least the packed wheels (readLockedInspections).
 * @example const known = knownInspections({ cacheDir, treeDir, packed, ledger, memo: await readLockedInspections(cacheDir, lock) }); await verifyArtifact({ root: treeDir, target, ...known }); await known.keep();
 */
export function knownInspections(input: {
  readonly cacheDir: string;
  readonly treeDir: string;
  readonly packed: readonly InstalledPackage[];
  readonly ledger: TreeLedger;
  readonly memo: InspectionMemo;
}): KnownInspections {
  const { cacheDir, treeDir, packed, ledger, memo } = input;
  const wheelOf = new Map<string, string>();
  for (const pkg of packed) for (const file of pkg.files) wheelOf.set(file.path, pkg.wheelSha256);
  // Each file's digest as the ledger vouched for it, and the wheels with files read now.
  const digestOf = new Map<string, string>();
  const learned = new Set<string>();
  const inTree = resolverBelow(treeDir);
  const vouched = (relativePath: string): string | null => {
    const digest = ledger.sha256Of(inTree(relativePath));
    if (digest) digestOf.set(relativePath, digest);
    return digest;
  };
  return {
    knownInspection: (relativePath) => {
      const digest = wheelOf.has(relativePath) ? vouched(relativePath) : null;
      return digest ? memo.inspectionOf(digest, relativePath) : null;
    },
    onInspected: (relativePath, inspection) => {
      const wheel = wheelOf.get(relativePath);
      const digest = wheel ? (digestOf.get(relativePath) ?? vouched(relativePath)) : null;
      if (!wheel || !digest || memo.has(digest)) return;
      memo.keep(digest, inspection);
      learned.add(wheel);
    },
    keep: async () => {
      const digestsOf = new Map<string, string[]>();
      for (const [path, digest] of digestOf) {
        const wheel = wheelOf.get(path);
        if (!wheel || !learned.has(wheel)) continue;
        const digests = digestsOf.get(wheel) ?? [];
        digests.push(digest);
        digestsOf.set(wheel, digests);
      }
      await Promise.all(
        [...digestsOf].map(([wheel, digests]) =>
          writeInspectionMemo(cacheDir, wheel, memo, digests).catch(() => undefined),
        ),
      );
    },
  };
}
