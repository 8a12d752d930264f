/**
 * Recognises an additive attention mask built from a [B, S] padding mask
 * input (Hugging Face: reshape to [B, 1, 1, S], then (1 - m) · large_negative)
 * so the fused encoder layer can take the original 0/1 mask as its key
 * padding mask and skip padded tokens. With weights, the arithmetic is
 * evaluated at m = 0 and m = 1: real keys must get (about) 0 and padded keys at least 1e4 less.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {attrInt, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {collectTree} from './elementwise_tree';
import {evaluateSubgraph} from './evaluate_subgraph';
import {refKey} from './layer_norm';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS, isScalarConst, operands} from './operands';

export interface PaddingMaskMatch {
  /** The model input holding the [B, S] 0/1 mask. */
  input: InputRef;
  nodes: NodeDef[];
  /** Without weights: what was assumed because checking it needs constant values (see AttentionCore.unchecked). */
  unchecked?: string[];
}

const LAYOUT_OPS = new Set(['Cast', 'Reshape', 'ExpandDims', 'StridedSlice', 'Identity', 'Tile']);

/**
 * A Tile that repeats the mask only over the axes between batch and keys (BART's [B, 1, 1, S] mask tiled to
 * [B, 1, T, S]): every query still sees its row's key mask. Its multiples are a constant vector or a Pack of
 * scalars; the first and the last must be the constant 1. 'unknown' without weights where those are constants
 * whose values are in the weight files.
 */
function tilesOnlyInnerAxes(view: GraphView, consts: ConstantValues, tile: NodeDef): boolean | 'unknown' {
  const multiples = view.resolvedInput(tile, 1);
  if (!multiples) return false;
  const unknown = (ref: InputRef) => !consts.haveValues && consts.isConst(ref);
  if (unknown(multiples)) return 'unknown';
  const values = consts.ints(multiples);
  if (values) return values.length >= 2 && values[0] === 1 && values[values.length - 1] === 1;
  const pack = view.resolve(multiples).node;
  if (pack?.op !== 'Pack') return false;
  const parts = view.dataInputs(pack);
  if (parts.length < 2) return false;
  const ends = [parts[0], parts[parts.length - 1]].map(ref => view.resolve(ref).ref);
  const isOne = (ref: InputRef) => consts.ints(ref)?.length === 1 && consts.ints(ref)?.[0] === 1;
  if (ends.some(ref => !unknown(ref) && !isOne(ref))) return false;
  return ends.some(unknown) ? 'unknown' : true;
}

/** `sign` is -1 when the term is subtracted from the scores. */
export function matchPaddingMask(view: GraphView, consts: ConstantValues, maskRef: InputRef, sign: 1 | -1 = 1): MatchResult<PaddingMaskMatch> {
  const tree = collectTree(view, consts, maskRef, null);
  if (tree.leaves.length !== 1) return refused('the attention mask is computed from more than one tensor');
  const nodes: NodeDef[] = [...tree.nodes];
  const unchecked: string[] = [];
  let node = view.resolve(tree.leaves[0]).node;
  for (let guard = 0; node && LAYOUT_OPS.has(node.op) && guard < 8; guard++) {
    if (node.op === 'StridedSlice' && (attrInt(node, 'shrink_axis_mask') ?? 0) !== 0) {
      return refused(`mask slice '${node.name}' drops axes`);
    }
    if (node.op === 'Tile') {
      const inner = tilesOnlyInnerAxes(view, consts, node);
      if (!inner) return refused(`mask tile '${node.name}' repeats the batch or the keys`);
      if (inner === 'unknown') {
        unchecked.push(`mask tile '${node.name}' repeats neither the batch nor the keys: not checkable without weights ` +
            '(its multiples are in the weight files)');
      }
    }
    nodes.push(node);
    node = view.producer(node, 0);
  }
  if (node?.op !== 'Placeholder') return refused('the attention mask does not come from a model input');
  const input: InputRef = {node: node.name, output: 0, control: false};
  if (!consts.haveValues) return matched({input, nodes, ...(unchecked.length ? {unchecked} : {})});
  const leaf = tree.leaves[0];
  const probe = tf.tensor1d([0, 1]);
  const got = evaluateSubgraph(view, consts, tree.root, new Map([[refKey(view, leaf), probe]]));
  const values = got ? Array.from(got.dataSync()) : null;
  probe.dispose();
  got?.dispose();
  if (!values || values.length !== 2) return refused('cannot evaluate the attention mask arithmetic');
  const [padded, real] = values.map(v => sign * v);
  // Real keys may all get the same constant (softmax ignores it; HF folds a 1e-9 in here).
  if (!Number.isFinite(real) || Math.abs(real) > 1e-3 || !(padded - real <= -1e4)) {
    return refused(`the attention mask gives ${real} to real keys and ${padded} to padded keys (expected about 0 and at least 1e4 lower)`);
  }
  return matched({input, nodes});
}

/**
 * A padding mask plus terms the same for every score: scalar constants and
 * fills of one (T5's cross-attention adds its mask to a zero "position bias"
 * made by Fill). Softmax ignores the uniform terms, so the attention weighs
 * padded keys 0 as with the mask alone.
 */
export function matchPaddingMaskSum(view: GraphView, consts: ConstantValues, maskRef: InputRef, sign: 1 | -1 = 1):
    MatchResult<PaddingMaskMatch> {
  const rest: InputRef[] = [];
  const walk = (ref: InputRef, depth: number): boolean => {
    const r = view.resolve(ref);
    if (isScalarConst(view, consts, r.ref)) return true;
    const node = r.node;
    if (node?.op === 'Fill' && isScalarConst(view, consts, view.resolvedInput(node, 1))) return true;
    if (node && ADD_OPS.has(node.op) && depth < 6) {
      const ops = operands(view, node);
      return ops.length === 2 && ops.every(o => walk(o.ref, depth + 1));
    }
    rest.push(r.ref);
    return true;
  };
  if (!walk(maskRef, 0) || rest.length !== 1) return matchPaddingMask(view, consts, maskRef, sign);
  return matchPaddingMask(view, consts, rest[0], sign);
}
