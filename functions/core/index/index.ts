// Index: talking to package indexes (PEP 503/691 pages, PEP 658 metadata, wheel central directories by HTTP Range).
export * from './core-metadata.ts';
export * from './index-client.ts';
export * from './wheel-filename.ts';
export * from './zip-directory.ts';
