// The shared vocabulary of the core: targets, requirements, index files, locks and
// manifests. Pure data; every module and adapter speaks these shapes.

/** A CPU architecture as Lambda names it (`arm64` is the wheel platform `aarch64`). */
export type Architecture = 'x86_64' | 'arm64';

/** One module's import on the target. */
export interface ProbedModule {
  readonly module: string;
  readonly ok: boolean;
  /** The traceback's last line, with its innermost cause, when the import failed. */
  readonly error: string | null;
  readonly ms: number;
  /**
   * Locally: not imported again, because an earlier probe's import of it loaded exactly these
   * files from the same folders and missed nothing there now (core/verify/import-footprints.ts).
   */
  readonly reused?: true;
  /**
   * Locally, with `reused`: the footprint was a build's smoke import's (of files the artifact
   * holds, byte for byte, at the same places), not an earlier probe's.
   */
  readonly reusedFromBuild?: true;
}

/**
 * `manifest.probe`. `ran: false` is never ok: it says why (`reason`), and `--require-probe`
 * turns it into an error.
 */
export interface ProbeResult {
  readonly ran: boolean;
  readonly ok: boolean;
  /** Always "artifact": the probe imports from what ships, never from the build tree. */
  readonly from: 'artifact';
  /** The interpreter's full version (`3.11.14`), when it ran. */
  readonly python: string | null;
  readonly arch: Architecture;
  readonly modules: readonly ProbedModule[];
  /** The whole cold import, all modules in one process, as a cold start would pay it. */
  readonly importMs: number | null;
  /** Why it did not run, or what failed. */
  readonly reason?: string;
  /** Where it ran: on Lambda itself, or in the local twin. */
  readonly where: 'lambda' | 'local';
  /**
   * Locally: when this passed result was the twin's earlier probe of the identical artifact (the
   * same immutable layer versions, EFS version or image layout, modules and interpreter), its time.
   */
  readonly reusedFrom?: string;
  /**
   * Locally, for layers: false when /opt was never written, since footprints stood for every
   * module and each layer zip's sha256 named a kept list of the files it unpacks to
   * (core/pack/kept-layers.ts), against which they were checked.
   */
  readonly unpacked?: false;
  /**
   * Locally, for a build that left out the runtime's own packages: which packages stood in for
   * Lambda's /var/runtime (after the artifact on sys.path), at the lock's versions.
   */
  readonly runtimeStandIn?: {
    readonly packages: readonly { readonly name: string; readonly version: string }[];
    readonly note: string;
  };
  /** Locally: what the cell it ran in kept from the package code (Lambda is its own cell). */
  readonly isolation?: {
    readonly uid: boolean;
    readonly network: boolean;
    readonly filesystem: boolean;
    readonly environment: boolean;
    readonly reason?: string;
  };
}

/** What the dependency set must run on: a CPython version, a glibc ceiling and an arch. */
export interface Target {
  /** Lambda runtime identifier (`python3.11`), or null for a custom target (image on another base). */
  readonly runtime: string | null;
  /** `3.11` */
  readonly pythonVersion: string;
  /** Highest glibc the target has, `2.26`. Wheels tagged manylinux_X_Y with X.Y above it never fit. */
  readonly glibc: string;
  readonly architecture: Architecture;
  /** `Amazon Linux 2`, `Amazon Linux 2023` or `custom` */
  readonly os: string;
  /** The CPython patch level assumed (`3.11.14`) for markers and Requires-Python; recorded in the lock. */
  readonly pythonFullVersion?: string;
}

/** Where something was written by the user, so an error can point at it. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export type MarkerValue =
  { readonly kind: 'variable'; readonly name: string } | { readonly kind: 'literal'; readonly value: string };

/** A parsed PEP 508 environment marker. */
export type Marker =
  | { readonly op: 'and' | 'or'; readonly left: Marker; readonly right: Marker }
  | {
      readonly op: 'compare';
      readonly lhs: MarkerValue;
      readonly comparator: string;
      readonly rhs: MarkerValue;
    };

