/**
 * Choosing the next token from a row of logits, as Hugging Face's generate()
 * does: the repetition penalty first (every token already in the sequence:
 * a positive logit divided by the penalty, a negative one multiplied), then,
 * when sampling, temperature, top-k and top-p (nucleus) in that order and a
 * draw from the resulting distribution; greedy decoding takes the first
 * largest logit. Sampling uses a seeded generator in plain JavaScript on
 * float64 probabilities, so a seed gives the same tokens wherever the logits
 * are the same (every backend, up to float32 rounding of the logits).
 */

export interface SamplingOptions {
  /** Sample instead of taking the most likely token. */
  sample: boolean;
  temperature: number;
  /** 0: no top-k cut. */
  topK: number;
  /** 1: no nucleus cut. */
  topP: number;
  /** 1: no penalty. */
  repetitionPenalty: number;
}

/** xoshiro128** seeded through splitmix32: a small, fast generator with a 2^128 − 1 period. */
export class SeededRandom {
  private s: Uint32Array;

  constructor(seed: number) {
    let x = (seed >>> 0) ^ 0x9e3779b9;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = new Uint32Array([next(), next(), next(), next()]);
    if (this.s.every(v => v === 0)) this.s[0] = 1;
  }

  private nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float64 in [0, 1) with 53 random bits. */
  next(): number {
    const high = this.nextUint32() >>> 5, low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The index of the first largest value (NaN never wins). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0, bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/** Hugging Face's RepetitionPenaltyLogitsProcessor, in place: each distinct earlier token once. */
export function applyRepetitionPenalty(logits: Float32Array, previous: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const token of new Set(previous)) {
    if (token < 0 || token >= logits.length) continue;
    const value = logits[token];
    logits[token] = value < 0 ? value * penalty : value / penalty;
  }
}

/** The next token of one sequence from its logits (modified in place by the penalty). */
export function chooseToken(logits: Float32Array, previous: Iterable<number>, options: SamplingOptions,
    random: SeededRandom | null): number {
  applyRepetitionPenalty(logits, previous, options.repetitionPenalty);
  if (!options.sample || random === null) return argmax(logits);
  const vocab = logits.length;
  const scaled = new Float64Array(vocab);
  for (let i = 0; i < vocab; i++) scaled[i] = logits[i] / options.temperature;
  // Candidates in descending order of logit; ties keep the lower id first (a stable sort).
  let order = Array.from({length: vocab}, (_, i) => i).filter(i => !Number.isNaN(scaled[i]));
  order.sort((a, b) => scaled[b] - scaled[a] || a - b);
  if (options.topK > 0 && options.topK < order.length) {
    // Keep every token whose logit reaches the k-th largest (Hugging Face keeps ties at the threshold).
    const threshold = scaled[order[options.topK - 1]];
    order = order.filter(i => scaled[i] >= threshold);
  }
  if (order.length === 0) return argmax(logits);
  const max = scaled[order[0]];
  const weights = order.map(i => Math.exp(scaled[i] - max));
  let total = weights.reduce((a, b) => a + b, 0);
  if (options.topP < 1) {
    // Nucleus: the smallest prefix of the sorted tokens whose probability reaches topP (at least one token).
    let cumulative = 0, keep = 0;
    while (keep < order.length) {
      cumulative += weights[keep] / total;
      keep++;
      if (cumulative >= options.topP) break;
    }
    order = order.slice(0, keep);
    weights.length = keep;
    total = weights.reduce((a, b) => a + b, 0);
  }
  let draw = random.next() * total;
  for (let i = 0; i < order.length; i++) {
    draw -= weights[i];
    if (draw < 0) return order[i];
  }
  return order[order.length - 1];
}
