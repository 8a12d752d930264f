/**
 * Evaluates a small subgraph with tfjs ops, given values for some of its
 * tensors (the input of a matched LayerNorm or activation, the shape a Shape
 * node would read). Used at transform time to check what a matched subgraph
 * computes: a LayerNorm or GELU formula on test values, mask arithmetic at
 * m = 0 and 1, a causal band built from Range/GreaterEqual for a few sizes. Unsupported ops or unknown inputs
 * make the evaluation fail (null), which the callers treat as "not proven".
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {attrBool, attrInt, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';

const MAX_NODES = 200;

/** Binary arithmetic on mixed int/float operands (a float constant times an int tensor) runs in float32. */
function same(a: tf.Tensor[]): tf.Tensor[] {
  return a.length === 2 && a[0].dtype !== a[1].dtype ? a.map(t => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'))) : a;
}

function compute(node: NodeDef, input: tf.Tensor[]): tf.Tensor {
  const ints = (t: tf.Tensor) => Array.from(t.dataSync(), Number);
  const num = (t: tf.Tensor) => t.dataSync()[0];
  const a = ['Pack', 'ConcatV2', 'Reshape', 'ExpandDims', 'StridedSlice', 'Transpose', 'Tile', 'Fill', 'Range',
    'SelectV2', 'Select', 'Sum', 'Mean'].includes(node.op) ? input : same(input);
  switch (node.op) {
    case 'Add': case 'AddV2': return tf.add(a[0], a[1]);
    case 'Sub': return tf.sub(a[0], a[1]);
    case 'Mul': return tf.mul(a[0], a[1]);
    case 'RealDiv': case 'Div': return tf.div(a[0], a[1]);
    case 'FloorDiv': return tf.floorDiv(a[0], a[1]);
    case 'Neg': return tf.neg(a[0]);
    case 'Abs': return tf.abs(a[0]);
    case 'Log': return tf.log(a[0]);
    case 'GatherV2': return tf.gather(input[0], input[1], num(input[2]), attrInt(node, 'batch_dims') ?? 0);
    case 'Rsqrt': return tf.rsqrt(a[0]);
    case 'Sqrt': return tf.sqrt(a[0]);
    case 'Square': return tf.square(a[0]);
    case 'Pow': return tf.pow(a[0], a[1]);
    case 'Reciprocal': return tf.reciprocal(a[0]);
    case 'Erf': return tf.erf(a[0]);
    case 'Tanh': return tf.tanh(a[0]);
    case 'Sigmoid': return tf.sigmoid(a[0]);
    case 'Relu': return tf.relu(a[0]);
    case 'SquaredDifference': return tf.squaredDifference(a[0], a[1]);
    case 'Mean': return tf.mean(a[0], ints(a[1]), attrBool(node, 'keep_dims'));
    case 'Maximum': return tf.maximum(a[0], a[1]);
    case 'Minimum': return tf.minimum(a[0], a[1]);
    case 'GreaterEqual': return tf.greaterEqual(a[0], a[1]);
    case 'Greater': return tf.greater(a[0], a[1]);
    case 'LessEqual': return tf.lessEqual(a[0], a[1]);
    case 'Less': return tf.less(a[0], a[1]);
    case 'Equal': return tf.equal(a[0], a[1]);
    case 'LogicalAnd': return tf.logicalAnd(a[0], a[1]);
    case 'Cast': {
      const to = String(node.attr?.['DstT']?.type ?? 'DT_FLOAT');
      return tf.cast(a[0], to === 'DT_BOOL' ? 'bool' : to === 'DT_INT32' || to === 'DT_INT64' ? 'int32' : 'float32');
    }
    case 'Identity': case 'StopGradient': return a[0];
    case 'Reshape': return tf.reshape(a[0], ints(a[1]));
    case 'ExpandDims': return tf.expandDims(a[0], num(a[1]));
    case 'Pack': return tf.stack(a, attrInt(node, 'axis') ?? 0);
    case 'ConcatV2': return tf.concat(a.slice(0, -1), num(a[a.length - 1]));
    case 'Range': return tf.range(num(a[0]), num(a[1]), num(a[2]), 'int32');
    case 'Shape': return tf.tensor1d(a[0].shape, 'int32');
    case 'StridedSlice':
      return tf.stridedSlice(a[0], ints(a[1]), ints(a[2]), ints(a[3]), attrInt(node, 'begin_mask') ?? 0,
          attrInt(node, 'end_mask') ?? 0, attrInt(node, 'ellipsis_mask') ?? 0, attrInt(node, 'new_axis_mask') ?? 0,
          attrInt(node, 'shrink_axis_mask') ?? 0);
    case 'Transpose': return tf.transpose(a[0], ints(a[1]));
    case 'Tile': return tf.tile(a[0], ints(a[1]));
    case 'Fill': return tf.fill(ints(a[0]), num(a[1]));
    case 'SelectV2': case 'Select': return tf.where(tf.cast(a[0], 'bool'), a[1], a[2]);
    case 'Sum': return tf.sum(a[0], ints(a[1]), attrBool(node, 'keep_dims'));
    default: throw new Error(`cannot evaluate ${node.op}`);
  }
}

/** The ops compute() evaluates (kept next to it: a case added there belongs here too). */
const EVALUATED_OPS = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'FloorDiv', 'Neg', 'Abs', 'Log', 'GatherV2',
  'Rsqrt', 'Sqrt', 'Square', 'Pow', 'Reciprocal', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'SquaredDifference', 'Mean', 'Maximum',
  'Minimum', 'GreaterEqual', 'Greater', 'LessEqual', 'Less', 'Equal', 'LogicalAnd', 'Cast', 'Identity', 'StopGradient',
  'Reshape', 'ExpandDims', 'Pack', 'ConcatV2', 'Range', 'Shape', 'StridedSlice', 'Transpose', 'Tile', 'Fill', 'SelectV2',
  'Select', 'Sum']);

