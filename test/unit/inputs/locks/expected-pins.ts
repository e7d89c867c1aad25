// The exact pins of each real-shaped lock fixture (test/fixtures/locks/) for python3.11 x86_64,
// shared by the tests that build them in process and through the default (pipeline) path.
export const EXPECTED: Readonly<Record<string, { path: string; groups: string[]; pins: string[] }>> = {
  'uv.lock': {
    path: 'uv/uv.lock',
    groups: [],
    pins: [
      'annotated-doc==0.0.5',
      'annotated-types==0.8.0',
      'anyio==4.15.1',
      'click==8.5.0',
      'fastapi==0.142.2',
      'idna==3.20',
      'opentelemetry-api==1.45.0',
      'pydantic-core==2.46.5',
      'pydantic==2.13.5',
      'starlette==1.7.0',
      'typing-extensions==4.16.0',
      'typing-inspection==0.4.4',
    ],
  },
  'poetry.lock': {
    path: 'poetry/poetry.lock',
    groups: [],
    pins: [
      'boto3==1.43.107',
      'botocore==1.43.107',
      'certifi==2026.7.22',
      'charset-normalizer==3.5.2',
      'idna==3.20',
      'jmespath==1.1.0',
      'python-dateutil==2.9.0.post0',
      'requests==2.34.2',
      's3transfer==0.19.2',
      'six==1.17.0',
      'urllib3==2.8.0',
    ],
  },
  'Pipfile.lock': {
    path: 'pipenv/Pipfile.lock',
    groups: [],
    pins: [
      'boto3==1.43.107',
      'botocore==1.43.107',
      'certifi==2026.7.22',
      'jmespath==1.1.0',
      'python-dateutil==2.9.0.post0',
      'python-dotenv==1.2.4',
      's3transfer==0.19.2',
      'six==1.17.0',
      'urllib3==2.8.0',
    ],
  },
  'pylock.toml': {
    path: 'pylock/pylock.toml',
    groups: [],
    pins: [
      'certifi==2026.7.22',
      'charset-normalizer==3.5.2',
      'idna==3.20',
      'requests==2.34.2',
      'urllib3==2.8.0',
    ],
  },
};

/** What the uv fixture's `dev` group adds to its pins. */
export const UV_DEV_GROUP_PINS: readonly string[] = [
  'iniconfig==2.3.0',
  'packaging==26.3',
  'pluggy==1.6.0',
  'pygments==2.21.0',
  'pytest==9.1.1',
];
