/**
 * Initializers, regularizers and constraints of a layer config, resolved the
 * way tfjs-layers resolves them for its own layers. tfjs-layers keeps its
 * resolvers (getInitializer & co.) out of its public exports, but every
 * built-in layer runs them on its constructor arguments; a Dense layer that is
 * never built or applied takes the same identifiers (strings, `{className,
 * config}` objects or instances) and exposes what they resolved to.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type {serialization} from '@tensorflow/tfjs-core';

/** An initializer, regularizer or constraint instance. */
export interface KerasObject {
  getClassName(): string;
  getConfig(): serialization.ConfigDict;
}

export type KerasObjectIdentifier = string | serialization.ConfigDict | KerasObject | null | undefined;

/** The resolved objects; also what tfjs-layers' Dense keeps in fields its typings mark private. */
export interface KernelAndBiasObjects {
  kernelInitializer: KerasObject;
  biasInitializer: KerasObject;
  kernelRegularizer: KerasObject | null;
  biasRegularizer: KerasObject | null;
  kernelConstraint: KerasObject | null;
  biasConstraint: KerasObject | null;
}

export function resolveKernelAndBiasObjects(args: {
  kernelInitializer?: KerasObjectIdentifier; biasInitializer?: KerasObjectIdentifier;
  kernelRegularizer?: KerasObjectIdentifier; biasRegularizer?: KerasObjectIdentifier;
  kernelConstraint?: KerasObjectIdentifier; biasConstraint?: KerasObjectIdentifier;
}): KernelAndBiasObjects {
  const denseArgs = {
    units: 1,
    kernelInitializer: args.kernelInitializer ?? 'glorotUniform',
    biasInitializer: args.biasInitializer ?? 'zeros',
    kernelRegularizer: args.kernelRegularizer ?? undefined,
    biasRegularizer: args.biasRegularizer ?? undefined,
    kernelConstraint: args.kernelConstraint ?? undefined,
    biasConstraint: args.biasConstraint ?? undefined,
  };
  const dense = tfl.layers.dense(denseArgs as unknown as Parameters<typeof tfl.layers.dense>[0]) as unknown as
      KernelAndBiasObjects;
  return {
    kernelInitializer: dense.kernelInitializer,
    biasInitializer: dense.biasInitializer,
    kernelRegularizer: dense.kernelRegularizer ?? null,
    biasRegularizer: dense.biasRegularizer ?? null,
    kernelConstraint: dense.kernelConstraint ?? null,
    biasConstraint: dense.biasConstraint ?? null,
  };
}

/** The `{className, config}` form tfjs-layers writes into a model's JSON. */
export function serializeKerasObject(object: KerasObject | null): serialization.ConfigDict | null {
  if (object == null) return null;
  return {className: object.getClassName(), config: object.getConfig()};
}
