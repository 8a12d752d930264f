/**
 * The references: transformers.js (@huggingface/transformers 4.3.1 on onnxruntime-node) on the optimum export
 * of the same weights, .deps/bench-seq2seq/<model>/onnx (encoder_model.onnx, decoder_model_merged.onnx with
 * past key/values). Remote models are disabled: nothing is downloaded.
 *
 * - TransformersJsSeq2SeqEngine: AutoModelForSeq2SeqLM.generate(), greedy. The export's configs have no EOS
 *   (no EosTokenCriteria, no min-length or forced-EOS processor), so every call runs exactly max_new_tokens
 *   steps. Steps are timed by a streamer (put() once with the decoder start tokens, then once per step).
 *
 * - OrtBeamSearchEngine: transformers.js 4.3.1's generate() has no beam search — with num_beams > 1 its loop
 *   keeps the first candidate of each row ("TODO: Support beam search" in PreTrainedModel.generate), i.e. it
 *   decodes greedily. So the 4-beam reference is this loop in the harness over the very ONNX Runtime sessions
 *   transformers.js created for the model (model.sessions: same files, same session options): the encoder once
 *   on the sources, its output and mask repeated per beam, the merged decoder with use_cache_branch on
 *   batch × beams rows, log-softmax and top-k per source in JavaScript, and the decoder's self-attention cache
 *   gathered by parent beam each step (as Hugging Face's _reorder_cache). The cross-attention keys/values are
 *   the first step's throughout (as transformers.js and optimum reuse them); every beam of a source has the same
 *   ones, so they need no reordering. It also runs greedy (one beam), as a check on the loop against generate().
 */
import * as fs from 'fs';
import * as path from 'path';
import {argmaxRows, BeamSearch, median, Seq2SeqEngine, Seq2SeqModel, Seq2SeqRun, Seq2SeqRunOptions} from '../model';

interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
  dispose?: () => void;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: ReadonlyArray<{name: string; shape?: ReadonlyArray<number | string>}>;
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface JsTensor {
  dispose?: () => void;
}
interface Seq2SeqLM {
  generate(options: Record<string, unknown>): Promise<JsTensor>;
  dispose(): Promise<unknown>;
  sessions: Record<string, OrtSession>;
}
interface TransformersModule {
  env: {allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string};
  AutoModelForSeq2SeqLM: {from_pretrained(id: string, options: {dtype: 'fp32'; device: 'cpu'}): Promise<Seq2SeqLM>};
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => JsTensor;
}
type Ort = typeof import('onnxruntime-node');

async function loadTransformersJs(model: Seq2SeqModel): Promise<{module: TransformersModule; lm: Seq2SeqLM} | string> {
  for (const f of ['encoder_model.onnx', 'decoder_model_merged.onnx']) {
    if (!fs.existsSync(path.join(model.onnxDir, 'onnx', f))) {
      return `no onnx/${f} in ${model.onnxDir}: run tools/seq2seq_bench/make_models.py`;
    }
  }
  let module: TransformersModule;
  try {
    module = require('@huggingface/transformers') as TransformersModule;
  } catch (e) {
    return `@huggingface/transformers did not load: ${(e as Error).message.split('\n')[0]}`;
  }
  module.env.allowRemoteModels = false;
  module.env.allowLocalModels = true;
  module.env.localModelPath = path.dirname(model.onnxDir) + path.sep;
  const lm = await module.AutoModelForSeq2SeqLM.from_pretrained(path.basename(model.onnxDir), {dtype: 'fp32', device: 'cpu'});
  return {module, lm};
}

function int64Rows(rows: number[][]): {data: BigInt64Array; dims: [number, number]} {
  const width = rows[0].length;
  const data = new BigInt64Array(rows.length * width);
  rows.forEach((row, r) => row.forEach((t, i) => (data[r * width + i] = BigInt(t))));
  return {data, dims: [rows.length, width]};
}

export class TransformersJsSeq2SeqEngine implements Seq2SeqEngine {
  readonly name = 'transformers.js generate() (onnxruntime-node)';
  private module: TransformersModule | null = null;
  private lm: Seq2SeqLM | null = null;

