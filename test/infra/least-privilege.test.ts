// Least privilege, checked by walking every IAM policy in the template: no `*` action on a `*`
// resource, every `Resource: "*"` statement in a short reviewed list, and each step's role
// limited to what its step does.
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { LambdaDeps, STEP_ENTRIES } from '../../infra/constructs/lambda-deps.ts';
import { functionIdForEntry, resourcesOfType, synthesizeApp, temporaryApp } from './synthesized-app.ts';
import type { SynthesizedApp, TemplateJson } from './synthesized-app.ts';

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Actions AWS offers no resource scoping for, and why each is needed. */
const REVIEWED_UNSCOPED_ACTIONS: Readonly<Record<string, string>> = {
  'xray:PutTraceSegments': 'X-Ray tracing of functions and the state machine',
  'xray:PutTelemetryRecords': 'X-Ray tracing of functions and the state machine',
  'xray:GetSamplingRules': 'X-Ray sampling (state machine tracing)',
  'xray:GetSamplingTargets': 'X-Ray sampling (state machine tracing)',
  'ecr:GetAuthorizationToken': 'push-image logs in to ECR; the token API has no resource',
  'logs:CreateLogDelivery': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:GetLogDelivery': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:UpdateLogDelivery': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:DeleteLogDelivery': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:ListLogDeliveries': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:PutResourcePolicy': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:DescribeResourcePolicies': 'state machine logging to CloudWatch Logs (vended logs API)',
  'logs:DescribeLogGroups': 'state machine logging to CloudWatch Logs (vended logs API)',
  'lambda:ListLayerVersions':
    "publish-layers lists a layer name's versions to retire old ones; the Service Authorization Reference gives it no resource type",
  's3:PutBucketNotification': "CDK's custom resource that switches on the bucket's EventBridge notifications",
  // A function in a VPC creates and removes its own network interfaces (the probe functions of
  // the EFS route); EC2 gives these actions no resource-level permissions.
  'ec2:CreateNetworkInterface': 'probe functions in the VPC (EFS route) attach their network interfaces',
  'ec2:DescribeNetworkInterfaces': 'probe functions in the VPC (EFS route) attach their network interfaces',
  'ec2:DeleteNetworkInterface': 'probe functions in the VPC (EFS route) attach their network interfaces',
  'ec2:AssignPrivateIpAddresses': 'probe functions in the VPC (EFS route) attach their network interfaces',
  'ec2:UnassignPrivateIpAddresses': 'probe functions in the VPC (EFS route) attach their network interfaces',
  // Lambda checks that the caller of CreateFunction with a VpcConfig may see these.
  'ec2:DescribeSecurityGroups': 'the Probe step creates its probe function in the VPC (EFS route)',
  'ec2:DescribeSubnets': 'the Probe step creates its probe function in the VPC (EFS route)',
  'ec2:DescribeVpcs': 'the Probe step creates its probe function in the VPC (EFS route)',
  // CDK's Lambda file system grant; the statement is conditioned on the access point ARN (tested below).
  'elasticfilesystem:ClientMount':
    'sync-efs mounts the access point (condition elasticfilesystem:AccessPointArn)',
};

let synthesized: SynthesizedApp;

beforeAll(() => {
  synthesized = synthesizeApp({ nagChecks: false });
});
afterAll(() => synthesized.cleanup());

function allStatements(json: TemplateJson): { policy: string; statement: Statement }[] {
  const found: { policy: string; statement: Statement }[] = [];
  for (const [id, properties] of resourcesOfType(json, 'AWS::IAM::Policy')) {
    const document = properties.PolicyDocument as { Statement: Statement[] };
    for (const statement of document.Statement) found.push({ policy: id, statement });
  }
  for (const [id, properties] of resourcesOfType(json, 'AWS::IAM::Role')) {
    for (const inline of (properties.Policies as
      { PolicyDocument: { Statement: Statement[] } }[] | undefined) ?? []) {
      for (const statement of inline.PolicyDocument.Statement) found.push({ policy: id, statement });
    }
  }
  return found;
}

function actionsOf(statement: Statement): string[] {
  return [statement.Action].flat();
}

/** Every Allow statement attached to the role of the function with this handler entry. */
function statementsOfFunction(json: TemplateJson, entry: string): Statement[] {
  const functionId = functionIdForEntry(json, entry);
  const role = (json.Resources[functionId]?.Properties?.Role as { 'Fn::GetAtt': [string, string] })[
    'Fn::GetAtt'
  ][0];
  return resourcesOfType(json, 'AWS::IAM::Policy')
    .filter(([, properties]) => JSON.stringify(properties.Roles).includes(`"Ref":"${role}"`))
    .flatMap(([, properties]) => (properties.PolicyDocument as { Statement: Statement[] }).Statement)
    .filter((statement) => statement.Effect === 'Allow');
}

