// The `cdk` CLI entry (cdk.json: `npx tsx infra/main.ts`). The account and region come from the
// CLI's environment at deploy time; the stack stays environment-agnostic otherwise.
import { createLambdaDepsApp } from './app.ts';

const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
const { app } = createLambdaDepsApp({
  cloudFormationValidation: true,
  props: account && region ? { env: { account, region } } : {},
});
app.synth();
