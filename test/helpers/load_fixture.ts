/**
 * Fixtures made by tools/fixtures (the real tensorflowjs_converter): listing,
 * and loading a model with its reference inputs/outputs from disk with fs
 * (no tfjs-node needed, so they run on every backend). tools/fixtures/README.md
 * describes the files.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {readModelArtifacts} from '../../src/io/model_files';

export const FIXTURES_DIR = path.join(__dirname, '..', 'fixtures');

export interface FixtureMeta {
  id: string;
  architecture: string;
  format: 'graph-model' | 'layers-model';
  layers: number;
  hidden: number;
  heads: number;
  activation: string;
  norm: 'pre' | 'post';
  causal: boolean;
  expected: 'supported' | 'refused';
  refusalHint: string | null;
  quantization: null | 'float16' | 'uint8';
  intermediate: number;
  /**
   * Decoder fixtures (language models) carry generation.json: Python's greedy tokens and per-step logits;
   * encoder–decoder ones ('seq2seq') greedy and beam-search tokens too.
   */
  kind?: 'encoder' | 'decoder' | 'seq2seq';
  notes: string | null;
  /** Versions of the tools that made the fixture. */
  converter: string;
  tensorflow: string;
  transformers: string;
  /**
   * Inputs by the names tfjs accepts in execute()/predict() (null = any size);
   * `tensor` is the graph tensor the name resolves to.
   */
  signature: {
    inputs: Record<string, {dtype: 'int32' | 'float32'; shape: Array<number | null>; tensor: string}>;
    outputs: string[];
  };
}

interface TensorJson {
  dtype: 'int32' | 'float32';
  shape: number[];
  data: number[];
}

export interface FixtureReference {
  inputs: Record<string, TensorJson>;
  outputs: Record<string, TensorJson>;
  validTokens: TensorJson | null;
}

export function listFixtures(): FixtureMeta[] {
  if (!fs.existsSync(FIXTURES_DIR)) return [];
  return fs.readdirSync(FIXTURES_DIR).sort()
      .filter(id => fs.existsSync(path.join(FIXTURES_DIR, id, 'fixture.json')))
      .map(id => JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, id, 'fixture.json'), 'utf8')) as FixtureMeta);
}

function toTensor(t: TensorJson): tf.Tensor {
  return tf.tensor(t.data, t.shape, t.dtype);
}

export function loadFixture(id: string) {
  const dir = path.join(FIXTURES_DIR, id);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8')) as FixtureMeta;
  const reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as FixtureReference;
  const artifacts = readModelArtifacts(dir);
  const outputNames = Object.keys(reference.outputs);
  return {
    dir, meta, reference, artifacts, outputNames,
    /** A fresh model each call (artifacts are shared, weights decoded anew). */
    loadGraphModel: (): GraphModel => loadGraphModelSync(artifacts) as unknown as GraphModel,
    /**
     * For layers-model fixtures. Keras layers tfjs-layers lacks (MultiHeadAttention)
     * must be registered first, e.g. by importing this package.
     */
    loadLayersModel: async (): Promise<LayersModel> => {
      const layers = await import('@tensorflow/tfjs-layers');
      return layers.loadLayersModel(tf.io.fromMemory(artifacts));
    },
    inputs: (): tf.NamedTensorMap => {
      const out: tf.NamedTensorMap = {};
      for (const [name, t] of Object.entries(reference.inputs)) out[name] = toTensor(t);
      return out;
    },
    referenceOutput: (name: string): tf.Tensor => toTensor(reference.outputs[name]),
  };
}