  unsupported(numBeams: number): string | null {
    return numBeams === 1 ? null :
        'transformers.js 4.3.1 generate() ignores num_beams > 1 (keeps one candidate per row: greedy); ' +
        'the beam reference is the harness loop over its sessions';
  }

  async prepare(model: Seq2SeqModel): Promise<string | null> {
    const loaded = await loadTransformersJs(model);
    if (typeof loaded === 'string') return loaded;
    ({module: this.module, lm: this.lm} = loaded);
    return null;
  }

  async run(sources: number[][], options: Seq2SeqRunOptions): Promise<Seq2SeqRun> {
    if (!this.lm || !this.module) throw new Error('transformers.js is not prepared');
    const {Tensor} = this.module;
    const ids = int64Rows(sources);
    const mask = new BigInt64Array(ids.data.length).fill(1n);
    const tokens: number[][] = sources.map(() => []);
    const stamps: number[] = [];
    let startSeen = false;
    const streamer = {
      put: (value: bigint[][]) => {
        if (!startSeen) {  // the first put() is the decoder start tokens
          startSeen = true;
          return;
        }
        stamps.push(performance.now());
        value.forEach((row, r) => tokens[r].push(Number(row[0])));
      },
      end: () => undefined,
    };
    const t0 = performance.now();
    const out = await this.lm.generate({
      input_ids: new Tensor('int64', ids.data, ids.dims), attention_mask: new Tensor('int64', mask, ids.dims),
      max_new_tokens: options.maxNewTokens, do_sample: false, num_beams: 1, eos_token_id: null, streamer,
    });
    const totalMs = performance.now() - t0;
    out.dispose?.();
    if (tokens[0].length !== options.maxNewTokens) {
      throw new Error(`transformers.js stopped after ${tokens[0].length} of ${options.maxNewTokens} new tokens`);
    }
    const steps = stamps.slice(1).map((s, i) => s - stamps[i]);
    return {tokens, totalMs, msPerStep: median(steps),
            firstTokenMs: stamps.length ? stamps[0] - t0 : null};
  }

  async dispose(): Promise<void> {
    await this.lm?.dispose();
    this.lm = null;
  }
}

export class OrtBeamSearchEngine implements Seq2SeqEngine {
  readonly name = 'onnxruntime-node merged decoder (transformers.js sessions, search loop in the harness)';
  private ort: Ort | null = null;
  private lm: Seq2SeqLM | null = null;
  private model: Seq2SeqModel | null = null;

  unsupported(): string | null {
    return null;
  }

