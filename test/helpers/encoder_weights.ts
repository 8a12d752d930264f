/** Random encoder-layer weights in the layouts the op accepts. */
import * as tf from '@tensorflow/tfjs-core';
import {randn} from './random';

export function randomEncoderWeights(embed: number, ffn: number, seed: number, packed: boolean): Record<string, tf.Tensor> {
  const w: Record<string, tf.Tensor> = {
    outWeight: randn([embed, embed], seed + 1, 1 / Math.sqrt(embed)),
    outBias: randn([embed], seed + 2, 0.1),
    ln1Gamma: tf.add(1, randn([embed], seed + 3, 0.1)),
    ln1Beta: randn([embed], seed + 4, 0.1),
    ln2Gamma: tf.add(1, randn([embed], seed + 5, 0.1)),
    ln2Beta: randn([embed], seed + 6, 0.1),
    ffnInWeight: randn([embed, ffn], seed + 7, 1 / Math.sqrt(embed)),
    ffnInBias: randn([ffn], seed + 8, 0.1),
    ffnOutWeight: randn([ffn, embed], seed + 9, 1 / Math.sqrt(ffn)),
    ffnOutBias: randn([embed], seed + 10, 0.1),
  };
  if (packed) {
    w.qkvWeight = randn([embed, 3 * embed], seed + 11, 1 / Math.sqrt(embed));
    w.qkvBias = randn([3 * embed], seed + 12, 0.1);
  } else {
    ['q', 'k', 'v'].forEach((p, i) => {
      w[`${p}Weight`] = randn([embed, embed], seed + 13 + i, 1 / Math.sqrt(embed));
      w[`${p}Bias`] = randn([embed], seed + 16 + i, 0.1);
    });
  }
  return w;
}
