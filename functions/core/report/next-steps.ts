// What a person does with a delivered set, for its route, with the values to copy: the layer
// ARNs and their SSM parameter, the PYTHONPATH and mount of an EFS tree, the image URI, and
// the AWS CLI and CDK lines that attach them to a function. The page and the terminal print
// the same list.
import type { BuildManifest } from '../shared/types.ts';
import type { DeliveryFacts } from './run-facts.ts';

export interface NextStep {
  /** Stable id for tests and anchors (`layer-arn-1`, `cli`, `cdk`). */
  readonly id: string;
  readonly title: string;
  readonly value: string;
}

/** The placeholder people replace with their function's name. */
export const FUNCTION_PLACEHOLDER = 'my-function';

/** What the next steps need of a manifest (a report without its manifest gives only the strategy). */
export type NextStepManifest = Pick<BuildManifest, 'strategy' | 'layers' | 'efs' | 'image'> & {
  readonly target?: BuildManifest['target'];
};

export interface NextStepInput {
  /** Refused sets (verification or import failed) have no next steps: leave them out before. */
  readonly manifest: NextStepManifest;
  readonly delivery: DeliveryFacts | null;
  /** The layer zips on disk, relative to the report page, in manifest order (null: not on this machine). */
  readonly layerFiles: readonly (string | null)[];
}

function identifier(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((word) => word[0]?.toUpperCase() + word.slice(1)).join('') || 'Deps';
}

function layerSteps({ manifest, delivery, layerFiles }: NextStepInput): NextStep[] {
  const published = delivery?.layers ?? [];
  if (published.length === 0) {
    // Built but not published (in-process build): publish the zips first.
    const runtime = manifest.target?.runtime ? ` --compatible-runtimes ${manifest.target.runtime}` : '';
    const arch = manifest.target ? ` --compatible-architectures ${manifest.target.architecture}` : '';
    return manifest.layers.map((layer, index) => ({
      id: `publish-${index + 1}`,
      title: `Publish layer ${index + 1} of ${manifest.layers.length}`,
      value: `aws lambda publish-layer-version --layer-name ${layer.id ?? `layer-${index + 1}`} --zip-file fileb://${layerFiles[index] ?? layer.file}${runtime}${arch}`,
    }));
  }
  const arns = published.map((layer) => layer.layerVersionArn);
  const local = arns.some((arn) => arn.includes(':local:'));
  const steps: NextStep[] = [
    {
      id: 'layer-arns',
      title: `Layer version ARNs, in order${local ? ' (local stand-ins: in AWS the stack publishes the real ones)' : ''}`,
      value: arns.join('\n'),
    },
  ];
  const parameter = delivery?.parameters?.[0];
  if (parameter)
    steps.push({
      id: 'parameter',
      title: 'SSM parameter holding the ARNs, comma-separated',
      value: parameter,
    });
  steps.push({
    id: 'cli',
    title: 'Attach them (this replaces the layers the function has; list any others too)',
    value: `aws lambda update-function-configuration --function-name ${FUNCTION_PLACEHOLDER} --layers ${arns.join(' ')}`,
  });
  if (parameter) {
    const name = identifier(published[0]?.layerName ?? parameter);
    steps.push({
      id: 'cdk',
      title: 'In a CDK app (aws-cdk-lib), read the parameter at deploy time',
      value: [
        `const arns = cdk.Fn.split(',', ssm.StringParameter.valueForStringParameter(this, '${parameter}'), ${arns.length});`,
        `const layers = arns.map((arn, i) => lambda.LayerVersion.fromLayerVersionArn(this, \`${name}\${i}\`, arn));`,
      ].join('\n'),
    });
  }
  return steps;
}

/** `/mnt/deps` from `/mnt/deps/web-api/current/site-packages`: Lambda mounts under /mnt. */
function mountPathOf(pythonPath: string): string {
  const match = /^(\/mnt\/[^/]+)/.exec(pythonPath);
  return match?.[1] ?? '/mnt/deps';
}

function efsSteps({ manifest, delivery }: NextStepInput): NextStep[] {
  const pythonPath =
    delivery?.pythonPath ?? `/mnt/deps/<set>/current/${manifest.efs?.pythonPath ?? 'site-packages'}`;
  const mount = mountPathOf(pythonPath);
  const accessPoint = delivery?.mount?.accessPointArn ?? null;
  const steps: NextStep[] = [{ id: 'pythonpath', title: 'PYTHONPATH for the function', value: pythonPath }];
  if (accessPoint) steps.push({ id: 'access-point', title: 'EFS access point to mount', value: accessPoint });
  steps.push({
    id: 'cli',
    title: `Mount the access point at ${mount} and set PYTHONPATH (--environment replaces the function's variables; list any others too)`,
    value: `aws lambda update-function-configuration --function-name ${FUNCTION_PLACEHOLDER} --file-system-configs Arn=${accessPoint ?? '<access point ARN>'},LocalMountPath=${mount} --environment "Variables={PYTHONPATH=${pythonPath}}"`,
  });
  steps.push({
    id: 'cdk',
    title: 'In a CDK app (aws-cdk-lib), on the function',
    value: [
      `filesystem: lambda.FileSystem.fromEfsAccessPoint(accessPoint, '${mount}'),`,
      `environment: { PYTHONPATH: '${pythonPath}' },`,
    ].join('\n'),
  });
  if (delivery?.currentPath)
    steps.push({ id: 'local-tree', title: 'The tree on this machine', value: delivery.currentPath });
  return steps;
}

function imageSteps({ manifest, delivery }: NextStepInput): NextStep[] {
  const digest = delivery?.digest ?? manifest.image?.digest ?? '';
  const uri = delivery?.imageUri ?? null;
  const steps: NextStep[] = [];
  let pushed = uri && !uri.startsWith('oci:') ? `${uri}@${digest}` : null;
  if (uri?.startsWith('oci:')) {
    const tag = delivery?.tag ?? 'latest';
    steps.push({
      id: 'image-layout',
      title: 'The image, as an OCI layout on this machine',
      value: `${uri}@${digest}`,
    });
    steps.push({
      id: 'push',
      title: 'Push it to your ECR repository',
      value: `skopeo copy ${uri} docker://<account>.dkr.ecr.<region>.amazonaws.com/<repository>:${tag}`,
    });
    pushed = `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@${digest}`;
  } else if (pushed) {
    steps.push({ id: 'image-uri', title: 'Image URI', value: pushed });
  } else {
    steps.push({
      id: 'image-digest',
      title: 'Image digest (the OCI layout is in the image folder)',
      value: digest,
    });
  }
  steps.push({
    id: 'cli',
    title: 'Point a function of package type Image at it',
    value: `aws lambda update-function-code --function-name ${FUNCTION_PLACEHOLDER} --image-uri ${pushed ?? `<repository URI>@${digest}`}`,
  });
  steps.push({
    id: 'cdk',
    title: 'In a CDK app (aws-cdk-lib)',
    value: `code: lambda.DockerImageCode.fromEcr(repository, { tagOrDigest: '${digest}' }),`,
  });
  return steps;
}

/** The next steps for the route the set took. */
export function nextStepsOf(input: NextStepInput): NextStep[] {
  if (input.manifest.strategy === 'layers') return layerSteps(input);
  if (input.manifest.strategy === 'efs') return efsSteps(input);
  return imageSteps(input);
}
