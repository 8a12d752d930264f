/**
 * Recognises a causal mask built inside the graph (GPT-2: b = Range(nd)[:, None]
 * >= Range(ns) − ns + nd, then w·b − 1e4·(1 − b)): the band is evaluated for
 * a few score shapes — the shapes its Shape nodes would read — and compared
 * with the fused op's bottom-right causal mask (key j visible from query i iff
 * j <= i + Sk − Sq). When it matches, the band and its fill leave the mask
 * terms and the block becomes `isCausal`. Needs weights (the band's constants):
 * without them (`inspect`) a band that could be evaluated is assumed causal and
 * the core says so in `unchecked`, so inspect plans what transform would fuse
 * instead of refusing what it could not check.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {GraphView} from '../graph/graph_view';
import type {AttentionCore} from './attention_core_types';
import {evaluableWithValues, evaluateSubgraph} from './evaluate_subgraph';

const SHAPES: Array<[number, number]> = [[1, 1], [3, 3], [2, 5], [5, 5], [4, 7]];

function bandMatches(view: GraphView, consts: ConstantValues, core: AttentionCore, band: AttentionCore['multiplicativeMasks'][0]['band']): boolean {
  for (const [sq, sk] of SHAPES) {
    const given = new Map<string, tf.Tensor>();
    const shape = tf.tensor1d([2, 3, sq, sk], 'int32');
    for (const reader of core.scoreShapeReaders) given.set(reader.name, shape);
    const got = evaluateSubgraph(view, consts, band, given);
    shape.dispose();
    if (!got) return false;
    const ok = tf.tidy(() => {
      const i = tf.reshape(tf.range(0, sq, 1, 'int32'), [sq, 1]);
      const j = tf.reshape(tf.range(0, sk, 1, 'int32'), [1, sk]);
      const want = tf.cast(tf.lessEqual(j, tf.add(i, sk - sq)), 'float32');
      const flat = tf.cast(got, 'float32');
      if (flat.size !== sq * sk) return false;
      return tf.max(tf.abs(tf.sub(tf.reshape(flat, [sq, sk]), want))).dataSync()[0] === 0;
    });
    got.dispose();
    if (!ok) return false;
  }
  return true;
}

/** What `inspect` without weights could not check about a band it assumed causal. */
export const CAUSAL_BAND_UNCHECKED =
    'the mask multiplied into the scores is the causal band: not checkable without weights (its constants are in the weight files)';

export function recogniseCausalBand(view: GraphView, consts: ConstantValues, core: AttentionCore): void {
  if (core.multiplicativeMasks.length !== 1) return;
  const entry = core.multiplicativeMasks[0];
  if (!consts.haveValues) {
    // With weights the band and its fill are evaluated; a band that could not be is refused there too.
    const shapes = new Set(core.scoreShapeReaders.map(r => r.name));
    if (!evaluableWithValues(view, consts, entry.band, shapes) || !evaluableWithValues(view, consts, entry.fill.ref, shapes)) return;
    core.masks = core.masks.filter(m => m !== entry.fill);
    core.isCausal = true;
    core.unchecked = [...(core.unchecked ?? []), CAUSAL_BAND_UNCHECKED];
    return;
  }
  if (!bandMatches(view, consts, core, entry.band)) return;
  // The fill must push masked scores at least 1e4 down (else dropping it changes the softmax).
  const shape = tf.tensor1d([1, 1, 2, 2], 'int32');
  const fill = evaluateSubgraph(view, consts, entry.fill.ref, new Map(core.scoreShapeReaders.map(r => [r.name, shape] as [string, tf.Tensor])));
  const values = fill ? Array.from(fill.dataSync()).map(v => v * entry.fill.sign) : null;
  fill?.dispose();
  shape.dispose();
  // 2×2 band [[1, 0], [1, 1]]: the masked entry is index 1.
  if (!values || values.length !== 4 || !(values[1] <= -1e4) || values[0] !== 0) return;
  core.masks = core.masks.filter(m => m !== entry.fill);
  core.isCausal = true;
}
