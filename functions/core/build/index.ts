// Build: installing locked wheels into a tree and slimming it, as the CodeBuild step does.
export * from './build.ts';
export * from './slim-policy.ts';
export * from './wheel-installer.ts';
