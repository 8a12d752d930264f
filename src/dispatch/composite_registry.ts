/**
 * The composite implementation of each op: the same inputs and attributes as
 * its fused kernels, computed with plain tfjs ops on whatever backend is
 * active. Composites are registered here (by src/register_all.ts) rather than
 * imported by the dispatcher because they dispatch their own sub-ops (the
 * composite encoder layer runs attention through `runOp`, fused where it can
 * be): like tfjs' kernel registry, this keeps the dependency one way.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type {OpName} from '../op_table';

/** A composite: the op's kernel inputs (a NamedTensorMap, or an array for list-input ops) and attributes. */
export type CompositeFunc = (inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap) => tf.Tensor | tf.Tensor[];

const composites = new Map<OpName, CompositeFunc>();

export function registerComposite(op: OpName, func: CompositeFunc): void {
  if (!composites.has(op)) composites.set(op, func);
}

export function compositeOf(op: OpName): CompositeFunc {
  const func = composites.get(op);
  if (!func) throw new Error(`tfjs-better-transformer: no composite registered for ${op}`);
  return func;
}
