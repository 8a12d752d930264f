/**
 * The one place the embeddings code calls the rewriting pass, so the demo,
 * the race and the tests share how a model is transformed and what is
 * reported about it.
 */
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../index';
import type {TransformReport} from '../transform/report';

export interface TransformedModel {
  model: GraphModel;
  report: TransformReport | undefined;
}

/** A BetterTransformer copy of `model`; the original stays usable (weights are copied). */
export function toBetterTransformer(model: GraphModel): TransformedModel {
  const transformed = BetterTransformer.transform(model, {keepOriginalModel: true});
  return {model: transformed, report: BetterTransformer.report(transformed)};
}
