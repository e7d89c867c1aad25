// Synthesizes the lambda-deps app once per call into a temp folder (skipBundling unless told
// otherwise) and hands back the template in both forms the tests use.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createLambdaDepsApp } from '../../infra/app.ts';
import type { CreateLambdaDepsAppOptions } from '../../infra/app.ts';
import type { LambdaDepsStack } from '../../infra/lambda-deps-stack.ts';

export interface SynthesizedApp {
  readonly template: Template;
  readonly json: TemplateJson;
  readonly stack: LambdaDepsStack;
  readonly outdir: string;
  readonly milliseconds: number;
  /** Removes the cloud assembly folder. */
  cleanup(): void;
}

export interface TemplateJson {
  readonly Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
  >;
  readonly Outputs?: Record<string, { Value: unknown }>;
}

export function synthesizeApp(options: CreateLambdaDepsAppOptions = {}): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), 'lambda-deps-infra-'));
  const started = performance.now();
  const { app, stack } = createLambdaDepsApp({ skipBundling: true, ...options, outdir });
  const json = app.synth().getStackByName(stack.stackName).template as TemplateJson;
  const milliseconds = performance.now() - started;
  return {
    template: Template.fromJSON(json as unknown as Record<string, unknown>),
    json,
    stack,
    outdir,
    milliseconds,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Resources of one type, by logical id. */
export function resourcesOfType(json: TemplateJson, type: string): [string, Record<string, unknown>][] {
  return Object.entries(json.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);
}

/** The logical id of the function whose handler entry is `entry` (e.g. `functions/measure/handler.ts`). */
export function functionIdForEntry(json: TemplateJson, entry: string): string {
  const found = Object.entries(json.Resources).find(
    ([, resource]) =>
      resource.Type === 'AWS::Lambda::Function' && resource.Metadata?.['lambda-deps:entry'] === entry,
  );
  if (!found) throw new Error(`No function with entry ${entry}`);
  return found[0];
}

/**
 * An App of a test's own whose cloud assembly goes to a temporary folder `cleanup` removes
 * (without an outdir, synthesis leaves a cdk.out folder in os.tmpdir() behind).
 */
export function temporaryApp(props: AppProps = {}): { app: App; cleanup(): void } {
  const outdir = mkdtempSync(join(tmpdir(), 'lambda-deps-app-'));
  return {
    app: new App({ ...props, outdir }),
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
