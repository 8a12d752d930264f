/**
 * Rotary position embedding (RoPE) of x [B, H, S, D] at positions [B, S]:
 * each pair (a, b) of the first rotaryDim features becomes
 * (a·cos − b·sin, b·cos + a·sin) with cos/sin read from the tables' row at the
 * token's position. Pairs are (i, i + rotaryDim/2) — "rotate half", GPT-NeoX,
 * Llama, Mistral — or (2i, 2i + 1) when `interleaved` (GPT-J). rotaryDim is
 * 2 · cos.shape[1]; features past it pass through (partial rotary). The tables
 * are the model's own (angle = position · inverse frequency, computed as the
 * model computes them), so the op reproduces it exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOpResult} from '../dispatch/dispatch';
import {RotaryEmbeddingAttrs} from '../op_table';
import {
  describeShape, describeValue, fail, requireBoolean, requireFloat32, requireFloatShape, requireKnownKeys, requireRank,
  requireTensor,
} from './validate';

export interface RotaryEmbeddingOptions {
  /** GPT-J's pairs (2i, 2i + 1) instead of (i, i + rotaryDim/2). Default false. */
  interleaved?: boolean;
}

const OP = 'rotaryEmbedding';

/** positions: an int32 tensor of `shape` whose values index `rows` table rows (read to check them). */
export function requirePositions(op: string, name: string, x: unknown, shape: number[], layout: string,
    rows: number): tf.Tensor {
  const positions = requireTensor(op, name, x);
  if (positions.dtype !== 'int32') fail(op, `${name} must have dtype int32, got ${positions.dtype}`);
  if (!tf.util.arraysEqual(positions.shape, shape)) {
    fail(op, `${name} must have shape ${layout} = ${describeShape(shape)}, got ${describeShape(positions.shape)}`);
  }
  const values = positions.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0 || values[i] >= rows) {
      fail(op, `${name} holds ${values[i]} at index ${i}; positions must be in [0, ${rows}) (the rows of cos and sin)`);
    }
  }
  return positions;
}

export function rotaryEmbedding(x: tf.Tensor4D, positions: tf.Tensor2D, cos: tf.Tensor2D, sin: tf.Tensor2D,
    options: RotaryEmbeddingOptions = {}): tf.Tensor4D {
  const xt = requireTensor(OP, 'x', x);
  requireRank(OP, 'x', xt, 4, '[B, H, S, D]');
  requireFloat32(OP, 'x', xt);
  const [batch, , seq, depth] = xt.shape;
  const cosT = requireTensor(OP, 'cos', cos);
  requireRank(OP, 'cos', cosT, 2, '[P, rotaryDim / 2]');
  requireFloat32(OP, 'cos', cosT);
  const [rows, half] = cosT.shape;
  const sinT = requireFloatShape(OP, 'sin', sin, [rows, half], 'the shape of cos');
  if (half < 1 || rows < 1) fail(OP, `cos and sin must have at least one row and one column, got ${describeShape(cosT.shape)}`);
  if (2 * half > depth) fail(OP, `rotaryDim = 2 · cos.shape[1] = ${2 * half} exceeds the head dimension D = ${depth}`);
  const pos = requirePositions(OP, 'positions', positions, [batch, seq], '[B, S]', rows);
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['interleaved']);
  const interleaved = options.interleaved === undefined ? false : requireBoolean(OP, 'options.interleaved', options.interleaved);
  const attrs: RotaryEmbeddingAttrs = {rotaryDim: 2 * half, interleaved};
  return tf.tidy(() => runOpResult<tf.Tensor4D>('RotaryEmbedding', {x: xt, positions: pos, cos: cosT, sin: sinT}, attrs));
}
