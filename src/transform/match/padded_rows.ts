/**
 * Whether the nodes downstream of a fused encoder layer ignore the rows of
 * padded tokens. The fused layer skips padded tokens and writes zeros in their
 * rows; the original graph computes them. That is invisible on real tokens
 * only when nothing after the layer lets a padded row influence a real one:
 * another fused layer with the same padding mask (it skips them too), an
 * attention whose scores get the same padding mask (padded keys weigh 0), or
 * ops that keep each token's row to itself (elementwise arithmetic, a
 * LayerNorm's reductions over the feature axis, dense layers with constant
 * weights, reshapes and transposes that keep the feature axis last,
 * selections such as the pooler's first token), up to the graph's outputs.
 * Anything else (an attention without that mask, a reduction over the
 * sequence, an op not known here) may mix rows, and the layer must then keep
 * computing padded rows as the original does. Where this reasoning is too
 * trusting (a reshape that folds the sequence into the features, say), the
 * probe `transform` runs before it commits (verify/) still refuses the rewrite.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrBool, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {densesReading} from './dense';

/** Ops whose output element depends only on the same element of each input (broadcasting aside). */
const ELEMENTWISE = new Set([
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'DivNoNan', 'FloorDiv', 'FloorMod', 'Maximum', 'Minimum', 'Pow',
  'SquaredDifference', 'Rsqrt', 'Sqrt', 'Square', 'Erf', 'Erfc', 'Tanh', 'Sigmoid', 'Relu', 'Relu6', 'Elu', 'Selu',
  'LeakyRelu', 'Neg', 'Exp', 'Log', 'Log1p', 'Cast', 'Identity', 'StopGradient', 'Softplus', 'Softsign', 'Abs',
  'Reciprocal', 'BiasAdd', 'Sign', 'Floor', 'Ceil', 'Round', 'Select', 'SelectV2', 'ClipByValue', 'IsNan',
  'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalNot',
]);

/** Ops that pick or arrange elements without arithmetic between positions. */
const SELECTIONS = new Set(['StridedSlice', 'Slice', 'Squeeze', 'ExpandDims', 'GatherV2', 'Split', 'SplitV', 'Unpack',
  'Pack', 'ConcatV2', 'Reshape']);

const REDUCTIONS = new Set(['Mean', 'Sum', 'Max', 'Min', 'Prod', 'ArgMax', 'ArgMin']);

const PRODUCTS = new Set(['MatMul', '_FusedMatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Einsum']);

/**
 * Whether `node`, reading the tensor under analysis as its input `index`,
 * keeps each token's row to itself. Tensors here are [B, S, ...] with the
 * features last, so work along the last axis is row-local.
 */
function keepsRowsApart(view: GraphView, consts: ConstantValues, node: NodeDef, index: number): boolean {
  if (ELEMENTWISE.has(node.op) || SELECTIONS.has(node.op)) return true;
  if (node.op === 'Softmax' || node.op === 'LogSoftmax') return true;  // over the last axis
  if (REDUCTIONS.has(node.op)) {
    // Over the feature axis only: -1, or an axis past batch and sequence.
    const axes = consts.ints(view.resolvedInput(node, 1));
    return index === 0 && axes !== undefined && axes.length > 0 && axes.every(a => a === -1 || a >= 2);
  }
  if (node.op === 'Transpose') {
    const perm = consts.ints(view.resolvedInput(node, 1));
    return perm !== undefined && perm.length > 0 && perm[perm.length - 1] === perm.length - 1;
  }
  if (PRODUCTS.has(node.op)) {
    // x · W with a constant W contracts the feature axis of x only.
    const transposed = attrBool(node, 'transpose_a') || attrBool(node, 'adj_x');
    return index === 0 && !transposed && consts.isConst(view.resolvedInput(node, 1));
  }
  return false;
}

/** What the walk may step over whole: blocks that ignore padded rows themselves. */
export interface PaddingSafeBlocks {
  /** The node belongs to a layer fused with the same padding mask (it skips padded rows). */
  fusedLayer(node: NodeDef): boolean;
  /**
   * The node is inside an attention whose scores get the same padding mask:
   * where its result leaves the block, or '' when the tensor enters it only
   * as keys or values (cross-attention over the padded tensor: padded keys
   * weigh 0 and the result's rows are the queries', which carry no padded row).
   */
  maskedAttentionOutput(node: NodeDef, inputIndex: number): string | null;
}

/**
 * Null when padded rows of `output` cannot reach a real row of any graph
 * output; else the first node that could let them (`'name' (Op)`).
 */
export function nodeReadingPaddedRows(view: GraphView, consts: ConstantValues, output: InputRef,
    safe: PaddingSafeBlocks): string | null {
  const seen = new Set<string>();
  const pending = [view.resolve(output).ref.node];
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    pending.push(name);
  };
  while (pending.length > 0) {
    const name = pending.pop() as string;
    // Dense layers reading the tensor (with Tensordot's reshapes around the product) keep rows apart as a whole.
    const inDense = new Set<string>();
    for (const dense of densesReading(view, consts, {node: name, output: 0, control: false})) {
      if (!consts.isConst(dense.weight)) continue;
      dense.nodes.forEach(n => inDense.add(n.name));
      visit(view.resolve(dense.output).ref.node);
    }
    for (const {node, inputIndex} of view.realConsumers(name)) {
      if (inDense.has(node.name) || seen.has(node.name) || safe.fusedLayer(node)) continue;
      // A Shape read takes the size, not the values.
      if (node.op === 'Shape' || node.op === 'ShapeN' || node.op === 'Size' || node.op === 'Rank') continue;
      const attentionOutput = safe.maskedAttentionOutput(node, inputIndex);
      if (attentionOutput !== null) {
        if (attentionOutput !== '') visit(attentionOutput);
        continue;
      }
      if (!keepsRowsApart(view, consts, node, inputIndex)) return `'${node.name}' (${node.op})`;
      visit(node.name);
    }
  }
  return null;
}
