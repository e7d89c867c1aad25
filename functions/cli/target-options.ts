// The target and number options every command shares: `--runtime`/`--arch`, or a custom image
// base with `--python`/`--glibc`; repeatable and numeric option parsing.
import { InputError } from '../core/errors.ts';
import { customTarget, lambdaTarget } from '../core/targets.ts';
import type { Target } from '../core/types.ts';

export interface TargetFlags {
  readonly runtime?: string;
  readonly arch?: string;
  readonly python?: string;
  readonly glibc?: string;
}

/** The target the flags name, or null when they name none (a lock carries its own). */
export function targetFromFlags(flags: TargetFlags): Target | null {
  const arch = flags.arch ?? 'x86_64';
  if (flags.python !== undefined || flags.glibc !== undefined) {
    if (flags.runtime !== undefined) {
      throw new InputError('Give either --runtime or --python/--glibc, not both.', {
        hint: '--runtime names a Lambda runtime; --python X.Y --glibc X.Y describe a custom image base.',
      });
    }
    if (flags.python === undefined || flags.glibc === undefined) {
      throw new InputError('A custom target needs both --python and --glibc.', {
        hint: 'For example --python 3.11 --glibc 2.34.',
      });
    }
    return customTarget({ python: flags.python, glibc: flags.glibc, arch });
  }
  return flags.runtime === undefined ? null : lambdaTarget(flags.runtime, arch);
}

/** The target the flags name; an InputError saying what to pass when they name none. */
export function requireTarget(flags: TargetFlags): Target {
  const target = targetFromFlags(flags);
  if (!target) {
    throw new InputError('No target given.', {
      hint: 'Pass --runtime python3.12 (python3.10 … python3.14) and --arch x86_64|arm64, or --python X.Y --glibc X.Y for an image on another base.',
    });
  }
  return target;
}

/** commander collector for repeatable options. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** A non-negative number option, or an InputError naming the option. */
export function parseCount(value: string, option: string): number {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) {
    throw new InputError(`${option} expects a number, got "${value}".`, { hint: `For example ${option} 1.` });
  }
  return number;
}
