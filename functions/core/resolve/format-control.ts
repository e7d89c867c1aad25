// pip's FormatControl: which distribution formats (wheel, sdist) a package may be installed from,
// from `--only-binary`, `--no-binary` (package names, `:all:`, `:none:`) and `--prefer-binary`,
// with pip 26's rules for combining them (later values override earlier ones; a name beats `:all:`).
import { canonicalizeName } from '../shared/names.ts';

export type DistributionFormat = 'binary' | 'source';

/** One `--only-binary` / `--no-binary` value as written (comma-separated names, `:all:`, `:none:`). */
export interface FormatOption {
  readonly option: 'only-binary' | 'no-binary';
  readonly value: string;
}

export interface FormatControl {
  readonly onlyBinary: ReadonlySet<string>;
  readonly noBinary: ReadonlySet<string>;
  /** `--prefer-binary`: an older wheel beats a newer sdist. */
  readonly preferBinary: boolean;
}

/** pip's default: wheels and sdists both allowed, wheels preferred within a version. */
export const PIP_DEFAULT_FORMATS: FormatControl = {
  onlyBinary: new Set(),
  noBinary: new Set(),
  preferBinary: false,
};

/** pip's `handle_mutual_excludes`, applied to each option in the order given. */
export function formatControlOf(options: readonly FormatOption[], preferBinary = false): FormatControl {
  const onlyBinary = new Set<string>();
  const noBinary = new Set<string>();
  for (const { option, value } of options) {
    const [target, other] = option === 'only-binary' ? [onlyBinary, noBinary] : [noBinary, onlyBinary];
    let names = value
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    let stop = false;
    while (names.includes(':all:')) {
      other.clear();
      target.clear();
      target.add(':all:');
      names = names.slice(names.indexOf(':all:') + 1);
      // Without a later `:none:`, `:all:` covers every other name.
      if (!names.includes(':none:')) {
        stop = true;
        break;
      }
    }
    if (stop) continue;
    for (const name of names) {
      if (name === ':none:') {
        target.clear();
        continue;
      }
      const canonical = canonicalizeName(name);
      other.delete(canonical);
      target.add(canonical);
    }
  }
  return { onlyBinary, noBinary, preferBinary };
}

/** pip's `get_allowed_formats`: a package's own entry beats `:all:`, `--only-binary` beats `--no-binary`. */
export function allowedFormats(control: FormatControl, name: string): ReadonlySet<DistributionFormat> {
  const allowed = new Set<DistributionFormat>(['binary', 'source']);
  const canonical = canonicalizeName(name);
  if (control.onlyBinary.has(canonical)) allowed.delete('source');
  else if (control.noBinary.has(canonical)) allowed.delete('binary');
  else if (control.onlyBinary.has(':all:')) allowed.delete('source');
  else if (control.noBinary.has(':all:')) allowed.delete('binary');
  return allowed;
}
