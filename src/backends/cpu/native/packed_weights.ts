/**
 * Prepacked weights for the native encoder layer, cached per tensor. The key
 * is the tensor's dataId: tfjs never changes the data behind a dataId (a
 * Variable's assign gives it a new one), so a cached pack can never be stale,
 * and when the tensor is disposed its dataId, and with it the pack, becomes
 * garbage (the native copy is freed by the handle's finalizer).
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {CpuBackend, floatValues} from '../cpu_backend';
import {NativeCore} from './addon';
import type {PackedWeight} from './api';

const packs = new WeakMap<object, PackedWeight>();

export function packedWeight(core: NativeCore, backend: CpuBackend, info: TensorInfo): PackedWeight {
  const key = info.dataId as object;
  let handle = packs.get(key);
  if (handle === undefined) {
    handle = core.packWeight(floatValues(backend, info), info.shape[0], info.shape[1]);
    packs.set(key, handle);
  }
  return handle;
}
