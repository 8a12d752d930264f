/**
 * Random attention problems for parity tests: shapes from the sizes the
 * kernels must handle (odd ones included), every mask kind and combination.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {paddingMask, randn, randomBool, rng} from './random';

export const SEQ_LENGTHS = [1, 2, 7, 64, 129, 513];
export const DEPTHS = [1, 8, 32, 64, 80, 128];
export const HEADS = [1, 2, 12];

export type AdditiveShape = 'full' | 'rowsCols' | 'perHeadKeys' | 'keys' | 'perBatch';
export type MaskMode = 'none' | 'bool' | 'additive';

export interface AttentionCase {
  batch: number; heads: number; kvHeads: number; querySeq: number; keySeq: number; depth: number; valueDepth: number;
  mask: MaskMode;
  maskShape: AdditiveShape;
  keyPadding: 'none' | 'int32' | 'bool' | 'float32';
  /** Some batch rows fully padded / some query rows fully masked. */
  emptyRows: boolean;
  isCausal: boolean;
  scale: number | undefined;
  seed: number;
}

export function maskShapeFor(c: AttentionCase): number[] {
  switch (c.maskShape) {
    case 'full': return [c.batch, c.heads, c.querySeq, c.keySeq];
    case 'rowsCols': return [c.querySeq, c.keySeq];
    case 'perHeadKeys': return [1, c.heads, 1, c.keySeq];
    case 'keys': return [c.keySeq];
    case 'perBatch': return [c.batch, 1, c.querySeq, c.keySeq];
  }
}

export interface AttentionTensors {
  q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D;
  options: {attnMask?: tf.Tensor; keyPaddingMask?: tf.Tensor; isCausal?: boolean; scale?: number};
}

export function makeAttentionTensors(c: AttentionCase): AttentionTensors {
  const q = randn([c.batch, c.heads, c.querySeq, c.depth], c.seed) as tf.Tensor4D;
  const k = randn([c.batch, c.kvHeads, c.keySeq, c.depth], c.seed + 1) as tf.Tensor4D;
  const v = randn([c.batch, c.kvHeads, c.keySeq, c.valueDepth], c.seed + 2) as tf.Tensor4D;
  const options: AttentionTensors['options'] = {isCausal: c.isCausal, scale: c.scale};
  const r = rng(c.seed + 3);
  if (c.mask !== 'none') {
    const shape = maskShapeFor(c);
    const size = shape.reduce((a, b) => a * b, 1);
    if (c.mask === 'bool') {
      const values = Array.from({length: size}, () => r() < 0.75);
      // Fully hidden rows: the first row of the mask hides every key.
      if (c.emptyRows && shape.length >= 2) for (let j = 0; j < c.keySeq; j++) values[j] = false;
      options.attnMask = tf.tensor(values, shape, 'bool');
    } else {
      const values = Array.from({length: size}, () => (r() < 0.15 ? -Infinity : (r() - 0.5) * 4));
      if (c.emptyRows && shape.length >= 2) for (let j = 0; j < c.keySeq; j++) values[j] = -Infinity;
      options.attnMask = tf.tensor(values, shape, 'float32');
    }
  }
  if (c.keyPadding !== 'none') {
    const lengths = Array.from({length: c.batch}, (_, b) =>
        c.emptyRows && b === c.batch - 1 ? 0 : 1 + Math.floor(r() * c.keySeq));
    options.keyPaddingMask = paddingMask(lengths, c.keySeq, c.keyPadding, r() < 0.5 ? 'right' : 'left');
  }
  return {q, k, v, options};
}

/** Multiply-adds of one forward pass: keeps random cases inside a time budget. */
export function caseCost(c: AttentionCase): number {
  return c.batch * c.heads * c.querySeq * c.keySeq * (c.depth + c.valueDepth);
}

export function attentionCaseArbitrary(maxCost: number): fc.Arbitrary<AttentionCase> {
  return fc.record({
    batch: fc.integer({min: 1, max: 4}),
    heads: fc.constantFrom(...HEADS),
    kvDivisorIndex: fc.nat(),
    querySeq: fc.constantFrom(...SEQ_LENGTHS),
    keySeq: fc.constantFrom(...SEQ_LENGTHS),
    depth: fc.constantFrom(...DEPTHS),
    valueDepthSame: fc.boolean(),
    valueDepth: fc.constantFrom(...DEPTHS),
    mask: fc.constantFrom<MaskMode>('none', 'bool', 'additive'),
    maskShape: fc.constantFrom<AdditiveShape>('full', 'rowsCols', 'perHeadKeys', 'keys', 'perBatch'),
    keyPadding: fc.constantFrom<AttentionCase['keyPadding']>('none', 'int32', 'bool', 'float32'),
    emptyRows: fc.boolean(),
    isCausal: fc.boolean(),
    scale: fc.option(fc.double({min: 0.01, max: 2, noNaN: true}), {nil: undefined}),
    seed: fc.integer({min: 1, max: 1 << 30}),
  }).map(r => {
    const divisors = Array.from({length: r.heads}, (_, i) => i + 1).filter(d => r.heads % d === 0);
    const {kvDivisorIndex, valueDepthSame, ...rest} = r;
    return {
      ...rest,
      kvHeads: divisors[kvDivisorIndex % divisors.length],
      valueDepth: valueDepthSame ? r.depth : r.valueDepth,
    };
  }).filter(c => caseCost(c) <= maxCost);
}

export function describeCase(c: AttentionCase): string {
  return JSON.stringify(c);
}
