// The metadata of an sdist whose PKG-INFO is not reliable (PEP 643), found as pip finds it: its
// backend's prepare_metadata_for_build_wheel, run by pip (`install --dry-run --report`) in the
// same isolated build environment and cell as the build. pip (pyproject_hooks) falls back to
// building the wheel and reading its METADATA when the backend lacks the hook.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { ResolutionError } from '../shared/errors.ts';
import type { CoreMetadata, Target } from '../shared/types.ts';
import { findTargetInterpreter } from '../verify/index.ts';
import { readBuildSystem } from './build-system.ts';
import { hostArchitecture, pipIndexArguments, runPipInCell, unpackSdist } from './sdist-builder.ts';

/** Where the backend may run to say its metadata: the build's indexes and this machine's Python. */
export interface PrepareMetadataOptions {
  readonly target: Target;
  readonly indexUrls: readonly string[];
  readonly findLinks: readonly string[];
  readonly pythonExecutable?: string | null;
}

/** The part of pip's installation report (`--report`) read here. */
const reportSchema = z.object({
  install: z
    .array(
      z.object({
        metadata: z.object({
          name: z.string(),
          version: z.string(),
          requires_dist: z.array(z.string()).optional(),
          requires_python: z.string().optional(),
          provides_extra: z.array(z.string()).optional(),
        }),
      }),
    )
    .length(1),
});

const MAX_REPORT_BYTES = 4 * 1024 * 1024;

function dryRunArguments(options: Parameters<typeof pipIndexArguments>[0], home: string): string[] {
  return [
    'install',
    '--dry-run',
    '--ignore-installed',
    '--no-deps',
    '--isolated',
    '--no-cache-dir',
    '--disable-pip-version-check',
    '--quiet',
    '--report',
    join(home, 'report.json'),
    ...pipIndexArguments(options),
  ];
}

async function readReport(home: string, filename: string): Promise<CoreMetadata> {
  const text = await readFile(join(home, 'report.json'), 'utf8');
  if (text.length > MAX_REPORT_BYTES) throw new Error(`${filename}: pip's report is too large`);
  const metadata = reportSchema.parse(JSON.parse(text)).install[0]?.metadata;
  if (!metadata) throw new Error(`${filename}: pip's report names no distribution`);
  return {
    name: metadata.name,
    version: metadata.version,
    requiresDist: metadata.requires_dist ?? [],
    requiresPython: metadata.requires_python ?? null,
    providesExtra: metadata.provides_extra ?? [],
  };
}

/**
 * The sdist's core metadata as its build backend declares it, or a ResolutionError naming the
 * package when there is no interpreter for the backend here or the hook fails.
 * @example await prepareSdistMetadata('/cache/old-1.0.tar.gz', 'old-1.0.tar.gz', 'old', { target, indexUrls, findLinks: [] })
 */
export async function prepareSdistMetadata(
  path: string,
  filename: string,
  name: string,
  options: PrepareMetadataOptions,
): Promise<CoreMetadata> {
  const refuse = (why: string, cause?: unknown): ResolutionError =>
    new ResolutionError(
      `${filename}: its dependencies are known only from its build backend, and ${why}.`,
      [
        {
          package: name,
          message: `${filename}: ${why}; pin a version with a wheel, or pass --only-binary ${name}`,
        },
      ],
      ...(cause ? [{ cause }] : []),
    );
  const host: Target = { ...options.target, architecture: hostArchitecture() };
  const interpreter = await findTargetInterpreter(host, options.pythonExecutable);
  if ('reason' in interpreter) throw refuse(`running it needs ${interpreter.reason}`);
  const scratch = await mkdtemp(join(tmpdir(), 'lambda-deps-sdist-metadata-'));
  const label = { sdistPath: path, name, version: filename };
  try {
    const dir = await unpackSdist(label, scratch);
    const { requires } = await readBuildSystem(dir, filename);
    const given = { ...label, indexUrls: options.indexUrls, findLinks: options.findLinks };
    const { result } = await runPipInCell(given, interpreter, { dir, requires }, scratch, {
      doing: 'running its prepare_metadata_for_build_wheel',
      pipArguments: dryRunArguments,
      collect: (home) => readReport(home, filename),
    });
    return result;
  } catch (error) {
    if (error instanceof ResolutionError) throw error;
    throw refuse(
      `its backend's prepare_metadata_for_build_wheel failed (${(error as Error).message})`,
      error,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
