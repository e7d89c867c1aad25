// Inputs: reading what the user gave (requirements files, pyproject.toml, pip's configuration, PEP 508 requirements and markers).
export * from './pep508.ts';
export * from './pip-config.ts';
export * from './pyproject.ts';
export * from './requirements-file.ts';
export * from './requirements-bundle.ts';
