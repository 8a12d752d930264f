/** What each benchmarked engine implements. */
import {EncoderShape, LayerWeights} from '../weights';

export interface AttentionProblem {
  batch: number; heads: number; seq: number; depth: number;
  q: Float32Array; k: Float32Array; v: Float32Array;
  /** Real-token lengths per batch row (keys past them are padding), or null for no padding. */
  lengths: number[] | null;
  causal: boolean;
}

export interface EncoderProblem {
  shape: EncoderShape;
  weights: LayerWeights[];
  batch: number; seq: number;
  x: Float32Array;
  lengths: number[];
}

/** A prepared run: call `run()` to execute once (finishing all work); `dispose()` frees what prepare made. */
export interface PreparedRun {
  run(): Promise<void>;
  dispose(): void;
}

export interface Engine {
  name: string;
  /** Why the engine cannot run here, or null. */
  unavailable(): Promise<string | null>;
  prepareAttention?(p: AttentionProblem): Promise<PreparedRun>;
  /** Runs `layers` of the stack (fewer than all when the engine is too slow for the whole stack). */
  prepareEncoder?(p: EncoderProblem, layers: number): Promise<PreparedRun>;
}
