// The twin's IAM check: one call (action + exact resource ARN) by one role, evaluated against
// that role's identity policies from the synthesized template with @cloud-copilot/iam-simulate,
// a maintained evaluator of AWS's policy logic (wildcards, NotAction, conditions, explicit
// deny). A call no statement allows fails the way AWS fails it: AccessDenied.
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { PLACEHOLDER_ACCOUNT } from '../../../infra/state-machine-definition.ts';
import { LambdaDepsError } from '../../core/shared/errors.ts';
import { sha256Hex } from '../../core/shared/hash.ts';
import type { IamDecisionCache } from './iam-decision-cache.ts';
import type { NamedPolicy, PolicyStatementJson, TemplatePolicies } from './template-policies.ts';

/** What AWS answers for a call the caller's policies do not allow. */
export class AccessDeniedError extends LambdaDepsError {
  override name = 'AccessDenied';
  constructor(
    readonly roleArn: string,
    readonly action: string,
    readonly resource: string,
  ) {
    super(
      `User: ${roleArn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
      {
        exitCode: 1,
        hint: 'Grant the action on that resource to the step in infra/constructs/lambda-deps.ts (the local twin evaluates the synthesized template).',
      },
    );
  }
}

export interface AuthorizedCall {
  /** The statement that allowed the call: `<policy logical id>:<Sid or statement index>`. */
  readonly allowedBy: string;
}

/** A stable name for a statement: its Sid, else its position in its policy. */
function statementId(policy: NamedPolicy, statement: PolicyStatementJson): string {
  const index = policy.document.Statement.indexOf(statement);
  return `${policy.name}:${statement.Sid ?? `Statement${index}`}`;
}

function sameStatement(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Evaluates calls of one template's roles.
 *
 * @example
 * const iam = new IamEvaluator(readTemplatePolicies(template));
 * const { allowedBy } = await iam.authorize('PublishLayersRole', 's3:GetObject', 'arn:aws:s3:::b/artifacts/x');
 */
export class IamEvaluator {
  /**
   * Decisions already made, by call: the policies never change for an evaluator, and a run asks
   * the same (manifest reads, layer listings) up to four times; each simulation costs ~2 ms.
   */
  private readonly decided = new Map<string, Promise<AuthorizedCall>>();

  /** The hash of each role's policies, part of every kept decision's key. */
  private readonly policyHashes = new Map<string, string>();

  /** `decisions`: allowed calls kept by earlier local runs (iam-decision-cache.ts). */
  constructor(
    private readonly policies: TemplatePolicies,
    private readonly decisions: IamDecisionCache | null = null,
  ) {}

  /** The role a function or project runs as; throws for one the template does not have. */
  roleFor(logicalId: string): string {
    const role = this.policies.roleOf.get(logicalId);
    if (!role) throw new Error(`The template has no role for ${logicalId}.`);
    return role;
  }

  authorize(
    roleLogicalId: string,
    action: string,
    resource: string,
    context: Record<string, string | string[]> = {},
  ): Promise<AuthorizedCall> {
    const call = JSON.stringify([roleLogicalId, action, resource, context]);
    const known = this.decided.get(call);
    if (known) return known;
    const decided = this.keptOrSimulated(roleLogicalId, action, resource, context);
    this.decided.set(call, decided);
    return decided;
  }

  /** A decision an earlier run kept for exactly this call, else the evaluator's (kept if allowed). */
  private async keptOrSimulated(
    roleLogicalId: string,
    action: string,
    resource: string,
    context: Record<string, string | string[]>,
  ): Promise<AuthorizedCall> {
    if (!this.decisions) return this.simulate(roleLogicalId, action, resource, context);
    const key = this.decisionKey(roleLogicalId, action, resource, context);
    const allowedBy = this.decisions.allowedBy(key);
    if (allowedBy !== undefined) return { allowedBy };
    const decided = await this.simulate(roleLogicalId, action, resource, context);
    this.decisions.remember(key, decided.allowedBy);
    return decided;
  }

  private decisionKey(role: string, action: string, resource: string, context: object): string {
    let policies = this.policyHashes.get(role);
    if (policies === undefined) {
      const documents = (this.policies.policiesByRole.get(role) ?? []).map((policy) => [
        policy.name,
        policy.document,
      ]);
      policies = sha256Hex(JSON.stringify([this.policies.roleArn(role), documents]));
      this.policyHashes.set(role, policies);
    }
    return sha256Hex(JSON.stringify([policies, action, resource, context]));
  }

  private async simulate(
    roleLogicalId: string,
    action: string,
    resource: string,
    context: Record<string, string | string[]>,
  ): Promise<AuthorizedCall> {
    const roleArn = this.policies.roleArn(roleLogicalId);
    const policies = this.policies.policiesByRole.get(roleLogicalId) ?? [];
    const result = await runSimulation(
      {
        identityPolicies: policies.map((policy) => ({ name: policy.name, policy: policy.document })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          principal: roleArn,
          action,
          resource: { resource, accountId: PLACEHOLDER_ACCOUNT },
          contextVariables: context,
        },
      },
      {},
    );
    if (result.resultType === 'error') {
      throw new Error(`IAM simulation of ${action} on ${resource} failed: ${JSON.stringify(result.errors)}`);
    }
    const analysis = 'result' in result ? result.result.analysis : null;
    if (result.overallResult !== 'Allowed' || !analysis) {
      throw new AccessDeniedError(roleArn, action, resource);
    }
    const allowing = analysis.identityAnalysis?.allowStatements?.[0];
    const owner = policies.find((policy) => policy.name === allowing?.policyId);
    const statement = owner?.document.Statement.find((item) => sameStatement(item, allowing?.statement));
    return {
      allowedBy: owner && statement ? statementId(owner, statement) : (allowing?.policyId ?? 'unknown'),
    };
  }
}
