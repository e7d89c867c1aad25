// Index: talking to package indexes (PEP 503/691 pages, PEP 658 metadata, wheel central directories
// by HTTP Range), with credentials (URL, netrc, provider) and bounds on every request.
export * from './core-metadata.ts';
export * from './credentials.ts';
export * from './index-client.ts';
export * from './locations.ts';
export * from './netrc.ts';
export * from './simple-pages.ts';
export * from './wheel-filename.ts';
export * from './zip-directory.ts';
