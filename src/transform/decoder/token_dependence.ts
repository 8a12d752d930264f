/**
 * Which tensors of a graph carry token values: those computed from the
 * token-id input through value edges. Shape reads (Shape, Size, Rank) carry
 * only sizes, so position tables, causal masks and rotary cos/sin built from a
 * sequence's length are not token-dependent even though they read its shape.
 * The decoder matcher follows token-dependent operands back from attention to
 * the projections and treats the others (cos/sin, masks) as side inputs.
 */
import {NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';

const SHAPE_ONLY = new Set(['Shape', 'ShapeN', 'Size', 'Rank']);

export class TokenDependence {
  private readonly memo = new Map<string, boolean>();

  constructor(private readonly view: GraphView, private readonly tokenInputs: ReadonlySet<string>) {}

  carriesTokens(nodeName: string): boolean {
    const known = this.memo.get(nodeName);
    if (known !== undefined) return known;
    // Iterative post-order walk: graphs are deep (a layer is hundreds of nodes). An input is pushed again when it
    // is not known yet, even if an earlier copy waits lower on the stack (that copy finds it known later);
    // `expanding` holds the nodes on the current path, so a cycle cannot loop.
    const stack: Array<{node: NodeDef; expanded: boolean}> = [];
    const start = this.view.node(nodeName);
    if (!start) return false;
    stack.push({node: start, expanded: false});
    const expanding = new Set<string>();
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const name = top.node.name;
      if (this.memo.has(name)) {
        stack.pop();
        continue;
      }
      if (this.tokenInputs.has(name)) {
        this.memo.set(name, true);
        continue;
      }
      if (SHAPE_ONLY.has(top.node.op) || top.node.op === 'Const' || top.node.op === 'Placeholder') {
        this.memo.set(name, false);
        continue;
      }
      const inputs = this.view.dataInputs(top.node).map(ref => this.view.node(ref.node)).filter((n): n is NodeDef => !!n);
      if (!top.expanded) {
        top.expanded = true;
        expanding.add(name);
        for (const input of inputs) {
          if (!this.memo.has(input.name) && !expanding.has(input.name)) stack.push({node: input, expanded: false});
        }
        continue;
      }
      expanding.delete(name);
      this.memo.set(name, inputs.some(input => this.memo.get(input.name) === true));
    }
    return this.memo.get(nodeName) ?? false;
  }
}
