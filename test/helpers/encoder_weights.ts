/** Random encoder-layer weights in the layouts the op accepts. */
import * as tf from '@tensorflow/tfjs-core';
import {randn, rng} from './random';

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

/** The T5-class variations of a layer's weights. */
export interface EncoderWeightForm {
  packed: boolean;
  /** Adds gateWeight [E, F] (and gateBias when biases): a gated MLP. */
  gated?: boolean;
  /** false: no bias and no beta at all (T5). Default true. */
  biases?: boolean;
  /** RMSNorm: no betas. */
  rms?: boolean;
}

/** randomEncoderWeights in a T5-class form (the removed tensors are disposed). */
export function randomEncoderWeightsOf(embed: number, ffn: number, seed: number, form: EncoderWeightForm):
    Record<string, tf.Tensor> {
  const w = randomEncoderWeights(embed, ffn, seed, form.packed);
  if (form.gated) {
    w.gateWeight = randn([embed, ffn], seed + 19, 1 / Math.sqrt(embed));
    w.gateBias = randn([ffn], seed + 20, 0.1);
  }
  const drop = (name: string) => {
    if (w[name]) w[name].dispose();
    delete w[name];
  };
  if (form.biases === false) {
    for (const name of Object.keys(w)) if (name.endsWith('Bias') || name.endsWith('Beta')) drop(name);
  }
  if (form.rms) ['ln1Beta', 'ln2Beta'].forEach(drop);
  return w;
}

/** The attention bias of a case ([1, H, S, S] shared or [B, H, S, S]), or undefined. */
export function caseAttentionBias(kind: 'none' | 'shared' | 'perBatch', batch: number, heads: number, seq: number,
                                  seed: number): tf.Tensor4D | undefined {
  if (kind === 'none') return undefined;
  return randn([kind === 'shared' ? 1 : batch, heads, seq, seq], seed + 31, 1.5) as tf.Tensor4D;
}

/**
 * Sequence lengths: a full one, a partial one of several tokens (left-padded, its packed
 * positions differ from its original ones, which the bias is indexed by), 0, 1, then random.
 */
export function t5Lengths(batch: number, seq: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({length: batch}, (_, b) => b === 0 ? seq : b === 1 ? Math.ceil(seq / 2) + 1 : b === 2 ? 0 :
                                             b === 3 ? 1 : Math.floor(r() * (seq + 1))).map(n => Math.min(n, seq));
}
