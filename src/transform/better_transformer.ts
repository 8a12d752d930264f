/**
 * The public rewriting pass, modelled on Optimum's BetterTransformer:
 * `transform` swaps a model's attention and encoder blocks for the fused
 * kernels and `reverse` undoes it; `report` says what was fused and why any
 * candidate was left alone. A model the pass cannot handle comes back
 * unchanged, with the reason in its report.
 */
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import type {AnyGenerator, GeneratorOptions} from '../generation/generator';
import {graphModelReport, reverseGraphModel, transformGraphModel} from './graph_model_transform';
import {TransformReport} from './report';

export interface TransformOptions {
  /**
   * Leave the given model untouched and return a transformed copy (weights
   * copied). By default the model itself is transformed, sharing its weights.
   */
  keepOriginalModel?: boolean;
  /** Fuse whole encoder layers where they match (default); false fuses attention cores only. */
  fuseEncoderLayers?: boolean;
}

type AnyModel = GraphModel | LayersModel;

const layersReports = new WeakMap<object, TransformReport>();

function isGraphModel(model: unknown): model is GraphModel {
  return typeof model === 'object' && model !== null && 'executeAsync' in model && 'modelSignature' in model;
}

function isLayersModel(model: unknown): model is LayersModel {
  return typeof model === 'object' && model !== null && 'layers' in model && 'getLayer' in model;
}

interface LayersSupport {
  transformLayersModel(model: LayersModel, options: {keepOriginalModel: boolean}): {model: LayersModel; report: TransformReport};
  reverseLayersModel(model: LayersModel): LayersModel;
}

interface GenerationSupport {
  createGenerator(model: unknown, options?: GeneratorOptions): AnyGenerator;
}

/** Loaded on first use, like layers support (keeps the rewriting pass free of the generator's modules). */
function generationSupport(): GenerationSupport {
  return require('../generation/generator') as GenerationSupport;
}

/** Loaded on first use: layers-model support pulls in tfjs-layers. */
function layersSupport(): LayersSupport {
  return require('../layers/transform_layers_model') as LayersSupport;
}

function transform<M extends AnyModel>(model: M, options: TransformOptions = {}): M {
  if (isGraphModel(model)) return transformGraphModel(model, options).model as M;
  if (isLayersModel(model)) {
    const result = layersSupport().transformLayersModel(model, {keepOriginalModel: options.keepOriginalModel ?? false});
    layersReports.set(result.model, result.report);
    return result.model as M;
  }
  throw new TypeError('BetterTransformer.transform: expected a GraphModel (tf.loadGraphModel) or a LayersModel (tf.loadLayersModel)');
}

function reverse<M extends AnyModel>(model: M): M {
  if (isGraphModel(model)) return reverseGraphModel(model) as M;
  if (isLayersModel(model)) {
    layersReports.delete(model);
    return layersSupport().reverseLayersModel(model) as M;
  }
  throw new TypeError('BetterTransformer.reverse: expected a GraphModel or a LayersModel');
}

/** What `transform` did to this model; undefined for a model it has not transformed. */
function report(model: AnyModel): TransformReport | undefined {
  return isGraphModel(model) ? graphModelReport(model) : layersReports.get(model);
}

/**
 * A text generator for a converted decoder-only model (GPT-2, OPT, GPT-J,
 * Llama/Mistral, ...) or a tfjs-layers decoder of Keras MultiHeadAttention with
 * use_causal_mask: the fused decoder step with a key/value cache where the
 * model is recognised and checked, else the model recomputed per token; see
 * src/generation/generator.ts.
 */
function generator(model: GraphModel | LayersModel, options?: GeneratorOptions): AnyGenerator {
  return generationSupport().createGenerator(model, options);
}

export const BetterTransformer = {transform, reverse, report, generator};
