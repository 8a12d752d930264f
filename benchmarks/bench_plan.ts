/**
 * What `npm run bench` is about to measure and roughly how long it takes,
 * printed before the suites start. Each result row (one size on one engine)
 * is timed for about the budget after a warm-up run: fast engines stop sooner
 * (at 50 runs), engines slower than a third of the budget per run take longer
 * (at least 3 runs), and a size estimated over --max-run-seconds per run is
 * skipped. So the figure is rows × budget, and says so: what the budget
 * bounds, not a measured or guaranteed length.
 */
import type {Engine} from './engines/engine';
import {ATTENTION_BATCHES, ATTENTION_VARIANTS, attentionSeqs, ENCODER_PADDINGS, encoderBatches} from './suites';

export interface BenchPlan {
  rows: number;
  line: string;
}

export function benchPlan(engines: Engine[], o: {quick: boolean; only?: string; budgetMs: number; maxRunSeconds: number}): BenchPlan {
  const attentionSizes = o.only === 'encoder' ? 0 : ATTENTION_BATCHES.length * attentionSeqs(o.quick).length * ATTENTION_VARIANTS.length;
  const encoderSizes = o.only === 'sdpa' ? 0 : encoderBatches(o.quick).length * ENCODER_PADDINGS.length;
  const rows = attentionSizes * engines.filter(e => e.prepareAttention).length +
      encoderSizes * engines.filter(e => e.prepareEncoder).length;
  const minutes = rows * o.budgetMs / 60_000;
  const line = `${rows} result rows (${attentionSizes} attention and ${encoderSizes} encoder sizes on ${engines.length} engines), ` +
      `each timed for about ${o.budgetMs / 1000} s after a warm-up: about ${minutes < 1.5 ? 'a minute' : `${Math.round(minutes)} minutes`} ` +
      `by that budget (rows with slow runs take longer: at least 3 runs each, sizes estimated over ${o.maxRunSeconds} s a run ` +
      'are skipped; rows that reach 50 runs sooner take less)';
  return {rows, line};
}
