// Pack: deterministic zips and tar archives of the verified tree.
export * from './deterministic-zip.ts';
export * from './tree-archive.ts';
