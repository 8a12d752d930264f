/**
 * The few members of tfjs-backend-cpu's MathBackendCPU the kernels use.
 * Typed structurally so this package never imports the backend itself (it is
 * a peer the user registers, before or after importing us).
 */
import type {DataType, TensorInfo} from '@tensorflow/tfjs-core';

type TypedArray = Float32Array | Int32Array | Uint8Array;

export interface CpuBackend {
  data: {get(dataId: object): {values?: unknown}};
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array | Int32Array | Uint8Array): TensorInfo;
  /** Tensors sharing the data (tfjs-backend-cpu 4.x). */
  refCount?(dataId: object): number;
  incRef?(dataId: object): void;
}

export function asCpuBackend(backend: unknown): CpuBackend {
  return backend as CpuBackend;
}

/** The backend's own typed array for a tensor: read in place, never copied. */
export function typedValues(backend: CpuBackend, info: TensorInfo): TypedArray {
  const values = backend.data.get(info.dataId).values;
  if (!(values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array)) {
    throw new Error(`tfjs-better-transformer: tensor of dtype ${info.dtype} has no typed array on the cpu backend`);
  }
  return values;
}

export function floatValues(backend: CpuBackend, info: TensorInfo): Float32Array {
  const values = typedValues(backend, info);
  if (!(values instanceof Float32Array)) {
    throw new Error(`tfjs-better-transformer: expected float32 data, got dtype ${info.dtype}`);
  }
  return values;
}
