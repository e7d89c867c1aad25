// The output folder (`--out`) is the user's: lambda-deps deletes nothing there it did not
// create, and never removes old outputs before the new ones are complete. What it wrote is
// listed in `.lambda-deps-outputs.json`; a file in an output folder (layers/, efs/, image/) that
// the list does not name stops the build with an error instead of being deleted. New outputs
// are copied (reflinks where the file system can; never hard links into the cache, except into
// the build step's own out/, which only its upload reads) into a folder beside the old ones, then
// swapped in by rename, the list updated before and after, so a run killed or failing at any
// step leaves old or new outputs whole and the next run free.
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { copyFileAtomic, linkFileAtomic, renameCounted, writeFileAtomic } from '../shared/atomic-write.ts';
import { InputError } from '../shared/errors.ts';

/** The list of what lambda-deps wrote into the output folder. */
export const OWNERSHIP_FILE = '.lambda-deps-outputs.json';
/** Top-level names a build delivers (and may replace). */
export const OUTPUT_NAMES = ['layers', 'efs', 'image', 'manifest.json'] as const;
const INCOMING_PREFIX = '.lambda-deps-incoming-';
const REPLACED_PREFIX = '.lambda-deps-replaced-';

/**
 * `copies` (optional, default path only): for a file copied from the pipeline's store, the
 * store object's identity and the copy's, both taken when it was written (file-identity.ts).
 */
const copySchema = z.object({ source: z.string(), copy: z.string() });
const ownershipSchema = z.object({
  format: z.literal(1),
  files: z.array(z.string()),
  copies: z.record(z.string(), copySchema).optional(),
});
export type DeliveredCopy = z.infer<typeof copySchema>;

async function readOwnership(outDir: string): Promise<z.infer<typeof ownershipSchema> | null> {
  const text = await readFile(join(outDir, OWNERSHIP_FILE), 'utf8').catch(() => null);
  if (text === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = ownershipSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/**
 * Everything but folders below `root`, as sorted `/`-separated relative paths: none when it is
 * missing, `['']` when `root` itself is a file.
 */
export async function filesBelow(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => null);
  if (!info) return [];
  if (!info.isDirectory()) return [''];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => `${entry.parentPath.slice(root.length + 1)}/${entry.name}`.replace(/^\//, ''))
    .sort();
}

/** The files lambda-deps owns in `outDir` (relative paths); empty when it never wrote there. */
export async function ownedOutputs(outDir: string): Promise<Set<string>> {
  return new Set((await readOwnership(outDir))?.files ?? []);
}

/** The store copies the list records, for the files it still owns. */
export async function deliveredCopies(outDir: string): Promise<Map<string, DeliveredCopy>> {
  const ownership = await readOwnership(outDir);
  const owned = new Set(ownership?.files ?? []);
  return new Map(Object.entries(ownership?.copies ?? {}).filter(([file]) => owned.has(file)));
}

export async function writeOwnership(
  outDir: string,
  files: Iterable<string>,
  copies: ReadonlyMap<string, DeliveredCopy> = new Map(),
): Promise<void> {
  const list = [...new Set(files)].sort();
  const recorded = list.flatMap((file) => {
    const copy = copies.get(file);
    return copy ? [[file, copy] as const] : [];
  });
  const body = {
    format: 1,
    files: list,
    ...(recorded.length ? { copies: Object.fromEntries(recorded) } : {}),
  };
  await writeFileAtomic(join(outDir, OWNERSHIP_FILE), `${JSON.stringify(body, null, 2)}\n`);
}

/** Refuse before touching anything when an output name holds a file lambda-deps did not write. */
async function refuseForeignFiles(outDir: string, owned: ReadonlySet<string>): Promise<void> {
  for (const name of OUTPUT_NAMES) {
    for (const file of await filesBelow(join(outDir, name))) {
      const path = file === '' ? name : `${name}/${file}`;
      if (!owned.has(path))
        throw new InputError(
          `${join(outDir, path)} was not written by lambda-deps, and a build would replace it.`,
          {
            hint: `lambda-deps deletes nothing it did not create. Move ${join(outDir, name)} away, or build into another --out folder.`,
          },
        );
    }
  }
}

/** Leftovers of a run killed mid-swap (named by us, in our folder): finish what it started. */
async function removeLeftovers(outDir: string): Promise<void> {
  for (const name of await readdir(outDir).catch(() => [] as string[]))
    if (name.startsWith(INCOMING_PREFIX) || name.startsWith(REPLACED_PREFIX))
      await rm(join(outDir, name), { recursive: true, force: true });
}

/** Copy (or link) every file of `source` into a fresh folder inside `outDir` (same file system, so renames work). */
async function stageCopy(
  source: string,
  outDir: string,
  link: boolean,
): Promise<{ incoming: string; files: string[] }> {
  const incoming = await mkdtemp(join(outDir, INCOMING_PREFIX));
  const files = (await filesBelow(source)).filter((file) =>
    OUTPUT_NAMES.some((name) => file === name || file.startsWith(`${name}/`)),
  );
  for (const file of files) {
    const target = join(incoming, ...file.split('/'));
    await mkdir(join(target, '..'), { recursive: true });
    await (link ? linkFileAtomic : copyFileAtomic)(join(source, ...file.split('/')), target);
  }
  return { incoming, files };
}

/** Swap old outputs out and new ones in, by rename; undone step by step when a rename fails. */
async function swapIn(outDir: string, incoming: string): Promise<void> {
  const replaced = await mkdtemp(join(outDir, REPLACED_PREFIX));
  const undo: (() => Promise<void>)[] = [];
  try {
    for (const name of OUTPUT_NAMES) {
      const current = join(outDir, name);
      const next = join(incoming, name);
      if (await stat(current).catch(() => null)) {
        await renameCounted(current, join(replaced, name));
        undo.push(() => renameCounted(join(replaced, name), current));
      }
      if (await stat(next).catch(() => null)) {
        await renameCounted(next, current);
        undo.push(() => renameCounted(current, next));
      }
    }
  } catch (error) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw error;
  } finally {
    await rm(replaced, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Deliver the outputs in `source` (manifest.json, layers/, efs/, image/) into `outDir`,
 * replacing only outputs lambda-deps wrote there before. `link`: hard links to `source`'s files
 * instead of copies, only for an `outDir` that nobody writes into or edits (the build step's
 * out/, which it hands to the store): a user's --out always gets copies.
 * @example await deliverOutputs('.cache/builds/<key>', 'out');
 */
export async function deliverOutputs(
  source: string,
  outDir: string,
  { link = false }: { link?: boolean } = {},
): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await removeLeftovers(outDir);
  const owned = await ownedOutputs(outDir);
  await refuseForeignFiles(outDir, owned);
  const { incoming, files } = await stageCopy(source, outDir, link).catch(async (error: unknown) => {
    await removeLeftovers(outDir);
    throw error;
  });
  try {
    // Old and new are both ours while they swap, so a run killed now leaves nothing foreign.
    await writeOwnership(outDir, [...owned, ...files]);
    await swapIn(outDir, incoming);
    await writeOwnership(outDir, files);
  } finally {
    await rm(incoming, { recursive: true, force: true });
  }
}
