/**
 * The rewriting pass for tfjs-layers models: every MultiHeadAttention layer of
 * this package (at any depth of nested models) switches its attention core to
 * the fused op; `reverseLayersModel` switches it back. Weights and topology
 * are untouched, so a reversed model computes what the original did.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import type {Layer} from '@tensorflow/tfjs-layers/dist/engine/topology';
import {emptyReport, TransformReport} from '../transform/report';
import {MultiHeadAttention} from './multi_head_attention';

export interface TransformLayersModelOptions {
  /** Leave `model` untouched and transform a copy (rebuilt from its config, weights copied). */
  keepOriginalModel?: boolean;
}

const ARCHITECTURE = 'Keras layers model';

/** Every layer, nested models' layers included (a nested model is listed, then its layers). */
function allLayers(model: {layers: Layer[]}): Layer[] {
  const out: Layer[] = [];
  for (const layer of model.layers) {
    out.push(layer);
    const nested = (layer as unknown as {layers?: Layer[]}).layers;
    if (Array.isArray(nested)) out.push(...allLayers({layers: nested}));
  }
  return out;
}

function isAttentionLike(className: string): boolean {
  return /attention/i.test(className);
}

function skipReason(layer: Layer): string | null {
  const className = layer.getClassName();
  if (layer instanceof MultiHeadAttention) return null;
  if (className === 'MultiHeadAttention') {
    const axes = (layer.getConfig() as {attentionAxes?: unknown}).attentionAxes;
    if (axes != null && JSON.stringify(axes) !== '[1]') {
      return `attention_axes ${JSON.stringify(axes)} is not attention over the sequence axis; it runs unfused`;
    }
    return 'a MultiHeadAttention class other than this package\'s (registered before it, e.g. by tfjs-layers\' ' +
        'ES-module build) holds the layer; it runs unfused';
  }
  return `layer class ${className} is not a known attention layer; it runs unfused`;
}

/** Copies a model through its config and weights; the original stays usable. */
function copyModel(model: LayersModel): LayersModel {
  const cls = model.constructor as unknown as {
    fromConfig(cls: unknown, config: tf.serialization.ConfigDict): LayersModel;
  };
  const config = JSON.parse(JSON.stringify(model.getConfig())) as tf.serialization.ConfigDict;
  const copy = cls.fromConfig(cls, config);
  const weights = tf.tidy(() => model.getWeights().map(w => w.clone()));
  copy.setWeights(weights);
  tf.dispose(weights);
  // Fused or not, the copy starts where the original is.
  const originals = allLayers(model);
  allLayers(copy).forEach((layer, i) => {
    const original = originals[i];
    if (layer instanceof MultiHeadAttention && original instanceof MultiHeadAttention) {
      layer.useFusedAttention = original.useFusedAttention;
    }
  });
  return copy;
}

export function transformLayersModel(model: LayersModel, options: TransformLayersModelOptions = {}):
    {model: LayersModel; report: TransformReport} {
  const target = options.keepOriginalModel ? copyModel(model) : model;
  const report = emptyReport(ARCHITECTURE);
  for (const layer of allLayers(target)) {
    const className = layer.getClassName();
    if (layer instanceof MultiHeadAttention) {
      layer.useFusedAttention = true;
      report.fused.push({kind: 'attention', layers: 1, nodes: [layer.name]});
    } else if (isAttentionLike(className)) {
      report.skipped.push({nodes: [layer.name], reason: skipReason(layer)!});
    }
  }
  return {model: target, report};
}

/** Switches every fused MultiHeadAttention layer back to plain tfjs ops; returns the same model. */
export function reverseLayersModel(model: LayersModel): LayersModel {
  for (const layer of allLayers(model)) {
    if (layer instanceof MultiHeadAttention) layer.useFusedAttention = false;
  }
  return model;
}
