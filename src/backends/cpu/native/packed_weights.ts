/**
 * Prepacked weights for the native kernels, cached per tensor: float32 panels
 * for the encoder layers, bfloat16 copies for the decoder's 'bfloat16' weight
 * precision. The key is the tensor's dataId: tfjs never changes the data
 * behind a dataId (a Variable's assign gives it a new one), so a cached pack
 * can never be stale.
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

/** The packs of each dataId, by kind: 'f32' panels, 'bf16' or 'bf16t' (transposed) copies. */
type PackKind = 'f32' | 'bf16' | 'bf16t';
const packs = new WeakMap<object, Partial<Record<PackKind, PackedWeight>>>();
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
    const handles = packs.get(dataId);
    // Only once the data is gone (a dataId shared by several tensors outlives the first dispose).
    if (handles !== undefined && !target.data.has?.(dataId)) {
      packs.delete(dataId);
      for (const handle of Object.values(handles)) if (handle) core.releaseWeight(handle);
    }
    return result;
  };
}

function cachedPack(core: NativeCore, backend: CpuBackend, info: TensorInfo, kind: PackKind,
    make: () => PackedWeight): PackedWeight {
  const key = info.dataId as object;
  let handles = packs.get(key);
  if (handles === undefined) {
    releasePacksOnDispose(core, backend);
    handles = {};
    packs.set(key, handles);
  }
  let handle = handles[kind];
  if (handle === undefined) {
    handle = make();
    handles[kind] = handle;
  }
  return handle;
}

/** A [in, out] weight packed into float32 panels (the encoder layers). */
export function packedWeight(core: NativeCore, backend: CpuBackend, info: TensorInfo): PackedWeight {
  return cachedPack(core, backend, info, 'f32', () => core.packWeight(floatValues(backend, info), info.shape[0], info.shape[1]));
}

/**
 * A bfloat16 copy of a [in, out] weight, or of a [out, in] one stored transposed (a tied
 * LM head), made once per tensor (the decoder's 'bfloat16' weight precision).
 */
export function bf16Weight(core: NativeCore, backend: CpuBackend, info: TensorInfo, transposed: boolean): PackedWeight {
  const [rows, cols] = transposed ? [info.shape[1], info.shape[0]] : [info.shape[0], info.shape[1]];
  return cachedPack(core, backend, info, transposed ? 'bf16t' : 'bf16',
      () => core.packWeightBf16(floatValues(backend, info), rows, cols, transposed));
}
