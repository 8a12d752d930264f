/**
 * The "original" baseline: the converted tfjs graph model (.deps/bench-seq2seq/<model>/tfjs: input_ids,
 * attention_mask, decoder_input_ids -> logits) run by plain tfjs-node with no cache. Every step runs the whole
 * graph — the encoder on the sources and the decoder on the whole decoder sequence so far — and takes the logits
 * of the last decoder position: argmax (greedy) or the harness's beam search (batch × beams rows, the sources
 * repeated per beam, the rows' sequences reordered by parent beam).
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {readModelArtifacts} from '../../../../src/io/model_files';
import {argmaxRows, BeamSearch, median, Seq2SeqEngine, Seq2SeqModel, Seq2SeqRun, Seq2SeqRunOptions} from '../model';

export class TfjsSeq2SeqRecomputeEngine implements Seq2SeqEngine {
  readonly name = 'tfjs-node original (recompute)';
  private graph: GraphModel | null = null;
  private model: Seq2SeqModel | null = null;

  unsupported(): string | null {
    return null;
  }

  async prepare(model: Seq2SeqModel): Promise<string | null> {
    try {
      require('@tensorflow/tfjs-node');
    } catch (e) {
      return `@tensorflow/tfjs-node did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
    this.graph = loadGraphModelSync(readModelArtifacts(model.tfjsDir)) as unknown as GraphModel;
    this.model = model;
    return null;
  }

  /** The last decoder position's logits of every row: [rows, vocab]. */
  private lastLogits(sourceIds: Int32Array, rows: number, seq: number, decoder: number[][]): Float32Array {
    const graph = this.graph!;
    const length = decoder[0].length;
    const dec = new Int32Array(rows * length);
    decoder.forEach((row, r) => dec.set(row, r * length));
    const last = tf.tidy(() => {
      const logits = graph.execute({
        input_ids: tf.tensor2d(sourceIds, [rows, seq], 'int32'),
        attention_mask: tf.ones([rows, seq], 'int32'),
        decoder_input_ids: tf.tensor2d(dec, [rows, length], 'int32'),
      }, 'logits') as tf.Tensor3D;
      return tf.reshape(tf.slice(logits, [0, length - 1, 0], [rows, 1, -1]), [rows, -1]);
    });
    const data = last.dataSync() as Float32Array;
    last.dispose();
    return data;
  }

  async run(sources: number[][], options: Seq2SeqRunOptions): Promise<Seq2SeqRun> {
    if (!this.graph || !this.model) throw new Error(`${this.name} is not prepared`);
    const batch = sources.length;
    const beams = options.numBeams;
    const rows = batch * beams;
    const seq = sources[0].length;
    const vocab = this.model.vocabSize;
    const start = this.model.decoderStartTokenId;
    const sourceIds = new Int32Array(rows * seq);
    for (let r = 0; r < rows; r++) sourceIds.set(sources[Math.floor(r / beams)], r * seq);
    const search = beams > 1 ? new BeamSearch(batch, beams, vocab) : null;
    const greedy: number[][] = sources.map(() => []);
    const stamps: number[] = [];
    const t0 = performance.now();
    for (let step = 0; step < options.maxNewTokens; step++) {
      const decoder = Array.from({length: rows}, (_, r) => [start, ...(search ? search.rowTokens(r) : greedy[r])]);
      const logits = this.lastLogits(sourceIds, rows, seq, decoder);
      if (search) {
        search.step(logits, vocab);
      } else {
        argmaxRows(logits, rows, vocab).forEach((t, r) => greedy[r].push(t));
      }
      stamps.push(performance.now());
    }
    const totalMs = performance.now() - t0;
    const steps = stamps.slice(1).map((s, i) => s - stamps[i]);
    return {tokens: search ? search.best() : greedy, totalMs, msPerStep: median(steps),
            firstTokenMs: stamps.length ? stamps[0] - t0 : null};
  }

  dispose(): void {
    this.graph?.dispose();
    this.graph = null;
  }
}
