/**
 * What generators return and report (the decoder-only generator, generator.ts, and the encoder–decoder one,
 * seq2seq_generator.ts).
 */
import type {Implementation} from '../dispatch/implementation';
import type {WeightPrecision} from '../op_table';

export interface GeneratorReport {
  /** 'cached': the fused decoder step with a key/value cache; 'recompute': the graph run on the whole sequence per token. */
  mode: 'cached' | 'recompute';
  /** Why the generator recomputes, when it does. */
  reason: string | null;
  /** The recognised decoder, in cached mode. */
  architecture: {
    layers: number; vocab: number; embed: number; heads: number; kvHeads: number; headDim: number;
    normKind: 'layer' | 'rms'; normFirst: boolean; parallel: boolean; activation: string; gatedMlp: boolean;
    positionEmbedding: 'learned' | 'rotary' | 'none'; rotaryDim: number; rotaryInterleaved: boolean; tiedHead: boolean;
  } | null;
  /** Largest relative difference between the fused step's logits and the graph's on the probe prompts. */
  verification: {maxRelativeDifference: number; bfloat16RelativeDifference: number | null} | null;
  /** The longest sequence (prompt + new tokens) the generator takes. */
  positions: number;
  weightPrecision: WeightPrecision;
  /** The implementation the fused step runs on the backend active now. */
  implementation: Implementation | 'graph';
}

export type FinishReason = 'stop' | 'length' | 'aborted';

export interface GenerationResult {
  /** The new tokens of each sequence (a stop token included). */
  tokens: number[][];
  /** Prompt and new tokens of each sequence. */
  sequences: number[][];
  finishReasons: FinishReason[];
  promptTokens: number;
  newTokens: number;
  /** With options.returnLogits: each sequence's logits at each of its steps (before penalty and sampling). */
  logits?: Float32Array[][];
}

export interface GenerationStep {
  /** 0 for the first new token. */
  step: number;
  /** One token per sequence; null for a sequence that has finished. */
  tokens: Array<number | null>;
}
