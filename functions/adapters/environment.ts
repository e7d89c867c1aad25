// The Lambda functions' settings, read once from the environment variables the CDK stack
// sets (the pipeline contract). A required variable that is missing stops the function at
// start-up with its name; only the documented defaults are ever filled in.
import { z } from 'zod';
import { InputError } from '../core/shared/errors.ts';
import type { Architecture } from '../core/shared/types.ts';

/** What every step reads from its configuration, whether it runs in Lambda or locally. */
export interface PipelineSettings {
  readonly artifactBucket: string;
  readonly ssmParameterPrefix: string;
  readonly eventBusName: string;
  readonly layerNamePrefix: string;
  /** Account ids that may use published layer versions. */
  readonly layerPrincipals: readonly string[];
  readonly layerOrganizationId: string | null;
  /** Functions pointed at the new layer versions once every layer is published. */
  readonly functionsToUpdate: readonly string[];
  readonly efsMountPath: string;
  readonly efsAccessPointArn: string | null;
  readonly efsFileSystemId: string | null;
  readonly keepEfsVersions: number;
  /** Versions kept per layer name when older ones are retired. @default 3 */
  readonly keepLayerVersions?: number;
  readonly ecrRepositoryUri: string | null;
  readonly ecrRepositoryName: string | null;
  readonly baseImageRepository: string;
  readonly defaultRuntime: string;
  readonly defaultArchitecture: Architecture;
  readonly indexUrl: string | null;
  readonly extraIndexUrls: readonly string[];
  /** `--find-links` locations (local runs only: no variable sets them in Lambda). */
  readonly findLinks: readonly string[];
  /** Where measuring caches index answers and wheels. */
  readonly cacheDir: string;
  /**
   * Deliver a build whose smoke import could not run (marked unverified). Local runs only:
   * in AWS every set is built on its own architecture, so a skipped import is refused.
   * @default false
   */
  readonly allowSkippedSmokeImport?: boolean;
  /** The base of images for custom glibc targets (`host/repo:tag` or `@sha256:…`). @default null */
  readonly customBaseImage?: string | null;
  /**
   * A probe that cannot run fails the run instead of being reported as "not probed". The stack
   * sets it (in AWS the probe always runs); locally `--require-probe` asks for it per run.
   * @default false
   */
  readonly requireProbe?: boolean;
}

const list = (separator: RegExp) =>
  z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(separator)
        .map((item) => item.trim())
        .filter(Boolean),
    );
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() !== '' ? value.trim() : null));

/** The variables, as the contract names them. Defaults are the documented ones. */
const environmentSchema = z.object({
  ARTIFACT_BUCKET: z.string().min(1),
  SSM_PARAMETER_PREFIX: z
    .string()
    .regex(/^\/([\w.-]+\/)*$/, 'must look like /lambda-deps/ (starts and ends with /)'),
  EVENT_BUS_NAME: z.string().min(1),
  LAYER_NAME_PREFIX: z.string().regex(/^[a-zA-Z0-9_-]{1,60}$/, 'letters, digits, - and _ only'),
  LAYER_PRINCIPALS: list(/,/).pipe(z.array(z.string().regex(/^\d{12}$/, 'a 12-digit account id'))),
  LAYER_ORGANIZATION_ID: optionalText.pipe(
    z
      .string()
      .regex(/^o-[a-z0-9]{10,32}$/)
      .nullable(),
  ),
  FUNCTIONS_TO_UPDATE: list(/,/),
  EFS_MOUNT_PATH: z.string().regex(/^\/mnt\/[a-zA-Z0-9-_.]+$/, 'must match ^/mnt/[a-zA-Z0-9-_.]+$'),
  EFS_ACCESS_POINT_ARN: optionalText,
  EFS_FILE_SYSTEM_ID: optionalText,
  KEEP_EFS_VERSIONS: z
    .string()
    .optional()
    .transform((value) => Number(value === undefined || value === '' ? '3' : value))
    .pipe(z.number().int().min(1).max(100)),
  KEEP_LAYER_VERSIONS: z
    .string()
    .optional()
    .transform((value) => Number(value === undefined || value === '' ? '3' : value))
    .pipe(z.number().int().min(1).max(100)),
  ECR_REPOSITORY_URI: optionalText,
  ECR_REPOSITORY_NAME: optionalText,
  BASE_IMAGE_REPOSITORY: z.string().min(1).default('public.ecr.aws/lambda/python'),
  CUSTOM_BASE_IMAGE: optionalText,
  DEFAULT_RUNTIME: z.string().default('python3.12'),
  DEFAULT_ARCHITECTURE: z.enum(['x86_64', 'arm64']).default('arm64'),
  INDEX_URL: optionalText,
  EXTRA_INDEX_URLS: list(/\s+/),
  POWERTOOLS_SERVICE_NAME: z.string().optional(),
  REQUIRE_PROBE: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => value === 'true'),
});

