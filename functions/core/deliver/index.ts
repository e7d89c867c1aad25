// Deliver: putting packed artifacts where Lambda reads them (layer versions, the EFS tree, OCI images).
export * from './efs-tree.ts';
export * from './layer-delivery.ts';
export * from './layers.ts';
export * from './oci/index.ts';