/** PEP 508 marker variables, as strings, for one target (and optionally one extra). */
export type MarkerEnvironment = Readonly<Record<string, string>>;

/** One PEP 508 requirement, with where it came from. */
export interface Requirement {
  /** PEP 503 normalized name (`scikit-learn`). */
  readonly name: string;
  /** As written (`Scikit_Learn`), for messages. */
  readonly displayName: string;
  /** Normalized extras, sorted. */
  readonly extras: readonly string[];
  /** PEP 440 specifier set as text, `''` for any version. */
  readonly specifier: string;
  readonly marker: Marker | null;
  /** Direct reference (`name @ https://…/x.whl`), or null. */
  readonly url: string | null;
  /** Accepted sha256 digests (hex) from `--hash=sha256:…`; empty when none were given. */
  readonly hashes: readonly string[];
  readonly source: SourceLocation | null;
}

/** Where to look for distributions, after pip's precedence has been applied. */
export interface IndexOptions {
  /** Main index (PEP 503/691 simple root). null when `--no-index`. */
  readonly indexUrl: string | null;
  readonly extraIndexUrls: readonly string[];
  /** `--find-links` folders or pages. */
  readonly findLinks: readonly string[];
  /** Allow pre-releases everywhere (`--pre`). */
  readonly pre: boolean;
}

/** A requirements file (or pyproject.toml) after includes, options and variables are resolved. */
export interface RequirementSet {
  readonly requirements: readonly Requirement[];
  readonly constraints: readonly Requirement[];
  /** Index options that the file itself set (`--index-url` etc.); merged by pip-config precedence. */
  readonly fileIndexOptions: Partial<{
    indexUrl: string;
    extraIndexUrls: string[];
    findLinks: string[];
    noIndex: boolean;
    pre: boolean;
    /** `--only-binary` values in order: `:all:`, `:none:` or normalized names. */
    onlyBinary: string[];
    /** `--no-binary` values in order: `:all:`, `:none:` or normalized names. */
    noBinary: string[];
    preferBinary: boolean;
    /** `--trusted-host` values (hosts allowed over plain http). */
    trustedHosts: string[];
  }>;
  /** Where each index option value (a URL, a find-links entry) was written, for messages. */
  readonly optionSources?: Readonly<Record<string, SourceLocation>>;
  /** True when any requirement carries `--hash`: then every one must be pinned with `==` and hashed. */
  readonly hashCheckingMode: boolean;
  /** Every file read, in order (the top file first). */
  readonly files: readonly string[];
  /** The project's own `requires-python` (pyproject.toml, a lock), checked against the target. */
  readonly projectRequiresPython?: { readonly specifier: string; readonly file: string } | null;
}

/** One file an index offers for a project. */
export interface DistributionFile {
  readonly filename: string;
  /** Absolute URL (`https:`, `http:` or `file:`). */
  readonly url: string;
  readonly sha256: string | null;
  readonly requiresPython: string | null;
  /** false, or the reason given (true when none was). */
  readonly yanked: false | true | string;
  /** Bytes, when the index says (PEP 700). */
  readonly size: number | null;
  /** URL of the PEP 658/714 metadata file, when advertised. */
  readonly metadataUrl: string | null;
  readonly metadataSha256: string | null;
  /** The index or find-links location it came from. */
  readonly source: string;
}

/** The parts of a distribution's core metadata the resolver needs. */
export interface CoreMetadata {
  readonly name: string;
  readonly version: string;
  /** Raw `Requires-Dist` values. */
  readonly requiresDist: readonly string[];
  readonly requiresPython: string | null;
  readonly providesExtra: readonly string[];
}

/** Exact sizes of a wheel: compressed file and the sum of its entries' uncompressed sizes. */
export interface WheelSize {
  readonly size: number;
  readonly unzippedSize: number;
  readonly entryCount: number;
  /** sha256 of the whole file when the index gave none and it was computed (local find-links files). */
  readonly sha256?: string;
}

