/**
 * A read-only index over a GraphDef: nodes by name, who consumes each output,
 * and helpers for walking producer chains the way the matchers need
 * (through Identity nodes, which the converter leaves around).
 */
import {GraphDef, InputRef, NodeDef, parseInputRef} from './graph_def';

export interface Consumer {
  node: NodeDef;
  inputIndex: number;
  ref: InputRef;
}

const PASS_THROUGH_OPS = new Set(['Identity', 'StopGradient', 'Snapshot']);

export class GraphView {
  readonly nodes: ReadonlyMap<string, NodeDef>;
  private readonly consumersByNode = new Map<string, Consumer[]>();

  constructor(readonly graph: GraphDef) {
    const nodes = new Map<string, NodeDef>();
    for (const node of graph.node ?? []) nodes.set(node.name, node);
    this.nodes = nodes;
    for (const node of graph.node ?? []) {
      (node.input ?? []).forEach((raw, inputIndex) => {
        const ref = parseInputRef(raw);
        const list = this.consumersByNode.get(ref.node) ?? [];
        list.push({node, inputIndex, ref});
        this.consumersByNode.set(ref.node, list);
      });
    }
  }

  node(name: string): NodeDef | undefined {
    return this.nodes.get(name);
  }

  /** Data inputs (control inputs excluded), parsed. */
  dataInputs(node: NodeDef): InputRef[] {
    return (node.input ?? []).map(parseInputRef).filter(ref => !ref.control);
  }

  controlInputs(node: NodeDef): InputRef[] {
    return (node.input ?? []).map(parseInputRef).filter(ref => ref.control);
  }

  /** The node producing data input `i` of `node`, looking through Identity-like nodes. */
  producer(node: NodeDef, i: number): NodeDef | undefined {
    const ref = this.dataInputs(node)[i];
    return ref ? this.resolve(ref).node : undefined;
  }

  /** Follows Identity-like nodes back to the real producer of a tensor. */
  resolve(ref: InputRef): {node: NodeDef | undefined; ref: InputRef} {
    let current = ref;
    for (let guard = 0; guard < 64; guard++) {
      const node = this.nodes.get(current.node);
      if (!node || !PASS_THROUGH_OPS.has(node.op)) return {node, ref: current};
      const next = this.dataInputs(node)[0];
      if (!next) return {node, ref: current};
      current = next;
    }
    return {node: this.nodes.get(current.node), ref: current};
  }

  /** The real (non-Identity) data input refs of a node. */
  resolvedInput(node: NodeDef, i: number): InputRef | undefined {
    const ref = this.dataInputs(node)[i];
    return ref ? this.resolve(ref).ref : undefined;
  }

  consumers(name: string): Consumer[] {
    return (this.consumersByNode.get(name) ?? []).filter(c => !c.ref.control);
  }

  /** Consumers of `name`, looking through Identity-like nodes. */
  realConsumers(name: string): Consumer[] {
    const out: Consumer[] = [];
    for (const c of this.consumers(name)) {
      if (PASS_THROUGH_OPS.has(c.node.op)) out.push(...this.realConsumers(c.node.name));
      else out.push(c);
    }
    return out;
  }

  controlConsumers(name: string): Consumer[] {
    return (this.consumersByNode.get(name) ?? []).filter(c => c.ref.control);
  }
}
