/**
 * The 'MultiHeadAttention' entry of tfjs' class registry: a small loader
 * (register_layers.ts) until the real layer class (multi_head_attention.ts)
 * is loaded and takes its place, never another package's class. Both sides
 * use this module, so neither imports the other.
 */
import * as tf from '@tensorflow/tfjs-core';

export const LAYER_CLASS_NAME = 'MultiHeadAttention';

let loader: unknown = null;

export function registeredLayerClass(): unknown {
  return tf.serialization.SerializationMap.getMap().classNameMap[LAYER_CLASS_NAME]?.[0];
}

/** Registers the loader unless another class holds the name. */
export function registerLayerLoader(cls: unknown): void {
  loader = cls;
  if (registeredLayerClass() == null) tf.serialization.registerClass(cls as never);
}

/** Called when the real class is loaded: it replaces the loader (never another class). */
export function registerLoadedLayerClass(cls: unknown): void {
  const current = registeredLayerClass();
  if (current == null || current === loader) tf.serialization.registerClass(cls as never);
}
