// Reads the IAM side of a synthesized template for the local twin: every role's identity
// policies (inline and AWS::IAM::Policy resources), with each CloudFormation expression
// resolved to the concrete ARN it would have in one account and region, and which role each
// Lambda function and CodeBuild project runs as. The twin then evaluates the calls a local
// run makes against exactly these documents.
import {
  PLACEHOLDER_ACCOUNT,
  PLACEHOLDER_PARTITION,
  PLACEHOLDER_REGION,
} from '../../../infra/state-machine-definition.ts';

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export interface TemplateShape {
  readonly Resources?: Record<string, TemplateResource>;
}

export interface PolicyStatementJson {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface NamedPolicy {
  /** Logical id of the policy resource, or `<role>/<inline policy name>`. */
  readonly name: string;
  readonly document: { Version: string; Statement: PolicyStatementJson[] };
}

export interface TemplatePolicies {
  /** Role logical id → the identity policies attached to it. */
  readonly policiesByRole: ReadonlyMap<string, readonly NamedPolicy[]>;
  /** Function, project or state machine logical id → the logical id of the role it runs as. */
  readonly roleOf: ReadonlyMap<string, string>;
  /** The ARN a role has in the twin's account. */
  roleArn(roleLogicalId: string): string;
}

export interface ResolveOptions {
  /** Names that `Ref` of a logical id resolves to (the artifact bucket → the local bucket name). */
  readonly names?: Readonly<Record<string, string>>;
}

const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::Partition': PLACEHOLDER_PARTITION,
  'AWS::Region': PLACEHOLDER_REGION,
  'AWS::AccountId': PLACEHOLDER_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'LambdaDeps',
  'AWS::NoValue': '',
};

