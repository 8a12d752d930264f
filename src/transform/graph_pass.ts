/**
 * The rewriting pass over a GraphDef: runs the fusion passes of passes.ts in
 * order. Without weights (`inspect`) they only match and plan; with weights
 * they check constant values and rewrite the graph.
 */
import {WeightLookup} from './graph/constant_values';
import {GraphDef, graphDefProblem} from './graph/graph_def';
import {NewWeights} from './graph/new_weights';
import {FUSION_PASSES} from './passes';
import {GraphPassOptions, PassContext} from './passes/pass';
import {emptyReport, TransformReport} from './report';

export type {GraphPassOptions} from './passes/pass';

export interface GraphPassResult {
  report: TransformReport;
  /** Present when weights were given and something was fused. */
  graph?: GraphDef;
  newWeights?: NewWeights;
}

export function runGraphPass(graph: GraphDef, lookup: WeightLookup | undefined, options: GraphPassOptions = {}): GraphPassResult {
  const problem = graphDefProblem(graph);
  if (problem) return {report: {...emptyReport(), skipped: [{nodes: [], reason: `the graph cannot be read: ${problem}`}]}};
  const ctx: PassContext = {
    graph, lookup, options, report: emptyReport(), newWeights: new NewWeights(), fusedNodes: new Map(), candidates: [],
  };
  try {
    for (const pass of FUSION_PASSES) {
      if (pass.option && options[pass.option] === false) continue;
      if (pass.applies(ctx)) pass.run(ctx);
    }
  } catch (e) {
    // A graph the passes cannot rewrite consistently (a cycle through a
    // matched block, say): nothing is changed, and the report says why.
    ctx.newWeights.dispose();
    const nodes = ctx.report.fused.flatMap(b => b.nodes);
    return {report: {
      architecture: ctx.report.architecture, fused: [],
      skipped: [...ctx.report.skipped, {nodes, reason: `the graph could not be rewritten: ${(e as Error).message}`}],
    }};
  }
  if (!lookup || ctx.report.fused.length === 0) {
    ctx.newWeights.dispose();
    return {report: ctx.report};
  }
  return {report: ctx.report, graph: ctx.graph, newWeights: ctx.newWeights};
}