  async prepare(model: Seq2SeqModel): Promise<string | null> {
    try {
      this.ort = require('onnxruntime-node') as Ort;
    } catch (e) {
      return `onnxruntime-node did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    const loaded = await loadTransformersJs(model);
    if (typeof loaded === 'string') return loaded;
    this.lm = loaded.lm;
    this.model = model;
    const decoder = this.lm.sessions['decoder_model_merged'];
    if (!decoder || !this.lm.sessions['model']) return 'transformers.js made no encoder_model / decoder_model_merged sessions';
    for (const n of ['input_ids', 'encoder_hidden_states', 'encoder_attention_mask', 'use_cache_branch']) {
      if (!decoder.inputNames.includes(n)) return `decoder_model_merged has no input ${n}`;
    }
    return null;
  }

  async run(sources: number[][], options: Seq2SeqRunOptions): Promise<Seq2SeqRun> {
    if (!this.lm || !this.ort || !this.model) throw new Error(`${this.name} is not prepared`);
    const ort = this.ort;
    const {Tensor} = ort;
    const encoder = this.lm.sessions['model'];
    const decoder = this.lm.sessions['decoder_model_merged'];
    const batch = sources.length;
    const beams = options.numBeams;
    const rows = batch * beams;
    const seq = sources[0].length;
    const vocab = this.model.vocabSize;
    const t0 = performance.now();

    const ids = int64Rows(sources);
    const encOut = await encoder.run({
      input_ids: new Tensor('int64', ids.data, ids.dims),
      attention_mask: new Tensor('int64', new BigInt64Array(ids.data.length).fill(1n), ids.dims),
    });
    const hidden = encOut['last_hidden_state'];
    const width = hidden.dims[2];
    const hiddenData = hidden.data as Float32Array;
    // Each source's encoder output and mask, once per beam (rows b * beams .. b * beams + beams - 1).
    const expanded = new Float32Array(rows * seq * width);
    for (let r = 0; r < rows; r++) {
      const b = Math.floor(r / beams);
      expanded.set(hiddenData.subarray(b * seq * width, (b + 1) * seq * width), r * seq * width);
    }
    const encoderStates = new Tensor('float32', expanded, [rows, seq, width]);
    const encoderMask = new Tensor('int64', new BigInt64Array(rows * seq).fill(1n), [rows, seq]);

    const pastNames = decoder.inputNames.filter(n => n.startsWith('past_key_values.'));
    const meta = new Map((decoder.inputMetadata ?? []).map(m => [m.name, m.shape ?? []]));
    const headsAndDim = (name: string): [number, number] => {
      const shape = meta.get(name) ?? [];
      const h = Number(shape[1]);
      const d = Number(shape[3]);
      if (!Number.isInteger(h) || !Number.isInteger(d)) throw new Error(`cannot read heads/head size of ${name}: ${JSON.stringify(shape)}`);
      return [h, d];
    };
    let past: Record<string, InstanceType<Ort['Tensor']>> = {};
    for (const n of pastNames) {
      const [h, d] = headsAndDim(n);
      past[n] = new Tensor('float32', new Float32Array(0), [rows, h, 0, d]);
    }

    const search = beams > 1 ? new BeamSearch(batch, beams, vocab) : null;
    const greedy: number[][] = sources.map(() => []);
    let current: Int32Array<ArrayBufferLike> = new Int32Array(rows).fill(this.model.decoderStartTokenId);
    const stamps: number[] = [];
    for (let step = 0; step < options.maxNewTokens; step++) {
      const stepIds = new BigInt64Array(rows);
      current.forEach((t, r) => (stepIds[r] = BigInt(t)));
      const out = await decoder.run({
        input_ids: new Tensor('int64', stepIds, [rows, 1]), encoder_hidden_states: encoderStates,
        encoder_attention_mask: encoderMask, use_cache_branch: new Tensor('bool', [step > 0], [1]), ...past,
      } as Record<string, OrtTensor>);
      const logits = out['logits'].data as Float32Array;  // [rows, 1, vocab]
      let parents: Int32Array | null = null;
      if (search) {
        const chosen = search.step(logits, vocab);
        parents = chosen.parents;
        current = chosen.tokens;
      } else {
        current = argmaxRows(logits, rows, vocab);
        current.forEach((t, r) => greedy[r].push(t));
      }
      const next: typeof past = {};
      for (const n of pastNames) {
        const present = out[n.replace('past_key_values', 'present')] as InstanceType<Ort['Tensor']>;
        if (n.includes('.encoder.')) {
          // The first step's cross-attention keys/values throughout (later steps output placeholders).
          next[n] = step === 0 ? present : past[n];
        } else {
          next[n] = parents ? gatherRows(ort, present, parents) : present;
        }
      }
      past = next;
      stamps.push(performance.now());
    }
    const totalMs = performance.now() - t0;
    const steps = stamps.slice(1).map((s, i) => s - stamps[i]);
    return {tokens: search ? search.best() : greedy, totalMs, msPerStep: median(steps),
            firstTokenMs: stamps.length ? stamps[0] - t0 : null};
  }

  async dispose(): Promise<void> {
    await this.lm?.dispose();
    this.lm = null;
  }
}

/** A [rows, ...] float32 tensor with its rows taken from `parents` (the cache reordered by beam). */
function gatherRows(ort: Ort, t: InstanceType<Ort['Tensor']>, parents: Int32Array): InstanceType<Ort['Tensor']> {
  const src = t.data as Float32Array;
  const rowSize = src.length / t.dims[0];
  const dst = new Float32Array(src.length);
  parents.forEach((p, r) => dst.set(src.subarray(p * rowSize, (p + 1) * rowSize), r * rowSize));
  return new ort.Tensor('float32', dst, t.dims as number[]);
}
