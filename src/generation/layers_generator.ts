/**
 * The generator's parts for a tfjs-layers model (createGenerator assembles
 * them): the decoder recognised from the layer graph (layers_decoder.ts) runs
 * as the fused step with a key/value cache once it agrees with the model's own
 * predict() on the probe prompts (verify_decoder.ts); a model the recogniser
 * does not understand, or one that disagrees, is generated from with predict()
 * on the whole sequence per token, and the report says why. A model that
 * cannot be fed token ids, or whose attention looks both ways, is refused.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {implementationOf} from '../dispatch/implementation';
import type {Implementation} from '../dispatch/implementation';
import {BetterTransformerArgumentError} from '../errors';
import type {WeightPrecision} from '../op_table';
import {DecoderModelArgs, validateDecoderModel} from '../ops/decoder_args';
import {buildLayersDecoder, LayersDecoder} from './layers_decoder';
import {LayersInterface, layersInterface, LayersRecomputeSteps, MaskTokenFallbackSteps} from './layers_steps';
import {CachedSteps, StepModel} from './step_models';
import {verifyCachedSteps} from './verify_decoder';

export {isLayersModelLike} from './layers_decoder';

export interface LayersGeneratorParts {
  steps: StepModel;
  mode: 'cached' | 'recompute';
  reason: string | null;
  /** The checked decoder, in cached mode. */
  args: DecoderModelArgs | null;
  verification: {maxRelativeDifference: number; bfloat16RelativeDifference: number | null} | null;
  positions: number;
  weightPrecision: WeightPrecision;
  implementation: Implementation | 'graph';
  /** Tensors the generator owns (views of the model's weights). */
  owned: tf.Tensor[];
}

export interface LayersGeneratorOptions {
  weightPrecision: WeightPrecision;
  cache: boolean;
  maxLength: number;
}

export function buildLayersGenerator(op: string, model: LayersModel, options: LayersGeneratorOptions): LayersGeneratorParts {
  const built = buildLayersDecoder(model, options.maxLength);
  const decoder: LayersDecoder | null = built.ok ? built.decoder : null;
  const dispose = () => {
    decoder?.owned.forEach(t => t.dispose());
  };
  const feed = layersInterface(model, decoder, options.maxLength);
  if (typeof feed === 'string') {
    dispose();
    throw new BetterTransformerArgumentError(`${op}: cannot generate with this model: ${feed}${built.ok ? '' : ` (${built.reason})`}`);
  }
  const recompute = (reason: string | null): LayersGeneratorParts => {
    dispose();
    return {
      steps: new LayersRecomputeSteps(model, feed), mode: 'recompute', reason, args: null, verification: null,
      positions: feed.positions, weightPrecision: 'float32', implementation: 'graph', owned: [],
    };
  };
  if (!decoder) return recompute((built as {reason: string}).reason);
  let args: DecoderModelArgs;
  try {
    args = validateDecoderModel(op, decoder.weights, decoder.config);
  } catch (e) {
    return recompute(`the recognised decoder does not fit the fused step: ${(e as Error).message}`);
  }
  // The recompute baseline asked for: no fused step to verify.
  if (!options.cache) return recompute(null);
  const fused = (precision: WeightPrecision) => withMaskFallback(new CachedSteps(args, precision, decoder.positions), decoder, model,
      feed);
  const float32 = fused('float32');
  const bfloat16 = options.weightPrecision === 'bfloat16' ? fused('bfloat16') : null;
  const check = verifyCachedSteps(float32, new LayersRecomputeSteps(model, feed), args.dims.vocab, bfloat16);
  if (!check.ok) return recompute(check.reason.replace(/the graph/g, 'the model'));
  return {
    steps: bfloat16 ?? float32, mode: 'cached', reason: null, args,
    verification: {maxRelativeDifference: check.maxRelativeDifference, bfloat16RelativeDifference: check.bfloat16RelativeDifference},
    positions: decoder.positions, weightPrecision: options.weightPrecision,
    implementation: implementationOf('TransformerDecoderStack'), owned: decoder.owned,
  };
}

/** The fused steps, handing over to the model itself where the token embedding masks a token (mask_zero). */
function withMaskFallback(steps: CachedSteps, decoder: LayersDecoder, model: LayersModel, feed: LayersInterface): StepModel {
  if (decoder.maskTokenId === null) return steps;
  return new MaskTokenFallbackSteps(steps, new LayersRecomputeSteps(model, feed), decoder.maskTokenId);
}
