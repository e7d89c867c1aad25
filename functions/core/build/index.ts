// Build: installing locked wheels into a tree, slimming and post-processing it, packing it for its route, as the CodeBuild step does.
export * from './build.ts';
export * from './slim-policy.ts';
export * from './wheel-installer.ts';
