/**
 * A fusion pass: one kind of block the rewriting pass replaces by a fused op.
 * The passes run in the order of passes.ts, each on the graph the previous
 * one left, sharing the report and the constants added so far.
 */
import {WeightLookup} from '../graph/constant_values';
import {GraphDef} from '../graph/graph_def';
import {NewWeights} from '../graph/new_weights';
import type {AttentionCore} from '../match/attention_core';
import type {EncoderLayerMatch} from '../match/encoder_layer';
import {FusedBlock, TransformReport} from '../report';

export interface GraphPassOptions {
  /** Fuse whole encoder layers where they match (default true); false keeps attention-level fusion only. */
  fuseEncoderLayers?: boolean;
  /** The weights were stored quantised: formula constants carry quantisation error. */
  quantizedWeights?: boolean;
  /** Run consecutive fused layers as one encoder stack (default true). */
  fuseEncoderStacks?: boolean;
  /** Replace LayerNorms outside the fused layers (embeddings, final norms) by one op each (default true). */
  fuseLayerNorms?: boolean;
}

/** An attention core the first pass found, and the encoder layer around it when one matched. */
export interface AttentionCandidate {
  core: AttentionCore;
  layer: EncoderLayerMatch | null;
  layerRefusal: string | null;
}

export interface PassContext {
  /** The graph as the passes so far left it. */
  graph: GraphDef;
  /** Constant values by node name; absent when only the topology is known (`inspect`): passes then only plan. */
  lookup?: WeightLookup;
  options: GraphPassOptions;
  report: TransformReport;
  /** Constants added by the passes (their nodes are in `graph`). */
  newWeights: NewWeights;
  /** The node each fused block of the report became (for passes that regroup blocks). */
  fusedNodes: Map<FusedBlock, string>;
  /** The first pass's candidates, for passes that plan without weights. */
  candidates: AttentionCandidate[];
}

export interface FusionPass {
  name: string;
  /** What it fuses, for docs and reports. */
  description: string;
  /** The option that turns it off (it runs unless that option is false). */
  option?: keyof GraphPassOptions;
  /** Whether it has something to do in this context (e.g. only around fused blocks, only with weights). */
  applies(ctx: PassContext): boolean;
  run(ctx: PassContext): void;
}

/**
 * `applies` of the passes that rewrite sites around fused blocks (norms, lookups, position biases): constants must
 * be known, and only models whose blocks were fused are rewritten at all.
 */
export function aroundFusedBlocks(ctx: PassContext): boolean {
  return ctx.lookup !== undefined && ctx.report.fused.length > 0;
}
