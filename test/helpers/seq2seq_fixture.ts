/**
 * An encoder–decoder fixture's generation.json (tools/fixtures/seq2seq.py): the sources, the special ids and
 * Python's own generate() results — greedy forced to full length (each source alone and as one padded
 * batch, with the raw logits of every step for the first source) and beam search (natural length, EOS may end
 * beams; and one forced to full length). Rows start with the decoder start token.
 */
import * as fs from 'fs';
import * as path from 'path';
import {FIXTURES_DIR} from './load_fixture';

export interface Seq2SeqGenerationFixture {
  /** Token ids per source, or (audio models) features [mels, frames] per source. */
  sources: number[][] | number[][][];
  decoderStartTokenId: number;
  eosTokenId: number;
  padTokenId: number;
  forcedBosTokenId: number | null;
  maxNewTokens: number;
  /** The sources as one batch: padded ids and mask, or the features' shape. */
  batchedInput: {input_ids?: number[][]; attention_mask?: number[][]; input_features_shape?: number[]};
  greedySingle: number[][];
  greedyBatch: number[][];
  /** Raw logits at each greedy step of the first source. */
  stepLogits: number[][];
  beam: {numBeams: number; lengthPenalty: number; earlyStopping: boolean; maxNewTokens: number};
  beamSingle: number[][];
  beamBatch: number[][];
  beamForced: {source: number; minLength: number; sequence: number[]};
}

export function seq2seqFixtureIds(): string[] {
  return fs.readdirSync(FIXTURES_DIR).filter(d => d.endsWith('_seq2seq') && fs.existsSync(path.join(FIXTURES_DIR, d, 'generation.json')))
      .sort();
}

export function loadSeq2SeqFixture(id: string): Seq2SeqGenerationFixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, id, 'generation.json'), 'utf8')) as Seq2SeqGenerationFixture;
}
