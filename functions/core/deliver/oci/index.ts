// OCI images: the dependency image layout, pushing it over a base image to a registry (ECR),
// the probe image, the registry client and base-image checks (glibc).
export * from './base-image.ts';
export * from './image-layout.ts';
export * from './probe-image.ts';
export * from './push-image.ts';
export * from './registry-client.ts';
