/**
 * A decoder fixture's generation.json (tools/fixtures): the prompts, Python's own greedy generation of
 * each alone and of the left-padded batch, and the raw next-token logits of every step.
 */
import * as fs from 'fs';
import * as path from 'path';
import {FIXTURES_DIR} from './load_fixture';

export interface GenerationFixture {
  prompts: number[][];
  maxNewTokens: number;
  padTokenId: number;
  /** The prompts left-padded into one batch (layers fixtures add position_ids). */
  batchedInput: {input_ids: number[][]; attention_mask: number[][]; position_ids?: number[][]};
  /** The new tokens of each prompt generated alone (the prompt not included), greedy. */
  greedySingle: number[][];
  /** The new tokens of each row of the left-padded batch of all prompts, greedy. */
  greedyBatched: number[][];
  /** stepLogitsSingle[prompt][step]: the logits that chose greedySingle[prompt][step]. */
  stepLogitsSingle: number[][][];
}

export function loadGenerationFixture(id: string): GenerationFixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, id, 'generation.json'), 'utf8')) as GenerationFixture;
}

/** Largest |a − b| over the row, relative to the largest |b| (the logits of one step). */
export function rowRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 1e-12;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
