/**
 * Groups consecutive fused encoder layers into one encoder-stack node: layer
 * i+1 reads only layer i's output, both use the same key padding mask input
 * and the same options (heads, norm placement, activation, epsilons, scale). The stack removes
 * padding once for all its layers instead of once per layer.
 */
import {GraphDef, InputRef, NodeDef, attrBool, attrInt, attrString, encodeAttrString, formatInputRef, parseInputRef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {graphOpName} from '../../op_table';
import {fusedInput as named, fusedInputs as inputsOf} from '../graph/fused_nodes';
import {FusedBlock} from '../report';


const LAYER_OP = graphOpName('TransformerEncoderLayer');
const STACK_OP = graphOpName('TransformerEncoderStack');

function compatible(a: NodeDef, b: NodeDef): boolean {
  return attrInt(a, 'numHeads') === attrInt(b, 'numHeads') && attrBool(a, 'normFirst') === attrBool(b, 'normFirst') &&
      attrString(a, 'activation') === attrString(b, 'activation') && attrBool(a, 'isCausal') === attrBool(b, 'isCausal') &&
      named(a, 'keyPaddingMask') === named(b, 'keyPaddingMask') && named(a, 'attentionBias') === named(b, 'attentionBias') &&
      attrString(a, 'normKind') === attrString(b, 'normKind') && attrBool(a, 'gatedMlp') === attrBool(b, 'gatedMlp') &&
      ['layerNormEps1', 'layerNormEps2', 'scale'].every(k => Number(a.attr?.[k]?.f) === Number(b.attr?.[k]?.f));
}

/** Chains of at least two layers, in order. */
function chains(view: GraphView): NodeDef[][] {
  const layers = view.graph.node.filter(n => n.op === LAYER_OP);
  const next = new Map<string, NodeDef>();
  const hasPrev = new Set<string>();
  for (const layer of layers) {
    const readers = view.consumers(layer.name);
    if (readers.length !== 1 || readers[0].node.op !== LAYER_OP) continue;
    const follower = readers[0].node;
    const x = named(follower, 'x');
    if (!x || parseInputRef(x).node !== layer.name || !compatible(layer, follower)) continue;
    if (view.controlConsumers(layer.name).length > 0) continue;
    next.set(layer.name, follower);
    hasPrev.add(follower.name);
  }
  const out: NodeDef[][] = [];
  for (const layer of layers) {
    if (hasPrev.has(layer.name) || !next.has(layer.name)) continue;
    const chain = [layer];
    for (let n = next.get(layer.name); n; n = next.get(n.name)) chain.push(n);
    out.push(chain);
  }
  return out;
}

/** `fusedNodes`: the fused layer node each encoderLayer block of the report became. */
export function groupEncoderStacks(graph: GraphDef, fused: FusedBlock[], fusedNodes: Map<FusedBlock, string>):
    {graph: GraphDef; fused: FusedBlock[]} {
  const view = new GraphView(graph);
  const groups = chains(view);
  if (groups.length === 0) return {graph, fused};
  const removed = new Set<string>();
  const redirect = new Map<string, string>();
  const added: NodeDef[] = [];
  for (const chain of groups) {
    const first = chain[0];
    const last = chain[chain.length - 1];
    const names: string[] = ['x'];
    const inputs: string[] = [named(first, 'x') as string];
    const padding = named(first, 'keyPaddingMask');
    if (padding) {
      names.push('keyPaddingMask');
      inputs.push(padding);
    }
    // One position bias for every layer (T5: computed once per forward from the bucket table).
    const bias = named(first, 'attentionBias');
    if (bias) {
      names.push('attentionBias');
      inputs.push(bias);
    }
    const controls = new Set<string>();
    chain.forEach((layer, i) => {
      for (const [name, ref] of inputsOf(layer)) {
        if (['x', 'keypaddingmask', 'attentionbias'].includes(name.toLowerCase())) continue;
        names.push(`l${i}.${name}`);
        inputs.push(ref);
      }
      for (const raw of layer.input ?? []) if (raw.startsWith('^')) controls.add(raw);
      removed.add(layer.name);
    });
    const stack: NodeDef = {
      name: `${first.name}_stack`,
      op: STACK_OP,
      input: [...inputs, ...controls],
      attr: {
        numLayers: {i: String(chain.length)},
        numHeads: first.attr?.['numHeads'] ?? {},
        normFirst: first.attr?.['normFirst'] ?? {b: false},
        activation: first.attr?.['activation'] ?? {},
        isCausal: first.attr?.['isCausal'] ?? {b: false},
        layerNormEps1: first.attr?.['layerNormEps1'] ?? {},
        layerNormEps2: first.attr?.['layerNormEps2'] ?? {},
        scale: first.attr?.['scale'] ?? {},
        ...(first.attr?.['normKind'] ? {normKind: first.attr['normKind']} : {}),
        ...(first.attr?.['gatedMlp'] ? {gatedMlp: first.attr['gatedMlp']} : {}),
        inputs: encodeAttrString(names.join(',')),
      },
    };
    added.push(stack);
    redirect.set(last.name, stack.name);
  }
  const nodes = graph.node.filter(n => !removed.has(n.name)).map(n => ({
    ...n,
    input: n.input?.map(raw => {
      const ref: InputRef = parseInputRef(raw);
      const target = redirect.get(ref.node);
      return target ? formatInputRef({...ref, node: target}) : raw;
    }),
  }));
  // Report: the per-layer blocks of each chain become one stack block.
  const byLayerNode = new Map<string, number>();
  groups.forEach((chain, g) => chain.forEach(layer => byLayerNode.set(layer.name, g)));
  const stackBlocks: FusedBlock[] = groups.map(chain => ({kind: 'encoderStack', layers: chain.length, nodes: []}));
  const rest: FusedBlock[] = [];
  for (const block of fused) {
    const node = fusedNodes.get(block);
    const g = block.kind === 'encoderLayer' && node !== undefined ? byLayerNode.get(node) : undefined;
    if (g === undefined) rest.push(block);
    else stackBlocks[g].nodes.push(...block.nodes);
  }
  return {graph: {...graph, node: [...nodes, ...added]}, fused: [...rest, ...stackBlocks]};
}
