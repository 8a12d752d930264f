/**
 * Argument checks shared by the public ops. Every check throws a
 * BetterTransformerArgumentError naming the op, the argument, the expectation
 * and what was actually passed. Nothing reaches a kernel unchecked.
 */
import * as tf from '@tensorflow/tfjs-core';
import {getGpuPrecision, GPU_PRECISIONS, GpuPrecision} from '../config';
import {BetterTransformerArgumentError} from '../errors';
import {FLOAT32_MAX, MAX_DIMENSION, MAX_ELEMENTS} from '../op_table';

export function fail(op: string, message: string): never {
  throw new BetterTransformerArgumentError(`${op}: ${message}`);
}

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function describeValue(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? (x as object).constructor?.name ?? 'an object' : typeof x;
}

export function requireTensor(op: string, name: string, x: unknown): tf.Tensor {
  if (!(x instanceof tf.Tensor)) {
    fail(op, `${name} must be a tf.Tensor, got ${describeValue(x)}`);
  }
  if (x.isDisposed) fail(op, `${name} has already been disposed`);
  if ((x.shape as number[]).some(d => d > MAX_DIMENSION)) {
    fail(op, `${name} has a dimension above ${MAX_DIMENSION}: shape ${describeShape(x.shape)}`);
  }
  return x;
}

/** `what` (whose size is the product of `dims`, described by `formula`) must not exceed MAX_ELEMENTS. */
export function requireElementCount(op: string, what: string, dims: readonly number[], formula: string): void {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) {
    fail(op, `${what} would have ${formula} = ${count} elements; at most ${MAX_ELEMENTS} are supported`);
  }
}

export function requireFloat32(op: string, name: string, x: tf.Tensor): void {
  if (x.dtype !== 'float32') {
    fail(op, `${name} must have dtype float32, got ${x.dtype}`);
  }
}

export function requireRank(op: string, name: string, x: tf.Tensor, rank: number, layout: string): void {
  if (x.rank !== rank) {
    fail(op, `${name} must have rank ${rank} (${layout}), got rank ${x.rank} with shape ${describeShape(x.shape)}`);
  }
}

/** `x` must be a float32 tensor of exactly `expected` shape. */
export function requireFloatShape(
    op: string, name: string, x: unknown, expected: readonly number[], layout: string): tf.Tensor {
  const t = requireTensor(op, name, x);
  requireFloat32(op, name, t);
  if (!tf.util.arraysEqual(t.shape, expected as number[])) {
    fail(op, `${name} must have shape ${layout} = ${describeShape(expected)}, got ${describeShape(t.shape)}`);
  }
  return t;
}

/** A finite number that stays finite as a float32 (kernels take their attributes in float32). */
export function requireFiniteNumber(op: string, name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    fail(op, `${name} must be a finite number, got ${typeof x === 'number' ? x : describeValue(x)}`);
  }
  if (Math.abs(x) > FLOAT32_MAX) fail(op, `${name} must be a finite float32 (|x| <= ${FLOAT32_MAX}), got ${x}`);
  return x;
}

export function requireBoolean(op: string, name: string, x: unknown): boolean {
  if (typeof x !== 'boolean') fail(op, `${name} must be a boolean, got ${describeValue(x)}`);
  return x;
}

export function requireOneOf<T extends string>(op: string, name: string, x: unknown, allowed: readonly T[]): T {
  if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) {
    fail(op, `${name} must be one of ${allowed.map(a => `'${a}'`).join(', ')}, got ${
        typeof x === 'string' ? `'${x}'` : describeValue(x)}`);
  }
  return x as T;
}

/** Options objects: rejects unknown keys, which are almost always typos. */
export function requireKnownKeys(op: string, name: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      fail(op, `unknown ${name} key '${key}' (known: ${known.join(', ')})`);
    }
  }
}

/**
 * Checks that `shape` broadcasts to `target` (numpy rules, right-aligned,
 * every dim 1 or equal) without growing its rank beyond the target's.
 */
export function requireBroadcastable(
    op: string, name: string, shape: readonly number[], target: readonly number[], layout: string): void {
  const ok = shape.length <= target.length && shape.every((dim, i) => {
    const t = target[target.length - shape.length + i];
    return dim === 1 || dim === t;
  });
  if (!ok) {
    fail(op, `${name} of shape ${describeShape(shape)} does not broadcast to ${layout} = ${describeShape(target)}`);
  }
}

/** A Hugging Face style key padding mask: exactly `shape`, dtype int32, bool or float32 (nonzero = real). */
export function requirePaddingMask(op: string, name: string, x: unknown, shape: number[], layout: string): tf.Tensor {
  const mask = requireTensor(op, name, x);
  if (!['int32', 'bool', 'float32'].includes(mask.dtype)) {
    fail(op, `${name} must have dtype int32, bool or float32, got ${mask.dtype}`);
  }
  if (!tf.util.arraysEqual(mask.shape, shape)) {
    fail(op, `${name} must have shape ${layout} = ${describeShape(shape)}, got ${describeShape(mask.shape)}`);
  }
  return mask;
}

/** An op's `precision` option (the GPU kernels' matrix products): checked; absent, the process-wide setting now. */
export function resolveGpuPrecision(op: string, x: unknown): GpuPrecision {
  return x === undefined ? getGpuPrecision() : requireOneOf(op, 'options.precision', x, GPU_PRECISIONS);
}