/** Everything the resolver and measurer ask of the indexes. */
export interface PackageIndex {
  /** All files every configured index and find-links location offers for a (normalized) name. */
  listFiles(name: string): Promise<readonly DistributionFile[]>;
  /** Core metadata, from the PEP 658 file when there is one, else from the wheel's METADATA. */
  fetchMetadata(file: DistributionFile): Promise<CoreMetadata>;
  /** Exact sizes, with Range requests where the server allows them. */
  measureWheel(file: DistributionFile): Promise<WheelSize>;
  /** A local path to the whole file, sha256-verified, from the shared cache. */
  download(file: DistributionFile): Promise<string>;
}

/** One chosen distribution in a lock. */
export interface LockedPackage {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly url: string;
  readonly sha256: string;
  /** Compressed bytes of the wheel. */
  readonly size: number;
  /** Sum of the wheel entries' uncompressed sizes. */
  readonly unzippedSize: number;
  /** The compatible tag that selected this file (`cp311-cp311-manylinux_2_17_x86_64`). */
  readonly tag: string;
  /** Names of the packages (or `<requirements>`) that asked for it, sorted. */
  readonly requiredBy: readonly string[];
}

/** The resolved, exact dependency set for one target. Its sha256 (see lock.ts) is the set's identity. */
export interface Lock {
  readonly lockVersion: 1;
  readonly target: Target;
  /** Sorted by name. */
  readonly packages: readonly LockedPackage[];
  /**
   * The indexes and find-links the set was resolved from (credentials stripped): where an sdist's
   * build requirements come from at build time. Not part of the lock hash.
   */
  readonly buildIndexes?: BuildIndexes;
}

/** Where an sdist's build environment gets its build requirements. */
export interface BuildIndexes {
  readonly indexUrls: readonly string[];
  readonly findLinks: readonly string[];
}

/** Where a dependency set should go. */
export type Strategy = 'layers' | 'image' | 'efs';

/** One problem found that stops publishing, with what to do about it. */
export interface Problem {
  /** The package (distribution name) concerned, when known. */
  readonly package: string | null;
  /** File inside the artifact, or the user's file, when known. */
  readonly file?: string | null;
  readonly message: string;
  readonly hint?: string | null;
}

/** A built layer zip. */
export interface LayerArtifact {
  /** Stable name of the layer across builds (`numpy`, `shared-1`; see layer-packer.ts): publish under it, so an upgrade republishes only the layers that changed. */
  readonly id?: string;
  readonly file: string;
  readonly sha256: string;
  readonly size: number;
  readonly unzippedSize: number;
  readonly packages: readonly string[];
}

/** What `build` writes to `manifest.json`. */
/** A wheel the build made from a locked sdist (functions/core/sdist): its real tags, the glibc it needs. */
export interface BuiltFromSdist {
  readonly name: string;
  readonly sdist: string;
  readonly wheel: string;
  readonly backend: string;
  /** The newest glibc its binaries need (`2.17`); null for a pure wheel. */
  readonly glibcNeeded: string | null;
  /** The build ran in the smoke import's cell (verify/sandbox.ts); false: this machine could not isolate it. */
  readonly sandboxed: boolean;
  /** Where its build requirements came from (credentials stripped). */
  readonly buildIndexes?: BuildIndexes;
}

