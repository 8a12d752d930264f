/** The gradient of every differentiable op, as the op table's `gradient` field says. */
import * as tf from '@tensorflow/tfjs-core';
import {OP_NAMES, OPS} from '../op_table';
import {compositeGradConfig} from './composite_gradient';
import {scaledDotProductAttentionGradConfig} from './scaled_dot_product_attention_grad';

/** Ops with a backward kernel of their own; their gradient falls back to the composite where it is missing. */
const KERNEL_GRADIENTS: Record<string, tf.GradConfig> = {
  ScaledDotProductAttention: scaledDotProductAttentionGradConfig,
};

export const GRADIENT_CONFIGS: tf.GradConfig[] = OP_NAMES.flatMap(op => {
  const gradient = OPS[op].gradient;
  if (gradient.kind === 'composite') return [compositeGradConfig(op)];
  if (gradient.kind === 'kernel') {
    const config = KERNEL_GRADIENTS[op];
    if (!config) throw new Error(`tfjs-better-transformer: ${op} declares a backward kernel but has no gradient config`);
    return [config];
  }
  return [];
});

export function registerGradients(): void {
  for (const config of GRADIENT_CONFIGS) {
    if (tf.getGradient(config.kernelName) == null) tf.registerGradient(config);
  }
}
