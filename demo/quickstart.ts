/**
 * `npm run demo`: a random BERT-style encoder layer and an attention call run
 * unfused (plain tfjs ops) and fused, on the cpu backend, with half of the
 * tokens padding. Prints timings, the speed-up and the largest difference.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {activeImplementations, scaledDotProductAttention, setKernelPreference, transformerEncoderLayer} from 'tfjs-better-transformer';
import type {TransformerEncoderLayerWeights} from 'tfjs-better-transformer';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeIt(fn: () => tf.Tensor, repeats: number): {ms: number; result: Float32Array} {
  const times: number[] = [];
  let result: Float32Array = new Float32Array(0);
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const out = fn();
    result = out.dataSync() as Float32Array;
    times.push(performance.now() - start);
    out.dispose();
  }
  return {ms: median(times), result};
}

function compare(label: string, run: () => tf.Tensor, repeats: number): void {
  setKernelPreference('composite');
  const unfused = timeIt(run, repeats);
  setKernelPreference('auto');
  const fused = timeIt(run, repeats);
  let maxDiff = 0;
  unfused.result.forEach((v, i) => maxDiff = Math.max(maxDiff, Math.abs(v - fused.result[i])));
  console.log(`${label.padEnd(44)} unfused ${unfused.ms.toFixed(1).padStart(8)} ms   fused ${
      fused.ms.toFixed(1).padStart(8)} ms   speed-up ${(unfused.ms / fused.ms).toFixed(1).padStart(5)}x   max |diff| ${
      maxDiff.toExponential(1)}`);
}

async function main(): Promise<void> {
  tf.env().set('IS_TEST', true);  // no "install tfjs-node" banner
  await tf.setBackend('cpu');
  const impl = activeImplementations();
  console.log(`backend: ${impl.backend}; fused attention: ${impl.scaledDotProductAttention}; fused encoder layer: ${
      impl.transformerEncoderLayer}\n`);

  const [batch, seq, embed, heads, ffn] = [8, 64, 256, 4, 1024];
  const lengths = Array.from({length: batch}, (_, b) => Math.max(1, Math.round(seq * (b + 1) / batch * 0.9)));
  const real = lengths.reduce((a, b) => a + b, 0);
  const mask = tf.tensor2d(lengths.flatMap(len => Array.from({length: seq}, (_, s) => (s < len ? 1 : 0))),
                           [batch, seq], 'int32');
  const rand = (shape: number[], std: number, seed: number) => tf.randomNormal(shape, 0, std, 'float32', seed);
  const weights = {
    qkvWeight: rand([embed, 3 * embed], 1 / Math.sqrt(embed), 1), qkvBias: rand([3 * embed], 0.02, 2),
    outWeight: rand([embed, embed], 1 / Math.sqrt(embed), 3), outBias: rand([embed], 0.02, 4),
    ln1Gamma: tf.ones([embed]), ln1Beta: tf.zeros([embed]), ln2Gamma: tf.ones([embed]), ln2Beta: tf.zeros([embed]),
    ffnInWeight: rand([embed, ffn], 1 / Math.sqrt(embed), 5), ffnInBias: rand([ffn], 0.02, 6),
    ffnOutWeight: rand([ffn, embed], 1 / Math.sqrt(ffn), 7), ffnOutBias: rand([embed], 0.02, 8),
  } as TransformerEncoderLayerWeights;
  const x = rand([batch, seq, embed], 1, 9) as tf.Tensor3D;
  console.log(`encoder layer: batch ${batch}, sequence ${seq}, E ${embed}, ${heads} heads, FFN ${ffn}; ` +
              `${real} of ${batch * seq} tokens are real (${(100 * (1 - real / (batch * seq))).toFixed(0)}% padding)`);
  compare('encoder layer (post-norm, GELU, padding mask)',
          () => transformerEncoderLayer(x, weights, {numHeads: heads, keyPaddingMask: mask, layerNormEps: 1e-12}), 5);

  const q = rand([1, 4, 512, 64], 1, 10) as tf.Tensor4D, k = rand([1, 4, 512, 64], 1, 11) as tf.Tensor4D;
  const v = rand([1, 4, 512, 64], 1, 12) as tf.Tensor4D;
  compare('attention 4 heads x 512 x 512, D 64, causal', () => scaledDotProductAttention(q, k, v, {isCausal: true}), 5);
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
