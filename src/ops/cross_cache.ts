/**
 * The encoder side of a transformerDecoderStack step (encoder–decoder models):
 * the cross caches, the source mask and the encoder states, checked against
 * the model and the step's batch before anything is written. The source mask's
 * values are read (B·S integers): a sequence without a real source token would
 * attend to nothing, which is an argument error, not a silent zero row.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {DecoderModelArgs} from './decoder_args';
import {describeShape, fail, requireFloat32, requireRank, requireTensor} from './validate';

/** The encoder-side tensors a step passes to the kernel (null: absent). */
export interface CrossStepTensors {
  crossKeyCache: tf.Tensor | null;
  crossValueCache: tf.Tensor | null;
  sourceMask: tf.Tensor | null;
  encoderStates: tf.Tensor | null;
}

interface CrossInputs {
  crossKeyCache?: unknown;
  crossValueCache?: unknown;
  sourceMask?: unknown;
}

/** Every row of sourceMask [B, S] must have a nonzero entry. */
export function requireRealSourceTokens(op: string, name: string, values: ArrayLike<number>, batch: number,
    sourceLength: number): void {
  for (let b = 0; b < batch; b++) {
    let real = false;
    for (let s = 0; s < sourceLength && !real; s++) real = values[b * sourceLength + s] !== 0;
    if (!real) fail(op, `${name}[${b}] has no real source token (every sequence needs at least one nonzero entry)`);
  }
}

export function validateCrossStep(op: string, model: DecoderModelArgs, cache: CrossInputs, encoderStates: unknown,
    batch: number): CrossStepTensors {
  const {numLayers, numKvHeads, headDim, crossAttention} = model.attrs;
  if (!crossAttention) {
    for (const key of ['crossKeyCache', 'crossValueCache', 'sourceMask'] as const) {
      if (cache[key] != null) fail(op, `cache.${key} is given but the model has no cross-attention (no weights.layers[l].crossQWeight)`);
    }
    if (encoderStates != null) fail(op, 'options.encoderStates is given but the model has no cross-attention (no weights.layers[l].crossQWeight)');
    return {crossKeyCache: null, crossValueCache: null, sourceMask: null, encoderStates: null};
  }
  if (cache.crossKeyCache == null || cache.crossValueCache == null) {
    fail(op, `cache.${cache.crossKeyCache == null ? 'crossKeyCache' : 'crossValueCache'} is required: the model has cross-attention ` +
        '(createDecoderCache(..., {sourceLength}) allocates the cross caches)');
  }
  const keys = requireTensor(op, 'cache.crossKeyCache', cache.crossKeyCache);
  requireRank(op, 'cache.crossKeyCache', keys, 5, '[layers, B, Hkv, S, D]');
  const sourceLength = keys.shape[3] as number;
  const shape = [numLayers, batch, numKvHeads, sourceLength, headDim];
  const values = requireTensor(op, 'cache.crossValueCache', cache.crossValueCache);
  for (const [name, t] of [['cache.crossKeyCache', keys], ['cache.crossValueCache', values]] as const) {
    requireFloat32(op, name, t);
    if (!tf.util.arraysEqual(t.shape, shape)) {
      fail(op, `${name} must have shape [layers, B, Hkv, S, D] = ${describeShape(shape)}, got ${describeShape(t.shape)}`);
    }
  }
  if (sourceLength < 1) fail(op, 'cache.crossKeyCache has a source length S = 0: cross-attention needs at least one source token');
  let sourceMask: tf.Tensor | null = null;
  if (cache.sourceMask != null) {
    sourceMask = requireTensor(op, 'cache.sourceMask', cache.sourceMask);
    if (sourceMask.dtype !== 'int32') fail(op, `cache.sourceMask must have dtype int32, got ${sourceMask.dtype}`);
    if (!tf.util.arraysEqual(sourceMask.shape, [batch, sourceLength])) {
      fail(op, `cache.sourceMask must have shape [B, S] = ${describeShape([batch, sourceLength])}, got ${describeShape(sourceMask.shape)}`);
    }
    requireRealSourceTokens(op, 'cache.sourceMask', sourceMask.dataSync(), batch, sourceLength);
  }
  let states: tf.Tensor | null = null;
  if (encoderStates != null) {
    states = requireTensor(op, 'options.encoderStates', encoderStates);
    requireFloat32(op, 'options.encoderStates', states);
    const want = [batch, sourceLength, model.dims.embed];
    if (!tf.util.arraysEqual(states.shape, want)) {
      fail(op, `options.encoderStates must have shape [B, S, E] = ${describeShape(want)} (B of inputIds, S of ` +
          `cache.crossKeyCache, E of the model), got ${describeShape(states.shape)}`);
    }
  }
  return {crossKeyCache: keys, crossValueCache: values, sourceMask, encoderStates: states};
}
