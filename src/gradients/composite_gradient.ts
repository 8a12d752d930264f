/**
 * The gradient of an op whose table entry says `gradient: composite`: the op
 * is recomputed as its composite of tfjs ops (whose sub-ops stay fused where
 * they can, e.g. attention inside the encoder layer, with its own
 * recompute-based backward) and tfjs differentiates that. Training works
 * through every fused op; inference never pays for it.
 *
 * Differentiable inputs are the float32 ones that hold data, except those the
 * table lists as non-differentiable (masks, indices); the others, and the
 * placeholders standing for absent inputs, get zero gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeOf} from '../dispatch/composite_registry';
import {kernelName, opDef, OpName, OPS} from '../op_table';
import {ensureCoreGradients} from './core_gradients';
import {gradsInsideBackward} from './nested_grads';

/** The kernel inputs' keys in the order tfjs saves them (named inputs in table order; list inputs by position). */
function inputKeys(op: OpName, count: number): string[] {
  const inputs = OPS[op].inputs;
  return inputs === 'list' ? Array.from({length: count}, (_, i) => String(i)) : [...inputs];
}

/**
 * Gradients of `op`'s first output with respect to each saved input: its
 * composite re-run on `saved` and differentiated by tfjs.
 */
export function compositeGradients(op: OpName, dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): tf.Tensor[] {
  const keys = inputKeys(op, saved.length);
  const frozen = new Set<string>(opDef(op).nonDifferentiable ?? []);
  const differentiable = keys.flatMap((key, i) =>
      !frozen.has(key) && saved[i].dtype === 'float32' && saved[i].size > 0 ? [i] : []);
  const composite = compositeOf(op);
  const f = (...xs: tf.Tensor[]) => {
    const inputs: tf.NamedTensorMap = {};
    keys.forEach((key, i) => inputs[key] = saved[i]);
    differentiable.forEach((index, j) => inputs[keys[index]] = xs[j]);
    const out = composite(inputs, attrs);
    return Array.isArray(out) ? out[0] : out;
  };
  ensureCoreGradients();
  const grads = gradsInsideBackward(f, differentiable.map(i => saved[i]), dy);
  return saved.map((t, i) => {
    const j = differentiable.indexOf(i);
    return j >= 0 ? grads[j] : tf.zeros(t.shape);
  });
}

export function compositeGradConfig(op: OpName): tf.GradConfig {
  const inputs = OPS[op].inputs;
  return {
    kernelName: kernelName(op),
    ...(inputs === 'list' ? {saveAllInputs: true} : {inputsToSave: [...inputs]}),
    gradFunc: (dy, saved, attrs) => {
      const grads = compositeGradients(op, Array.isArray(dy) ? dy[0] : dy, saved, attrs);
      const keys = inputKeys(op, saved.length);
      const result: {[key: string]: () => tf.Tensor} = {};
      keys.forEach((key, i) => result[key] = () => grads[i]);
      return result;
    },
  };
}
