// Statements whose resources carry a wildcard that is the point of the grant (an object key
// prefix, a layer-name prefix, an SSM path) live in their own named policy, acknowledged for
// cdk-nag's IAM5 with the reason. Every other statement stays under the default policy, where
// IAM5 still reports any wildcard nobody reviewed.
import { Stack, Validations } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/** A policy with prefix-scoped statements, attached to `role`, its IAM5 findings acknowledged. */
export function attachScopedPolicy(
  scope: Construct,
  id: string,
  options: { role: IRole | undefined; statements: PolicyStatement[]; reason: string },
): Policy | null {
  if (!options.role || options.statements.length === 0) return null;
  const policy = new Policy(scope, id, { statements: options.statements, roles: [options.role] });
  const stack = Stack.of(scope);
  const findings = new Set<string>();
  for (const statement of options.statements) {
    const json = statement.toStatementJson() as { Action?: string | string[]; Resource?: unknown };
    for (const action of [json.Action ?? []].flat())
      if (action.includes('*')) findings.add(`Action::${action}`);
    for (const resource of [json.Resource ?? []].flat()) {
      const rendered = renderForNag(stack.resolve(resource));
      if (rendered.includes('*')) findings.add(`Resource::${rendered}`);
    }
  }
  // cdk-nag's IAM5 is granular: each wildcard is its own finding, acknowledged one by one.
  for (const finding of findings) {
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason: options.reason });
  }
  return policy;
}

/** A resolved resource as cdk-nag names it in findings: `<LogicalId.Arn>`, `<AWS::Region>`, … */
export function renderForNag(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(renderForNag).join('');
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (typeof record.Ref === 'string') return `<${record.Ref}>`;
    const getAtt = record['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    const join = record['Fn::Join'];
    if (Array.isArray(join)) {
      const [separator, parts] = join as [string, unknown[]];
      return parts.map(renderForNag).join(separator);
    }
  }
  return JSON.stringify(value);
}

/**
 * Object read/write under key prefixes, with plain actions (no `s3:*Object*` wildcards), and
 * ListBucket so a missing key answers 404 rather than 403.
 */
export function objectAccessStatements(bucket: IBucket, access: ObjectAccess): PolicyStatement[] {
  const statements = [new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] })];
  if (access.read && access.read.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: access.read.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
  }
  if (access.write && access.write.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: access.write.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
  }
  if (access.delete && access.delete.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: access.delete.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
      }),
    );
  }
  return statements;
}

/** Key prefixes (`locks/`, `artifacts/<hash>/delivery/` as a pattern) a step may read, write or delete under. */
export interface ObjectAccess {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
}

/** Attach object access under the bucket's contract prefixes to `role`. */
export function grantObjectPrefixes(
  scope: Construct,
  role: IRole | undefined,
  bucket: IBucket,
  access: ObjectAccess,
): Policy | null {
  const prefixes = [
    ...new Set([...(access.read ?? []), ...(access.write ?? []), ...(access.delete ?? [])]),
  ].join(', ');
  return attachScopedPolicy(scope, 'ObjectAccess', {
    role,
    statements: objectAccessStatements(bucket, access),
    reason: `Object ARNs are limited to the key prefixes this step owns in the artifact bucket (${prefixes}).`,
  });
}
