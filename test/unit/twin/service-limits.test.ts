// The local twin refuses each call that AWS would refuse for a service limit, as AWS names the
// error, and before any local state changes: S3's single PUT, Lambda's layer rules, SSM's
// standard value, EventBridge's entry size and Step Functions' execution names.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { localAdapters } from '../../../functions/adapters/local/local-adapters.ts';
import type { LocalLayerRegistry } from '../../../functions/adapters/local/local-layer-registry.ts';
import type { PipelineAdapters } from '../../../functions/adapters/ports.ts';
import { AwsTwin } from '../../../functions/adapters/twin/aws-twin.ts';
import { createTwin } from '../../../functions/adapters/twin/local-run.ts';
import { SERVICE_LIMITS } from '../../../functions/adapters/twin/service-limits.ts';
import { writeDeterministicZip } from '../../../functions/core/pack/deterministic-zip.ts';
import { allowAllTemplate } from './allow-all-template.ts';

/** One function whose role may do anything: only the service limits can refuse a call. */
const TEMPLATE = allowAllTemplate({
  StepFunction: {
    Type: 'AWS::Lambda::Function',
    Properties: { Role: { 'Fn::GetAtt': ['StepRole', 'Arn'] } },
  },
});

let root: string;
let local: ReturnType<typeof localAdapters>;
let twinned: PipelineAdapters;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-limits-'));
  local = localAdapters({ outDir: root });
  twinned = AwsTwin.fromTemplate(TEMPLATE, 'lambda-deps-local').adaptersFor('Step', 'StepFunction', local);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(root, { recursive: true, force: true });
});

/** Publishes a layer (through the twin) whose zip unpacks to `bytes` bytes. */
async function publishLayer(name: string, bytes = 16): Promise<string> {
  const zip = join(root, `${name}.zip`);
  const content = Buffer.alloc(bytes, 'a');
  await writeDeterministicZip(zip, [{ name: 'python/a.txt', kind: 'content', executable: false, content }]);
  await local.store.putFile(`artifacts/${name}.zip`, zip);
  const published = await twinned.layers.publishLayerVersion(layerRequest(name, `artifacts/${name}.zip`));
  return published.layerVersionArn;
}

function layerRequest(layerName: string, objectKey = 'artifacts/x.zip', description = 'lock abc') {
  return {
    layerName,
    objectKey,
    objectVersion: null,
    compatibleRuntimes: ['python3.11'],
    compatibleArchitectures: ['x86_64' as const],
    description,
    licenseInfo: 'MIT',
  };
}

describe('the twin, at S3 limits', () => {
  it('refuses one PutObject over 5 GB as EntityTooLarge (a multipart upload is needed)', () => {
    expect(() => SERVICE_LIMITS.checkSinglePut('artifacts/tree.tar', 5 * 1024 ** 3 + 1)).toThrow(
      /^EntityTooLarge: PutObject of 5368709121 bytes/,
    );
    expect(() => SERVICE_LIMITS.checkSinglePut('artifacts/tree.tar', 5 * 1024 ** 3)).not.toThrow();
  });

  it('checks each PutObject body against the cap, and lets one under it through', async () => {
    const check = vi.spyOn(SERVICE_LIMITS, 'checkSinglePut');
    await twinned.store.putBytes('artifacts/small.txt', 'small');
    expect(check).toHaveBeenCalledWith('artifacts/small.txt', 5);
    expect((await local.store.getBytes('artifacts/small.txt')).toString()).toBe('small');
  });
});

