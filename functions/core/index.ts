// The core API of the published package (`lambda-deps/core`): every pipeline stage's public
// functions and types in one import. Each stage is also importable alone (`lambda-deps/core/resolve`).
export * from './inputs/index.ts';
export * from './index/index.ts';
export * from './resolve/index.ts';
export * from './measure/index.ts';
export * from './route/index.ts';
export * from './build/index.ts';
export * from './verify/index.ts';
export * from './pack/index.ts';
export * from './deliver/index.ts';
export * from './report/index.ts';
export * from './shared/index.ts';
