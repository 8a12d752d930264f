/**
 * RMSNorms that stand on their own in a graph (T5's final norms, outside the
 * fused layers): an RMSNorm decomposition whose every node serves only that
 * norm, so the whole of it can be replaced by one op. The widest match wins
 * (x · rsqrt(…) alone also computes a gamma-less RMSNorm; the Mul by gamma
 * after it belongs to the same norm).
 */
import {ConstantValues} from '../graph/constant_values';
import {FUSED_ENCODER_OPS, fusedInputRef} from '../graph/fused_nodes';
import {attrShape, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matchRmsNorm, NormSite} from '../decoder/norm_site';
import {widestDisjoint} from './widest_disjoint';

export interface StandaloneRmsNorm {
  /** The node producing the normalised output. */
  output: NodeDef;
  site: NormSite;
  /** The width W of the normalised axis: gamma's length, or known from the fused op producing the input. */
  width: number;
}

/**
 * The width of `ref` when a fused encoder node produces it: the length of its
 * first LayerNorm gamma.
 */
function fusedEncoderWidth(view: GraphView, consts: ConstantValues, ref: InputRef): number | undefined {
  const node = view.resolve(ref).node;
  if (!node || !FUSED_ENCODER_OPS.has(node.op)) return undefined;
  const gamma = fusedInputRef(node, 'ln1Gamma') ?? fusedInputRef(node, 'l0.ln1Gamma');
  // A gamma an earlier rewrite added (T5's folded ones) is a new constant: its shape is in its node.
  const shape = gamma ? attrShape(view.resolve(gamma).node?.attr?.['value']) ?? consts.value(gamma)?.shape : undefined;
  return shape && shape.length === 1 ? shape[0] : undefined;
}

/** Every standalone RMSNorm of the graph with known constants and width: the widest, none overlapping, in graph order. */
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
  return widestDisjoint(view, found, f => f.site.nodes, f => f.output);
}
