// Judges a wheel built here from an sdist: pure wheels run anywhere; a native one must be for
// the target's architecture, carry its real `linux_<machine>` tag (never a manylinux tag it was
// not audited for), and every binary in it must verify against the target (glibc, machine,
// libraries), the same checks a downloaded wheel's files get before publishing.
import { mkdtemp, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { extractZip } from '../../cli/commands/verify.ts';
import { parseWheelFilename } from '../index/index.ts';
import { compareDottedVersions } from '../verify/elf.ts';
import { describeTarget, wheelMachine } from '../shared/targets.ts';
import type { Target } from '../shared/types.ts';
import { detectBinaryFormat, readElfFactsFromFile, verifyArtifact } from '../verify/index.ts';
import { open } from 'node:fs/promises';

export interface BuiltWheelCheck {
  /** What stops it, each a sentence; empty when it runs on the target. */
  readonly problems: readonly string[];
  readonly hint: string;
  readonly glibcNeeded: string | null;
}

async function* filesUnder(folder: string): AsyncGenerator<string> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) yield path;
  }
}

/** The highest glibc any ELF file under `folder` needs. */
async function highestGlibcUnder(folder: string): Promise<string | null> {
  let highest: string | null = null;
  for await (const path of filesUnder(folder)) {
    const handle = await open(path, 'r');
    const head = Buffer.alloc(64);
    await handle.read(head, 0, 64, 0).finally(() => handle.close());
    if (detectBinaryFormat(head) !== 'elf') continue;
    const facts = await readElfFactsFromFile(path, relative(folder, path));
    const needed = facts?.highestGlibc ?? null;
    if (needed && (highest === null || compareDottedVersions(needed, highest) > 0)) highest = needed;
  }
  return highest;
}

export async function checkBuiltWheel(
  wheelPath: string,
  filename: string,
  target: Target,
  scratch: string,
): Promise<BuiltWheelCheck> {
  const tags = parseWheelFilename(filename).tags;
  if (tags.every((tag) => tag.endsWith('-any'))) return { problems: [], hint: '', glibcNeeded: null };
  const machine = wheelMachine(target.architecture);
  const hint = `Build it in AWS (CodeBuild on ${describeTarget(target)}), pick a newer runtime whose glibc is high enough, or deliver the set as an image on a base that fits.`;
  if (!tags.some((tag) => tag.endsWith(`-linux_${machine}`)))
    return {
      problems: [
        `it was built here as ${tags.join(', ')}, which is native code for this machine, not for ${describeTarget(target)}.`,
      ],
      hint,
      glibcNeeded: null,
    };
  const unpacked = await mkdtemp(join(scratch, 'built-'));
  await extractZip(wheelPath, unpacked);
  const verification = await verifyArtifact({ root: unpacked, target, pythonRoots: ['.'] });
  return {
    problems: verification.problems.map((problem) => problem.message),
    hint,
    glibcNeeded: await highestGlibcUnder(unpacked),
  };
}
