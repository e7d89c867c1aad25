// Measure: the first pipeline step; resolves the set, sizes it and says which route it takes.
export * from './measure.ts';
