/** embedder.json, written next to a converted model by tools/minilm/convert.py: how to tokenize and pool. */
import * as fs from 'fs';
import * as path from 'path';

export interface EmbedderConfig {
  model: string;
  maxSeqLength: number;
  hiddenSize: number;
  pooling: 'mean';
  normalize: boolean;
  quantization: string;
  inputs: string[];
  output: string;
}

export function readEmbedderConfig(dir: string): EmbedderConfig {
  const file = path.join(dir, 'embedder.json');
  if (!fs.existsSync(file)) throw new Error(`no embedder.json in ${dir} (made by tools/minilm/convert.py)`);
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as EmbedderConfig;
  if (config.pooling !== 'mean') throw new Error(`${file}: unsupported pooling '${config.pooling}'`);
  return config;
}
