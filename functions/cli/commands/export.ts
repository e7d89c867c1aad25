// `lambda-deps export`: a way back out. Takes any input lambda-deps reads (a lambda-deps lock, or a
// requirements file / pyproject / uv.lock / poetry.lock / Pipfile(.lock) / pylock.toml measured for
// the target) and writes the exact set as a requirements file with one `--hash` per package (pip
// `--require-hashes` can then only install those files) or as a PEP 751 pylock.toml.
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { detectInputFormat } from '../../core/inputs/input-format.ts';
import { sameTarget } from '../../core/inputs/locks/pinned-set.ts';
import { writePylock } from '../../core/inputs/locks/pylock.ts';
import { lockHash } from '../../core/resolve/lock.ts';
import { parseLock } from '../../core/resolve/lock-reader.ts';
import { InputError } from '../../core/shared/errors.ts';
import { describeTarget } from '../../core/shared/targets.ts';
import type { Lock } from '../../core/shared/types.ts';
import { addIndexOptions, addTargetOptions, collect, targetFromFlags } from '../target-options.ts';
import { defaultCacheDir } from './measure.ts';

interface ExportOptions {
  format: 'requirements' | 'pylock';
  out?: string;
  runtime?: string;
  arch?: string;
  python?: string;
  glibc?: string;
  indexUrl?: string;
  extraIndexUrl: string[];
  findLinks: string[];
  index: boolean;
  pre?: boolean;
  extra: string[];
  group: string[];
  cacheDir?: string;
}

/**
 * A lock as a pip requirements file: `name==version --hash=sha256:…` per package, sorted, with a
 * header naming the target and the lock hash. Every package of the closure is listed, so pip's
 * hash-checking mode accepts it as it is.
 * @example writeRequirements(lock).split('\n')[2] // 'boto3==1.34.0 \\'
 */
export function writeRequirements(lock: Lock): string {
  const lines = [
    `# Exported by lambda-deps for ${describeTarget(lock.target)}; lock ${lockHash(lock)}.`,
    '# Install exactly these files: pip install --require-hashes --only-binary :all: -r <this file>',
  ];
  for (const entry of [...lock.packages].sort((left, right) => (left.name < right.name ? -1 : 1))) {
    lines.push(`${entry.name}==${entry.version} \\`, `    --hash=sha256:${entry.sha256}`);
  }
  return `${lines.join('\n')}\n`;
}

async function lockOf(input: string, options: ExportOptions): Promise<Lock> {
  const text = await readFile(input, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new InputError(`Cannot read ${input}: ${error.code ?? error.message}.`, {
      hint: 'Check the path.',
    });
  });
  const target = targetFromFlags(options);
  if (detectInputFormat(input, text) === 'lambda-deps-lock') {
    const lock = parseLock(text, input);
    if (target && !sameTarget(target, lock.target)) {
      throw new InputError(
        `${input} is locked for ${describeTarget(lock.target)}, not ${describeTarget(target)}.`,
        {
          hint: 'Leave out --runtime/--arch when exporting a lambda-deps lock.',
        },
      );
    }
    return lock;
  }
  if (!target) {
    throw new InputError('No target given.', {
      hint: 'Pass --runtime python3.12 (python3.10 … python3.14) and --arch x86_64|arm64: the export is exact for one target.',
    });
  }
  const { measureRequirements } = await import('../../core/measure/measure.ts');
  const { lock, result } = await measureRequirements({
    requirementsPath: input,
    target,
    cliIndexOptions: {
      ...(options.indexUrl !== undefined ? { indexUrl: options.indexUrl } : {}),
      ...(options.extraIndexUrl.length > 0 ? { extraIndexUrls: options.extraIndexUrl } : {}),
      ...(options.findLinks.length > 0 ? { findLinks: options.findLinks } : {}),
      ...(options.index === false ? { noIndex: true } : {}),
      ...(options.pre ? { pre: true } : {}),
    },
    cacheDir: options.cacheDir ?? defaultCacheDir(),
    extras: options.extra,
    groups: options.group,
  });
  for (const warning of result.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
  return lock;
}

export function createExportCommand(): Command {
  const command = new Command('export')
    .description(
      'Write a lock (or any input, resolved for a target) as a requirements file with hashes or as a PEP 751 pylock.toml.',
    )
    .argument('<lock>', 'a lambda-deps lock (.json), or any file `measure` reads (then give the target)')
    .addOption(
      new Option('--format <format>', 'what to write')
        .choices(['requirements', 'pylock'])
        .makeOptionMandatory(),
    )
    .option('-o, --out <file>', 'write here instead of standard output');
  addTargetOptions(command);
  addIndexOptions(command);
  return command
    .option('--extra <name>', 'optional-dependency group (repeatable)', collect, [])
    .option('--group <name>', 'dependency group (repeatable)', collect, [])
    .option('--cache-dir <dir>', 'download and metadata cache (default ~/.cache/lambda-deps)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ lambda-deps export set.lock.json --format requirements -o requirements.txt',
        '  $ lambda-deps export uv.lock --runtime python3.12 --arch arm64 --format pylock -o pylock.toml',
      ].join('\n'),
    )
    .action(async (input: string, options: ExportOptions) => {
      const lock = await lockOf(input, options);
      const text = options.format === 'pylock' ? writePylock(lock) : writeRequirements(lock);
      if (options.out) await writeFile(options.out, text);
      else process.stdout.write(text);
    });
}
