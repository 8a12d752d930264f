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
}

export interface SkippedCandidate {
  nodes: string[];
  reason: string;
}

export interface TransformReport {
  architecture: string | null;
  fused: FusedBlock[];
  skipped: SkippedCandidate[];
}

export function emptyReport(architecture: string | null = null): TransformReport {
  return {architecture, fused: [], skipped: []};
}
