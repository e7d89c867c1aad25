// Takes the state machine's ASL out of a synthesized template, so the local runner, the
// `graph` command and the tests all run the very definition that is deployed. The template
// holds it as a CloudFormation expression (Fn::Join of strings, Refs and GetAtts); each
// reference becomes a stable placeholder (an ARN for functions and other resources, the
// logical id for a CodeBuild project name), and `resources` maps each placeholder back.
// No CDK import here: the local twin reads these names on every run, and aws-cdk-lib takes half a
// second to load.

/** Template metadata key on each function: its handler entry, relative to the repository root. */
export const HANDLER_ENTRY_METADATA = 'lambda-deps:entry';

/** Account, region and partition the placeholders use. */
export const PLACEHOLDER_ACCOUNT = '123456789012';
export const PLACEHOLDER_REGION = 'us-east-1';
export const PLACEHOLDER_PARTITION = 'aws';

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

interface TemplateShape {
  readonly Resources?: Record<string, TemplateResource>;
}

export interface ExtractedDefinition {
  /** The ASL document (States, StartAt, …). */
  readonly definition: Record<string, unknown>;
  /** Placeholder that stands in the definition → the template logical id it came from. */
  readonly resources: Record<string, string>;
}

/** A task state and what serves it. */
export interface TaskStateTarget {
  readonly kind: 'lambda' | 'codebuild' | 'other';
  /** Logical id of the function or project in the template. */
  readonly logicalId: string | null;
  /** Handler entry relative to the repository root (Lambda tasks), from the function's metadata. */
  readonly entry: string | null;
}

const PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  'AWS::Partition': PLACEHOLDER_PARTITION,
  'AWS::Region': PLACEHOLDER_REGION,
  'AWS::AccountId': PLACEHOLDER_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'LambdaDeps',
};

/** The placeholder a resource reference resolves to. */
function placeholderFor(logicalId: string, type: string, attribute: string | null): string {
  const arnPrefix = `arn:${PLACEHOLDER_PARTITION}`;
  const at = `${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;
  if (type === 'AWS::Lambda::Function') return `${arnPrefix}:lambda:${at}:function:${logicalId}`;
  if (type === 'AWS::CodeBuild::Project') {
    return attribute === 'Arn' ? `${arnPrefix}:codebuild:${at}:project/${logicalId}` : logicalId;
  }
  if (type === 'AWS::StepFunctions::StateMachine')
    return `${arnPrefix}:states:${at}:stateMachine:${logicalId}`;
  const service = type.split('::')[1]?.toLowerCase() ?? 'unknown';
  return attribute === null || attribute === 'Arn'
    ? `${arnPrefix}:${service}:${at}:${logicalId}`
    : `${logicalId}.${attribute}`;
}

function resolveExpression(
  value: unknown,
  template: TemplateShape,
  resources: Record<string, string>,
): unknown {
  if (typeof value === 'string' || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => resolveExpression(item, template, resources));
  const entries = Object.entries(value);
  const [key, argument] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Ref' && typeof argument === 'string') {
    return resolveReference(argument, null, template, resources);
  }
  if (entries.length === 1 && key === 'Fn::GetAtt' && Array.isArray(argument)) {
    const [logicalId, attribute] = argument as [string, string];
    return resolveReference(logicalId, attribute, template, resources);
  }
  if (entries.length === 1 && key === 'Fn::Join' && Array.isArray(argument)) {
    const [separator, parts] = argument as [string, unknown[]];
    return parts.map((part) => String(resolveExpression(part, template, resources))).join(separator);
  }
  if (entries.length === 1 && key === 'Fn::Sub') {
    const [text, variables] = (Array.isArray(argument) ? argument : [argument, {}]) as [
      string,
      Record<string, unknown>,
    ];
    return text.replace(/\$\{([^}]+)\}/g, (_match, name: string) => {
      if (name in variables) return String(resolveExpression(variables[name], template, resources));
      const [logicalId, attribute] = name.split('.') as [string, string | undefined];
      return String(resolveReference(logicalId, attribute ?? null, template, resources));
    });
  }
  throw new Error(`Unsupported expression in the state machine definition: ${JSON.stringify(value)}`);
}

function resolveReference(
  name: string,
  attribute: string | null,
  template: TemplateShape,
  resources: Record<string, string>,
): string {
  const pseudo = PSEUDO_PARAMETERS[name];
  if (pseudo !== undefined) return pseudo;
  const resource = template.Resources?.[name];
  if (!resource)
    throw new Error(`The state machine definition refers to ${name}, which is not in the template.`);
  const placeholder = placeholderFor(name, resource.Type, attribute);
  resources[placeholder] = name;
  return placeholder;
}

function stateMachineResource(template: TemplateShape): TemplateResource {
  const machines = Object.values(template.Resources ?? {}).filter(
    (resource) => resource.Type === 'AWS::StepFunctions::StateMachine',
  );
  const [machine] = machines;
  if (machines.length !== 1 || !machine) {
    throw new Error(`Expected exactly one state machine in the template, found ${machines.length}.`);
  }
  return machine;
}

/**
 * The ASL of the template's only state machine, with every reference replaced by a placeholder.
 *
 * @example
 * const { definition, resources } = extractStateMachineDefinition(template);
 * // definition.States.Measure.Resource === 'arn:aws:lambda:us-east-1:123456789012:function:LambdaDepsMeasureFunction…'
 */
export function extractStateMachineDefinition(template: object): ExtractedDefinition {
  const shape = template as TemplateShape;
  const properties = stateMachineResource(shape).Properties ?? {};
  const resources: Record<string, string> = {};
  let text: unknown;
  if (properties.Definition !== undefined) {
    text = JSON.stringify(resolveExpression(properties.Definition, shape, resources));
  } else {
    text = resolveExpression(properties.DefinitionString, shape, resources);
  }
  if (typeof text !== 'string') throw new Error('The state machine has no definition string.');
  const substitutions = (properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
  const substituted = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (match, name: string) =>
    name in substitutions ? String(resolveExpression(substitutions[name], shape, resources)) : match,
  );
  return { definition: JSON.parse(substituted) as Record<string, unknown>, resources };
}

/**
 * What serves each Task state: the function (with its handler entry) or the build project.
 * The local runner maps Lambda tasks to the handler files, and the Build task to its buildspec runner.
 */
export function describeTaskStates(template: object): Record<string, TaskStateTarget> {
  const shape = template as TemplateShape;
  const { definition, resources } = extractStateMachineDefinition(template);
  const states = (definition.States ?? {}) as Record<string, Record<string, unknown>>;
  const targets: Record<string, TaskStateTarget> = {};
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Task') continue;
    const resource = String(state.Resource);
    if (resource.includes(':states:::codebuild:')) {
      const projectName = (state.Parameters as Record<string, unknown> | undefined)?.ProjectName;
      const logicalId = typeof projectName === 'string' ? (resources[projectName] ?? null) : null;
      targets[name] = { kind: 'codebuild', logicalId, entry: null };
      continue;
    }
    const functionName = (state.Parameters as Record<string, unknown> | undefined)?.FunctionName;
    const logicalId =
      resources[resource] ?? (typeof functionName === 'string' ? resources[functionName] : undefined);
    const entry = logicalId ? shape.Resources?.[logicalId]?.Metadata?.[HANDLER_ENTRY_METADATA] : undefined;
    targets[name] = logicalId
      ? { kind: 'lambda', logicalId, entry: typeof entry === 'string' ? entry : null }
      : { kind: 'other', logicalId: null, entry: null };
  }
  return targets;
}
