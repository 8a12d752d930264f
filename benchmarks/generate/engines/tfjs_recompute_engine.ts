/**
 * The "original" baseline: the converted tfjs graph model (.deps/bench-decoders/<model>/tfjs) run by plain
 * tfjs-node, with no cache. Every step runs the whole graph on the whole sequence so far (prompt and the
 * tokens generated), takes the logits of each sequence's last real position and their argmax. A step's cost
 * grows with the position (quadratically over a generation); it depends only on the position, so
 * stepAtPositions can time single steps far out without generating the tokens before them.
 *
 * Sequences of different lengths are right-padded: each occupies positions 0..n-1 and the graph derives
 * position ids from the attention mask.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {readModelArtifacts} from '../../../src/io/model_files';
import {median} from '../../stats';
import {DecoderModel, GenerationEngine, GenerationRun, RunOptions, StepClock} from '../engine';
import {seededRandom} from '../prompts';

export class TfjsRecomputeEngine implements GenerationEngine {
  readonly name = 'tfjs-node original (recompute)';
  private model: GraphModel | null = null;
  private vocabSize = 0;

  async prepare(model: DecoderModel): Promise<string | null> {
    try {
      require('@tensorflow/tfjs-node');
    } catch (e) {
      return `@tensorflow/tfjs-node did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
    this.model = loadGraphModelSync(readModelArtifacts(model.tfjsDir)) as unknown as GraphModel;
    this.vocabSize = model.vocabSize;
    return null;
  }

  /** One step: the graph on every sequence (right-padded), argmax at each one's last real position. */
  private step(sequences: number[][]): Int32Array {
    if (!this.model) throw new Error(`${this.name} is not prepared`);
    const batch = sequences.length;
    const longest = Math.max(...sequences.map(s => s.length));
    const ids = new Int32Array(batch * longest);
    const mask = new Int32Array(batch * longest);
    sequences.forEach((seq, r) => {
      ids.set(seq, r * longest);
      mask.fill(1, r * longest, r * longest + seq.length);
    });
    const next = tf.tidy(() => {
      const logits = this.model!.execute({
        input_ids: tf.tensor2d(ids, [batch, longest], 'int32'),
        attention_mask: tf.tensor2d(mask, [batch, longest], 'int32'),
      }, 'logits') as tf.Tensor3D;
      const vocab = logits.shape[2];
      const last = sequences.map((seq, r) => tf.slice(logits, [r, seq.length - 1, 0], [1, 1, vocab]));
      return tf.argMax(tf.reshape(tf.concat(last, 0), [batch, vocab]), 1);
    });
    const tokens = next.dataSync() as Int32Array;
    next.dispose();
    return tokens;
  }

  async run(prompts: number[][], options: RunOptions): Promise<GenerationRun> {
    const sequences = prompts.map(p => [...p]);
    const clock = new StepClock(prompts.length, options.memoryAt, () => tf.memory().numTensors);
    for (let i = 0; i < options.maxNewTokens; i++) {
      const tokens = this.step(sequences);
      sequences.forEach((seq, r) => seq.push(tokens[r]));
      clock.step(tokens);
    }
    return clock.finish();
  }

  async stepAtPositions(prompt: number[], positions: number[], repeats: number): Promise<Map<number, number>> {
    const random = seededRandom(99);
    const longest = Math.max(...positions) + 1;
    const filler = Array.from({length: Math.max(0, longest - prompt.length)}, () => Math.floor(random() * this.vocabSize));
    const sequence = [...prompt, ...filler];
    const times = new Map<number, number>();
    for (const position of positions) {
      const context = [sequence.slice(0, position + 1)];
      const ms: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const t0 = performance.now();
        this.step(context);
        ms.push(performance.now() - t0);
      }
      times.set(position, median(ms));
    }
    return times;
  }

  dispose(): void {
    this.model?.dispose();
    this.model = null;
  }
}
