/**
 * Applies replacements to a GraphDef: removes matched nodes, adds the fused
 * nodes, points every consumer of a replaced tensor at its new producer, and
 * keeps control dependencies (`^node`) by moving them onto the fused node.
 * The input graph is never modified.
 */
import {formatInputRef, GraphDef, InputRef, NodeDef, parseInputRef} from './graph_def';

export class GraphRewrite {
  private readonly removed = new Set<string>();
  private readonly added: NodeDef[] = [];
  /** Old tensor ("node" or "node:i") -> new tensor. */
  private readonly redirects = new Map<string, string>();
  /** Removed node -> the node that takes over its control edges. */
  private readonly controlHeirs = new Map<string, string>();
  private readonly names = new Set<string>();

  constructor(private readonly graph: GraphDef) {
    for (const node of graph.node) this.names.add(node.name);
  }

  /** A node name not used in the graph yet. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  isRemoved(name: string): boolean {
    return this.removed.has(name);
  }

  remove(nodes: Iterable<NodeDef>, heir: string): void {
    for (const node of nodes) {
      this.removed.add(node.name);
      this.controlHeirs.set(node.name, heir);
    }
  }

  add(node: NodeDef): void {
    this.added.push(node);
  }

  redirect(from: InputRef, to: InputRef): void {
    this.redirects.set(formatInputRef({...from, control: false}), formatInputRef({...to, control: false}));
  }

  /**
   * Kept nodes that only served removed ones (the shape arithmetic of a
   * Tensordot reshape, a Shape read of a removed tensor) would read tensors
   * that no longer exist. A node is dead when it has consumers and every one
   * of them is removed or dead; dead nodes are dropped. A live node that
   * still reads a removed one is an error (the match was wrong), never a
   * silently broken graph.
   */
  private dropOrphans(): void {
    const consumers = new Map<string, string[]>();
    for (const node of this.graph.node) {
      for (const raw of node.input ?? []) {
        const ref = parseInputRef(raw);
        if (ref.control) continue;
        consumers.set(ref.node, [...(consumers.get(ref.node) ?? []), node.name]);
      }
    }
    for (const node of this.added) {
      for (const raw of node.input ?? []) {
        const ref = parseInputRef(raw);
        if (!ref.control) consumers.set(ref.node, [...(consumers.get(ref.node) ?? []), node.name]);
      }
    }
    const dead = new Set<string>();
    for (let changed = true; changed;) {
      changed = false;
      for (const node of this.graph.node) {
        if (this.removed.has(node.name) || dead.has(node.name)) continue;
        const readers = consumers.get(node.name) ?? [];
        if (readers.length > 0 && readers.every(r => this.removed.has(r) || dead.has(r))) {
          dead.add(node.name);
          changed = true;
        }
      }
    }
    for (const name of dead) this.removed.add(name);
    for (const node of this.graph.node) {
      if (this.removed.has(node.name)) continue;
      for (const raw of node.input ?? []) {
        const ref = parseInputRef(raw);
        if (!ref.control && this.removed.has(ref.node) && !this.redirects.has(formatInputRef(ref))) {
          throw new Error(`graph rewrite: '${node.name}' (${node.op}) reads '${ref.node}', which the fused block no longer produces`);
        }
      }
    }
  }

  apply(): GraphDef {
    this.dropOrphans();
    const removedNodes = this.graph.node.filter(n => this.removed.has(n.name));
    const nodes: NodeDef[] = [];
    for (const node of [...this.graph.node.filter(n => !this.removed.has(n.name)), ...this.added]) {
      nodes.push({...node, input: node.input ? this.rewriteInputs(node.input) : node.input});
    }
    // Control inputs of removed nodes move to their heir, so ordering constraints survive.
    const byName = new Map(nodes.map(n => [n.name, n]));
    for (const node of removedNodes) {
      const heir = byName.get(this.controlHeirs.get(node.name) ?? '');
      if (!heir) continue;
      for (const raw of node.input ?? []) {
        const ref = parseInputRef(raw);
        if (!ref.control || this.removed.has(ref.node)) continue;
        const control = `^${ref.node}`;
        if (!(heir.input ?? []).includes(control)) heir.input = [...(heir.input ?? []), control];
      }
    }
    return {...this.graph, node: nodes};
  }

  private rewriteInputs(inputs: string[]): string[] {
    const out: string[] = [];
    for (const raw of inputs) {
      const ref = parseInputRef(raw);
      if (ref.control) {
        const target = this.removed.has(ref.node) ? this.controlHeirs.get(ref.node) : ref.node;
        const control = target ? `^${target}` : null;
        if (control && !out.includes(control)) out.push(control);
        continue;
      }
      const key = formatInputRef(ref);
      const target = this.redirects.get(key) ?? key;
      if (this.removed.has(parseInputRef(target).node)) {
        throw new Error(`graph rewrite: '${target}' was removed but is still read by a kept node`);
      }
      out.push(target);
    }
    // Data inputs come before control inputs in a NodeDef.
    return [...out.filter(s => !s.startsWith('^')), ...out.filter(s => s.startsWith('^'))];
  }
}
