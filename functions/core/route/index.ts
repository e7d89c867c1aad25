// Route: the delivery policy, the one rule deciding how a set is delivered (layers, image or EFS) and how it is split into layers.
export * from './delivery-policy.ts';
export * from './choose-route.ts';
export * from './layer-packer.ts';
