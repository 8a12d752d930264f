/**
 * Lookups over a GraphDef: nodes by name, who consumes each output, and the
 * data producer behind an input after skipping pass-through nodes (Identity,
 * and the Switch/Merge-free leftovers of assert guards).
 */
import {GraphTopology, InputRef, NodeDef, parseInput} from './graph_def';

/** Ops that forward their first input unchanged (for matching purposes). */
const PASS_THROUGH = new Set(['Identity', 'StopGradient', 'Snapshot', 'PreventGradient']);

export interface Consumer {
  node: NodeDef;
  inputIndex: number;
  control: boolean;
}

export class GraphIndex {
  readonly byName = new Map<string, NodeDef>();
  private readonly consumersOf = new Map<string, Consumer[]>();

  constructor(readonly topology: GraphTopology) {
    for (const node of topology.node) this.byName.set(node.name, node);
    for (const node of topology.node) {
      (node.input ?? []).forEach((input, inputIndex) => {
        const ref = parseInput(input);
        const key = ref.control ? `^${ref.node}` : `${ref.node}:${ref.output}`;
        const list = this.consumersOf.get(key) ?? [];
        list.push({node, inputIndex, control: ref.control});
        this.consumersOf.set(key, list);
      });
    }
  }

  node(name: string): NodeDef | undefined {
    return this.byName.get(name);
  }

  /** Data inputs of a node (control inputs excluded), as references. */
  dataInputs(node: NodeDef): InputRef[] {
    return (node.input ?? []).map(parseInput).filter(r => !r.control);
  }

  controlInputs(node: NodeDef): string[] {
    return (node.input ?? []).map(parseInput).filter(r => r.control).map(r => r.node);
  }

  /** The node producing data input `index` of `node`, looking through pass-through ops. */
  producer(node: NodeDef, index: number): NodeDef | undefined {
    const ref = this.dataInputs(node)[index];
    if (!ref) return undefined;
    let current = this.byName.get(ref.node);
    const seen = new Set<string>();
    while (current && PASS_THROUGH.has(current.op) && !seen.has(current.name)) {
      seen.add(current.name);
      const next = this.dataInputs(current)[0];
      current = next ? this.byName.get(next.node) : undefined;
    }
    return current;
  }

  /** Data consumers of output `output` of `node` (control consumers excluded). */
  consumers(node: NodeDef, output = 0): Consumer[] {
    return (this.consumersOf.get(`${node.name}:${output}`) ?? []).filter(c => !c.control);
  }

  /** Nodes that depend on `node` through a control input (`^node`). */
  controlConsumers(node: NodeDef): NodeDef[] {
    return (this.consumersOf.get(`^${node.name}`) ?? []).map(c => c.node);
  }
}
