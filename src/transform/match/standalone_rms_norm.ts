/**
 * RMSNorms that stand on their own in a graph (T5's final norms, outside the
 * fused layers): an RMSNorm decomposition whose every node serves only that
 * norm, so the whole of it can be replaced by one op. The widest match wins
 * (x · rsqrt(…) alone also computes a gamma-less RMSNorm; the Mul by gamma
 * after it belongs to the same norm).
 */
import {ConstantValues} from '../graph/constant_values';
import {attrShape, attrString, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {graphOpName} from '../../op_table';
import {matchRmsNorm, NormSite} from '../decoder/norm_site';

export interface StandaloneRmsNorm {
  /** The node producing the normalised output. */
  output: NodeDef;
  site: NormSite;
  /** The width W of the normalised axis: gamma's length, or known from the fused op producing the input. */
  width: number;
}

const FUSED_ENCODERS = new Set([graphOpName('TransformerEncoderStack'), graphOpName('TransformerEncoderLayer')]);

/**
 * The width of `ref` when a fused encoder node produces it: the length of its
 * first LayerNorm gamma (its inputs are named by the node's `inputs` attr).
 */
function fusedEncoderWidth(view: GraphView, consts: ConstantValues, ref: InputRef): number | undefined {
  const node = view.resolve(ref).node;
  if (!node || !FUSED_ENCODERS.has(node.op)) return undefined;
  const names = (attrString(node, 'inputs') ?? '').split(',').map(s => s.toLowerCase());
  const index = names.findIndex(n => n === 'ln1gamma' || n === 'l0.ln1gamma');
  const gamma = index >= 0 ? view.resolvedInput(node, index) : undefined;
  // A gamma an earlier rewrite added (T5's folded ones) is a new constant: its shape is in its node.
  const shape = gamma ? attrShape(view.resolve(gamma).node?.attr?.['value']) ?? consts.value(gamma)?.shape : undefined;
  return shape && shape.length === 1 ? shape[0] : undefined;
}

/** Every standalone RMSNorm of the graph with known constants and width, widest first, none overlapping. */
export function standaloneRmsNorms(view: GraphView, consts: ConstantValues): StandaloneRmsNorm[] {
  const found: StandaloneRmsNorm[] = [];
  for (const node of view.graph.node) {
    if (node.op !== 'Mul') continue;
    const rms = matchRmsNorm(view, consts, {node: node.name, output: 0, control: false});
    if (!rms.ok) continue;
    const site = rms.value;
    const inside = new Set(site.nodes.map(n => n.name));
    if (site.nodes.some(n => n !== node && view.consumers(n.name).some(c => !inside.has(c.node.name)))) continue;
    const gamma = site.gamma ? consts.value(site.gamma) : undefined;
    const width = gamma ? (gamma.shape.length === 1 ? gamma.shape[0] : undefined) : fusedEncoderWidth(view, consts, site.input);
    if (width === undefined) continue;
    found.push({output: node, site, width});
  }
  found.sort((a, b) => b.site.nodes.length - a.site.nodes.length);
  const taken = new Set<string>();
  const kept = found.filter(f => {
    if (f.site.nodes.some(n => taken.has(n.name))) return false;
    f.site.nodes.forEach(n => taken.add(n.name));
    return true;
  });
  const order = new Map(view.graph.node.map((n, i) => [n.name, i]));
  return kept.sort((a, b) => (order.get(a.output.name) ?? 0) - (order.get(b.output.name) ?? 0));
}
