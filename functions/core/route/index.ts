// Route: deciding how a set is delivered (layers, image or EFS) and how it is split into layers.
export * from './layer-packer.ts';
