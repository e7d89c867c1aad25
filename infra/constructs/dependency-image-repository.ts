// Where the image strategy delivers: an ECR repository that scans every pushed image, keeps
// a bounded number of images, and (by default) never lets a tag move. push-image tags each
// image with its lock hash, so a tag names one content for ever; an immutable tag means a
// retried or concurrent push can never repoint it at a manifest with missing blobs.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Repository, TagMutability, TagStatus } from 'aws-cdk-lib/aws-ecr';
import { Construct } from 'constructs';

export interface DependencyImageRepositoryProps {
  /**
   * IMMUTABLE suits content-addressed tags; choose MUTABLE only if you add moving tags such as `latest`.
   * @default TagMutability.IMMUTABLE
   */
  readonly imageTagMutability?: TagMutability;
  /**
   * Tagged images kept; older ones expire. ECR's lifecycle cannot see which images functions
   * run, so a count may expire one in use: set it only if old sets' images are never run.
   * @default no limit (only untagged left-overs of interrupted pushes expire)
   */
  readonly maxImageCount?: number;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

export class DependencyImageRepository extends Construct {
  readonly repository: Repository;

  constructor(scope: Construct, id: string, props: DependencyImageRepositoryProps = {}) {
    super(scope, id);
    this.repository = new Repository(this, 'Repository', {
      imageScanOnPush: true,
      imageTagMutability: props.imageTagMutability ?? TagMutability.IMMUTABLE,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          description: 'Untagged images are left-overs of interrupted pushes',
          tagStatus: TagStatus.UNTAGGED,
          maxImageAge: Duration.days(1),
          rulePriority: 1,
        },
        ...(props.maxImageCount === undefined
          ? []
          : [
              {
                description: 'Keep a bounded number of dependency images (may expire images in use)',
                tagStatus: TagStatus.ANY,
                maxImageCount: props.maxImageCount,
                rulePriority: 2,
              },
            ]),
      ],
    });
  }
}
