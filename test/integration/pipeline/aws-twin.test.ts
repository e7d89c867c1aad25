// Every route, run locally with the strict twin: each call a step makes is checked against its
// role in the synthesized template (and AWS's limits) and recorded with the statement that
// allowed it; removing a route's key grant from the template makes that route fail with
// AccessDenied, as it would in AWS.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAdapters, LOCAL_BUCKET } from '../../../functions/adapters/local/local-adapters.ts';
import { AwsTwin } from '../../../functions/adapters/twin/aws-twin.ts';
import {
  loadPipelineDefinition,
  runPipelineLocally,
  type LocalPipelineOptions,
  type LocalPipelineResult,
} from '../../../functions/cli/local-pipeline.ts';
import { localIndexes, NO_LOCAL_INDEXES_REASON } from '../../support/pip-indexes.ts';

const indexes = localIndexes();
const skipReason = indexes === null ? NO_LOCAL_INDEXES_REASON : null;
const ARCH = process.arch === 'arm64' ? ('arm64' as const) : ('x86_64' as const);
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lambda-deps-twin-'));
  if (indexes !== null) await loadPipelineDefinition();
}, 180_000);
afterAll(() => rm(root, { recursive: true, force: true }));

function common(name: string): Omit<LocalPipelineOptions, 'outDir'> {
  const [indexUrl, ...extraIndexUrls] = indexes?.indexUrls ?? [];
  return {
    name,
    runtime: 'python3.11',
    arch: ARCH,
    indexUrl: indexUrl ?? null,
    extraIndexUrls,
    findLinks: indexes?.findLinks ?? [],
  };
}

type Template = Record<string, unknown>;
interface Statement {
  Action: string | string[];
  Resource?: unknown;
}

/** The template with `action` no longer granted on resources whose JSON contains `resource`. */
function withoutGrant(action: string, resource = ''): (template: Template) => Template {
  return (template) => {
    const resources = (template.Resources ?? {}) as Record<string, { Type: string; Properties?: Template }>;
    for (const policy of Object.values(resources)) {
      if (policy.Type !== 'AWS::IAM::Policy') continue;
      const document = policy.Properties?.PolicyDocument as { Statement: Statement[] };
      document.Statement = document.Statement.flatMap((statement) => {
        if (![statement.Action].flat().includes(action)) return [statement];
        const kept = [statement.Resource].flat().filter((item) => !JSON.stringify(item).includes(resource));
        return kept.length > 0 && resource !== '' ? [{ ...statement, Resource: kept }] : [];
      });
    }
    return template;
  };
}

/** The template with the statements granting `action` taken from the policies of roles named `role…`. */
function withoutRoleGrant(role: string, action: string): (template: Template) => Template {
  return (template) => {
    const resources = (template.Resources ?? {}) as Record<string, { Type: string; Properties?: Template }>;
    for (const policy of Object.values(resources)) {
      if (policy.Type !== 'AWS::IAM::Policy' || !JSON.stringify(policy.Properties?.Roles).includes(role))
        continue;
      const document = policy.Properties?.PolicyDocument as { Statement: Statement[] };
      document.Statement = document.Statement.filter(
        (statement) => ![statement.Action].flat().includes(action),
      );
    }
    return template;
  };
}

/** The S3 upload event EventBridge sends for an object in the local bucket. */
async function uploadEvent(outDir: string, key: string, text: string): Promise<unknown> {
  await localAdapters({ outDir }).store.putBytes(key, text, 'text/plain');
  return {
    version: '0',
    id: 'e-twin',
    source: 'aws.s3',
    'detail-type': 'Object Created',
    detail: { bucket: { name: LOCAL_BUCKET }, object: { key, etag: 'etag-1' }, reason: 'PutObject' },
  };
}

function inlineInput(name: string): unknown {
  return { requirements: { inline: 'six\n' }, runtime: 'python3.11', architecture: ARCH, name };
}

async function requirements(name: string): Promise<string> {
  const path = join(root, `${name}.txt`);
  await writeFile(path, 'six\n');
  return path;
}

function reasonOf(run: LocalPipelineResult): string {
  return String((run.report as { reason?: unknown }).reason ?? '');
}

