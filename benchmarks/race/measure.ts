/**
 * One race cell: an engine embeds the whole corpus in consecutive batches of
 * one size. After a warm-up batch, full passes are repeated (up to `repeats`)
 * and the median pass is reported. A slow engine that cannot finish a pass
 * within the time budget is reported on the batches it completed, and says so.
 */
import {median} from '../stats';
import {RaceEngine} from './race_engine';

export interface Batch {
  sentences: string[];
  /** Real tokens (special tokens included), counted with the model's tokenizer. */
  tokens: number;
}

export interface CellResult {
  engine: string;
  batchSize: number;
  sentencesPerSecond: number;
  tokensPerSecond: number;
  msPerBatch: number;
  /** Sentences the figures cover: the whole corpus, or fewer when the budget ran out. */
  sentencesCovered: number;
  passes: number;
}

export function makeBatches(sentences: string[], tokenCounts: number[], batchSize: number): Batch[] {
  const batches: Batch[] = [];
  for (let i = 0; i < sentences.length; i += batchSize) {
    batches.push({
      sentences: sentences.slice(i, i + batchSize),
      tokens: tokenCounts.slice(i, i + batchSize).reduce((a, b) => a + b, 0),
    });
  }
  return batches;
}

export async function runCell(engine: RaceEngine, batches: Batch[], batchSize: number, repeats: number,
                              budgetMs: number): Promise<CellResult> {
  await engine.embedBatch(batches[0].sentences);
  const passTimes: number[] = [];
  const batchTimes: number[] = [];
  let partial = {sentences: 0, tokens: 0, ms: 0};
  const start = performance.now();
  for (let pass = 0; pass < repeats; pass++) {
    let passMs = 0;
    let done = 0;
    for (const batch of batches) {
      const t0 = performance.now();
      await engine.embedBatch(batch.sentences);
      const ms = performance.now() - t0;
      batchTimes.push(ms);
      passMs += ms;
      done++;
      if (passTimes.length === 0) {
        partial = {sentences: partial.sentences + batch.sentences.length, tokens: partial.tokens + batch.tokens, ms: passMs};
      }
      if (performance.now() - start > budgetMs && done < batches.length) break;
    }
    if (done < batches.length) break;
    passTimes.push(passMs);
    if (performance.now() - start > budgetMs) break;
  }
  const totalSentences = batches.reduce((n, b) => n + b.sentences.length, 0);
  const totalTokens = batches.reduce((n, b) => n + b.tokens, 0);
  const seconds = passTimes.length > 0 ? median(passTimes) / 1000 : partial.ms / 1000;
  const covered = passTimes.length > 0 ? {sentences: totalSentences, tokens: totalTokens} : partial;
  return {
    engine: engine.name, batchSize, sentencesPerSecond: covered.sentences / seconds, tokensPerSecond: covered.tokens / seconds,
    msPerBatch: median(batchTimes), sentencesCovered: covered.sentences, passes: passTimes.length,
  };
}