/** The ARN (GetAtt Arn) a resource of this type gets, named after its logical id or Ref. */
function arnOf(type: string, name: string): string {
  const at = `${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;
  const arn = `arn:${PLACEHOLDER_PARTITION}`;
  switch (type) {
    case 'AWS::S3::Bucket':
      return `${arn}:s3:::${name}`;
    case 'AWS::Lambda::Function':
      return `${arn}:lambda:${at}:function:${name}`;
    case 'AWS::ECR::Repository':
      return `${arn}:ecr:${at}:repository/${name}`;
    case 'AWS::EFS::FileSystem':
      return `${arn}:elasticfilesystem:${at}:file-system/${name}`;
    case 'AWS::EFS::AccessPoint':
      return `${arn}:elasticfilesystem:${at}:access-point/${name}`;
    case 'AWS::CodeBuild::Project':
      return `${arn}:codebuild:${at}:project/${name}`;
    case 'AWS::StepFunctions::StateMachine':
      return `${arn}:states:${at}:stateMachine:${name}`;
    case 'AWS::IAM::Role':
      return `${arn}:iam::${PLACEHOLDER_ACCOUNT}:role/${name}`;
    case 'AWS::KMS::Key':
      return `${arn}:kms:${at}:key/${name}`;
    case 'AWS::Logs::LogGroup':
      return `${arn}:logs:${at}:log-group:${name}:*`;
    case 'AWS::Events::EventBus':
      return `${arn}:events:${at}:event-bus/${name}`;
    default: {
      const service = type.split('::')[1]?.toLowerCase() ?? 'unknown';
      return `${arn}:${service}:${at}:${name}`;
    }
  }
}

/** A CloudFormation expression as the concrete value it would deploy with. */
export function resolveTemplateValue(
  value: unknown,
  template: TemplateShape,
  options: ResolveOptions = {},
): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => resolveTemplateValue(item, template, options));
  const entries = Object.entries(value as Record<string, unknown>);
  const [key, argument] = entries[0] ?? [];
  const again = (item: unknown): unknown => resolveTemplateValue(item, template, options);
  const refName = (id: string): string => PSEUDO[id] ?? options.names?.[id] ?? id;
  if (entries.length !== 1) {
    return Object.fromEntries(entries.map(([name, item]) => [name, again(item)]));
  }
  if (key === 'Ref' && typeof argument === 'string') return refName(argument);
  if (key === 'Fn::GetAtt' && Array.isArray(argument)) {
    const [id, attribute] = argument as [string, string];
    const type = template.Resources?.[id]?.Type ?? 'Unknown::Unknown::Unknown';
    return attribute === 'Arn' ? arnOf(type, refName(id)) : `${refName(id)}.${attribute}`;
  }
  if (key === 'Fn::Join' && Array.isArray(argument)) {
    const [separator, parts] = argument as [string, unknown[]];
    return (again(parts) as unknown[]).map(String).join(separator);
  }
  if (key === 'Fn::Select' && Array.isArray(argument)) {
    const [index, list] = argument as [number | string, unknown];
    const items = again(list);
    return Array.isArray(items) ? items[Number(index)] : items;
  }
  if (key === 'Fn::GetAZs') return [`${PLACEHOLDER_REGION}a`, `${PLACEHOLDER_REGION}b`];
  if (key === 'Fn::Split' && Array.isArray(argument)) {
    const [separator, text] = argument as [string, unknown];
    return String(again(text)).split(separator);
  }
  if (key === 'Fn::Sub') {
    const [text, variables] = (Array.isArray(argument) ? argument : [argument, {}]) as [
      string,
      Record<string, unknown>,
    ];
    return text.replace(/\$\{([^}]+)\}/g, (_match, name: string) => {
      if (name in variables) return String(again(variables[name]));
      const [id, attribute] = name.split('.') as [string, string | undefined];
      return String(again(attribute ? { 'Fn::GetAtt': [id, attribute] } : { Ref: id }));
    });
  }
  return Object.fromEntries(entries.map(([name, item]) => [name, again(item)]));
}

/** The property naming the role each kind of principal runs as. */
const ROLE_PROPERTY: Readonly<Record<string, string>> = {
  'AWS::Lambda::Function': 'Role',
  'AWS::CodeBuild::Project': 'ServiceRole',
  'AWS::StepFunctions::StateMachine': 'RoleArn',
};

function roleIdOf(value: unknown): string | null {
  const record = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown } | undefined;
  if (typeof record?.Ref === 'string') return record.Ref;
  const getAtt = record?.['Fn::GetAtt'];
  return Array.isArray(getAtt) && typeof getAtt[0] === 'string' ? getAtt[0] : null;
}

/**
 * Every role's identity policies, resolved, and who runs as which role.
 *
 * @example
 * const policies = readTemplatePolicies(template, { names: { ArtifactsBucket1234: 'lambda-deps-local' } });
 * policies.policiesByRole.get(policies.roleOf.get('PublishLayersFunction')!)
 */
export function readTemplatePolicies(template: object, options: ResolveOptions = {}): TemplatePolicies {
  const shape = template as TemplateShape;
  const policiesByRole = new Map<string, NamedPolicy[]>();
  const roleOf = new Map<string, string>();
  const add = (role: string, policy: NamedPolicy): void => {
    policiesByRole.set(role, [...(policiesByRole.get(role) ?? []), policy]);
  };
  for (const [id, resource] of Object.entries(shape.Resources ?? {})) {
    const properties = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Role') {
      policiesByRole.set(id, policiesByRole.get(id) ?? []);
      for (const inline of (properties.Policies ?? []) as { PolicyName: string; PolicyDocument: unknown }[])
        add(id, { name: `${id}/${inline.PolicyName}`, document: resolvedDocument(inline.PolicyDocument) });
    } else if (resource.Type === 'AWS::IAM::Policy') {
      for (const role of (properties.Roles ?? []) as unknown[]) {
        const roleId = roleIdOf(role);
        if (roleId) add(roleId, { name: id, document: resolvedDocument(properties.PolicyDocument) });
      }
    } else if (resource.Type in ROLE_PROPERTY) {
      const roleId = roleIdOf(properties[ROLE_PROPERTY[resource.Type] ?? '']);
      if (roleId) roleOf.set(id, roleId);
    }
  }
  function resolvedDocument(document: unknown): NamedPolicy['document'] {
    const resolved = resolveTemplateValue(document, shape, options) as NamedPolicy['document'];
    return { Version: resolved.Version ?? '2012-10-17', Statement: [resolved.Statement].flat() };
  }
  return {
    policiesByRole,
    roleOf,
    roleArn: (role) => arnOf('AWS::IAM::Role', role),
  };
}
