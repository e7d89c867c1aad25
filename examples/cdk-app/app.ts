// An app of your own that uses lambda-deps. Stack ExampleApp: the pipeline (layers only), and a Python
// function that gets every layer of the set "web-api" once that set has been delivered (upload
// examples/web-api/requirements.txt to s3://<ArtifactBucketName>/requirements/web-api/).
// Stack ExampleAppEfsAndImage: every route, a function importing the set "ml" from its EFS tree,
// and a function running the image of the set "jobs" (deploy it once those sets are delivered).
import { basename, join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Architecture, Code, Function as LambdaFunction, Handler, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  dependencySetFileSystem,
  dependencySetImageCode,
  LambdaDeps,
  useDependencySetEfs,
  useDependencySetLayers,
  type LambdaDepsProps,
} from 'lambda-deps';

// dist/app.js (tsc, then node) or app.ts itself (ts-node): the handler folder is beside app.ts.
const appRoot = basename(__dirname) === 'dist' ? join(__dirname, '..') : __dirname;
const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
const stack = new Stack(app, 'ExampleApp');

// Layers only: no VPC, EFS file system or ECR repository is created.
const props: LambdaDepsProps = {
  routes: { layers: true, efs: false, image: false },
  defaultRuntime: 'python3.12',
  defaultArchitecture: 'arm64',
};
const deps = new LambdaDeps(stack, 'Deps', props);

// The wiring: a plain Python function, and one call that gives it the set's layers.
const api = new LambdaFunction(stack, 'Api', {
  // The same runtime and architecture the set is built for (the props above).
  runtime: Runtime.PYTHON_3_12,
  architecture: Architecture.ARM_64,
  handler: 'app.handler',
  code: Code.fromAsset(join(appRoot, 'handler')),
});
useDependencySetLayers(api, { set: 'web-api', from: deps });

acknowledgeExampleFindings(api);

// Every route: the EFS tree and the image of a set, each wired in two statements.
const full = new Stack(app, 'ExampleAppEfsAndImage');
const allRoutes = new LambdaDeps(full, 'Deps', {
  defaultRuntime: 'python3.12',
  defaultArchitecture: 'arm64',
});
const worker = new LambdaFunction(full, 'Worker', {
  runtime: Runtime.PYTHON_3_12,
  architecture: Architecture.ARM_64,
  handler: 'app.handler',
  code: Code.fromAsset(join(appRoot, 'handler')),
  vpc: allRoutes.vpc,
  filesystem: dependencySetFileSystem(allRoutes),
});
useDependencySetEfs(worker, { set: 'ml', from: allRoutes });
const job = new LambdaFunction(full, 'Job', {
  runtime: Runtime.FROM_IMAGE,
  handler: Handler.FROM_IMAGE,
  architecture: Architecture.ARM_64,
  // The handler is a module of the set itself (the image holds the set on the Lambda Python base).
  code: dependencySetImageCode(full, { set: 'jobs', from: allRoutes }, { cmd: ['jobs.handler'] }),
});
acknowledgeExampleFindings(worker, job);
Validations.of(worker).acknowledge({
  id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
  reason:
    'The worker runs in the VPC to mount EFS; this AWS-maintained policy only manages its network interfaces.',
});

// cdk-nag runs as a validation plugin: a reviewed finding is acknowledged where it arises.
function acknowledgeExampleFindings(...functions: IConstruct[]): void {
  for (const fn of functions) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The example function only writes its logs.',
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to python3.12 on purpose: the set is resolved, verified and smoke-imported for that runtime.',
    });
  }
}
app.synth();
