// Each step's role, evaluated the way IAM evaluates it (the twin's evaluator over the
// synthesized template), for the exact objects and resources its step touches in AWS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, IamEvaluator } from '../../functions/adapters/twin/iam-evaluator.ts';
import { readTemplatePolicies } from '../../functions/adapters/twin/template-policies.ts';
import { functionIdForEntry, resourcesOfType, synthesizeApp } from './synthesized-app.ts';
import type { SynthesizedApp } from './synthesized-app.ts';

const HASH = 'a'.repeat(64);
const BUCKET = 'lambda-deps-test-bucket';
let synthesized: SynthesizedApp;
let iam: IamEvaluator;

beforeAll(() => {
  synthesized = synthesizeApp({ nagChecks: false });
  const bucket = resourcesOfType(synthesized.json, 'AWS::S3::Bucket').find(([id]) =>
    id.includes('ArtifactsBucket'),
  );
  iam = new IamEvaluator(readTemplatePolicies(synthesized.json, { names: { [bucket![0]]: BUCKET } }));
});
afterAll(() => synthesized.cleanup());

function roleOfStep(step: string): string {
  return iam.roleFor(functionIdForEntry(synthesized.json, `functions/${step}/handler.ts`));
}
const object = (key: string): string => `arn:aws:s3:::${BUCKET}/${key}`;

describe('evaluated step permissions', () => {
  it('answer a call asked again as the first time, per role, action and resource', async () => {
    // Prepare: an object publish-layers may read and the probe step may not write.
    const record = object(`artifacts/${HASH}/delivery/layers-web.json`);
    const publish = roleOfStep('publish-layers');
    const probe = roleOfStep('probe');

    // Act: each call twice, interleaved, so a remembered decision would answer the wrong one.
    const asked = async () => [
      await iam.authorize(publish, 's3:GetObject', record).then((call) => call.allowedBy),
      await iam.authorize(probe, 's3:PutObject', record).catch((error: unknown) => error),
      await iam
        .authorize(publish, 's3:PutObject', object(`artifacts/${HASH}/layers/layer-1.zip`))
        .catch((error: unknown) => error),
    ];
    const [first, second] = [await asked(), await asked()];

    // Assess
    expect(first[0]).toMatch(/\S/);
    expect(first[1]).toBeInstanceOf(AccessDeniedError);
    expect(first[2]).toBeInstanceOf(AccessDeniedError);
    expect(second).toEqual(first);
  });

  it('let publish-layers take, write and drop its lease and write its delivery record', async () => {
    // Prepare
    const role = roleOfStep('publish-layers');
    const lease = object(`artifacts/${HASH}/delivery/layers-web.lease`);
    const record = object(`artifacts/${HASH}/delivery/layers-web.json`);

    // Act
    const calls = [
      await iam.authorize(role, 's3:PutObject', lease),
      await iam.authorize(role, 's3:DeleteObject', lease),
      await iam.authorize(role, 's3:PutObject', record),
      await iam.authorize(role, 's3:GetObject', record),
    ];

    // Assess
    expect(calls.every((call) => call.allowedBy.length > 0)).toBe(true);
  });

  it('still keep publish-layers from overwriting build artifacts', async () => {
    // Act
    const overwrite = iam.authorize(
      roleOfStep('publish-layers'),
      's3:PutObject',
      object(`artifacts/${HASH}/layers/layer-1.zip`),
    );

    // Assess
    await expect(overwrite).rejects.toThrow(AccessDeniedError);
  });

  it('let publish-layers list layer versions and delete old versions of its own layers only', async () => {
    // Prepare
    const role = roleOfStep('publish-layers');
    const layer = 'arn:aws:lambda:us-east-1:123456789012:layer:lambda-deps-web-1';

    // Act
    // The Service Authorization Reference gives ListLayerVersions no resource type: asked on "*".
    const list = await iam.authorize(role, 'lambda:ListLayerVersions', '*');
    const remove = await iam.authorize(role, 'lambda:DeleteLayerVersion', `${layer}:2`);
    const foreign = iam.authorize(
      role,
      'lambda:DeleteLayerVersion',
      'arn:aws:lambda:us-east-1:123456789012:layer:someone-else:2',
    );

    // Assess
    expect(list.allowedBy.length).toBeGreaterThan(0);
    expect(remove.allowedBy.length).toBeGreaterThan(0);
    await expect(foreign).rejects.toThrow(AccessDeniedError);
  });

  it('let measure store an inline console input under inline-requirements/ and read it back', async () => {
    // Prepare
    const role = roleOfStep('measure');
    const key = object(`inline-requirements/${HASH}.txt`);

    // Act
    const write = await iam.authorize(role, 's3:PutObject', key);
    const read = await iam.authorize(role, 's3:GetObject', key);

    // Assess
    expect(write.allowedBy).toMatch(/ObjectAccess/);
    expect(read.allowedBy).toMatch(/ObjectAccess/);
  });

  it('refuse a call no statement allows with AccessDenied naming the action and resource', async () => {
    // Act
    const denied = iam.authorize(
      roleOfStep('report'),
      'lambda:PublishLayerVersion',
      'arn:aws:lambda:us-east-1:123456789012:layer:x',
    );

    // Assess
    await expect(denied).rejects.toThrow(
      /not authorized to perform: lambda:PublishLayerVersion on resource: arn:aws:lambda:us-east-1:123456789012:layer:x/,
    );
  });
});