/**
 * Whether evaluateSubgraph could evaluate `root` once constant values are
 * known, judged from the structure alone: every path ends in a Const or a
 * tensor named in `given`, through ops it computes. Lets `inspect` (no
 * weights) tell a check it cannot make from one that would fail anyway.
 */
export function evaluableWithValues(view: GraphView, consts: ConstantValues, root: InputRef, given: Set<string>): boolean {
  const seen = new Set<string>();
  const stack: InputRef[] = [root];
  while (stack.length > 0) {
    const ref = view.resolve(stack.pop() as InputRef).ref;
    const key = formatInputRef(ref);
    if (given.has(ref.node) || given.has(key) || seen.has(key)) continue;
    seen.add(key);
    if (seen.size > MAX_NODES) return false;
    if (consts.isConst(ref)) continue;
    const node = view.node(ref.node);
    if (!node || ref.output !== 0 || !EVALUATED_OPS.has(node.op)) return false;
    stack.push(...view.dataInputs(node));
  }
  return true;
}

export function evaluateSubgraph(
    view: GraphView, consts: ConstantValues, root: InputRef, given: Map<string, tf.Tensor>): tf.Tensor | null {
  try {
    return tf.tidy(() => {
      const memo = new Map<string, tf.Tensor>();
      let visited = 0;
      const value = (raw: InputRef): tf.Tensor => {
        const ref = view.resolve(raw).ref;
        const known = given.get(ref.node) ?? given.get(formatInputRef(ref));
        if (known) return known;
        const key = formatInputRef(ref);
        const cached = memo.get(key);
        if (cached) return cached;
        if (++visited > MAX_NODES) throw new Error('subgraph too large');
        let out: tf.Tensor;
        if (consts.isConst(ref)) {
          const c = consts.value(ref);
          if (!c) throw new Error(`unknown constant ${key}`);
          out = tf.tensor(c.data, c.shape, c.dtype === 'int32' ? 'int32' : c.dtype === 'bool' ? 'bool' : 'float32');
        } else {
          const node = view.node(ref.node);
          if (!node || ref.output !== 0) throw new Error(`cannot evaluate ${key}`);
          out = compute(node, view.dataInputs(node).map(value));
        }
        memo.set(key, out);
        return out;
      };
      return value(root);
    });
  } catch {
    return null;
  }
}

/** max |a − b| / (max |b| + 1e-6) */
export function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / (tf.max(tf.abs(b)).dataSync()[0] + 1e-6));
}

/** max over elements of |a − b| / max(|b|, 1) */
export function elementwiseError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(a, b)), tf.maximum(tf.abs(b), 1))).dataSync()[0]);
}
