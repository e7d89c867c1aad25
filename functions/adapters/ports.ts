// One interface per outside system. Each has an AWS implementation (adapters/aws/) and a
// local one (adapters/local/); handlers and the build take them as arguments.
import type { Architecture } from '../core/shared/types.ts';
import type { ProbeRunner } from './probe-port.ts';

export type { ProbeRunner } from './probe-port.ts';

/** S3 in AWS, a folder locally. Keys are `/`-separated, never absolute, never `..`. */
export interface ObjectStore {
  /** `s3://bucket` or `file:///abs/dir`: enough for another process to open the same store. */
  readonly location: string;
  getBytes(key: string): Promise<Buffer>;
  getToFile(key: string, path: string): Promise<void>;
  putBytes(key: string, body: Buffer | string, contentType?: string): Promise<void>;
  putFile(key: string, path: string, contentType?: string): Promise<void>;
  /**
   * putFile for a file the caller gives up, none of whose names is ever written again (the
   * build step's out/, links to the build cache's files): a store on its filesystem may take the
   * file itself (a rename) instead of copying it, so `path` may be gone afterwards. Optional:
   * putFile instead.
   */
  putFileHandedOver?(key: string, path: string, contentType?: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
}

/** Size, ETag and version of a stored object (S3 HEAD; a folder's file stat locally). */
export interface StoredObjectInfo {
  readonly size: number;
  readonly etag: string | null;
  /** S3 object version, when the bucket is versioned; null otherwise. */
  readonly versionId: string | null;
}

/**
 * The object store operations some steps need beyond reading and writing: the S3 object
 * version (PublishLayerVersion pins it), and an exclusive create, the lease that keeps two
 * executions of the same lock from building twice.
 */
export interface LeasingObjectStore extends ObjectStore {
  head(key: string): Promise<StoredObjectInfo | null>;
  /** Writes the object only when no object has that key; true when this call created it. */
  putIfAbsent(key: string, body: Buffer | string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * A token that changes whenever the object's bytes could have (the local folder's file
   * identity); null for a missing object. Optional: a store without one has every copy redone.
   */
  identity?(key: string): Promise<string | null>;
  /**
   * The object's bytes at `path` for a reader that never writes that file (a published layer
   * version): a hard link where the store can make one, else a copy. Optional: getToFile instead.
   */
  getReadOnlyFile?(key: string, path: string): Promise<void>;
}

/** One published layer version. */
export interface PublishedLayerVersion {
  readonly layerName: string;
  readonly version: number;
  /** `arn:aws:lambda:REGION:ACCOUNT:layer:NAME` */
  readonly layerArn: string;
  /** `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`: what a function lists in its Layers. */
  readonly layerVersionArn: string;
}

/** Lambda layers in AWS; zips plus a versions file locally. */
export interface LayerRegistry {
  /** Publishes from a stored object (never an inline zip: the 50 MB direct-upload limit). */
  publishLayerVersion(request: {
    readonly layerName: string;
    readonly objectKey: string;
    readonly objectVersion: string | null;
    readonly compatibleRuntimes: readonly string[];
    readonly compatibleArchitectures: readonly Architecture[];
    /** At most 256 characters; carries the lock hash. */
    readonly description: string;
    /** At most 512 characters. */
    readonly licenseInfo: string;
  }): Promise<PublishedLayerVersion>;
  /** Lets an account (`123456789012`) or, with `organizationId`, every account of an organization use a version. */
  addPermission(request: {
    readonly layerName: string;
    readonly version: number;
    readonly statementId: string;
    readonly principal: string;
    readonly organizationId: string | null;
  }): Promise<void>;
  /**
   * Points a function at new layer versions: its layers named exactly one of `replaceNames`
   * are replaced, its other layers (another set's too) are kept in front of them.
   */
  updateFunctionLayers(request: {
    readonly functionName: string;
    readonly layerVersionArns: readonly string[];
    readonly replaceNames: readonly string[];
  }): Promise<{ readonly layers: readonly string[] }>;
  /** Every version of a layer name that still exists (deleted ones are not listed), in any order. */
  listLayerVersions?(
    layerName: string,
  ): Promise<readonly { readonly version: number; readonly layerVersionArn: string }[]>;
  /** Deletes one version; functions that use it keep working, but no new one can add it. */
  deleteLayerVersion?(request: { readonly layerName: string; readonly version: number }): Promise<void>;
  /** The layer version ARNs a function lists now. */
  getFunctionLayers?(functionName: string): Promise<readonly string[]>;
  /** How many bytes a version's zip unpacks to (the twin's 250 MB check); null when it is gone. */
  unzippedBytes?(layerVersionArn: string): Promise<number | null>;
  /** How many bytes a function's own code unpacks to (part of the same 250 MB). */
  functionCodeBytes?(functionName: string): Promise<number>;
  /** One version and its description (the content hash lives there); null when it is gone. */
  getLayerVersion?(
    layerVersionArn: string,
  ): Promise<(PublishedLayerVersion & { readonly description: string }) | null>;
}

/** SSM Parameter Store in AWS; a JSON file locally. */
export interface ParameterStore {
  put(name: string, value: string, description: string): Promise<void>;
  /** The value, or null when there is no such parameter. */
  get?(name: string): Promise<string | null>;
}

export type DependencySetEventType = 'Dependency Set Ready' | 'Dependency Set Failed';

/** EventBridge in AWS (source `lambda-deps`); lines in a JSON Lines file locally. */
export interface EventBus {
  putEvent(detailType: DependencySetEventType, detail: Readonly<Record<string, unknown>>): Promise<void>;
}

/** What a function must mount to read the EFS tree. */
export interface FileSystemMount {
  readonly fileSystemId: string | null;
  readonly accessPointArn: string | null;
  /** Where the sync function has the access point mounted (`/mnt/deps`), or the local folder. */
  readonly mountPath: string;
  /** Mount targets (one per AZ) the function's VPC subnets must reach on NFS (2049). */
  readonly mountTargets: readonly {
    readonly mountTargetId: string;
    readonly subnetId: string;
    readonly availabilityZone: string | null;
    readonly ipAddress: string | null;
    readonly state: string;
  }[];
}

/** An EFS access point mounted under `/mnt/…` in AWS; a folder locally. */
export interface FileSystemTree {
  /** Where the tree is mounted in this process. */
  readonly mountRoot: string;
  describe(): Promise<FileSystemMount>;
}

/** Where and how to push an image: a registry (with credentials) or an OCI layout folder. */
export type ImageDestination =
  | {
      readonly kind: 'registry';
      /** `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com` or `http://127.0.0.1:5000` */
      readonly registryUrl: string;
      readonly repository: string;
      readonly tag: string;
      readonly credentials:
        | { readonly kind: 'basic'; readonly username: string; readonly password: string }
        | { readonly kind: 'anonymous' };
    }
  | { readonly kind: 'layout'; readonly layoutDir: string; readonly tag: string };

/** ECR in AWS (GetAuthorizationToken); a registry URL or an OCI layout folder locally. */
export interface ImageRegistry {
  destination(tag: string): Promise<ImageDestination>;
  /**
   * Stores an OCI layout under `tag` (a `layout` destination): one single-architecture image,
   * and an immutable tag (the same digest again is accepted, another is refused).
   */
  putLayout?(
    tag: string,
    layoutDir: string,
  ): Promise<{ readonly layoutDir: string; readonly digest: string }>;
}

/** A build as the build service reports it: where it failed and where its log is. */
export interface BuildDetails {
  readonly buildId: string;
  readonly status: string;
  readonly failedPhase: { readonly name: string; readonly status: string; readonly message: string } | null;
  readonly phases: readonly {
    readonly name: string;
    readonly status: string;
    readonly durationSeconds: number | null;
  }[];
  /** The CloudWatch Logs console link of the build's log stream. */
  readonly logLink: string | null;
}

/** CodeBuild in AWS (BatchGetBuilds); absent locally, where the runner's result says it all. */
export interface BuildService {
  describeBuild(buildId: string): Promise<BuildDetails | null>;
}

/** Everything a pipeline step may touch outside the process. */
export interface PipelineAdapters {
  /** Runs the probe on the target with the artifact attached, before the set is switched in. */
  readonly probe: ProbeRunner;
  readonly store: LeasingObjectStore;
  readonly layers: LayerRegistry;
  readonly parameters: ParameterStore;
  readonly events: EventBus;
  readonly fileSystem: FileSystemTree;
  readonly images: ImageRegistry;
  /** Only the failure report reads builds. */
  readonly builds?: BuildService;
}