/** The object key patterns (after the bucket ARN) a statement allows, e.g. `locks/*`. */
function objectPrefixes(statements: Statement[], action: string): string[] {
  return statements
    .filter((statement) => actionsOf(statement).includes(action))
    .flatMap((statement) => [statement.Resource].flat())
    .map((resource) => {
      const parts = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1] ?? [];
      return String(parts[parts.length - 1]).replace(/^\//, '');
    })
    .sort();
}

describe('IAM policies', () => {
  it('never allow a wildcard action on every resource', () => {
    // Prepare
    const statements = allStatements(synthesized.json);

    // Act
    const offenders = statements.filter(
      ({ statement }) =>
        statement.Effect === 'Allow' &&
        [statement.Resource].flat().includes('*') &&
        actionsOf(statement).some((action) => action === '*' || action.endsWith(':*')),
    );

    // Assess
    expect(statements.length).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });

  it('allow Resource "*" only for reviewed actions that AWS cannot scope', () => {
    // Prepare
    const unscoped = allStatements(synthesized.json).filter(
      ({ statement }) => statement.Effect === 'Allow' && [statement.Resource].flat().includes('*'),
    );

    // Act
    const unreviewed = unscoped
      .flatMap(({ policy, statement }) => actionsOf(statement).map((action) => `${policy}: ${action}`))
      .filter((entry) => !(entry.split(': ')[1]! in REVIEWED_UNSCOPED_ACTIONS));

    // Assess
    expect(unscoped.length).toBeGreaterThan(0);
    expect(unreviewed).toEqual([]);
  });

  it('use no wildcard S3 actions in the steps (plain GetObject/PutObject on their prefixes)', () => {
    // Prepare
    const entries = [
      'functions/measure/handler.ts',
      'functions/read-build-manifest/handler.ts',
      'functions/publish-layers/handler.ts',
      'functions/sync-efs/handler.ts',
      'functions/push-image/handler.ts',
      'functions/report/handler.ts',
    ];

    // Act
    const wildcardActions = entries.flatMap((entry) =>
      statementsOfFunction(synthesized.json, entry)
        .flatMap(actionsOf)
        .filter((action) => action.startsWith('s3:') && action.includes('*')),
    );

    // Assess
    expect(wildcardActions).toEqual([]);
  });
});

