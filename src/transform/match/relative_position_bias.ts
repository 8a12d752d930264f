/**
 * T5's relative position bias as the graph computes it: Range positions for
 * the queries and the keys, bucket arithmetic on their difference, a lookup in
 * a learned [buckets, H] table, a transpose to [1, H, Sq, Sk]. Recognised by
 * evaluation, not by the arithmetic's form: with a stand-in table whose row b
 * holds b, the subgraph's output for long position ranges is each distance's
 * bucket. Accepted only when that output depends on the distance alone, every
 * head agrees, the buckets stop changing well before the ends (so distances
 * beyond them keep the end buckets), and the real subgraph then equals the
 * RelativePositionBias op exactly on a few shapes.
 */
import * as tf from '@tensorflow/tfjs-core';
import {relativePositionBias} from '../../ops/relative_position_bias';
import {ConstantValues} from '../graph/constant_values';
import {formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {evaluateSubgraph} from './evaluate_subgraph';
import {matched, MatchResult, refused} from './match_result';

export interface RelativePositionBiasMatch {
  /** The learned table [buckets, H]. */
  table: InputRef;
  /** The Range nodes' outputs the bias reads the query and key positions from (the same node when shared). */
  queryPositions: InputRef;
  keyPositions: InputRef;
  /** The bucket of every distance −R..R, [2R + 1]. */
  bucketOfDistance: Int32Array;
}

/** Ops a bias subgraph may hold between its Ranges and its output. */
const BIAS_OPS = new Set(['Sub', 'Abs', 'Neg', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Cast', 'Mul', 'RealDiv',
  'Div', 'Log', 'Add', 'AddV2', 'Minimum', 'Maximum', 'SelectV2', 'Select', 'GatherV2', 'Transpose', 'ExpandDims',
  'Reshape', 'StridedSlice', 'Identity', 'Floor', 'Pack', 'Shape']);

const FIRST_RADIUS = 256;
const MAX_RADIUS = 2048;

/** The Ranges and float [rows, cols] constants the subgraph above `root` reads, or why it is not a bias subgraph. */
function scan(view: GraphView, consts: ConstantValues, root: InputRef): {ranges: NodeDef[]; tables: InputRef[]} | string {
  const ranges: NodeDef[] = [];
  const tables: InputRef[] = [];
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const ref = view.resolve(stack.pop() as InputRef).ref;
    if (seen.has(ref.node)) continue;
    seen.add(ref.node);
    if (seen.size > 120) return 'the position bias subgraph is too large';
    if (consts.isConst(ref)) {
      const value = consts.value(ref);
      if (value && value.dtype === 'float32' && value.shape.length === 2) tables.push(ref);
      continue;
    }
    const node = view.node(ref.node);
    if (!node) return `no producer for '${ref.node}'`;
    if (node.op === 'Range') {
      ranges.push(node);
      continue;
    }
    // Shapes are read, not values: a Shape of the embeddings gives the length, not the tokens.
    if (node.op === 'Shape') continue;
    if (!BIAS_OPS.has(node.op)) return `'${node.name}' (${node.op}) in the position bias subgraph`;
    stack.push(...view.dataInputs(node));
  }
  return {ranges, tables};
}

const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});

