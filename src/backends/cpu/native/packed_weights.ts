/**
 * Prepacked weights for the native encoder layer, cached per tensor. The key
 * is the tensor's dataId: tfjs never changes the data behind a dataId (a
 * Variable's assign gives it a new one), so a cached pack can never be stale.
 *
 * A pack is released when its tensor's data is freed: the backend's
 * disposeData is wrapped (once per backend) to release the pack of a dataId
 * it frees. Leaving it to the handle's garbage-collector finalizer is not
 * enough: Node runs those finalizers only when the event loop turns, so a
 * synchronous loop that replaces weights every call (training, reloading)
 * would keep every pack alive until it yields.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {CpuBackend, floatValues} from '../cpu_backend';
import {NativeCore} from './addon';
import type {PackedWeight} from './api';

const packs = new WeakMap<object, PackedWeight>();
const watchedBackends = new WeakSet<object>();

/** The members of MathBackendCPU the release on dispose needs (tfjs-backend-cpu 4.x). */
interface DisposingBackend {
  disposeData?: (dataId: object, force?: boolean) => boolean;
  data: {has?(dataId: object): boolean};
}

function releasePacksOnDispose(core: NativeCore, backend: CpuBackend): void {
  if (watchedBackends.has(backend)) return;
  watchedBackends.add(backend);
  const target = backend as unknown as DisposingBackend;
  const dispose = target.disposeData;
  if (typeof dispose !== 'function' || typeof target.data.has !== 'function') return;
  target.disposeData = function(this: unknown, dataId: object, force?: boolean): boolean {
    const result = dispose.call(this, dataId, force);
    const handle = packs.get(dataId);
    // Only once the data is gone (a dataId shared by several tensors outlives the first dispose).
    if (handle !== undefined && !target.data.has?.(dataId)) {
      packs.delete(dataId);
      core.releaseWeight(handle);
    }
    return result;
  };
}

export function packedWeight(core: NativeCore, backend: CpuBackend, info: TensorInfo): PackedWeight {
  const key = info.dataId as object;
  let handle = packs.get(key);
  if (handle === undefined) {
    releasePacksOnDispose(core, backend);
    handle = core.packWeight(floatValues(backend, info), info.shape[0], info.shape[1]);
    packs.set(key, handle);
  }
  return handle;
}
