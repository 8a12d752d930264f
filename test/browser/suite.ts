/**
 * The browser test page's cases: a name and a function that throws on any
 * mismatch. page.ts runs them in order and reports each result to the Node
 * runner (run.js).
 */
import * as tf from '@tensorflow/tfjs-core';
import {closeness, FP32, Tolerance} from '../helpers/tolerance';

export interface BrowserCase {
  suite: string;
  name: string;
  run: () => void | Promise<void>;
}

export interface CaseResult {
  suite: string;
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

export function checkShape(actual: tf.Tensor, expected: number[], label: string): void {
  check(actual.shape.join(',') === expected.join(','), `${label}: shape [${actual.shape}] instead of [${expected}]`);
}

/** The Node suites' closeness criterion (test/helpers/tolerance.ts), throwing with the worst element. */
export function checkClose(actual: tf.Tensor, expected: tf.Tensor, label: string, tol: Tolerance = FP32): void {
  checkShape(actual, expected.shape, label);
  const result = closeness(actual.dataSync(), expected.dataSync(), tol);
  if (!result.ok) throw new Error(`${label}: ${result.detail}`);
}

export async function runCase(c: BrowserCase): Promise<CaseResult> {
  const start = performance.now();
  const tensors = tf.memory().numTensors;
  let detail = '';
  try {
    await c.run();
    const leaked = tf.memory().numTensors - tensors;
    if (leaked !== 0) detail = `${leaked} tensors left behind`;
  } catch (e) {
    detail = e instanceof Error ? e.message : String(e);
  }
  return {suite: c.suite, name: c.name, ok: detail === '', detail, ms: Math.round(performance.now() - start)};
}
