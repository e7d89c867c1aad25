// Sdists: building what pip would build from an sdist, kept only when it runs on the target.
export * from './build-system.ts';
export * from './built-wheel-check.ts';
export * from './sdist-builder.ts';
export * from './sdist-metadata.ts';
export * from './sdist-prepare-metadata.ts';
