// cdk-nag's AwsSolutions pack (v3: a CDK policy validation plugin) passes on the app, every
// acknowledgement carries a specific reason, and the check is live: a non-compliant resource
// added to the stack fails the synth.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterEach, describe, expect, it } from 'vitest';
import { createLambdaDepsApp } from '../../infra/app.ts';

const outdirs: string[] = [];
function freshOutdir(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'lambda-deps-nag-'));
  outdirs.push(outdir);
  return outdir;
}
afterEach(() => {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions checks', () => {
  it('find no unacknowledged error or warning in the app', () => {
    // Prepare
    const { app } = createLambdaDepsApp({ skipBundling: true, outdir: freshOutdir(), nagChecks: false });

    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);

    // Assess
    expect(
      report.violations.map(
        (violation) =>
          `${violation.ruleName}: ${violation.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
      ),
    ).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('run during synth without failing it', () => {
    // Prepare
    const { app } = createLambdaDepsApp({ skipBundling: true, outdir: freshOutdir() });

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).not.toThrow();
  });

  it("pass CDK's built-in CloudFormation validation alongside, as `cdk synth` runs it", () => {
    // Prepare
    const outdir = freshOutdir();
    const { app } = createLambdaDepsApp({ skipBundling: true, outdir, cloudFormationValidation: true });

    // Act
    app.synth();

    // Assess
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; violations?: unknown[] }[];
    };
    const cloudFormation = report.pluginReports.find(
      (plugin) => plugin.pluginName === 'CloudFormation Validate',
    );
    expect(cloudFormation?.conclusion).toBe('success');
    expect(cloudFormation?.violations ?? []).toEqual([]);
  });

  it('pass for the concrete account and region `cdk deploy` sets, with no context lookup', () => {
    // Prepare: what the CDK CLI exports as CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION.
    const env = { account: '123456789012', region: 'eu-west-1' };
    const { app } = createLambdaDepsApp({
      skipBundling: true,
      outdir: freshOutdir(),
      nagChecks: false,
      props: { env },
    });

    // Act
    const report = new AwsSolutionsChecks(app).validateScope(app);
    const assembly = app.synth();

    // Assess
    expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
    // A missing context value makes `cdk synth` call AWS (and fail offline or without the lookup role).
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });

  it('give every acknowledgement a specific reason', () => {
    // Prepare
    const { stack } = createLambdaDepsApp({ skipBundling: true, outdir: freshOutdir(), nagChecks: false });

    // Act
    const acknowledgements = stack.node
      .findAll()
      .flatMap((construct) => construct.node.metadata.map((entry) => ({ path: construct.node.path, entry })))
      .filter(({ entry }) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap(({ path, entry }) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path, id, reason })),
      )
      .filter(({ id }) => id.includes('AwsSolutions-'));
    const vague = acknowledgements.filter(({ reason }) => reason.trim().length < 40);

    // Assess
    expect(acknowledgements.length).toBeGreaterThan(10);
    expect(vague).toEqual([]);
    // No blanket acknowledgement of the wildcard rule: IAM5 is always acknowledged per finding.
    expect(acknowledgements.filter(({ id }) => id.endsWith('AwsSolutions-IAM5'))).toEqual([]);
  });

  it('fail the synth when a non-compliant resource is added', () => {
    // Prepare
    const { app, stack } = createLambdaDepsApp({ skipBundling: true, outdir: freshOutdir() });
    new Bucket(stack, 'UnloggedBucketWithoutTls');

    // Act
    const synth = () => app.synth();

    // Assess
    expect(synth).toThrow(/\(AwsSolutions\)/);
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((violation) => violation.ruleName)).toEqual(
      expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']),
    );
  });
});
