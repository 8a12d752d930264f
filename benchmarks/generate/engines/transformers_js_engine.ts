/**
 * transformers.js (@huggingface/transformers on onnxruntime-node) generating with its own key/value cache:
 * AutoModelForCausalLM.generate() on the ONNX export (with past key/values) of the same fp32 weights,
 * .deps/bench-decoders/<model>/onnx. Remote models are disabled: nothing is downloaded.
 *
 * Batches are left-padded with an attention mask, as transformers.js expects for decoder-only models (it
 * derives position ids from the mask). The export's generation_config.json has no EOS and no logits
 * processors, and eos_token_id: null is passed too, so every call runs exactly max_new_tokens greedy steps.
 * Each step is timestamped by a streamer: generate() calls put() once with the prompt, then once per step
 * with one new token per sequence, right after choosing it.
 */
import * as fs from 'fs';
import * as path from 'path';
import {DecoderModel, GenerationEngine, GenerationRun, RunOptions, StepClock} from '../engine';

interface OrtLikeTensor {
  dispose?: () => void;
}
interface CausalLM {
  generate(options: Record<string, unknown>): Promise<OrtLikeTensor>;
  dispose(): Promise<unknown>;
}
interface TransformersModule {
  env: {allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string};
  AutoModelForCausalLM: {from_pretrained(id: string, options: {dtype: 'fp32'; device: 'cpu'}): Promise<CausalLM>};
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => OrtLikeTensor;
}

const PAD_ID = 0;

export class TransformersJsEngine implements GenerationEngine {
  readonly name = 'transformers.js (onnxruntime-node)';
  private transformers: TransformersModule | null = null;
  private model: CausalLM | null = null;

  async prepare(model: DecoderModel): Promise<string | null> {
    if (!fs.existsSync(path.join(model.onnxDir, 'onnx', 'model.onnx'))) {
      return `no ONNX export in ${model.onnxDir}: run tools/decoder_bench/make_models.py`;
    }
    try {
      this.transformers = require('@huggingface/transformers') as TransformersModule;
    } catch (e) {
      return `@huggingface/transformers did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    const {env, AutoModelForCausalLM} = this.transformers;
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = path.dirname(model.onnxDir) + path.sep;
    this.model = await AutoModelForCausalLM.from_pretrained(path.basename(model.onnxDir), {dtype: 'fp32', device: 'cpu'});
    return null;
  }

  async run(prompts: number[][], options: RunOptions): Promise<GenerationRun> {
    if (!this.model || !this.transformers) throw new Error('transformers.js is not prepared');
    const {Tensor} = this.transformers;
    const batch = prompts.length;
    const longest = Math.max(...prompts.map(p => p.length));
    const ids = new BigInt64Array(batch * longest).fill(BigInt(PAD_ID));
    const mask = new BigInt64Array(batch * longest);
    prompts.forEach((prompt, r) => {
      const offset = r * longest + longest - prompt.length;  // left padding
      prompt.forEach((token, i) => {
        ids[offset + i] = BigInt(token);
        mask[offset + i] = 1n;
      });
    });
    const clock = new StepClock(batch, options.memoryAt);
    let promptSeen = false;
    const streamer = {
      put: (value: bigint[][]) => {
        if (!promptSeen) {  // the first put() is the prompt itself
          promptSeen = true;
          return;
        }
        clock.step(value.map(row => Number(row[0])));
      },
      end: () => undefined,
    };
    const sequences = await this.model.generate({
      input_ids: new Tensor('int64', ids, [batch, longest]),
      attention_mask: new Tensor('int64', mask, [batch, longest]),
      max_new_tokens: options.maxNewTokens,
      do_sample: false,
      eos_token_id: null,
      streamer,
    });
    const result = clock.finish();
    sequences.dispose?.();
    if (clock.steps !== options.maxNewTokens) {
      throw new Error(`transformers.js stopped after ${clock.steps} of ${options.maxNewTokens} new tokens`);
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.model?.dispose();
    this.model = null;
  }
}
