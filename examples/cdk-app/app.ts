// An app of your own that uses lambda-deps: the pipeline (layers only), and a Python function that gets every
// layer of the set "web-api" once that set has been delivered (upload
// examples/web-api/requirements.txt to s3://<ArtifactBucketName>/requirements/web-api/).
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LambdaDeps, useDependencySetLayers, type LambdaDepsProps } from 'lambda-deps';

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
  code: Code.fromAsset(join(__dirname, '..', 'handler')),
});
useDependencySetLayers(api, { set: 'web-api', from: deps });

// cdk-nag runs as a validation plugin: a reviewed finding is acknowledged where it arises.
Validations.of(api).acknowledge({
  id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
  reason: 'The example function only writes its logs.',
});
Validations.of(api).acknowledge({
  id: 'AwsSolutions-L1',
  reason:
    'Pinned to python3.12 on purpose: the set is resolved, verified and smoke-imported for that runtime.',
});
app.synth();
