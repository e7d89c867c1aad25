// What one resolution read, recorded while it runs (the index client's SourceWatch): each local
// page, find-links folder and wheel with its identity taken before it was read (absent paths too:
// a page that appears later changes the answer), the client's own cache records, and whether
// anything was asked over the network or could come from running an sdist's build backend, which
// leave no identity to check. The resolution cache stores an answer only when this record can
// prove a later run would read the same bytes.
import type { SourceWatch } from '../index/index-client.ts';
import { redactUrl } from '../shared/redact.ts';
import type { PackageIndex } from '../shared/types.ts';
import { pathIdentity, type PathIdentity } from './source-identity.ts';

/** A path the answer rests on, and its identity then (null: nothing was there). */
export interface RecordedSource {
  readonly path: string;
  readonly identity: string | null;
}

/**
 * How close to the start of a run a source may have changed and still be trusted. A timestamp
 * is coarse (a kernel tick, up to 10 ms), so a file written again within the tick of our look
 * can keep its size and times; one older than this cannot be rewritten without moving them
 * (git's "racily clean" entries). Whole-second times mean a filesystem that keeps no more.
 */
const RACY_WINDOW_NS = 100_000_000n;
const COARSE_RACY_WINDOW_NS = 2_000_000_000n;

type Kind = 'source' | 'record';
type Taken = PathIdentity & { readonly kind: Kind };

export interface SourceRecorder extends SourceWatch {
  /** The answer cannot be cached, for this reason (the first one given is kept). */
  refuse(reason: string): void;
  /**
   * The sources, when none changed since it was recorded nor so shortly before `startedNs`
   * (ns since the epoch, taken before the run read anything) that a change could hide; else why not.
   */
  settle(startedNs: bigint): Promise<{ readonly sources: RecordedSource[] } | { readonly refused: string }>;
}

function racy(taken: Taken, startedNs: bigint): boolean {
  if (taken.kind !== 'source' || taken.identity === null) return false;
  const window = taken.changedNs % 1_000_000_000n === 0n ? COARSE_RACY_WINDOW_NS : RACY_WINDOW_NS;
  return taken.changedNs > startedNs - window;
}

/** Why the recorded sources cannot be trusted, or null when they can. */
async function unsettled(taken: Map<string, Promise<Taken>>, startedNs: bigint): Promise<string | null> {
  const checks = await Promise.all(
    [...taken].map(async ([path, before]) => {
      const [then, now] = [await before, await pathIdentity(path)];
      if (then.identity !== now.identity) return `${path} changed while it was read`;
      return racy(then, startedNs)
        ? `${path} changed too shortly before the run to tell a later change`
        : null;
    }),
  );
  return checks.find((reason) => reason !== null) ?? null;
}

/**
 * A fresh record, to hand to the index client as its `watch`.
 * @example const recorder = createSourceRecorder(); createPackageIndex({ ...options, watch: recorder });
 */
export function createSourceRecorder(): SourceRecorder {
  const taken = new Map<string, Promise<Taken>>();
  let refused: string | null = null;
  const take = (path: string, kind: Kind): Promise<Taken> =>
    pathIdentity(path).then((identity) => ({ ...identity, kind }));
  // The first look is the one that counts: it came before every read of the path.
  const takeOnce = async (path: string, kind: Kind): Promise<void> => {
    if (!taken.has(path)) taken.set(path, take(path, kind));
    await taken.get(path);
  };
  return {
    read: (path) => takeOnce(path, 'source'),
    readRecord: (path) => takeOnce(path, 'record'),
    async wroteRecord(path) {
      // The client changed it itself; what it wrote is what a later run reads.
      const written = take(path, 'record');
      taken.set(path, written);
      await written;
    },
    request(url) {
      refused ??= `${redactUrl(url)} was asked over the network`;
    },
    refuse(reason) {
      refused ??= reason;
    },
    async settle(startedNs) {
      const reason = refused ?? (await unsettled(taken, startedNs));
      if (reason !== null) return { refused: reason };
      const sources = await Promise.all(
        [...taken].map(async ([path, identity]) => ({ path, identity: (await identity).identity })),
      );
      return { sources: sources.sort((left, right) => (left.path < right.path ? -1 : 1)) };
    },
  };
}

/**
 * The index, refusing the cache when an sdist is opened: its metadata may come from running its
 * build backend through pip (sdist-prepare-metadata.ts), with this machine's Python and reads of
 * the indexes that this client does not see.
 */
export function refusingSdists(index: PackageIndex, recorder: SourceRecorder): PackageIndex {
  return {
    listFiles: (name) => index.listFiles(name),
    fetchMetadata: (file) => index.fetchMetadata(file),
    measureWheel: (file) => index.measureWheel(file),
    download(file) {
      if (!file.filename.toLowerCase().endsWith('.whl'))
        recorder.refuse(
          `the sdist ${file.filename} was read, whose metadata may come from its build backend`,
        );
      return index.download(file);
    },
  };
}

/**
 * Whether every source still has the identity it was recorded with (absent ones still absent).
 * @example if (await sourcesUnchanged(entry.sources)) return entry.lock;
 */
export async function sourcesUnchanged(sources: readonly RecordedSource[]): Promise<boolean> {
  const now = await Promise.all(sources.map((source) => pathIdentity(source.path)));
  return sources.every((source, position) => now[position]?.identity === source.identity);
}