describe('step permissions', () => {
  it('let measure read requirements/, locks/, delivered/, inline-requirements/ and the delivery policies, and write only locks/, inline-requirements/ and the delivery policies', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/measure/handler.ts');

    // Act
    const reads = objectPrefixes(statements, 's3:GetObject');
    const writes = objectPrefixes(statements, 's3:PutObject');

    // Assess
    expect(reads).toEqual([
      'artifacts/*/policy.json*',
      'delivered/*',
      'inline-requirements/*',
      'locks/*',
      'requirements/*',
    ]);
    expect(writes).toEqual(['artifacts/*/policy.json*', 'inline-requirements/*', 'locks/*']);
  });

  it('let report write only reports/ and delivered/, put events on the bus and parameters under the prefix', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/report/handler.ts');

    // Act
    const writes = objectPrefixes(statements, 's3:PutObject');
    const putEvents = statements.filter((statement) => actionsOf(statement).includes('events:PutEvents'));
    const putParameters = statements.filter((statement) => actionsOf(statement).includes('ssm:PutParameter'));

    // Assess
    expect(writes).toEqual(['delivered/*', 'reports/*']);
    expect(JSON.stringify(putEvents.map((statement) => statement.Resource))).toContain(':event-bus/default');
    expect(JSON.stringify(putParameters.map((statement) => statement.Resource))).toContain(
      ':parameter/lambda-deps/*',
    );
  });

  it('let publish-layers publish only layers named with the prefix, and update no function by default', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/publish-layers/handler.ts');

    // Act
    const layerStatements = statements.filter((statement) =>
      actionsOf(statement).includes('lambda:PublishLayerVersion'),
    );
    const updates = statements.filter((statement) =>
      actionsOf(statement).includes('lambda:UpdateFunctionConfiguration'),
    );

    // Assess
    expect(layerStatements).toHaveLength(1);
    expect(actionsOf(layerStatements[0]!)).toContain('lambda:AddLayerVersionPermission');
    expect(JSON.stringify(layerStatements[0]?.Resource)).toContain(':layer:lambda-deps*');
    expect(updates).toEqual([]);
    expect(objectPrefixes(statements, 's3:GetObject')).toEqual(['artifacts/*']);
    // Only its per-set lease and delivery record, never the build's artifacts.
    expect(objectPrefixes(statements, 's3:PutObject')).toEqual(['artifacts/*/delivery/*']);
    expect(objectPrefixes(statements, 's3:DeleteObject')).toEqual(['artifacts/*/delivery/*']);
  });

  it('let publish-layers delete versions only of layers named with the prefix, and list versions (unscopable)', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/publish-layers/handler.ts');

    // Act
    const deletes = statements.filter((statement) =>
      actionsOf(statement).includes('lambda:DeleteLayerVersion'),
    );
    const lists = statements.filter((statement) => actionsOf(statement).includes('lambda:ListLayerVersions'));

    // Assess
    expect(deletes.flatMap(actionsOf)).toEqual(['lambda:DeleteLayerVersion']);
    expect(deletes.flatMap((statement) => [statement.Resource].flat().map((r) => JSON.stringify(r)))).toEqual(
      [expect.stringMatching(/:layer:lambda-deps\*:\*"/)],
    );
    expect(lists.map((statement) => [actionsOf(statement), statement.Resource])).toEqual([
      [['lambda:ListLayerVersions'], '*'],
    ]);
  });

  it('let push-image push to its repository only, reading artifacts/', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/push-image/handler.ts');
    const [repository] = resourcesOfType(synthesized.json, 'AWS::ECR::Repository');

    // Act
    const push = statements.filter((statement) => actionsOf(statement).includes('ecr:PutImage'));

    // Assess
    expect(push).toHaveLength(1);
    expect(push[0]?.Resource).toEqual({ 'Fn::GetAtt': [repository?.[0], 'Arn'] });
    expect(objectPrefixes(statements, 's3:GetObject')).toEqual(['artifacts/*']);
  });

  it('let sync-efs mount only through the access point and write to that file system only', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/sync-efs/handler.ts');
    const [accessPoint] = resourcesOfType(synthesized.json, 'AWS::EFS::AccessPoint');
    const [fileSystem] = resourcesOfType(synthesized.json, 'AWS::EFS::FileSystem');

    // Act
    const mount = statements.filter((statement) =>
      actionsOf(statement).includes('elasticfilesystem:ClientMount'),
    );
    const write = statements.filter((statement) =>
      actionsOf(statement).includes('elasticfilesystem:ClientWrite'),
    );

    // Assess
    expect(mount).toHaveLength(1);
    expect(JSON.stringify(mount[0]?.Condition)).toContain(`"elasticfilesystem:AccessPointArn"`);
    expect(JSON.stringify(mount[0]?.Condition)).toContain(`{"Ref":"${accessPoint?.[0]}"}`);
    expect(write).toHaveLength(1);
    expect(JSON.stringify(write[0]?.Resource)).toContain(`:file-system/",{"Ref":"${fileSystem?.[0]}"}`);
    expect(objectPrefixes(statements, 's3:PutObject')).toEqual([]);
  });

  it('let the Probe step create, invoke and delete only probe-prefixed functions, pass only the probe role, and read only the probe code object', () => {
    // Prepare
    const statements = statementsOfFunction(synthesized.json, 'functions/probe/handler.ts');
    const [runtimeRole] = resourcesOfType(synthesized.json, 'AWS::IAM::Role').filter(([id]) =>
      id.includes('ProbeRuntimeRole'),
    );

    // Act
    const lambdaStatements = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('lambda:')),
    );
    const functionResources = lambdaStatements
      .filter((statement) => actionsOf(statement).includes('lambda:CreateFunction'))
      .flatMap((statement) => [statement.Resource].flat())
      .map((resource) => JSON.stringify(resource));
    const passRole = statements.filter((statement) => actionsOf(statement).includes('iam:PassRole'));
    const s3 = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('s3:')),
    );

    // Assess
    expect(functionResources).toHaveLength(1);
    expect(functionResources[0]).toContain(':function:lambda-deps-probe-*');
    expect(lambdaStatements.flatMap(actionsOf).sort()).toEqual([
      'lambda:CreateFunction',
      'lambda:DeleteFunction',
      'lambda:GetFunction',
      'lambda:GetLayerVersion',
      'lambda:InvokeFunction',
    ]);
    expect(passRole).toHaveLength(1);
    expect(passRole[0]?.Resource).toEqual({ 'Fn::GetAtt': [runtimeRole?.[0], 'Arn'] });
    expect(passRole[0]?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'lambda.amazonaws.com' },
    });
    // The manifest and policy under artifacts/, and the probe code: one object, no wildcard action.
    expect(s3.flatMap(actionsOf).every((action) => !action.includes('*'))).toBe(true);
    expect(objectPrefixes(statements, 's3:PutObject')).toEqual([]);
  });

  it('give the probe functions a role that writes only their logs and mounts the access point read-only', () => {
    // Prepare
    const [runtimeRole] = resourcesOfType(synthesized.json, 'AWS::IAM::Role').filter(([id]) =>
      id.includes('ProbeRuntimeRole'),
    );
    const attached = resourcesOfType(synthesized.json, 'AWS::IAM::Policy')
      .filter(([, properties]) => JSON.stringify(properties.Roles).includes(`"Ref":"${runtimeRole?.[0]}"`))
      .flatMap(([, properties]) => (properties.PolicyDocument as { Statement: Statement[] }).Statement);

    // Act
    const actions = attached.flatMap(actionsOf).sort();
    const logResources = attached
      .filter((statement) => actionsOf(statement).includes('logs:PutLogEvents'))
      .map((statement) => JSON.stringify(statement.Resource));

    // Assess
    expect(runtimeRole?.[1].ManagedPolicyArns).toBeUndefined();
    expect(actions.filter((action) => !action.startsWith('ec2:'))).toEqual([
      'elasticfilesystem:ClientMount',
      'logs:CreateLogGroup',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(actions).not.toContain('elasticfilesystem:ClientWrite');
    expect(logResources.join()).toContain('/aws/lambda/lambda-deps-probe-*');
  });

  it('only ever mount EFS on "*" under an access point condition', () => {
    // Act
    const unconditioned = allStatements(synthesized.json).filter(
      ({ statement }) =>
        actionsOf(statement).includes('elasticfilesystem:ClientMount') &&
        !JSON.stringify(statement.Condition ?? {}).includes('elasticfilesystem:AccessPointArn'),
    );

    // Assess
    expect(unconditioned).toEqual([]);
  });

  it('let no step write uploaded requirements', () => {
    // Act
    const writers = resourcesOfType(synthesized.json, 'AWS::IAM::Policy').filter(([, properties]) =>
      (properties.PolicyDocument as { Statement: Statement[] }).Statement.some(
        (statement) =>
          actionsOf(statement).some((action) => action.startsWith('s3:Put') || action === 's3:*') &&
          JSON.stringify(statement.Resource).includes('"/requirements/'),
      ),
    );

    // Assess
    expect(writers).toEqual([]);
  });
});

