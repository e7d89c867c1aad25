// The Lambda bundles the package ships (dist/assets/<step>/index.mjs), loaded as the Lambda
// runtime loads them: with AWS_LAMBDA_FUNCTION_NAME set, each builds its AWS adapters at the
// module's top level (the SDK clients are imported only then), so a missing variable fails the
// cold start, naming it, and a complete environment gives a handler.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ASSETS = resolve(import.meta.dirname, '..', '..', 'dist', 'assets');
const steps = existsSync(ASSETS)
  ? readdirSync(ASSETS).filter((step) => existsSync(join(ASSETS, step, 'index.mjs')))
  : [];
const skip = steps.length === 0 ? ' (skipped: no dist/assets; run `npm run prepare`)' : '';

/** What the stack sets on every pipeline function (infra/constructs/lambda-deps.ts). */
const ENVIRONMENT = {
  AWS_LAMBDA_FUNCTION_NAME: 'lambda-deps-test',
  AWS_REGION: 'eu-west-1',
  ARTIFACT_BUCKET: 'deps-bucket',
  SSM_PARAMETER_PREFIX: '/lambda-deps/',
  EVENT_BUS_NAME: 'default',
  LAYER_NAME_PREFIX: 'lambda-deps-',
  EFS_MOUNT_PATH: '/mnt/deps',
  ECR_REPOSITORY_URI: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/deps',
  STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:111111111111:stateMachine:deps',
};

/** Imports a bundle in a fresh node with only `environment`, printing its handler's type. */
function coldStart(
  step: string,
  environment: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const url = pathToFileURL(join(ASSETS, step, 'index.mjs')).href;
  const script = `const { handler } = await import(${JSON.stringify(url)}); console.log('handler:' + typeof handler);`;
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: { PATH: process.env.PATH ?? '', ...environment }, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

describe('the Lambda bundles, cold-started as Lambda does', () => {
  it.skipIf(skip !== '')(
    `give every step a handler from a complete environment${skip}`,
    async () => {
      // Act
      const starts = await Promise.all(
        steps.map(async (step) => ({ step, ...(await coldStart(step, ENVIRONMENT)) })),
      );

      // Assess
      for (const { step, code, output } of starts) {
        expect(code, `${step}: ${output}`).toBe(0);
        expect(output, step).toContain('handler:function');
      }
    },
    120_000,
  );

  it.skipIf(skip !== '')(
    `fail the cold start of a pipeline step that lacks ARTIFACT_BUCKET, naming it${skip}`,
    async () => {
      // Prepare
      const { ARTIFACT_BUCKET: _omitted, ...incomplete } = ENVIRONMENT;
      const pipelineSteps = steps.filter((step) => step !== 'start-execution');

      // Act
      const starts = await Promise.all(
        pipelineSteps.map(async (step) => ({ step, ...(await coldStart(step, incomplete)) })),
      );

      // Assess
      expect(pipelineSteps.length).toBeGreaterThan(5);
      for (const { step, code, output } of starts) {
        expect(code, step).not.toBe(0);
        expect(output, step).toMatch(/ARTIFACT_BUCKET/);
        expect(output, step).not.toContain('handler:function');
      }
    },
    120_000,
  );
});