describe('the twin, at Lambda layer limits', () => {
  it.each([
    ['a name of 141 characters', 'a'.repeat(141)],
    ['a name with a dot', 'lambda-deps-web.1'],
    ['an empty name', ''],
  ])('refuses to publish a layer with %s, as Lambda does', async (_case, name) => {
    await expect(twinned.layers.publishLayerVersion(layerRequest(name))).rejects.toThrow(
      /^InvalidParameterValueException: Layer name/,
    );
  });

  it('accepts a layer name of exactly 140 letters, digits, - and _', async () => {
    await expect(publishLayer(`${'a'.repeat(138)}-_`)).resolves.toMatch(/:1$/);
  });

  it('refuses a layer description of 257 characters', async () => {
    await expect(
      twinned.layers.publishLayerVersion(layerRequest('web', 'artifacts/x.zip', 'd'.repeat(257))),
    ).rejects.toThrow(/^InvalidParameterValueException: Layer description of 257 characters/);
  });

  it('refuses a sixth layer on a function and leaves the function as it was', async () => {
    // Prepare
    const arns = await Promise.all(['one', 'two', 'three', 'four'].map((name) => publishLayer(name)));
    await twinned.layers.updateFunctionLayers({
      functionName: 'api',
      layerVersionArns: arns,
      replaceNames: [],
    });
    const more = [await publishLayer('five'), await publishLayer('six')];
    // Act
    const update = twinned.layers.updateFunctionLayers({
      functionName: 'api',
      layerVersionArns: more,
      replaceNames: [],
    });
    // Assess
    await expect(update).rejects.toThrow(/api would have 6 layers; a function takes at most 5/);
    expect(await local.layers.getFunctionLayers?.('api')).toEqual(arns);
  });

  it('refuses layers that with the function code unzip to over 250 MB, before the function changes', async () => {
    // Prepare
    const registry = local.layers as LocalLayerRegistry;
    await registry.setFunctionCodeBytes('api', SERVICE_LIMITS.unzippedFunctionBytes - 100);
    const fits = await publishLayer('small', 100);
    const over = await publishLayer('over', 101);
    // Act
    await twinned.layers.updateFunctionLayers({
      functionName: 'api',
      layerVersionArns: [fits],
      replaceNames: [],
    });
    const update = twinned.layers.updateFunctionLayers({
      functionName: 'api',
      layerVersionArns: [over],
      replaceNames: ['small'],
    });
    // Assess
    await expect(update).rejects.toThrow(
      /api would unzip to 262144001 bytes \(code 262143900 \+ layers 101\)/,
    );
    expect(await local.layers.getFunctionLayers?.('api')).toEqual([fits]);
  });
});

describe('the twin, at SSM, EventBridge and Step Functions limits', () => {
  it('refuses a standard parameter value over 4 KB and writes nothing', async () => {
    await expect(twinned.parameters.put('/lambda-deps/web/layers', 'x'.repeat(4097), 'web')).rejects.toThrow(
      /^ValidationException: \/lambda-deps\/web\/layers would hold 4097 bytes/,
    );
    expect(await local.parameters.get?.('/lambda-deps/web/layers')).toBeNull();
    await twinned.parameters.put('/lambda-deps/web/layers', 'x'.repeat(4096), 'web');
  });

  it('refuses a PutEvents entry over 256 KB and sends nothing', async () => {
    const detail = { report: 'r'.repeat(256 * 1024) };
    await expect(twinned.events.putEvent('Dependency Set Ready', detail)).rejects.toThrow(/^EntryTooLarge: /);
    await twinned.events.putEvent('Dependency Set Ready', { reportKey: 'reports/x.json' });
  });

  it.each([
    ['81 characters', 'a'.repeat(81)],
    ['a space', 'web 1'],
    ['a slash', 'web/1'],
    ['a control character', 'web\u0001'],
    ['nothing', ''],
  ])('refuses an execution name of %s, as StartExecution does', (_case, name) => {
    expect(() => createTwin({}, TEMPLATE, 'lambda-deps-local', name)).toThrow(/^InvalidName: /);
  });

  it.each(['web+1', 'me@example', 'rev=3', 'a'.repeat(80)])('accepts the execution name %s', (name) => {
    expect(createTwin({}, TEMPLATE, 'lambda-deps-local', name)).not.toBeNull();
  });

  it('refuses a state output over 256 KB as States.DataLimitExceeded', () => {
    const twin = AwsTwin.fromTemplate(TEMPLATE, 'lambda-deps-local');
    expect(() => twin.checkStatePayload('Measure', { text: 'x'.repeat(256 * 1024) })).toThrow(
      /^States.DataLimitExceeded: Measure passed 262155 bytes on/,
    );
  });
});