describe('allowed variables from Secrets Manager', () => {
  it('let measure read exactly the listed secrets, and no other step any secret', () => {
    // Prepare: one secret of this stack, one imported by name
    const { app, cleanup } = temporaryApp({ builtinCloudFormationValidation: false });
    onTestFinished(cleanup);
    const stack = new Stack(app, 'SecretsStack');
    const owned = new Secret(stack, 'OwnedToken');
    new LambdaDeps(stack, 'Deps', {
      skipBundling: true,
      allowedVariables: {
        OWNED_TOKEN: owned,
        IMPORTED_TOKEN: Secret.fromSecretNameV2(stack, 'Imported', 'acme/pypi-token'),
        PLAIN: 'not a secret',
      },
    });

    // Act
    const json = Template.fromStack(stack).toJSON() as TemplateJson;
    const secretStatements = (entry: string): Statement[] =>
      statementsOfFunction(json, entry).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('secretsmanager:')),
      );

    // Assess
    const measure = secretStatements(STEP_ENTRIES.measure);
    expect(measure.flatMap(actionsOf)).toEqual(['secretsmanager:GetSecretValue']);
    const resources = JSON.stringify(measure.map((statement) => statement.Resource));
    expect(resources).toContain(`"Ref":"${stack.getLogicalId(owned.node.defaultChild as never)}"`);
    expect(resources).toContain(':secret:acme/pypi-token-??????');
    expect(resources).not.toMatch(/secret:\*|"\*"/);
    expect([measure.flatMap((statement) => [statement.Resource].flat())].flat()).toHaveLength(2);
    for (const entry of Object.values(STEP_ENTRIES).filter((entry) => entry !== STEP_ENTRIES.measure)) {
      if (
        Object.values(json.Resources).some((resource) => resource.Metadata?.['lambda-deps:entry'] === entry)
      )
        expect(secretStatements(entry)).toEqual([]);
    }
  });
});
