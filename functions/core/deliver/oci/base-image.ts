// Which base an image of a dependency set sits on, and whether that base's C library is new
// enough for the set's wheels. Lambda's python3.10/3.11 images are Amazon Linux 2 (glibc 2.26),
// python3.12 and later Amazon Linux 2023 (glibc 2.34); a custom glibc target has no Lambda base
// of its own, so its base is named by the user and its glibc read from `libc.so.6` in its layers.
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InputError } from '../../shared/errors.ts';
import type { Target } from '../../shared/types.ts';
import type { ImageReference } from './push-image.ts';

/** The base an image is pushed on, and the glibc the set needs from it (null: no check needed). */
export interface ChosenBase {
  readonly base: ImageReference & { readonly reference: string };
  /** Amazon Linux release of a Lambda base, or null for a base the user named. */
  readonly os: 'amazonlinux2' | 'amazonlinux2023' | null;
  /** Check the base's libc.so.6 against this glibc before pushing (custom bases only). */
  readonly requireGlibc: string | null;
}

/** `public.ecr.aws/lambda/python:3.11-x86_64` or `registry:5000/base@sha256:…` as a reference. */
export function parseImageReference(input: string): ImageReference & { reference: string } {
  const scheme = /^(https?):\/\//.exec(input)?.[1] ?? null;
  const text = scheme ? input.slice(scheme.length + 3) : input;
  const at = text.lastIndexOf('@');
  const slash = text.indexOf('/');
  const colon = text.lastIndexOf(':');
  const [name, reference] =
    at > 0
      ? [text.slice(0, at), text.slice(at + 1)]
      : colon > slash
        ? [text.slice(0, colon), text.slice(colon + 1)]
        : [text, 'latest'];
  const first = name.indexOf('/');
  const hasHost = first > 0 && /[.:]|^localhost$/.test(name.slice(0, first));
  // Docker Hub's registry API lives at registry-1.docker.io.
  const host = hasHost ? name.slice(0, first) : 'registry-1.docker.io';
  const repository = hasHost ? name.slice(first + 1) : name.includes('/') ? name : `library/${name}`;
  if (!repository || !reference) {
    throw new InputError(`"${input}" is not an image reference.`, {
      hint: 'Give host/repository:tag or host/repository@sha256:…, e.g. public.ecr.aws/lambda/provided:al2023-x86_64.',
    });
  }
  const local = /^(127\.0\.0\.1|localhost)(:|$)/.test(host);
  const protocol = scheme ?? (local ? 'http' : 'https');
  return { registryUrl: `${protocol}://${host}`, repository, reference, credentials: null };
}

/**
 * The base for a target: a Lambda runtime's own image (`<repository>:<py>-<arch>`, which is
 * Amazon Linux 2 for 3.10/3.11 and 2023 for 3.12+), or the base the user named for a custom
 * glibc target, which must then prove its glibc.
 */
export function chooseBaseImage(
  target: Target,
  options: { readonly repository: string; readonly customBaseImage: string | null },
): ChosenBase | null {
  // No base configured at all (local runs by default): the dependency layer alone.
  if (!options.customBaseImage && options.repository.trim() === '') return null;
  if (target.runtime === null) {
    if (!options.customBaseImage) {
      throw new InputError(
        `A custom target (Python ${target.pythonVersion}, glibc ${target.glibc}) has no Lambda base image: the python${target.pythonVersion} image runs ${Number(target.pythonVersion.split('.')[1]) <= 11 ? 'Amazon Linux 2 with glibc 2.26' : 'Amazon Linux 2023 with glibc 2.34'}.`,
        {
          hint: `Name a base whose glibc is at least ${target.glibc} with --base-image (for example public.ecr.aws/lambda/provided:al2023-${target.architecture} with a Python ${target.pythonVersion} of your own).`,
        },
      );
    }
    return { base: parseImageReference(options.customBaseImage), os: null, requireGlibc: target.glibc };
  }
  const minor = Number(target.pythonVersion.split('.')[1]);
  const base = parseImageReference(`${options.repository}:${target.pythonVersion}-${target.architecture}`);
  return { base, os: minor <= 11 ? 'amazonlinux2' : 'amazonlinux2023', requireGlibc: null };
}

const LIBC_PATH =
  /^(?:\.\/)?(?:usr\/)?lib(?:64|\/(?:x86_64|aarch64)-linux-gnu)?\/libc(?:\.so\.6|-\d+\.\d+\.so)$/;
const VERSION_IN_NAME = /libc-(\d+\.\d+)\.so$/;
const VERSION_IN_BINARY = /GNU C Library[^\n\0]*?version (\d+\.\d+)/;

/**
 * The glibc version of one layer (a tar, gzipped as its media type says), from its `libc.so.6`: the version in
 * the link target's name (`libc-2.26.so`) or in the library's own banner; null when the layer
 * has no libc. A whiteout of libc is reported as `removed`.
 */
export async function glibcInLayer(layer: Readable, gzipped: boolean): Promise<string | 'removed' | null> {
  const extract = tar.extract();
  let found: string | 'removed' | null = null;
  extract.on('entry', (header, stream, next) => {
    const name = header.name;
    const base = name.replace(/^.*\//, '');
    if (found === null && base === '.wh.libc.so.6' && LIBC_PATH.test(name.replace('.wh.', ''))) {
      found = 'removed';
    }
    if (found !== null || !LIBC_PATH.test(name)) {
      stream.resume();
      stream.on('end', next);
      return;
    }
    const fromName = VERSION_IN_NAME.exec(header.linkname ?? '') ?? VERSION_IN_NAME.exec(name);
    if (fromName?.[1]) found = fromName[1];
    if (header.type !== 'file' || found !== null) {
      stream.resume();
      stream.on('end', next);
      return;
    }
    // The banner sits in .rodata; keep a small overlap so a match across chunks is not lost.
    let tail = '';
    stream.on('data', (data: unknown) => {
      const chunk = data as Buffer;
      if (found !== null) return;
      const text = tail + chunk.toString('latin1');
      const match = VERSION_IN_BINARY.exec(text);
      if (match?.[1]) found = match[1];
      tail = text.slice(-200);
    });
    stream.on('end', next);
  });
  if (gzipped) await pipeline(layer, createGunzip(), extract);
  else await pipeline(layer, extract);
  return found;
}

/** Compares `2.26` with `2.34`: negative, zero or positive. */
export function compareGlibc(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/**
 * The base's glibc from its layers, top layer first (a later layer replaces an earlier libc),
 * and a refusal when it is older than the set needs: its wheels would fail at import with
 * `GLIBC_2.xx not found`.
 */
export async function assertBaseGlibc(
  where: string,
  layers: readonly { readonly open: () => Promise<Readable>; readonly gzipped: boolean }[],
  required: string,
): Promise<string> {
  let version: string | null = null;
  for (const layer of [...layers].reverse()) {
    const found = await glibcInLayer(await layer.open(), layer.gzipped);
    if (found === 'removed') break;
    if (found !== null) {
      version = found;
      break;
    }
  }
  if (version === null) {
    throw new InputError(`${where} has no libc.so.6 in its layers, so its glibc cannot be checked.`, {
      hint: `Give a glibc-based Linux base whose glibc is at least ${required} with --base-image.`,
    });
  }
  if (compareGlibc(version, required) < 0) {
    throw new InputError(
      `${where} has glibc ${version}, but the set was built for glibc ${required}: its wheels would fail at import with "GLIBC_${required} not found".`,
      {
        hint: `Name a base with glibc ${required} or newer (--base-image), or build for --glibc ${version}.`,
      },
    );
  }
  return version;
}
