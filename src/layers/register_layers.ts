/**
 * Makes `tf.loadLayersModel` able to deserialise Keras' 'MultiHeadAttention',
 * without loading tfjs-layers when the package is imported: the registry entry
 * is a small loader whose `fromConfig` builds the real layer (deserialisation
 * only ever runs inside tfjs-layers, so it is loaded by then). Nothing is
 * registered when a 'MultiHeadAttention' class is already there (tfjs-layers'
 * own ES-module build registers one).
 */
import * as tf from '@tensorflow/tfjs-core';
import {LAYER_CLASS_NAME, registerLayerLoader} from './layer_class_slot';
import type {MultiHeadAttention as MultiHeadAttentionClass} from './multi_head_attention';

function loadLayerClass(): typeof MultiHeadAttentionClass {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('./multi_head_attention') as typeof import('./multi_head_attention')).MultiHeadAttention;
}

/** The registry entry until the real class is loaded. */
class MultiHeadAttentionLoader {
  static className = LAYER_CLASS_NAME;

  static fromConfig(_cls: unknown, config: tf.serialization.ConfigDict): MultiHeadAttentionClass {
    const cls = loadLayerClass();
    return new cls(config as unknown as ConstructorParameters<typeof MultiHeadAttentionClass>[0]);
  }
}

/** Registers 'MultiHeadAttention' for deserialisation unless another class holds the name. */
export function registerLayers(): void {
  registerLayerLoader(MultiHeadAttentionLoader);
}

/**
 * The layer class, loaded on first use: a constructor stand-in that forwards
 * `new`, static members, `instanceof` and subclassing to the real class.
 */
export const MultiHeadAttention: typeof MultiHeadAttentionClass = new Proxy(function MultiHeadAttention() {}, {
  construct: (_target, args, newTarget) => Reflect.construct(loadLayerClass(), args, newTarget),
  get: (_target, property) => Reflect.get(loadLayerClass(), property),
  has: (_target, property) => Reflect.has(loadLayerClass(), property),
  getPrototypeOf: () => Reflect.getPrototypeOf(loadLayerClass()),
}) as unknown as typeof MultiHeadAttentionClass;
export type MultiHeadAttention = MultiHeadAttentionClass;
