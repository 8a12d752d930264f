/**
 * Consecutive fused encoder layers become one TransformerEncoderStack node
 * (padding removed once for all of them). Without weights it plans the stacks
 * `transform` would form from the first pass's candidates.
 */
import {GraphView} from '../graph/graph_view';
import {FusedBlock} from '../report';
import {groupEncoderStacks} from '../rewrite/stack_rewrite';
import {AttentionCandidate, FusionPass, PassContext} from './pass';

/**
 * Without weights, the stacks `transform` would form: runs of matched layers
 * where each layer reads the previous one's output and they share the
 * padding mask input and structure.
 */
function plannedStacks(ctx: PassContext): FusedBlock[] {
  const view = new GraphView(ctx.graph);
  const key = (ref: {node: string; output: number}) => {
    const r = view.resolve({...ref, control: false}).ref;
    return `${r.node}:${r.output}`;
  };
  const out: FusedBlock[] = [];
  let run: AttentionCandidate[] = [];
  const flush = () => {
    // What inspect could not check without weights, once per stack.
    const unchecked = [...new Set(run.flatMap(c => c.layer?.unchecked ?? []))];
    const rest = unchecked.length ? {unchecked} : {};
    if (run.length >= 2) out.push({kind: 'encoderStack', layers: run.length, nodes: run.flatMap(c => c.layer?.interior.map(n => n.name) ?? []), ...rest});
    else if (run.length === 1) out.push({kind: 'encoderLayer', layers: 1, nodes: run[0].layer?.interior.map(n => n.name) ?? [], ...rest});
    run = [];
  };
  for (const c of ctx.candidates) {
    if (!c.layer) {
      flush();
      continue;
    }
    const prev = run[run.length - 1]?.layer;
    const chained = prev && key(c.layer.input) === key(prev.output) && prev.normFirst === c.layer.normFirst &&
        prev.activation === c.layer.activation && prev.core.isCausal === c.layer.core.isCausal &&
        prev.padding?.input.node === c.layer.padding?.input.node;
    if (!chained) flush();
    run.push(c);
  }
  flush();
  return [...ctx.report.fused.filter(b => b.kind === 'attention'), ...out];
}

export const encoderStacksPass: FusionPass = {
  name: 'encoder-stacks',
  description: 'chains of fused encoder layers sharing their options and padding mask',
  option: 'fuseEncoderStacks',
  applies: ctx => ctx.lookup === undefined || ctx.report.fused.length > 0,
  run(ctx) {
    if (!ctx.lookup) {
      ctx.report.fused = plannedStacks(ctx);
      return;
    }
    const grouped = groupEncoderStacks(ctx.graph, ctx.report.fused, ctx.fusedNodes);
    ctx.graph = grouped.graph;
    ctx.report.fused = grouped.fused;
  },
};
