/**
 * The elementwise subgraph below a tensor (LayerNorm decompositions, GELU
 * formulas, mask arithmetic): every node reached through allowed ops until a
 * boundary tensor or a node of another kind. Matchers use it to find a block's
 * single real input and, with weights, to evaluate the subgraph on test values
 * (`evaluate_subgraph.ts`), which checks what it computes regardless of operand
 * order or how the converter spelled the formula.
 */
import {ConstantValues} from '../graph/constant_values';
import {formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';

export const ELEMENTWISE_OPS = new Set([
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'Neg', 'Rsqrt', 'Sqrt', 'Square', 'Pow', 'Reciprocal',
  'Erf', 'Tanh', 'Sigmoid', 'Relu', 'Maximum', 'Minimum', 'SquaredDifference', 'Mean', 'Identity', 'StopGradient',
]);

export interface ElementwiseTree {
  root: InputRef;
  /** Nodes of the tree, root first. */
  nodes: NodeDef[];
  /** Distinct non-constant tensors the tree reads. */
  leaves: InputRef[];
  /** Constants the tree reads. */
  constants: InputRef[];
}

export function collectTree(
    view: GraphView, consts: ConstantValues, root: InputRef, boundary: InputRef | null, maxNodes = 40): ElementwiseTree {
  const nodes: NodeDef[] = [];
  const leaves = new Map<string, InputRef>();
  const constants = new Map<string, InputRef>();
  const seen = new Set<string>();
  const boundaryKey = boundary ? formatInputRef(view.resolve(boundary).ref) : null;
  const stack: InputRef[] = [root];
  while (stack.length > 0) {
    const raw = stack.pop() as InputRef;
    const ref = view.resolve(raw).ref;
    const key = formatInputRef(ref);
    if (key === boundaryKey) {
      leaves.set(key, ref);
      continue;
    }
    if (consts.isConst(ref)) {
      constants.set(key, ref);
      continue;
    }
    const node = view.node(ref.node);
    if (!node || !ELEMENTWISE_OPS.has(node.op) || nodes.length >= maxNodes) {
      leaves.set(key, ref);
      continue;
    }
    if (seen.has(node.name)) continue;
    seen.add(node.name);
    nodes.push(node);
    for (const input of view.dataInputs(node)) stack.push(input);
  }
  return {root, nodes, leaves: [...leaves.values()], constants: [...constants.values()]};
}

/** A tree whose only non-constant input is `input`. */
export function isClosedOver(tree: ElementwiseTree, input: InputRef, view: GraphView): boolean {
  const key = formatInputRef(view.resolve(input).ref);
  return tree.leaves.length === 1 && formatInputRef(tree.leaves[0]) === key;
}

export function treeHasOp(tree: ElementwiseTree, ...ops: string[]): boolean {
  return tree.nodes.some(n => ops.includes(n.op));
}