export type EnvironmentVariableName = keyof typeof environmentSchema.shape;

/** Every variable of the contract (the construct sets them; none may be given another meaning). */
export const PIPELINE_VARIABLES = Object.keys(environmentSchema.shape) as readonly EnvironmentVariableName[];

/** Variables every function needs; the others are checked by the step that uses them. */
const ALWAYS_REQUIRED: readonly EnvironmentVariableName[] = [
  'ARTIFACT_BUCKET',
  'SSM_PARAMETER_PREFIX',
  'EVENT_BUS_NAME',
  'LAYER_NAME_PREFIX',
  'EFS_MOUNT_PATH',
];

/**
 * Reads and validates the contract's variables. `required` names the ones this function
 * cannot work without (besides the always-required ones); all missing ones are named at once.
 *
 * @example
 * const settings = readPipelineSettings(process.env, ['ECR_REPOSITORY_URI']);
 */
export function readPipelineSettings(
  environment: Readonly<Record<string, string | undefined>>,
  required: readonly EnvironmentVariableName[] = [],
): PipelineSettings {
  const missing = [...new Set([...ALWAYS_REQUIRED, ...required])].filter(
    (name) => (environment[name] ?? '').trim() === '',
  );
  if (missing.length > 0) {
    throw new InputError(`Missing environment variable(s): ${missing.join(', ')}.`, {
      hint: 'The CDK stack sets them on every lambda-deps function; redeploy the stack, or set them when running a handler by hand.',
    });
  }
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new InputError(`Invalid environment variable(s): ${problems.join('; ')}.`, {
      hint: 'Fix the values in the stack (or the environment) and start the function again.',
    });
  }
  const value = parsed.data;
  return {
    artifactBucket: value.ARTIFACT_BUCKET,
    ssmParameterPrefix: value.SSM_PARAMETER_PREFIX,
    eventBusName: value.EVENT_BUS_NAME,
    layerNamePrefix: value.LAYER_NAME_PREFIX,
    layerPrincipals: value.LAYER_PRINCIPALS,
    layerOrganizationId: value.LAYER_ORGANIZATION_ID,
    functionsToUpdate: value.FUNCTIONS_TO_UPDATE,
    efsMountPath: value.EFS_MOUNT_PATH,
    efsAccessPointArn: value.EFS_ACCESS_POINT_ARN,
    efsFileSystemId: value.EFS_FILE_SYSTEM_ID,
    keepEfsVersions: value.KEEP_EFS_VERSIONS,
    keepLayerVersions: value.KEEP_LAYER_VERSIONS,
    ecrRepositoryUri: value.ECR_REPOSITORY_URI,
    ecrRepositoryName: value.ECR_REPOSITORY_NAME,
    baseImageRepository: value.BASE_IMAGE_REPOSITORY,
    customBaseImage: value.CUSTOM_BASE_IMAGE,
    defaultRuntime: value.DEFAULT_RUNTIME,
    defaultArchitecture: value.DEFAULT_ARCHITECTURE,
    indexUrl: value.INDEX_URL,
    extraIndexUrls: value.EXTRA_INDEX_URLS,
    findLinks: [],
    requireProbe: value.REQUIRE_PROBE,
    // Lambda can write only under /tmp.
    cacheDir: '/tmp/lambda-deps-cache',
  };
}
