/**
 * tfjs engines: the plugin's fused kernels (on `cpu` and on tfjs-node's
 * `tensorflow`), and plain (unfused) tfjs ops on `cpu`, `wasm` and
 * `tensorflow` — the same public functions with the kernel preference set to
 * 'composite', which is exactly tfjs without the plugin.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  activeImplementations, KernelPreference, scaledDotProductAttention, setKernelPreference, transformerEncoderStack,
  TransformerEncoderLayerWeights,
} from '../../src';
import {AttentionProblem, EncoderProblem, Engine, PreparedRun} from './engine';

export function paddingMaskData(batch: number, seq: number, lengths: number[] | null): Int32Array {
  const data = new Int32Array(batch * seq).fill(1);
  if (lengths) lengths.forEach((len, b) => data.fill(0, b * seq + len, (b + 1) * seq));
  return data;
}

function layerTensors(p: EncoderProblem, layer: number): TransformerEncoderLayerWeights {
  const w = p.weights[layer], e = p.shape.embed, f = p.shape.ffn;
  const m = (data: Float32Array, rows: number, cols: number) => tf.tensor2d(data, [rows, cols]);
  const v = (data: Float32Array) => tf.tensor1d(data);
  return {
    qWeight: m(w.q, e, e), kWeight: m(w.k, e, e), vWeight: m(w.v, e, e),
    qBias: v(w.qBias), kBias: v(w.kBias), vBias: v(w.vBias),
    outWeight: m(w.out, e, e), outBias: v(w.outBias),
    ln1Gamma: v(w.ln1Gamma), ln1Beta: v(w.ln1Beta), ln2Gamma: v(w.ln2Gamma), ln2Beta: v(w.ln2Beta),
    ffnInWeight: m(w.ffnIn, e, f), ffnInBias: v(w.ffnInBias), ffnOutWeight: m(w.ffnOut, f, e), ffnOutBias: v(w.ffnOutBias),
  };
}

export class TfjsEngine implements Engine {
  /** preference 'composite' is tfjs without the plugin; 'auto' and 'portable' select fused kernels. */
  constructor(readonly name: string, private readonly backend: 'cpu' | 'wasm' | 'tensorflow',
              private readonly preference: KernelPreference) {}

  async unavailable(): Promise<string | null> {
    try {
      if (this.backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
      else if (this.backend === 'tensorflow') require('@tensorflow/tfjs-node');
      else require('@tensorflow/tfjs-backend-cpu');
      if (!(await tf.setBackend(this.backend))) return `backend ${this.backend} failed to initialise`;
      setKernelPreference(this.preference);
      const impl = activeImplementations(this.backend);
      setKernelPreference('auto');
      if (this.preference !== 'composite' && impl.scaledDotProductAttention === 'composite-tfjs-ops') return impl.reason;
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** Selects this engine's backend and kernel preference; every run calls it, since engines share tfjs. */
  private async activate(): Promise<void> {
    if (tf.getBackend() !== this.backend) await tf.setBackend(this.backend);
    setKernelPreference(this.preference);
  }

  async prepareAttention(p: AttentionProblem): Promise<PreparedRun> {
    await this.activate();
    const shape = [p.batch, p.heads, p.seq, p.depth];
    const q = tf.tensor4d(p.q, shape as [number, number, number, number]);
    const k = tf.tensor4d(p.k, shape as [number, number, number, number]);
    const v = tf.tensor4d(p.v, shape as [number, number, number, number]);
    const mask = p.lengths ? tf.tensor2d(paddingMaskData(p.batch, p.seq, p.lengths), [p.batch, p.seq], 'int32') : undefined;
    return {
      run: async () => {
        await this.activate();
        const out = scaledDotProductAttention(q, k, v, {keyPaddingMask: mask, isCausal: p.causal});
        await out.data();
        out.dispose();
      },
      dispose: () => tf.dispose([q, k, v, ...(mask ? [mask] : [])]),
    };
  }

  async prepareEncoder(p: EncoderProblem, layers: number): Promise<PreparedRun> {
    await this.activate();
    const weights = Array.from({length: layers}, (_, l) => layerTensors(p, l));
    const x = tf.tensor3d(p.x, [p.batch, p.seq, p.shape.embed]);
    const mask = tf.tensor2d(paddingMaskData(p.batch, p.seq, p.lengths), [p.batch, p.seq], 'int32');
    return {
      run: async () => {
        await this.activate();
        // One stack call: the fused kernels remove padding once for all layers (composite: a loop of layers).
        const y = transformerEncoderStack(x, weights, {numHeads: p.shape.heads, keyPaddingMask: mask,
                                                       layerNormEps: p.shape.eps});
        await y.data();
        y.dispose();
      },
      dispose: () => {
        tf.dispose([x, mask]);
        weights.forEach(w => tf.dispose(Object.values(w)));
      },
    };
  }
}
