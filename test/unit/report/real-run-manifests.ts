// Manifests of real local runs (`lambda-deps build examples/web-api/requirements.txt --runtime python3.11`,
// once per route), typed by the real BuildManifest so a change of the contract breaks the report tests.
// Only the out folder was renamed to /home/dev/app/out.
import type { BuildManifest } from '../../../functions/core/shared/types.ts';

export const layersManifest: BuildManifest = {
  lockHash: '1be4f40a62ef58208a93874ed668a4e97c2846b06335fcdedbc52c46883a5c10',
  lock: {
    lockVersion: 1,
    target: {
      runtime: 'python3.11',
      pythonVersion: '3.11',
      glibc: '2.26',
      architecture: 'x86_64',
      os: 'Amazon Linux 2',
    },
    packages: [
      {
        name: 'annotated-types',
        version: '0.8.0',
        filename: 'annotated_types-0.8.0-py3-none-any.whl',
        url: 'file:///opt/pypi/files/annotated_types-0.8.0-py3-none-any.whl',
        sha256: 'f072f4d804ea359e4eaf198b1af7a8b0943881a87f31bb764f8bf219bb9419e0',
        size: 13427,
        unzippedSize: 36347,
        tag: 'py3-none-any',
        requiredBy: ['pydantic'],
      },
      {
        name: 'certifi',
        version: '2026.7.22',
        filename: 'certifi-2026.7.22-py3-none-any.whl',
        url: 'file:///opt/pypi/files/certifi-2026.7.22-py3-none-any.whl',
        sha256: '62f22742b58a1a33014a2b6b706588a8d7e2a88ae7bd1a6ebe8c992928483775',
        size: 136983,
        unzippedSize: 248921,
        tag: 'py3-none-any',
        requiredBy: ['requests'],
      },
      {
        name: 'charset-normalizer',
        version: '3.5.2',
        filename:
          'charset_normalizer-3.5.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
        url: 'file:///opt/pypi/files/charset_normalizer-3.5.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl',
        sha256: '211d5a3eb6af8f513b8d4ca19a8c1b7accab1b5f0d3175f9826b03c1a920dc1f',
        size: 269972,
        unzippedSize: 782449,
        tag: 'cp311-cp311-manylinux_2_17_x86_64',
        requiredBy: ['requests'],
      },
      {
        name: 'idna',
        version: '3.20',
        filename: 'idna-3.20-py3-none-any.whl',
        url: 'file:///opt/pypi/files/idna-3.20-py3-none-any.whl',
        sha256: 'ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c',
        size: 69583,
        unzippedSize: 342091,
        tag: 'py3-none-any',
        requiredBy: ['requests'],
      },
      {
        name: 'orjson',
        version: '3.12.0',
        filename: 'orjson-3.12.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
        url: 'file:///opt/pypi/files/orjson-3.12.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
        sha256: '9caf3d09f47c3c70c4451ada20ef9bc4a4cdffa26f49862cf0a253b329aae2d5',
        size: 131285,
        unzippedSize: 341018,
        tag: 'cp311-cp311-manylinux_2_17_x86_64',
        requiredBy: ['<requirements>'],
      },
      {
        name: 'pydantic',
        version: '2.13.5',
        filename: 'pydantic-2.13.5-py3-none-any.whl',
        url: 'file:///opt/pypi/files/pydantic-2.13.5-py3-none-any.whl',
        sha256: '346a034f080da3755d8e9cb5e00e8b07de1d39e4f6e2c87d8ab7cafa0b269a73',
        size: 472589,
        unzippedSize: 1893945,
        tag: 'py3-none-any',
        requiredBy: ['<requirements>'],
      },
      {
        name: 'pydantic-core',
        version: '2.46.5',
        filename: 'pydantic_core-2.46.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
        url: 'file:///opt/pypi/files/pydantic_core-2.46.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
        sha256: '49776eab08766a08dfff7012f8b422dcd7e25e43b316eedf0477c24fcfa84b7c',
        size: 2062091,
        unzippedSize: 5012132,
        tag: 'cp311-cp311-manylinux_2_17_x86_64',
        requiredBy: ['pydantic'],
      },
      {
        name: 'requests',
        version: '2.34.2',
        filename: 'requests-2.34.2-py3-none-any.whl',
        url: 'file:///opt/pypi/files/requests-2.34.2-py3-none-any.whl',
        sha256: '2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0',
        size: 73075,
        unzippedSize: 234397,
        tag: 'py3-none-any',
        requiredBy: ['<requirements>'],
      },
      {
        name: 'typing-extensions',
        version: '4.16.0',
        filename: 'typing_extensions-4.16.0-py3-none-any.whl',
        url: 'file:///opt/pypi/files/typing_extensions-4.16.0-py3-none-any.whl',
        sha256: '481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8',
        size: 45571,
        unzippedSize: 182767,
        tag: 'py3-none-any',
        requiredBy: ['pydantic', 'pydantic-core', 'typing-inspection'],
      },
      {
        name: 'typing-inspection',
        version: '0.4.4',
        filename: 'typing_inspection-0.4.4-py3-none-any.whl',
        url: 'file:///opt/pypi/files/typing_inspection-0.4.4-py3-none-any.whl',
        sha256: '65b8397ba37ccbce054456aaccddfc91e6e3083c92824df348d96ca832f3f147',
        size: 14750,
        unzippedSize: 54538,
        tag: 'py3-none-any',
        requiredBy: ['pydantic'],
      },
      {
        name: 'urllib3',
        version: '2.8.0',
        filename: 'urllib3-2.8.0-py3-none-any.whl',
        url: 'file:///opt/pypi/files/urllib3-2.8.0-py3-none-any.whl',
        sha256: '0cf3cae568d36aa9576b28dfb35f11328f1cb974ca7647d9475ebb86c75ac6e3',
        size: 135717,
        unzippedSize: 450461,
        tag: 'py3-none-any',
        requiredBy: ['requests'],
      },
    ],
  },
  target: {
    runtime: 'python3.11',
    pythonVersion: '3.11',
    glibc: '2.26',
    architecture: 'x86_64',
    os: 'Amazon Linux 2',
  },
  strategy: 'layers',
  reason: '9.1 MiB unzipped after slimming fits the 245 MiB budget in 2 of 4 free layers',
  sizes: {
    wheels: 3425043,
    installed: 9579546,
    slimmed: 9522543,
  },
  slimming: {
    removedFiles: 16,
    removedBytes: 57003,
    rules: [
      {
        rule: 'test-suites',
        files: 2,
        bytes: 467,
      },
      {
        rule: 'type-stubs',
        files: 14,
        bytes: 56536,
      },
    ],
  },
  layers: [
    {
      id: 'shared-1',
      file: 'layers/layer-shared-1.zip',
      sha256: 'e58d6e1d8f5aa0a2934a788acddc7f94ace2ca6fbae8b90c756b31c2507eab8a',
      size: 3198200,
      unzippedSize: 9003414,
      packages: [
        'charset-normalizer',
        'idna',
        'orjson',
        'pydantic',
        'pydantic-core',
        'typing-extensions',
        'typing-inspection',
        'urllib3',
      ],
    },
    {
      id: 'shared-2',
      file: 'layers/layer-shared-2.zip',
      sha256: 'ae9eafd8c8d6829fdb024dbd86e69be9290ca670dab1a12cc1e09d6b94c10717',
      size: 225012,
      unzippedSize: 519129,
      packages: ['annotated-types', 'certifi', 'requests'],
    },
  ],
  efs: null,
  image: null,
  verification: {
    ok: true,
    problems: [],
  },
  smokeImport: {
    ran: true,
    ok: true,
    modules: 11,
    failures: [],
  },
  timings: {
    download: 162,
    install: 295,
    pack: 57,
    verify: 127,
    smokeImport: 1221,
    total: 1809,
  },
  packages: [
    {
      name: 'annotated-types',
      version: '0.8.0',
      installedBytes: 36377,
      slimmedBytes: 36377,
      folders: [
        {
          path: 'annotated_types',
          bytes: 19583,
        },
        {
          path: 'annotated_types-0.8.0.dist-info',
          bytes: 15711,
        },
        {
          path: 'annotated_types-0.8.0.dist-info/licenses',
          bytes: 1083,
        },
      ],
      layer: 'layers/layer-shared-2.zip',
    },
    {
      name: 'certifi',
      version: '2026.7.22',
      installedBytes: 248791,
      slimmedBytes: 248324,
      folders: [
        {
          path: 'certifi',
          bytes: 243947,
        },
        {
          path: 'certifi-2026.7.22.dist-info',
          bytes: 3388,
        },
        {
          path: 'certifi-2026.7.22.dist-info/licenses',
          bytes: 989,
        },
      ],
      layer: 'layers/layer-shared-2.zip',
    },
    {
      name: 'charset-normalizer',
      version: '3.5.2',
      installedBytes: 782772,
      slimmedBytes: 782772,
      folders: [
        {
          path: 'charset_normalizer',
          bytes: 720709,
        },
        {
          path: 'charset_normalizer-3.5.2.dist-info',
          bytes: 48666,
        },
        {
          path: 'charset_normalizer/cli',
          bytes: 12085,
        },
        {
          path: 'charset_normalizer-3.5.2.dist-info/licenses',
          bytes: 1071,
        },
        {
          path: 'bin',
          bytes: 241,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'idna',
      version: '3.20',
      installedBytes: 342386,
      slimmedBytes: 342386,
      folders: [
        {
          path: 'idna',
          bytes: 332039,
        },
        {
          path: 'idna-3.20.dist-info',
          bytes: 8591,
        },
        {
          path: 'idna-3.20.dist-info/licenses',
          bytes: 1541,
        },
        {
          path: 'bin',
          bytes: 215,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'orjson',
      version: '3.12.0',
      installedBytes: 340974,
      slimmedBytes: 340098,
      folders: [
        {
          path: 'orjson',
          bytes: 242293,
        },
        {
          path: 'orjson-3.12.0.dist-info',
          bytes: 43042,
        },
        {
          path: 'orjson-3.12.0.dist-info/licenses',
          bytes: 28597,
        },
        {
          path: 'orjson-3.12.0.dist-info/sboms',
          bytes: 26166,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'pydantic',
      version: '2.13.5',
      installedBytes: 1893902,
      slimmedBytes: 1893902,
      folders: [
        {
          path: 'pydantic',
          bytes: 740334,
        },
        {
          path: 'pydantic/_internal',
          bytes: 481450,
        },
        {
          path: 'pydantic/v1',
          bytes: 468109,
        },
        {
          path: 'pydantic-2.13.5.dist-info',
          bytes: 119561,
        },
        {
          path: 'pydantic/deprecated',
          bytes: 41905,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'pydantic-core',
      version: '2.46.5',
      installedBytes: 5012073,
      slimmedBytes: 4966141,
      folders: [
        {
          path: 'pydantic_core',
          bytes: 4832113,
        },
        {
          path: 'pydantic_core-2.46.5.dist-info/sboms',
          bytes: 125376,
        },
        {
          path: 'pydantic_core-2.46.5.dist-info',
          bytes: 7572,
        },
        {
          path: 'pydantic_core-2.46.5.dist-info/licenses',
          bytes: 1080,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'requests',
      version: '2.34.2',
      installedBytes: 234428,
      slimmedBytes: 234428,
      folders: [
        {
          path: 'requests',
          bytes: 217284,
        },
        {
          path: 'requests-2.34.2.dist-info/licenses',
          bytes: 10180,
        },
        {
          path: 'requests-2.34.2.dist-info',
          bytes: 6964,
        },
      ],
      layer: 'layers/layer-shared-2.zip',
    },
    {
      name: 'typing-extensions',
      version: '4.16.0',
      installedBytes: 182878,
      slimmedBytes: 182878,
      folders: [
        {
          path: 'typing_extensions-4.16.0.dist-info/licenses',
          bytes: 13936,
        },
        {
          path: 'typing_extensions-4.16.0.dist-info',
          bytes: 3930,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'typing-inspection',
      version: '0.4.4',
      installedBytes: 54475,
      slimmedBytes: 44840,
      folders: [
        {
          path: 'typing_inspection',
          bytes: 40388,
        },
        {
          path: 'typing_inspection-0.4.4.dist-info',
          bytes: 3362,
        },
        {
          path: 'typing_inspection-0.4.4.dist-info/licenses',
          bytes: 1090,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
    {
      name: 'urllib3',
      version: '2.8.0',
      installedBytes: 450490,
      slimmedBytes: 450397,
      folders: [
        {
          path: 'urllib3',
          bytes: 236620,
        },
        {
          path: 'urllib3/util',
          bytes: 108022,
        },
        {
          path: 'urllib3/contrib',
          bytes: 76338,
        },
        {
          path: 'urllib3/http2',
          bytes: 17368,
        },
        {
          path: 'urllib3-2.8.0.dist-info',
          bytes: 10956,
        },
      ],
      layer: 'layers/layer-shared-1.zip',
    },
  ],
  warnings: [
    '440 KiB of this set is what the Lambda runtime already provides (boto3 and its dependencies); --exclude-runtime-provided would leave it out.',
  ],
};

export const layersDelivery = {
  strategy: 'layers',
  layers: [
    {
      layerName: 'lambda-deps-web-api-shared-1',
      version: 1,
      layerVersionArn: 'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-api-shared-1:1',
      file: 'layers/layer-shared-1.zip',
    },
    {
      layerName: 'lambda-deps-web-api-shared-2',
      version: 1,
      layerVersionArn: 'arn:aws:lambda:local:000000000000:layer:lambda-deps-web-api-shared-2:1',
      file: 'layers/layer-shared-2.zip',
    },
  ],
  parameters: ['/lambda-deps/web-api/layers'],
  updatedFunctions: [],
  reused: false,
};

export const efsSection: Pick<BuildManifest, 'strategy' | 'reason' | 'efs' | 'layers'> = {
  strategy: 'efs',
  reason: 'strategy efs was asked for; the set is 9.1 MiB unzipped after slimming',
  efs: {
    tree: 'efs/site-packages.tar',
    pythonPath: 'site-packages',
  },
  layers: [],
};

export const efsDelivery = {
  strategy: 'efs',
  versionDir:
    '/home/dev/app/out/efs/web-api/1be4f40a62ef58208a93874ed668a4e97c2846b06335fcdedbc52c46883a5c10',
  currentPath: '/home/dev/app/out/efs/web-api/current',
  pythonPath: '/mnt/deps/web-api/current/site-packages',
  importPath: '/home/dev/app/out/efs/web-api/current/site-packages',
  reused: false,
  removedVersions: [],
  mount: {
    fileSystemId: null,
    accessPointArn: null,
    mountPath: '/home/dev/app/out/efs',
    mountTargets: [],
  },
};

export const imageSection: Pick<BuildManifest, 'strategy' | 'reason' | 'image' | 'layers'> = {
  strategy: 'image',
  reason: 'strategy image was asked for; the set is 9.1 MiB unzipped after slimming',
  image: {
    layout: 'image',
    digest: 'sha256:05310b096647e2ca25ac87b3fd568247a4556d50456dd1b1939f185f369de54f',
  },
  layers: [],
};

export const imageDelivery = {
  strategy: 'image',
  imageUri: 'oci:/home/dev/app/out/images/web-api-1be4f40a62ef',
  digest: 'sha256:05310b096647e2ca25ac87b3fd568247a4556d50456dd1b1939f185f369de54f',
  tag: 'web-api-1be4f40a62ef',
  uploadedBlobs: 0,
  skippedBlobs: 0,
};

export const executionRecord = {
  name: 'local-20261201090237-e456057f',
  status: 'SUCCEEDED',
  startedAt: '2026-12-01T09:02:37.778Z',
  durationMs: 5377,
  states: [
    {
      name: 'NormalizeInput',
      type: 'Choice',
      status: 'succeeded',
      durationMs: 1,
      startedAtMs: 1,
      retries: 0,
    },
    {
      name: 'FromConsole',
      type: 'Pass',
      status: 'succeeded',
      durationMs: 1,
      startedAtMs: 2,
      retries: 0,
    },
    {
      name: 'Measure',
      type: 'Task',
      status: 'succeeded',
      durationMs: 87,
      startedAtMs: 3,
      retries: 0,
    },
    {
      name: 'IsCached',
      type: 'Choice',
      status: 'succeeded',
      durationMs: 0,
      startedAtMs: 90,
      retries: 0,
    },
    {
      name: 'Build',
      type: 'Task',
      status: 'succeeded',
      durationMs: 5259,
      startedAtMs: 90,
      retries: 0,
    },
    {
      name: 'ReadBuildManifest',
      type: 'Task',
      status: 'succeeded',
      durationMs: 4,
      startedAtMs: 5349,
      retries: 0,
    },
    {
      name: 'Route',
      type: 'Choice',
      status: 'succeeded',
      durationMs: 0,
      startedAtMs: 5354,
      retries: 0,
    },
    {
      name: 'PublishLayers',
      type: 'Task',
      status: 'succeeded',
      durationMs: 14,
      startedAtMs: 5354,
      retries: 0,
    },
    {
      name: 'Report',
      type: 'Task',
      status: 'succeeded',
      durationMs: 7,
      startedAtMs: 5369,
      retries: 0,
    },
    {
      name: 'Done',
      type: 'Succeed',
      status: 'succeeded',
      durationMs: 1,
      startedAtMs: 5376,
      retries: 0,
    },
  ],
};

export const measureFailure = {
  status: 'FAILED',
  reason:
    'Measure failed. InputError: /tmp/lambda-deps-measure-GYMvsd/bad.txt:2:9: Expected a version after "===" in requirement "numpy==="\n  hint: Write version specifiers as PEP 440 clauses separated by commas, e.g. "requests>=2.31,<3" or "numpy==1.26.*".',
  errorType: 'InputError',
  packageName: null,
  failedStep: 'Measure',
  name: 'bad',
  lockHash: null,
  executionName: 'local-20261201090326-e4fccf1d',
  published: [],
  reportKey: 'reports/local-20261201090326-e4fccf1d.json',
  execution: {
    name: 'local-20261201090326-e4fccf1d',
    status: 'FAILED',
    startedAt: '2026-12-01T09:03:26.629Z',
    durationMs: 25,
    states: [
      {
        name: 'NormalizeInput',
        type: 'Choice',
        status: 'succeeded',
        durationMs: 3,
        startedAtMs: 1,
        retries: 0,
      },
      {
        name: 'FromConsole',
        type: 'Pass',
        status: 'succeeded',
        durationMs: 1,
        startedAtMs: 4,
        retries: 0,
      },
      {
        name: 'Measure',
        type: 'Task',
        status: 'caught',
        durationMs: 14,
        startedAtMs: 5,
        retries: 0,
      },
      {
        name: 'ReportFailure',
        type: 'Task',
        status: 'succeeded',
        durationMs: 5,
        startedAtMs: 19,
        retries: 0,
      },
      {
        name: 'Failed',
        type: 'Fail',
        status: 'failed',
        durationMs: 1,
        startedAtMs: 24,
        retries: 0,
      },
    ],
  },
};
