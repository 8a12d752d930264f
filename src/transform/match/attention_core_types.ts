/** What an attention core match finds (attention_core.ts matches it; causal_band.ts refines it). */
import type {InputRef, NodeDef} from '../graph/graph_def';
import type {HeadLayout} from './einsum_layout';

/** A constant factor applied to the scores: multiply by `ref`, or divide by it. */
export interface ScaleTerm {
  node: NodeDef;
  ref: InputRef;
  divide: boolean;
}

/** An additive mask term, multiplied by the scale terms applied after it and by `sign`. */
export interface MaskTerm {
  node: NodeDef;
  ref: InputRef;
  sign: 1 | -1;
  scaledBy: ScaleTerm[];
}

export interface AttentionCore {
  softmax: NodeDef;
  scoresProduct: NodeDef;
  outputProduct: NodeDef;
  q: InputRef;
  k: InputRef;
  v: InputRef;
  /** Layouts of q, k and v as the graph has them; the fused op reads [B, H, S, D]. */
  qLayout: HeadLayout;
  kLayout: HeadLayout;
  vLayout: HeadLayout;
  /** Layout the block's output must have ([B, H, S, Dv], or [B, S, H, Dv] for Keras). */
  outLayout: HeadLayout;
  scales: ScaleTerm[];
  masks: MaskTerm[];
  /** Score-independent constants added to every score (softmax ignores them). */
  uniformAdds: NodeDef[];
  /** 0/1 masks multiplied into the scores, each with the large negative fill term that goes with it. */
  multiplicativeMasks: Array<{node: NodeDef; band: InputRef; fill: MaskTerm}>;
  /**
   * Set when the multiplicative masks were proven to be the bottom-right causal band (see causal_band.ts), or,
   * without weights, when they could be and `unchecked` says the proof was not made.
   */
  isCausal: boolean;
  /**
   * Without weights (`inspect`): what the match assumed because proving it needs constant values. The block is
   * planned as `transform` would fuse it if these checks pass. Absent or empty when nothing was assumed.
   */
  unchecked?: string[];
  /**
   * A learned relative position bias (T5) inside the additive term `term`
   * (the only mask term): the term is a sum of `bias` (computed from the
   * position buckets and a learned table, not from any model input's values),
   * `masks` (other tensors, e.g. the padding mask) and `constants` (scalars).
   * The fused attention op does not take it; the fused encoder layer takes
   * `bias` as its attentionBias and the masks as its key padding mask.
   */
  positionBias: {term: MaskTerm; bias: InputRef; masks: InputRef[]; constants: InputRef[]} | null;
  /** Every node the fused op replaces. */
  interior: NodeDef[];
  /**
   * Shape nodes reading a score-shaped tensor inside the block (GPT-2 sizes
   * its causal mask from the scores): they get the [B, H, Sq, Sk] shape from q and k instead.
   */
  scoreShapeReaders: NodeDef[];
  /**
   * Where the [B, H, Sq, Dv] result leaves the block: the output product, or,
   * when heads were flattened into the batch ([B·H, S, D] products, as in
   * Whisper), the Reshape that restores [B, H, S, Dv].
   */
  outputNode: NodeDef;
  /**
   * With heads flattened into the batch, the scores reshaped to [B, H, Sq, Sk] for the masks to be added and
   * back to [B·H, Sq, Sk] for the softmax (BART, mBART, Marian, Pegasus, Blenderbot): the two Reshapes, the
   * flattening one first. The masks were added between them, in the 4-D layout the fused op takes.
   */
  scoresReshapes: NodeDef[];
}

