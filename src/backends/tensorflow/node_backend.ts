/**
 * The members of tfjs-node's NodeJSKernelBackend (backend `tensorflow`) the
 * kernels use, typed structurally so this package never imports tfjs-node.
 */
import type {DataType, Tensor, TensorInfo} from '@tensorflow/tfjs-core';

export interface TfeOpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[] | boolean[];
}

export interface NodeBackend {
  binding: {
    TF_FLOAT: number; TF_INT32: number; TF_BOOL: number;
    TF_ATTR_STRING: number; TF_ATTR_INT: number; TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number;
  };
  executeMultipleOutputs(name: string, opAttrs: TfeOpAttr[], inputs: TensorInfo[], numOutputs: number): Tensor[];
  executeSingleOutput(name: string, opAttrs: TfeOpAttr[], inputs: TensorInfo[]): Tensor;
}

export function asNodeBackend(backend: unknown): NodeBackend {
  return backend as NodeBackend;
}

/** Builders for the attribute records tfjs-node's binding passes to TFE_OpSetAttr*. */
export class OpAttrs {
  private readonly attrs: TfeOpAttr[] = [];
  constructor(private readonly backend: NodeBackend) {}

  float(name: string, value: number): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_FLOAT, value});
    return this;
  }
  int(name: string, value: number): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_INT, value});
    return this;
  }
  bool(name: string, value: boolean): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_BOOL, value});
    return this;
  }
  /** A list(float) attribute (tfjs-node's binding sets a list when the value is an array). */
  floats(name: string, values: number[]): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_FLOAT, value: values});
    return this;
  }
  /** A list(bool) attribute. */
  bools(name: string, values: boolean[]): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_BOOL, value: values});
    return this;
  }
  string(name: string, value: string): this {
    this.attrs.push({name, type: this.backend.binding.TF_ATTR_STRING, value});
    return this;
  }
  dtype(name: string, dtype: DataType): this {
    const b = this.backend.binding;
    const code = dtype === 'float32' ? b.TF_FLOAT : dtype === 'int32' ? b.TF_INT32 : dtype === 'bool' ? b.TF_BOOL : null;
    if (code === null) throw new Error(`tfjs-better-transformer: unsupported dtype ${dtype} for ${name}`);
    this.attrs.push({name, type: b.TF_ATTR_TYPE, value: code});
    return this;
  }
  build(): TfeOpAttr[] {
    return this.attrs;
  }
}
