/**
 * What `BetterTransformer.transform` did to a model: the blocks it fused and every
 * candidate it left alone, with the reason. The JSON form (`inspect --json`) is a
 * stable contract.
 */
export type FusedBlockKind = 'attention' | 'encoderLayer' | 'encoderStack';

export interface FusedBlock {
  kind: FusedBlockKind;
  /** Transformer layers covered by the block (1 for attention and encoderLayer). */
  layers: number;
  /** Original node names (graph models) or layer names (layers models) replaced. */
  nodes: string[];
  /**
   * `inspect` without weights only: checks of constant values the block needs
   * and that could not be made (the constants are in the weight files). The
   * block is what `transform` fuses if they pass. Absent when every check was made.
   */
  unchecked?: string[];
}

export interface SkippedCandidate {
  nodes: string[];
  reason: string;
}

/**
 * How `transform` checked the rewritten graph against the original on probe
 * inputs (absent for `inspect`, which has no weights, and for a model left
 * unchanged before any rewrite). `agreed`: the largest relative difference on
 * real tokens; `not run`: why the model could not be probed.
 */
export type Verification = {status: 'agreed'; maxRelativeDifference: number} | {status: 'not run'; reason: string};

export interface TransformReport {
  architecture: string | null;
  fused: FusedBlock[];
  skipped: SkippedCandidate[];
  verification?: Verification;
}

export function emptyReport(architecture: string | null = null): TransformReport {
  return {architecture, fused: [], skipped: []};
}
