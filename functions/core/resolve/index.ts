// Resolve: choosing one file per package for the target (the backtracking resolver) and the lock that records it.
export * from './lock.ts';
export * from './lock-reader.ts';
export * from './resolver.ts';
export * from './format-control.ts';