export interface BuildManifest {
  readonly lockHash: string;
  readonly builtFromSdist?: readonly BuiltFromSdist[];
  /** sha256 of the delivery policy's build fields (route/delivery-policy.ts): with the lock hash, it names the artifacts. */
  readonly policyHash?: string;
  /** The delivery policy the build followed (route/delivery-policy.ts). */
  readonly policy?: Readonly<Record<string, unknown>>;
  /** The route's numbers on the slimmed sizes, as measure reports them on the wheels'. */
  readonly route?: { readonly layerCount: number; readonly slots: number; readonly budgetBytes: number };
  readonly lock: Lock;
  readonly target: Target;
  readonly strategy: Strategy;
  readonly reason: string;
  readonly sizes: { readonly wheels: number; readonly installed: number; readonly slimmed: number };
  readonly slimming: {
    readonly removedFiles: number;
    readonly removedBytes: number;
    readonly rules: readonly { rule: string; files: number; bytes: number }[];
  };
  readonly layers: readonly LayerArtifact[];
  readonly efs: { readonly tree: string; readonly pythonPath: string } | null;
  readonly image: { readonly layout: string; readonly digest: string } | null;
  readonly verification: {
    readonly ok: boolean;
    readonly problems: readonly Problem[];
    /** Regular files the verifier read (the report's "what was checked"). */
    readonly filesChecked?: number;
    /** ELF files among them. */
    readonly elfFiles?: number;
    /** Versioned symbol needs (GLIBC_2.17, GLIBCXX_3.4.21, …) compared with the target's ceilings. */
    readonly symbolVersionsChecked?: number;
  };
  readonly smokeImport: {
    readonly ran: boolean;
    readonly ok: boolean;
    readonly reason?: string;
    readonly modules: number;
    /** Of them, passed imports an earlier build stands for: every file they loaded is unchanged (core/verify/import-footprints.ts). */
    readonly reused?: number;
    /** The modules imported: the list the Probe imports again from what ships. */
    readonly moduleNames?: readonly string[];
    readonly failures: readonly { module: string; package: string; error: string }[];
    /** What kept package code from the runner's secrets, network and folders; a false is a missing protection. */
    readonly isolation?: {
      readonly uid: boolean;
      readonly network: boolean;
      readonly filesystem: boolean;
      readonly environment: boolean;
      readonly reason?: string;
    };
  };
  /** The Probe: the set imported from what ships, on the target's runtime (see core/probe). */
  readonly probe?: ProbeResult;
  readonly timings: Readonly<Record<string, number>>;
  /** Per-package sizes and layer assignment (for the report). */
  readonly packages?: readonly PackageBreakdown[];
  /** Things a person should know that did not stop the build (sdists built locally, overlapping files, bytes the runtime already provides). */
  readonly warnings?: readonly string[];
  /** States a pipeline run passed through, in order, with durations (pipeline runs only). */
  readonly execution?: {
    readonly name: string;
    readonly states: readonly { name: string; durationMs: number }[];
  } | null;
}

/** The Lambda size budget: 250 MB unzipped for function code plus all layers. */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000;
/** At most 5 layers per function. */
export const LAMBDA_MAX_LAYERS = 5;
/** Container images: 10 GB uncompressed. */
export const LAMBDA_IMAGE_LIMIT_BYTES = 10 * 1024 ** 3;

/** The route a measured set takes, and why, with the numbers. */
export interface Verdict {
  readonly strategy: Strategy;
  /** Human sentence with the figures (`214 MB fits in 2 layers; 36 MB kept for function code`). */
  readonly reason: string;
  /** Layers needed when strategy is `layers`, else 0. */
  readonly layerCount: number;
  /** Bytes available to the dependencies after reserves. */
  readonly budgetBytes: number;
  /** Layer slots the dependencies may use (5 − existing layers − those kept free, at least 1 when any is free). */
  readonly slots?: number;
  /** Names of the packages that dominate the size, biggest first (at most 5). */
  readonly dominantPackages: readonly string[];
}

/** One package as `measure` reports it. */
export interface MeasuredPackage {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly tag: string;
  readonly size: number;
  readonly unzippedSize: number;
}

/** What `measure` returns (and prints with --json). */
export interface MeasureResult {
  readonly target: Target;
  readonly lockHash: string | null;
  readonly packages: readonly MeasuredPackage[];
  readonly totals: { readonly size: number; readonly unzippedSize: number };
  readonly verdict: Verdict | null;
  readonly problems: readonly { readonly package: string; readonly message: string }[];
  /** Things a person should know that did not stop the run (e.g. an index host that does not exist was left out). */
  readonly warnings?: readonly string[];
}

/** Per-package bytes in a build, for the size report's treemap. */
export interface PackageBreakdown {
  readonly name: string;
  readonly version: string;
  readonly installedBytes: number;
  readonly slimmedBytes: number;
  /** The biggest folders inside the package (relative to site-packages), biggest first. */
  readonly folders: readonly { readonly path: string; readonly bytes: number }[];
  /** Layer file it went to, when the route is `layers`. */
  readonly layer: string | null;
}