export function matchRelativePositionBias(view: GraphView, consts: ConstantValues, root: InputRef):
    MatchResult<RelativePositionBiasMatch> {
  if (!consts.haveValues) return refused('the position bias table is only known with weights');
  const found = scan(view, consts, root);
  if (typeof found === 'string') return refused(found);
  const {ranges, tables} = found;
  if (ranges.length < 1 || ranges.length > 2) return refused(`the position bias reads ${ranges.length} Ranges, not 1 or 2`);
  if (tables.length !== 1) return refused(`the position bias reads ${tables.length} float [rows, cols] constants, not one table`);
  const table = tables[0];
  const tableValue = consts.value(table) as {data: ArrayLike<number>; shape: number[]};
  const [rows, heads] = tableValue.shape;
  const feeds = (lengths: number[], tableValues?: tf.Tensor) => {
    const m = new Map<string, tf.Tensor>();
    ranges.forEach((r, i) => m.set(r.name, tf.range(0, lengths[i], 1, 'int32')));
    if (tableValues) m.set(formatInputRef(table), tableValues);
    return m;
  };
  const evaluate = (lengths: number[], tableValues?: tf.Tensor): tf.Tensor | null => {
    const given = feeds(lengths, tableValues);
    const out = evaluateSubgraph(view, consts, root, given);
    tf.dispose([...given.values()].filter(t => t !== tableValues));
    return out;
  };

  // Which Range is the queries' (axis 2 of [1, H, Sq, Sk]) and which the keys'.
  let queryIndex = 0, keyIndex = 0;
  if (ranges.length === 2) {
    const probe = evaluate([3, 5]);
    const shape = probe?.shape;
    probe?.dispose();
    if (!shape || shape.length !== 4 || shape[0] !== 1 || shape[1] !== heads) return refused('the position bias is not [1, H, Sq, Sk]');
    if (shape[2] === 3 && shape[3] === 5) keyIndex = 1;
    else if (shape[2] === 5 && shape[3] === 3) queryIndex = 1;
    else return refused('the position bias is not [1, H, Sq, Sk] over its two Ranges');
  }

  // Each distance's bucket: the bias of a stand-in table whose row b holds b in every head.
  const standIn = tf.tidy(() => tf.tile(tf.expandDims(tf.range(0, rows, 1, 'float32'), 1), [1, heads]));
  let buckets: Int32Array | null = null;
  let failure = 'the position bias does not depend on the distance alone';
  for (let radius = FIRST_RADIUS; radius <= MAX_RADIUS && !buckets; radius *= 2) {
    const out = evaluate(ranges.map(() => radius + 1), standIn);
    if (!out) {
      failure = 'cannot evaluate the position bias subgraph';
      break;
    }
    const length = radius + 1;
    const values = out.dataSync();
    const okShape = out.shape.length === 4 && out.shape[1] === heads && out.shape[2] === length && out.shape[3] === length;
    out.dispose();
    if (!okShape) {
      failure = 'the position bias is not [1, H, S, S]';
      break;
    }
    const candidate = new Int32Array(2 * radius + 1);
    let consistent = true;
    for (let h = 0; h < heads && consistent; h++) {
      for (let i = 0; i < length && consistent; i++) {
        for (let j = 0; j < length; j++) {
          const v = values[(h * length + i) * length + j];
          if (!Number.isInteger(v) || v < 0 || v >= rows) { consistent = false; break; }
          const d = j - i + radius;
          if (h === 0 && (i === 0 || j === 0)) candidate[d] = v;
          else if (candidate[d] !== v) { consistent = false; break; }
        }
      }
    }
    if (!consistent) break;
    // Saturated: the last quarter of distances on each side share the end bucket.
    const quarter = Math.floor(radius / 4);
    const flat = (from: number, to: number, end: number) => {
      for (let d = from; d <= to; d++) if (candidate[d] !== candidate[end]) return false;
      return true;
    };
    if (flat(0, quarter, 0) && flat(2 * radius - quarter, 2 * radius, 2 * radius)) buckets = candidate;
    else failure = `the position buckets still change at distance ${radius}`;
  }
  standIn.dispose();
  if (!buckets) return refused(failure);

  const match: RelativePositionBiasMatch = {
    table, queryPositions: refOf(ranges[queryIndex]), keyPositions: refOf(ranges[keyIndex]), bucketOfDistance: buckets,
  };
  // The real subgraph against the op on a few shapes, exactly.
  const shapes = ranges.length === 2 ? [[7, 7], [3, 11], [1, 1]] : [[7], [1], [40]];
  for (const lengths of shapes) {
    const got = evaluate(lengths);
    if (!got) return refused('cannot evaluate the position bias subgraph');
    const [sq, sk] = ranges.length === 2 ? [lengths[queryIndex], lengths[keyIndex]] : [lengths[0], lengths[0]];
    const same = tf.tidy(() => {
      const want = relativePositionBias(tf.tensor2d(tableValue.data as Float32Array, [rows, heads]),
          tf.tensor1d(buckets as Int32Array, 'int32'), tf.range(0, sq, 1, 'int32') as tf.Tensor1D,
          tf.range(0, sk, 1, 'int32') as tf.Tensor1D);
      return tf.util.arraysEqual(want.shape, got.shape) && tf.max(tf.abs(tf.sub(want, got))).dataSync()[0] === 0;
    });
    got.dispose();
    if (!same) return refused('the position bias subgraph does not equal the bucketed table lookup');
  }
  return matched(match);
}
