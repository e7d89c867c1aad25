// Judges a wheel built here from an sdist: pure wheels run anywhere; a native one must be for
// the target's architecture, carry its real `linux_<machine>` tag (never a manylinux tag it was
// not audited for), and every binary in it must verify against the target (glibc, machine,
// libraries), the same checks a downloaded wheel's files get before publishing.
import { mkdtemp, open, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { extractZip } from '../pack/zip-reader.ts';
import { parseWheelFilename } from '../index/index.ts';
import { bufferSource, compareDottedVersions } from '../verify/elf.ts';
import { versionedSymbolNeeds } from '../verify/elf-symbols.ts';
import { describeTarget, wheelMachine } from '../shared/targets.ts';
import type { Target } from '../shared/types.ts';
import { detectBinaryFormat, readElfFactsFromFile, verifyArtifact } from '../verify/index.ts';

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

/** `python3.11 runs on Amazon Linux 2, glibc 2.26` */
function runsOn(target: Target): string {
  return target.runtime
    ? `${target.runtime} runs on ${target.os}, glibc ${target.glibc}`
    : `the custom target has glibc ${target.glibc}`;
}

interface GlibcNeeds {
  readonly highest: string | null;
  /** One sentence per file needing more than the target has, naming the calls. */
  readonly tooNew: string[];
}

/** What the ELF files under `folder` need of glibc, with the symbols that need more than `target` has. */
async function glibcNeedsUnder(folder: string, target: Target): Promise<GlibcNeeds> {
  let highest: string | null = null;
  const tooNew: string[] = [];
  for await (const path of filesUnder(folder)) {
    // Only the first bytes decide; a whole file is read only when it is ELF and needs naming.
    const handle = await open(path, 'r');
    const head = Buffer.alloc(64);
    await handle.read(head, 0, 64, 0).finally(() => handle.close());
    if (detectBinaryFormat(head) !== 'elf') continue;
    const needed = (await readElfFactsFromFile(path, relative(folder, path)))?.highestGlibc ?? null;
    if (needed && (highest === null || compareDottedVersions(needed, highest) > 0)) highest = needed;
    if (!needed || compareDottedVersions(needed, target.glibc) <= 0) continue;
    const calls = [...versionedSymbolNeeds(bufferSource(await readFile(path)))]
      .filter(
        ([version]) =>
          version.startsWith('GLIBC_') && compareDottedVersions(version.slice(6), target.glibc) > 0,
      )
      .map(([version, names]) => `${names.sort().join(', ')} needs ${version}`);
    tooNew.push(
      `${relative(folder, path)}: ${calls.join('; ') || `needs GLIBC_${needed}`}; ${runsOn(target)}`,
    );
  }
  return { highest, tooNew };
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
  const glibc = await glibcNeedsUnder(unpacked, target);
  // The verifier's glibc findings are said again here with the calls named (statx needs GLIBC_2.28).
  const others = verification.problems
    .map((problem) => problem.message)
    .filter((message) => !/ needs GLIBC_/.test(message));
  return { problems: [...glibc.tooNew, ...others], hint, glibcNeeded: glibc.highest };
}