describe('the local twin', () => {
  it.skipIf(skipReason !== null)(
    `runs every route with IAM enforced and records each call with the statement that allowed it${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    async () => {
      // Prepare
      const runs: Record<string, LocalPipelineOptions> = {
        layers: {
          ...common('twin-layers'),
          outDir: join(root, 'layers'),
          requirementsPath: await requirements('l'),
          strategy: 'layers',
        },
        efs: {
          ...common('twin-efs'),
          outDir: join(root, 'efs'),
          requirementsPath: await requirements('e'),
          strategy: 'efs',
        },
        image: {
          ...common('twin-image'),
          outDir: join(root, 'image'),
          requirementsPath: await requirements('i'),
          strategy: 'image',
        },
        inline: { ...common('twin-inline'), outDir: join(root, 'inline'), event: inlineInput('twin-inline') },
        upload: {
          ...common('twin-upload'),
          outDir: join(root, 'upload'),
          event: await uploadEvent(
            join(root, 'upload'),
            'requirements/twin-upload/requirements.txt',
            'six\n',
          ),
        },
      };

      // Act
      const results: Record<string, LocalPipelineResult> = {};
      for (const [route, options] of Object.entries(runs)) results[route] = await runPipelineLocally(options);

      // Assess
      for (const [route, run] of Object.entries(results)) {
        expect(run.status, `${route}: ${reasonOf(run)}`).toBe('SUCCEEDED');
        const calls = run.execution.awsCalls ?? [];
        expect(calls.length, route).toBeGreaterThan(5);
        for (const call of calls) expect(call.allowedBy, JSON.stringify(call)).toMatch(/^LambdaDeps\w+:\w+$/);
      }
      const actions = (route: string): string[] =>
        (results[route]?.execution.awsCalls ?? []).map((call) => `${call.state} ${call.action}`);
      expect(actions('layers')).toContain('PublishLayers lambda:PublishLayerVersion');
      expect(actions('efs')).toContain('SyncEfs elasticfilesystem:ClientWrite');
      expect(actions('image')).toContain('PushImage ecr:PutImage');
      expect(actions('inline')).toContain('Measure s3:PutObject');
      expect(actions('upload')).toContain('Measure s3:GetObject');
      expect(actions('layers')).toContain('Build s3:PutObject');
      // The state machine's own role: it invokes each task and starts and polls the .sync build.
      expect(actions('layers')).toContain('Measure lambda:InvokeFunction');
      expect(actions('layers')).toContain('PublishLayers lambda:InvokeFunction');
      expect(actions('layers')).toContain('Build codebuild:StartBuild');
      expect(actions('layers')).toContain('Build codebuild:BatchGetBuilds');
      expect(results.layers?.manifest?.execution.awsCalls).toEqual(results.layers?.execution.awsCalls);
    },
    600_000,
  );

  it.skipIf(skipReason !== null)(
    `fails each route with AccessDenied when its key grant is removed from the template${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    async () => {
      // Prepare
      const cases = [
        { route: 'layers', action: 'lambda:PublishLayerVersion', resource: '', strategy: 'layers' as const },
        { route: 'efs', action: 'elasticfilesystem:ClientWrite', resource: '', strategy: 'efs' as const },
        // The push grant goes as a whole; the first push call the step makes is then refused.
        {
          route: 'image',
          action: 'ecr:PutImage',
          resource: '',
          strategy: 'image' as const,
          denied: 'ecr:BatchCheckLayerAvailability',
        },
        { route: 'inline', action: 's3:PutObject', resource: 'inline-requirements/', strategy: null },
        { route: 'upload', action: 's3:GetObject', resource: '/requirements/', strategy: null },
      ];

      // Act
      const outcomes: { route: string; denied: string; run: LocalPipelineResult }[] = [];
      for (const { route, action, resource, strategy, denied } of cases as ((typeof cases)[number] & {
        denied?: string;
      })[]) {
        const outDir = join(root, `denied-${route}`);
        const base = { ...common(`denied-${route}`), outDir, editTemplate: withoutGrant(action, resource) };
        const input =
          route === 'inline'
            ? { event: inlineInput(`denied-${route}`) }
            : route === 'upload'
              ? { event: await uploadEvent(outDir, 'requirements/denied-upload/requirements.txt', 'six\n') }
              : {
                  requirementsPath: await requirements(`denied-${route}`),
                  strategy: strategy ?? ('auto' as const),
                };
        outcomes.push({
          route,
          denied: denied ?? action,
          run: await runPipelineLocally({ ...base, ...input }),
        });
      }

      // Assess
      for (const { route, denied, run } of outcomes) {
        expect(run.status, route).toBe('FAILED');
        expect(reasonOf(run), route).toMatch(
          new RegExp(`AccessDenied.*not authorized to perform: ${denied} `),
        );
      }
    },
    600_000,
  );

  it.skipIf(skipReason !== null)(
    `fails with AccessDenied when the state machine may not invoke a task or start the build${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    async () => {
      // Prepare
      const cases = [
        {
          name: 'invoke',
          edit: withoutGrant('lambda:InvokeFunction', 'MeasureFunction'),
          denied: 'lambda:InvokeFunction',
        },
        {
          name: 'build',
          edit: withoutRoleGrant('StateMachineRole', 'codebuild:StartBuild'),
          denied: 'codebuild:StartBuild',
        },
      ];

      // Act
      const runs: { name: string; denied: string; run: LocalPipelineResult }[] = [];
      for (const { name, edit, denied } of cases) {
        const outDir = join(root, `machine-${name}`);
        const options = {
          ...common(`machine-${name}`),
          outDir,
          editTemplate: edit,
          strategy: 'layers' as const,
        };
        runs.push({
          name,
          denied,
          run: await runPipelineLocally({ ...options, requirementsPath: await requirements(`m-${name}`) }),
        });
      }

      // Assess
      for (const { name, denied, run } of runs) {
        expect(run.status, name).toBe('FAILED');
        expect(reasonOf(run), name).toMatch(
          new RegExp(`AccessDenied.*StateMachineRole.*not authorized to perform: ${denied} `),
        );
      }
    },
    600_000,
  );

  it("checks the failure report's BatchGetBuilds against the report role, and refuses it without the grant", async () => {
    // Prepare
    const { template, tasks } = await loadPipelineDefinition();
    const reportFunction = tasks.ReportFailure?.logicalId ?? '';
    const local = localAdapters({ outDir: join(root, 'report-builds') });
    const allowed = AwsTwin.fromTemplate(template, LOCAL_BUCKET);
    const edited = withoutRoleGrant('ReportFunction', 'codebuild:BatchGetBuilds')(structuredClone(template));
    const denied = AwsTwin.fromTemplate(edited, LOCAL_BUCKET);

    // Act
    const described = await allowed
      .adaptersFor('ReportFailure', reportFunction, local)
      .builds?.describeBuild('p:1');
    const refused = denied.adaptersFor('ReportFailure', reportFunction, local).builds?.describeBuild('p:1');

    // Assess
    expect(described).toBeNull();
    expect(allowed.calls).toEqual([
      expect.objectContaining({
        state: 'ReportFailure',
        action: 'codebuild:BatchGetBuilds',
        resource: expect.stringMatching(/:project\/LambdaDepsBuildProject/),
      }),
    ]);
    await expect(refused).rejects.toThrow(/AccessDenied|not authorized to perform: codebuild:BatchGetBuilds/);
  }, 180_000);
  it('fails a step that outlasts its function’s Timeout with Lambda’s error, as in AWS', async () => {
    // Prepare: an index that answers after 5 s, and the Measure function's Timeout cut to 1 s.
    const server = createServer((_request, response) => {
      const timer = setTimeout(() => response.writeHead(404).end(), 5_000);
      response.on('close', () => clearTimeout(timer));
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const { port } = server.address() as AddressInfo;
    const withMeasureTimeout = (template: Template): Template => {
      const resources = template.Resources as Record<string, { Type: string; Properties: Template }>;
      for (const [id, resource] of Object.entries(resources))
        if (resource.Type === 'AWS::Lambda::Function' && id.includes('MeasureFunction'))
          resource.Properties.Timeout = 1;
      return template;
    };

    // Act
    const startedAt = Date.now();
    const run = await runPipelineLocally({
      ...common('timeout'),
      indexUrl: `http://127.0.0.1:${port}/simple`,
      extraIndexUrls: [],
      findLinks: [],
      outDir: join(root, 'timeout'),
      requirementsPath: await requirements('timeout'),
      editTemplate: withMeasureTimeout,
    }).finally(() => server.closeAllConnections());
    server.close();

    // Assess
    expect(run.status).toBe('FAILED');
    expect(reasonOf(run)).toMatch(/Sandbox\.Timedout|Task timed out after 1\.00 seconds/);
    expect(Date.now() - startedAt).toBeLessThan(4_500);
  }, 60_000);
});
