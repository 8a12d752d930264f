/**
 * An embedding sum: a tree of Adds whose leaves are row lookups (GatherV2 on
 * axis 0) of constant [rows, width] tables, e.g. BERT's word + position +
 * token-type embeddings, and possibly constant [..., width] terms (a
 * static-shape export folds the position lookup into a constant). The
 * indices may be any tensors (model inputs, or position ids computed in the
 * graph); their shapes broadcast like the Adds do. Needs weights: the tables'
 * shapes and the gather axes are constants.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrInt, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS} from './operands';

/** One term of the sum, in the order the Adds sum them. */
export type EmbeddingTerm = {kind: 'lookup'; table: InputRef; indices: InputRef} | {kind: 'constant'; value: InputRef};

export interface EmbeddingSumMatch {
  terms: EmbeddingTerm[];
  /**
   * Shape ops reading a lookup's result (HF BERT takes the input shape from
   * the word embeddings to build position ids), with that lookup's indices:
   * the rewrite gives them the same shape from the indices, since the lookup
   * disappears.
   */
  shapeReaders: Array<{node: NodeDef; indices: InputRef}>;
  /** Width of every table (the embedding size). */
  width: number;
  /** The Adds and Gathers, all of which serve only this sum. */
  nodes: NodeDef[];
}

export const GATHER_OPS = new Set(['GatherV2', 'Gather']);
const MAX_TERMS = 8;

export function lookupOf(view: GraphView, consts: ConstantValues, node: NodeDef): MatchResult<EmbeddingTerm & {width: number}> {
  const [params, indices, axis] = view.dataInputs(node).map(ref => view.resolve(ref).ref);
  if (!params || !indices) return refused(`${node.name}: a gather without params or indices`);
  if ((attrInt(node, 'batch_dims') ?? 0) !== 0) return refused(`${node.name}: a batched gather`);
  if (node.op === 'GatherV2' && consts.ints(axis)?.[0] !== 0) return refused(`${node.name}: not a gather of rows (axis 0)`);
  const table = consts.value(params);
  if (!table || table.shape.length !== 2 || table.dtype !== 'float32') {
    return refused(`${node.name}: the gathered tensor is not a constant float32 [rows, width] table`);
  }
  return matched({kind: 'lookup', table: params, indices, width: table.shape[1]});
}

export function matchEmbeddingSum(view: GraphView, consts: ConstantValues, root: InputRef): MatchResult<EmbeddingSumMatch> {
  if (!consts.haveValues) return refused('embedding tables are only known with weights');
  const terms: EmbeddingTerm[] = [];
  const shapeReaders: EmbeddingSumMatch['shapeReaders'] = [];
  const nodes: NodeDef[] = [];
  const widths: number[] = [];
  const visit = (ref: InputRef, isRoot: boolean): string | null => {
    if (terms.length >= MAX_TERMS) return `more than ${MAX_TERMS} terms`;
    const resolved = view.resolve(ref);
    const node = resolved.node;
    if (!node) return `no producer for ${ref.node}`;
    if (node.op === 'Const') {
      const value = consts.value(resolved.ref);
      if (!value || value.dtype !== 'float32' || value.shape.length < 1) return `${node.name}: not a float32 constant term`;
      widths.push(value.shape[value.shape.length - 1]);
      terms.push({kind: 'constant', value: resolved.ref});
      return null;
    }
    // Every interior tensor must serve only this sum (Shape reads of a lookup
    // aside), or removing it breaks its other readers.
    const readers = isRoot ? [] : view.realConsumers(node.name);
    const shapes = GATHER_OPS.has(node.op) ? readers.filter(c => c.node.op === 'Shape') : [];
    if (!isRoot && readers.length - shapes.length !== 1) return `${node.name} has other consumers`;
    if (ADD_OPS.has(node.op)) {
      nodes.push(node);
      const inputs = view.dataInputs(node);
      if (inputs.length !== 2) return `${node.name}: an add without two inputs`;
      return visit(inputs[0], false) ?? visit(inputs[1], false);
    }
    if (!GATHER_OPS.has(node.op)) return `${node.name} (${node.op}) is not a table lookup`;
    const lookup = lookupOf(view, consts, node);
    if (!lookup.ok) return lookup.reason;
    const {width, ...term} = lookup.value;
    widths.push(width);
    nodes.push(node);
    if (term.kind === 'lookup') for (const reader of shapes) shapeReaders.push({node: reader.node, indices: term.indices});
    terms.push(term);
    return null;
  };
  const failure = visit(root, true);
  if (failure) return refused(failure);
  const lookups = terms.filter(t => t.kind === 'lookup').length;
  if (lookups === 0 || terms.length < 2) return refused('not a sum of table lookups');
  if (widths.some(w => w !== widths[0])) return refused('the terms differ in width');
  return matched({terms, shapeReaders, width: widths[0], nodes});
}
