// Deliver: putting packed artifacts where Lambda reads them (the EFS tree, OCI images).
export * from './efs-tree.ts';
export * from './oci/image-layout.ts';
export * from './oci/push-image.ts';
export * from './oci/probe-image.ts';
export * from './oci/registry-client.ts';
