/** The two benchmark suites: attention and the BERT-base encoder, each over every available engine. */
import {AttentionProblem, EncoderProblem, Engine} from './engines/engine';
import {ResultRow} from './results';
import {timeRuns} from './stats';
import {BERT_BASE, layerWeights, seededNormal, spreadLengths} from './weights';

export interface SuiteOptions {
  /** One run of an engine may take at most this long; slower configs are skipped (estimated from earlier ones). */
  maxRunSeconds: number;
  /** Time budget per measured config. */
  budgetMs: number;
  quick: boolean;
  log: (line: string) => void;
}

/** Multiply-adds ×2 of visible (query, key) pairs: QKᵀ and PV, D each. */
export function attentionGflop(p: AttentionProblem): number {
  let pairs = 0;
  for (let b = 0; b < p.batch; b++) {
    const keys = p.lengths ? p.lengths[b] : p.seq;
    for (let i = 0; i < p.seq; i++) pairs += p.causal ? Math.min(keys, i + 1) : keys;
  }
  return 4 * p.heads * pairs * p.depth / 1e9;
}

/** Useful work of the encoder on real tokens only: projections, FFN and attention per sequence. */
export function encoderGflop(p: EncoderProblem, layers: number): number {
  const {embed: e, ffn: f} = p.shape;
  const tokens = p.lengths.reduce((a, b) => a + b, 0);
  const attention = p.lengths.reduce((acc, len) => acc + 4 * len * len * e, 0);
  return layers * (2 * tokens * (4 * e * e + 2 * e * f) + attention) / 1e9;
}

/** The sizes each suite measures (bench_plan.ts counts them to say how long a run takes). */
export const ATTENTION_BATCHES = [1, 8];
export const attentionSeqs = (quick: boolean): number[] => (quick ? [128, 512] : [128, 512, 2048]);
export const ATTENTION_VARIANTS = ['none', 'padding 50%', 'causal'] as const;
export const encoderBatches = (quick: boolean): number[] => (quick ? [1] : [1, 8]);
export const ENCODER_PADDINGS = [0, 0.5];

/** Per engine, the last measured rate: used to skip configs that would take too long. */
class RateMemory {
  private readonly rates = new Map<string, number>();
  estimateSeconds(engine: string, gflop: number): number | null {
    const rate = this.rates.get(engine);
    return rate ? gflop / rate : null;
  }
  record(engine: string, gflop: number, ms: number): void {
    this.rates.set(engine, gflop / (ms / 1000));
  }
}

export async function runAttentionSuite(engines: Engine[], o: SuiteOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const rates = new RateMemory();
  for (const batch of ATTENTION_BATCHES) {
    for (const seq of attentionSeqs(o.quick)) {
      for (const variant of ATTENTION_VARIANTS) {
        const size = batch * 12 * seq * 64;
        const p: AttentionProblem = {
          batch, heads: 12, seq, depth: 64,
          q: seededNormal(size, 1), k: seededNormal(size, 2), v: seededNormal(size, 3),
          lengths: variant === 'padding 50%' ? spreadLengths(batch, seq, 0.5) : null,
          causal: variant === 'causal',
        };
        const config = `B=${batch} S=${seq} ${variant}`;
        const gflop = attentionGflop(p);
        for (const engine of engines) {
          if (!engine.prepareAttention) continue;
          const row: ResultRow = {bench: 'sdpa', config, engine: engine.name, medianMs: null, runs: 0, gflop, note: ''};
          const estimate = rates.estimateSeconds(engine.name, gflop);
          // Unfused engines materialise [B, H, S, S] scores several times over.
          const scoreBytes = batch * 12 * seq * seq * 4;
          if (engine.name.includes('unfused') && scoreBytes > 512 * 2 ** 20) {
            row.note = `skipped: would hold ${(scoreBytes / 2 ** 30).toFixed(1)} GiB score matrices several times`;
          } else if (estimate !== null && estimate > o.maxRunSeconds) {
            row.note = `skipped: estimated ${estimate.toFixed(0)} s per run`;
          } else {
            const prepared = await engine.prepareAttention(p);
            try {
              const t = await timeRuns(() => prepared.run(), o.budgetMs);
              Object.assign(row, {medianMs: t.medianMs, runs: t.runs});
              rates.record(engine.name, gflop, t.medianMs);
            } finally {
              prepared.dispose();
            }
          }
          o.log(`sdpa ${config.padEnd(26)} ${engine.name.padEnd(28)} ${row.medianMs ? row.medianMs.toFixed(1) + ' ms' : row.note}`);
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

export async function runEncoderSuite(engines: Engine[], o: SuiteOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const shape = BERT_BASE;
  const weights = Array.from({length: shape.layers}, (_, l) => layerWeights(shape, l));
  const seq = 128;
  for (const batch of encoderBatches(o.quick)) {
    for (const padding of ENCODER_PADDINGS) {
      const p: EncoderProblem = {
        shape, weights, batch, seq, x: seededNormal(batch * seq * shape.embed, 7),
        lengths: spreadLengths(batch, seq, padding),
      };
      const config = `B=${batch} padding ${padding * 100}%`;
      const fullGflop = encoderGflop(p, shape.layers);
      for (const engine of engines) {
        if (!engine.prepareEncoder) continue;
        const row: ResultRow = {bench: 'encoder', config, engine: engine.name, medianMs: null, runs: 0, gflop: fullGflop, note: ''};
        // Time one layer first; engines too slow for the whole stack are measured on one layer and scaled.
        const one = await engine.prepareEncoder(p, 1);
        let oneLayerMs: number;
        try {
          oneLayerMs = (await timeRuns(() => one.run(), 0, 1, 1)).medianMs;
        } finally {
          one.dispose();
        }
        const layers = oneLayerMs * shape.layers / 1000 > o.maxRunSeconds ? 1 : shape.layers;
        if (oneLayerMs / 1000 > o.maxRunSeconds * 3) {
          row.note = `skipped: one layer took ${(oneLayerMs / 1000).toFixed(0)} s`;
        } else {
          const prepared = await engine.prepareEncoder(p, layers);
          try {
            const t = await timeRuns(() => prepared.run(), o.budgetMs, layers === 1 ? 2 : 3);
            Object.assign(row, {medianMs: t.medianMs * shape.layers / layers, runs: t.runs});
            if (layers !== shape.layers) row.note = `1 of ${shape.layers} layers measured, time ×${shape.layers}`;
          } finally {
            prepared.dispose();
          }
        }
        o.log(`encoder ${config.padEnd(20)} ${engine.name.padEnd(28)} ${row.medianMs ? row.medianMs.toFixed(1) + ' ms' : row.note}`);
        rows.push(row);
      }
    }
  }
  return rows;
}
