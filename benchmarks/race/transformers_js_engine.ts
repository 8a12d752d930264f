/**
 * transformers.js (@huggingface/transformers on onnxruntime-node): its
 * feature-extraction pipeline with mean pooling and normalisation, on the
 * same PyTorch weights exported to ONNX fp32 by tools/minilm/convert.py into
 * .deps/minilm-onnx. Remote models are disabled: nothing is downloaded.
 */
import * as fs from 'fs';
import * as path from 'path';
import {RaceEngine} from './race_engine';

interface FeatureTensor {
  dims: number[];
  data: Float32Array;
  dispose?: () => void;
}
type Extractor = ((texts: string[], options: {pooling: 'mean'; normalize: boolean}) => Promise<FeatureTensor>) & {
  dispose?: () => Promise<void>;
};
interface TransformersModule {
  env: {allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string; useFSCache?: boolean};
  pipeline: (task: 'feature-extraction', model: string, options: {dtype: 'fp32'; device: 'cpu'}) => Promise<Extractor>;
}

export class TransformersJsEngine implements RaceEngine {
  readonly name = 'transformers.js (onnxruntime-node)';
  private extractor: Extractor | null = null;

  constructor(private readonly onnxDir: string) {}

  async prepare(): Promise<string | null> {
    if (!fs.existsSync(path.join(this.onnxDir, 'onnx', 'model.onnx'))) {
      return `no ONNX export in ${this.onnxDir}: run tools/minilm/setup.sh, then .deps/minilm-venv/bin/python tools/minilm/convert.py`;
    }
    let transformers: TransformersModule;
    try {
      transformers = require('@huggingface/transformers') as TransformersModule;
    } catch (e) {
      return `@huggingface/transformers did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    transformers.env.allowRemoteModels = false;
    transformers.env.allowLocalModels = true;
    transformers.env.localModelPath = path.dirname(this.onnxDir) + path.sep;
    this.extractor = await transformers.pipeline('feature-extraction', path.basename(this.onnxDir), {dtype: 'fp32', device: 'cpu'});
    return null;
  }

  async embedBatch(sentences: string[]): Promise<Float32Array[]> {
    if (!this.extractor) throw new Error('transformers.js is not prepared');
    const out = await this.extractor(sentences, {pooling: 'mean', normalize: true});
    const width = out.dims[1];
    const rows = sentences.map((_, i) => out.data.slice(i * width, (i + 1) * width));
    out.dispose?.();
    return rows;
  }

  async dispose(): Promise<void> {
    await this.extractor?.dispose?.();
    this.extractor = null;
  }
}
