/**
 * A sum of embedding-table lookups and constant terms, optionally followed by
 * a LayerNorm: BERT's embeddings (word + position + token type, then
 * LayerNorm) as one op. On `cpu` it is one pass over the output rows instead
 * of a gather and a broadcasting add per term.
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {EmbeddingSumAttrs} from '../op_table';
import {broadcastRowShape} from '../portable/embedding_sum';
import {
  describeShape, describeValue, fail, requireElementCount, requireFiniteNumber, requireFloat32, requireFloatShape,
  requireKnownKeys, requireRank, requireTensor,
} from './validate';

export interface EmbeddingTerm {
  /** A lookup: table [rows, W] gathered at `indices`. A constant: [..., W], added as it is (broadcast). */
  table: tf.Tensor;
  /** int32 row indices of any shape, each in [0, rows). Absent for a constant term. */
  indices?: tf.Tensor;
}

export interface EmbeddingSumOptions {
  /** LayerNorm of the sum, [W] each; give both or neither. */
  gamma?: tf.Tensor1D;
  beta?: tf.Tensor1D;
  /** The LayerNorm's epsilon; default 1e-5. */
  epsilon?: number;
}

const OP = 'embeddingSum';

/**
 * Σ_k term_k, where a lookup term is gather(table_k, indices_k) and a
 * constant term is table_k; the index shapes and the constants' leading axes
 * broadcast (numpy rules) to the output's row shape R. Result [...R, W],
 * then LayerNorm(gamma, beta, epsilon) over W when gamma and beta are given.
 * An index outside [0, rows) is an error when the op runs.
 */
export function embeddingSum(terms: EmbeddingTerm[], options: EmbeddingSumOptions = {}): tf.Tensor {
  if (!Array.isArray(terms) || terms.length === 0) {
    fail(OP, `terms must be a non-empty array of {table, indices?}, got ${
        Array.isArray(terms) ? 'an empty array' : describeValue(terms)}`);
  }
  let width = -1;
  const rowShapes: number[][] = [];
  const lookups: boolean[] = [];
  const inputs: tf.Tensor[] = [];
  terms.forEach((term, k) => {
    const label = `terms[${k}]`;
    if (term == null || typeof term !== 'object' || Array.isArray(term)) fail(OP, `${label} must be an object, got ${describeValue(term)}`);
    requireKnownKeys(OP, `${label} key`, term, ['table', 'indices']);
    const table = requireTensor(OP, `${label}.table`, term.table);
    requireFloat32(OP, `${label}.table`, table);
    const lookup = term.indices != null;
    if (lookup) requireRank(OP, `${label}.table`, table, 2, '[rows, W]');
    else if (table.rank < 1) fail(OP, `${label}.table must have rank at least 1 ([..., W]), got a scalar`);
    const termWidth = table.shape[table.rank - 1];
    if (width < 0) width = termWidth;
    if (termWidth !== width) {
      fail(OP, `every term must have the same width W = ${width}, but ${label}.table has shape ${describeShape(table.shape)}`);
    }
    let indices: tf.Tensor = placeholder();
    if (lookup) {
      indices = requireTensor(OP, `${label}.indices`, term.indices);
      if (indices.dtype !== 'int32') fail(OP, `${label}.indices must have dtype int32, got ${indices.dtype}`);
      rowShapes.push(indices.shape);
    } else {
      rowShapes.push(table.shape.slice(0, -1));
    }
    lookups.push(lookup);
    inputs.push(table, indices);
  });
  if (width < 1) fail(OP, 'the terms must have a width W of at least 1');
  if (!lookups.includes(true)) fail(OP, 'terms must include at least one lookup (a term with indices)');
  let rowShape: number[] = [];
  try {
    rowShape = broadcastRowShape(rowShapes);
  } catch {
    fail(OP, `the index shapes and constant row shapes ${rowShapes.map(describeShape).join(', ')} do not broadcast`);
  }
  requireElementCount(OP, 'the result', [...rowShape, width], 'rows*W');

  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['gamma', 'beta', 'epsilon']);
  const hasNorm = options.gamma != null || options.beta != null;
  if (hasNorm && (options.gamma == null || options.beta == null)) fail(OP, 'options.gamma and options.beta go together');
  const gamma = hasNorm ? requireFloatShape(OP, 'options.gamma', options.gamma, [width], '[W]') : placeholder();
  const beta = hasNorm ? requireFloatShape(OP, 'options.beta', options.beta, [width], '[W]') : placeholder();
  const epsilon = options.epsilon === undefined ? 1e-5 : requireFiniteNumber(OP, 'options.epsilon', options.epsilon);
  if (epsilon < 0) fail(OP, `options.epsilon must not be negative, got ${epsilon}`);

  const attrs: EmbeddingSumAttrs = {numTerms: terms.length, lookups, hasNorm, epsilon};
  return tf.tidy(() => runOpResult('EmbeddingSum', [gamma, beta, ...inputs], attrs));
}
