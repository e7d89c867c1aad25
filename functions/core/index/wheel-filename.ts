// Wheel filenames (PEP 427 / the binary distribution format): `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`,
// with compressed tag sets (`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`) expanded
// into every tag they stand for, so a file can be matched against a target's accepted tags.
import { InputError } from '../shared/errors.ts';
import { canonicalizeName } from '../shared/names.ts';

/** A parsed wheel filename. */
export interface WheelFilename {
  /** PEP 503 normalized project name. */
  readonly name: string;
  /** Version as written in the filename (`_` turned back into `-`, as pip does). */
  readonly version: string;
  /** Build tag (`1`, `2b`), or null. */
  readonly build: string | null;
  /** Every `python-abi-platform` tag the compressed tag sets expand to, in filename order. */
  readonly tags: readonly string[];
}

const WHEEL_SUFFIX = '.whl';
const PART = /^[^\s-]+$/;

/** True when the name ends in `.whl` and has the five or six dash-separated parts a wheel needs. */
export function isWheelFilename(filename: string): boolean {
  try {
    parseWheelFilename(filename);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse a wheel's filename; throws InputError naming the file when it is not a valid wheel name.
 * @example parseWheelFilename('numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl').tags
 *   // ['cp311-cp311-manylinux_2_17_x86_64', 'cp311-cp311-manylinux2014_x86_64']
 */
export function parseWheelFilename(filename: string): WheelFilename {
  const invalid = (why: string): InputError =>
    new InputError(`"${filename}" is not a valid wheel filename: ${why}.`, {
      hint: 'A wheel is named {name}-{version}(-{build})?-{python tag}-{abi tag}-{platform tag}.whl.',
    });
  if (!filename.toLowerCase().endsWith(WHEEL_SUFFIX)) throw invalid('it does not end in .whl');
  const parts = filename.slice(0, -WHEEL_SUFFIX.length).split('-');
  if (parts.length !== 5 && parts.length !== 6)
    throw invalid(`it has ${parts.length} dash-separated parts, not 5 or 6`);
  if (!parts.every((part) => PART.test(part))) throw invalid('a part is empty or contains whitespace');
  const [rawName, rawVersion] = parts as [string, string];
  const build = parts.length === 6 ? (parts[2] as string) : null;
  if (build !== null && !/^\d/.test(build))
    throw invalid(`the build tag "${build}" does not start with a digit`);
  const [pythons, abis, platforms] = parts.slice(-3).map((set) => set.split('.')) as [
    string[],
    string[],
    string[],
  ];
  if ([...pythons, ...abis, ...platforms].some((tag) => tag === '')) throw invalid('a tag is empty');
  const tags: string[] = [];
  for (const python of pythons)
    for (const abi of abis)
      for (const platform of platforms) tags.push(`${python}-${abi}-${platform}`.toLowerCase());
  return { name: canonicalizeName(rawName), version: rawVersion.replace(/_/g, '-'), build, tags };
}
