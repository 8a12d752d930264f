/**
 * Values of Const nodes. tensorflowjs_converter stores every constant (scales,
 * epsilons, mask fills, reshape sizes, permutations) in the weight shards, not
 * in model.json: without weights (`inspect`) values are unknown and matchers
 * check structure only; `transform` reads them and refuses blocks whose
 * constants are not what the fused op computes.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {GraphView} from './graph_view';
import {InputRef} from './graph_def';

export interface ConstantValue {
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export type WeightLookup = (name: string) => tf.Tensor | undefined;

export class ConstantValues {
  private readonly cache = new Map<string, ConstantValue | null>();

  /**
   * `lookup` is absent when only the topology is known. `quantized`: the
   * weights were stored quantised (float16/uint8), so formula constants may be
   * off by the quantisation error and value checks allow for it.
   */
  constructor(private readonly view: GraphView, private readonly lookup?: WeightLookup, readonly quantized = false) {}

  /** Relative tolerance for checking that a subgraph computes a known formula. */
  get formulaTolerance(): number {
    return this.quantized ? 1e-3 : 2e-6;
  }

  get haveValues(): boolean {
    return this.lookup !== undefined;
  }

  isConst(ref: InputRef | undefined): boolean {
    if (!ref) return false;
    const node = this.view.resolve(ref).node;
    return node?.op === 'Const';
  }

  /** The value of a Const (through Identity nodes); undefined if unknown or not a constant. */
  value(ref: InputRef | undefined): ConstantValue | undefined {
    if (!ref || !this.lookup) return undefined;
    const node = this.view.resolve(ref).node;
    if (!node || node.op !== 'Const') return undefined;
    if (this.cache.has(node.name)) return this.cache.get(node.name) ?? undefined;
    const tensor = this.lookup(node.name);
    const value = tensor ? {dtype: tensor.dtype, shape: tensor.shape.slice(), data: tensor.dataSync() as ConstantValue['data']} : null;
    this.cache.set(node.name, value);
    return value ?? undefined;
  }

  /**
   * A constant whose elements are all equal (a scalar or a broadcast fill):
   * that number, undefined when unknown, NaN when it is not uniform.
   */
  uniformScalar(ref: InputRef | undefined): number | undefined {
    const v = this.value(ref);
    if (!v) return undefined;
    if (v.data.length === 0) return Number.NaN;
    const first = v.data[0];
    for (let i = 1; i < v.data.length; i++) if (v.data[i] !== first) return Number.NaN;
    return Number(first);
  }

  ints(ref: InputRef | undefined): number[] | undefined {
    const v = this.value(ref);
    return v ? Array.from(v.data, Number) : undefined;
  }
}
