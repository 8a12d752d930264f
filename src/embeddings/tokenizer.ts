/**
 * Tokenisation with the model's own tokenizer.json, read by Hugging Face's
 * pure-JS tokenizers library, plus what sentence-transformers adds on top:
 * truncation at the model's max_seq_length and right padding of a batch to its
 * longest sequence.
 */
import * as fs from 'fs';
import * as path from 'path';
import {Tokenizer} from '@huggingface/tokenizers';

/** A batch ready for a BERT graph: row-major [batchSize, seqLength] int32 tensors' data. */
export interface TokenizedBatch {
  batchSize: number;
  seqLength: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  /** Tokens of each sentence, special tokens included. */
  lengths: number[];
  /** Real tokens in the batch (the sum of lengths). */
  realTokens: number;
  /** Padding positions the batch carries: batchSize · seqLength − realTokens. */
  paddingTokens: number;
}

export class SentenceTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly sepId: number;
  private readonly padId: number;

  constructor(tokenizerJson: object, tokenizerConfig: object, readonly maxSeqLength: number) {
    if (!(maxSeqLength >= 2)) throw new RangeError(`maxSeqLength must be at least 2 (got ${maxSeqLength})`);
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    const config = tokenizerConfig as {sep_token?: string; pad_token?: string};
    this.sepId = this.requireId(config.sep_token ?? '[SEP]');
    this.padId = this.requireId(config.pad_token ?? '[PAD]');
  }

  /** Reads tokenizer.json and tokenizer_config.json from a model directory. */
  static fromDirectory(dir: string, maxSeqLength: number): SentenceTokenizer {
    const read = (name: string) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as object;
    return new SentenceTokenizer(read('tokenizer.json'), read('tokenizer_config.json'), maxSeqLength);
  }

  private requireId(token: string): number {
    const id = this.tokenizer.token_to_id(token);
    if (id === undefined) throw new Error(`the tokenizer has no '${token}' token`);
    return id;
  }

  /**
   * Token ids with [CLS] … [SEP]. A longer text is cut to maxSeqLength the way
   * Hugging Face truncates a single sequence: the text's tokens are cut and the
   * closing [SEP] kept.
   */
  encode(text: string): number[] {
    const ids = this.tokenizer.encode(text).ids;
    if (ids.length <= this.maxSeqLength) return ids;
    const cut = ids.slice(0, this.maxSeqLength - 1);
    cut.push(this.sepId);
    return cut;
  }

  /** Encodes texts and pads them on the right to the longest one in the batch. */
  encodeBatch(texts: readonly string[]): TokenizedBatch {
    const rows = texts.map(t => this.encode(t));
    const batchSize = rows.length;
    const seqLength = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const inputIds = new Int32Array(batchSize * seqLength).fill(this.padId);
    const attentionMask = new Int32Array(batchSize * seqLength);
    rows.forEach((row, i) => {
      inputIds.set(row, i * seqLength);
      attentionMask.fill(1, i * seqLength, i * seqLength + row.length);
    });
    const lengths = rows.map(r => r.length);
    const realTokens = lengths.reduce((a, b) => a + b, 0);
    return {
      batchSize, seqLength, inputIds, attentionMask, tokenTypeIds: new Int32Array(batchSize * seqLength), lengths,
      realTokens, paddingTokens: batchSize * seqLength - realTokens,
    };
  }
}
