/** onnxruntime-node (CPU execution provider, all graph optimisations, one thread per core). */
import * as os from 'os';
import {attentionModel} from '../onnx/attention_model';
import {encoderModel} from '../onnx/encoder_model';
import {AttentionProblem, EncoderProblem, Engine, PreparedRun} from './engine';

type Ort = typeof import('onnxruntime-node');

export class OrtEngine implements Engine {
  readonly name = 'onnxruntime-node';
  private ort: Ort | null = null;

  async unavailable(): Promise<string | null> {
    try {
      this.ort = require('onnxruntime-node') as Ort;
      return null;
    } catch (e) {
      return `onnxruntime-node not installed (${(e as Error).message.split('\n')[0]})`;
    }
  }

  private async session(model: Uint8Array) {
    const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
    return (this.ort as Ort).InferenceSession.create(model, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: cores, interOpNumThreads: 1,
    });
  }

  async prepareAttention(p: AttentionProblem): Promise<PreparedRun> {
    const ort = this.ort as Ort;
    const session = await this.session(attentionModel(p.heads, p.seq, p.depth, p.causal));
    const dims = [p.batch, p.heads, p.seq, p.depth];
    const maskAdd = new Float32Array(p.batch * p.seq);
    if (p.lengths) p.lengths.forEach((len, b) => maskAdd.fill(-1e9, b * p.seq + len, (b + 1) * p.seq));
    const feeds = {
      q: new ort.Tensor('float32', p.q, dims), k: new ort.Tensor('float32', p.k, dims),
      v: new ort.Tensor('float32', p.v, dims), mask_add: new ort.Tensor('float32', maskAdd, [p.batch, 1, 1, p.seq]),
    };
    return {run: async () => void await session.run(feeds), dispose: () => void session.release()};
  }

  async prepareEncoder(p: EncoderProblem, layers: number): Promise<PreparedRun> {
    const ort = this.ort as Ort;
    const session = await this.session(encoderModel(p.shape, p.weights.slice(0, layers)));
    const mask = new BigInt64Array(p.batch * p.seq);
    p.lengths.forEach((len, b) => mask.fill(1n, b * p.seq, b * p.seq + len));
    const feeds = {
      x: new ort.Tensor('float32', p.x, [p.batch, p.seq, p.shape.embed]),
      mask: new ort.Tensor('int64', mask, [p.batch, p.seq]),
    };
    return {run: async () => void await session.run(feeds), dispose: () => void session.release()};
  }
}
