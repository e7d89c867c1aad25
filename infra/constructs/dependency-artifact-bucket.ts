// The bucket that holds everything a dependency set goes through: uploaded requirements,
// locks, built artifacts, delivery markers and reports (key layout in design.md). It sends
// its events to EventBridge (the upload rule listens there), is versioned (PublishLayerVersion
// pins an object version), encrypted, TLS-only, closed to the public, and logs its access.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Key prefixes of the pipeline contract. */
export const ARTIFACT_KEYS = {
  requirements: 'requirements/',
  locks: 'locks/',
  artifacts: 'artifacts/',
  delivered: 'delivered/',
  reports: 'reports/',
  /** Console inputs given as text (`requirements.inline`), stored by Measure as `<sha256>.txt`. */
  inlineRequirements: 'inline-requirements/',
  /** Per-set delivery records and leases beside a lock's artifacts (publish-layers). */
  deliveryRecords: 'artifacts/*/delivery/',
  /** The delivery policy Measure writes beside an artifact key, for the Build to read. */
  buildPolicies: 'artifacts/*/policy.json',
} as const;

export interface DependencyArtifactBucketProps {
  /**
   * How long built artifacts (`artifacts/`) are kept. Delivered layers, EFS trees and images
   * live on elsewhere, so these are only needed to deliver again.
   * @default Duration.days(90)
   */
  readonly artifactExpiration?: Duration;
  /**
   * How long overwritten or deleted object versions are kept (every prefix).
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

export class DependencyArtifactBucket extends Construct {
  readonly bucket: Bucket;
  /** Receives the server access logs of `bucket`. */
  readonly accessLogBucket: Bucket;

  constructor(scope: Construct, id: string, props: DependencyArtifactBucketProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.accessLogBucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access log bucket of the artifact bucket; logging it into itself would loop.',
    });

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      eventBridgeEnabled: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'artifact-bucket/',
      removalPolicy,
      lifecycleRules: [
        {
          id: 'expire-old-versions',
          noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        {
          id: 'expire-artifacts',
          prefix: ARTIFACT_KEYS.artifacts,
          expiration: props.artifactExpiration ?? Duration.days(90),
        },
      ],
    });
  }
}
