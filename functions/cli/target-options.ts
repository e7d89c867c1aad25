// The options commands share: the target (`--runtime`/`--arch`, or a custom image base with
// `--python`/`--glibc`), pip's index options, the route options, and the flags that make up a
// delivery policy; repeatable and numeric option parsing.
import { Option, type Command } from 'commander';
import { InputError } from '../core/shared/errors.ts';
import { customTarget, lambdaTarget } from '../core/shared/targets.ts';
import type { DeliveryPolicy } from '../core/route/delivery-policy.ts';
import { defaultDeliveryPolicy, onlyDefaults } from '../core/route/policy-defaults.ts';
import type { Strategy, Target } from '../core/shared/types.ts';

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

/** Adds `--runtime`, `--arch`, `--python` and `--glibc`, the same on every command. */
export function addTargetOptions(
  command: Command,
  runtimeHelp = 'Lambda runtime: python3.10 … python3.14',
): Command {
  return command
    .addOption(new Option('--runtime <runtime>', runtimeHelp))
    .addOption(new Option('--arch <arch>', 'architecture').choices(['x86_64', 'arm64']).default('x86_64'))
    .option('--python <X.Y>', 'custom target: CPython version (with --glibc)')
    .option('--glibc <X.Y>', 'custom target: glibc of the image base (with --python)');
}

/** Adds pip's index options (`-i`, `--extra-index-url`, `-f`, `--no-index`, `--pre`). */
export function addIndexOptions(command: Command): Command {
  return command
    .option('-i, --index-url <url>', 'main package index (PEP 503/691)')
    .option('--extra-index-url <url>', 'another package index (repeatable)', collect, [])
    .option('-f, --find-links <location>', 'a folder or page of wheels (repeatable)', collect, [])
    .option('--no-index', 'ignore package indexes (use --find-links only)')
    .option('--pre', 'allow pre-release versions')
    .option(
      '--only-binary <names>',
      "wheels only for these packages (':all:', ':none:', names; repeatable)",
      collect,
      [],
    )
    .option(
      '--no-binary <names>',
      "build these packages from sdists (':all:', ':none:', names; repeatable)",
      collect,
      [],
    )
    .option('--prefer-binary', 'prefer an older wheel over a newer sdist');
}

/** pip's format options as given on the command line (or carried by the policy), for the index options (pip-config.ts). */
export function formatOptionsOf(options: {
  readonly onlyBinary?: readonly string[];
  readonly noBinary?: readonly string[];
  /** commander's slot for `--no-binary` (a `--no-` option is stored without the prefix). */
  readonly binary?: readonly string[] | boolean;
  readonly preferBinary?: boolean;
}): { onlyBinary?: string[]; noBinary?: string[]; preferBinary?: boolean } {
  const noBinary = options.noBinary ?? (Array.isArray(options.binary) ? options.binary : []);
  return {
    ...(options.onlyBinary?.length ? { onlyBinary: [...options.onlyBinary] } : {}),
    ...(noBinary.length ? { noBinary: [...noBinary] } : {}),
    ...(options.preferBinary ? { preferBinary: true } : {}),
  };
}

/** The flags that make up a delivery policy (commander's names: `--no-slim` is `slim: false`). */
export interface PolicyFlags {
  readonly strategy?: 'auto' | Strategy;
  readonly existingLayers?: number;
  readonly keepFreeLayers?: number;
  readonly reserveMb?: number;
  readonly slim?: boolean;
  readonly precompile?: boolean;
  readonly stripSymbols?: boolean;
  readonly excludeRuntimeProvided?: boolean;
  readonly cache?: boolean;
  readonly pre?: boolean;
  readonly index?: boolean;
  readonly requireProbe?: boolean;
  /** What Measure resolves: `--extra`, `--group` and pip's format controls. */
  readonly extra?: readonly string[];
  readonly group?: readonly string[];
  readonly onlyBinary?: readonly string[];
  /** `--no-binary` values: commander stores a `--no-` option without the prefix. */
  readonly binary?: readonly string[] | boolean;
  readonly preferBinary?: boolean;
}

/** A repeatable option's values, or undefined when none were given (the default). */
const listOrNone = (values: readonly string[] | undefined): string[] | undefined =>
  values && values.length > 0 ? [...values] : undefined;

/**
 * The delivery policy the flags describe (the defaults for what they leave out); an InputError
 * for a bad value. Flags that only repeat the defaults (commander fills in every `--no-x`) need
 * no schema, so the common run never loads one.
 */
export async function policyFromFlags(flags: PolicyFlags): Promise<DeliveryPolicy> {
  const given = {
    forceStrategy: flags.strategy && flags.strategy !== 'auto' ? flags.strategy : undefined,
    existingLayers: flags.existingLayers,
    keepFreeLayers: flags.keepFreeLayers,
    reserveBytesForFunctionCode:
      flags.reserveMb === undefined ? undefined : Math.round(flags.reserveMb * 1024 * 1024),
    slim: flags.slim,
    precompile: flags.precompile,
    stripSymbols: flags.stripSymbols,
    excludeRuntimeProvided: flags.excludeRuntimeProvided,
    cache: flags.cache,
    pre: flags.pre,
    noIndex: flags.index === undefined ? undefined : !flags.index,
    requireProbe: flags.requireProbe,
    extras: listOrNone(flags.extra),
    groups: listOrNone(flags.group),
    onlyBinary: listOrNone(flags.onlyBinary),
    noBinary: listOrNone(formatOptionsOf(flags).noBinary),
    preferBinary: flags.preferBinary,
  };
  const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  if (onlyDefaults(defined)) return defaultDeliveryPolicy();
  const { parseDeliveryPolicy } = await import('../core/route/delivery-policy.ts');
  return parseDeliveryPolicy(defined, 'The options');
}

/** Adds the route options measure and build share: the layer budget and what the runtime provides. */
export function addRouteOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--strategy <strategy>', 'where the set goes')
        .choices(['auto', 'layers', 'image', 'efs'])
        .default('auto'),
    )
    .option('--existing-layers <n>', 'layers the function already uses', (value) =>
      parseCount(value, '--existing-layers'),
    )
    .option(
      '--keep-free-layers <n>',
      'layer slots left free for layers the function adds later (default 1)',
      (value) => parseCount(value, '--keep-free-layers'),
    )
    .option('--reserve-mb <n>', 'MiB kept free for the function code (default 5)', (value) =>
      parseCount(value, '--reserve-mb'),
    )
    .option(
      '--exclude-runtime-provided',
      'leave out boto3, botocore and their dependencies (the runtime has them)',
    );
}
