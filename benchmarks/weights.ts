/** Seeded random data shared by every engine in a benchmark run. */

/** mulberry32: a small, well-known 32-bit PRNG; uniform in [0, 1), the same sequence for a seed everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededNormal(size: number, seed: number, std = 1): Float32Array {
  const next = mulberry32(seed);
  // Shifted by half a step into (0, 1): log(0) never happens (exact in double, so the values are unchanged).
  const uniform = () => next() + 0.5 / 4294967296;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    // Box-Muller: two normals from two uniforms.
    const r = Math.sqrt(-2 * Math.log(uniform())) * std, theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < size) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

export interface EncoderShape {
  embed: number;
  heads: number;
  ffn: number;
  layers: number;
  eps: number;
}

export const BERT_BASE: EncoderShape = {embed: 768, heads: 12, ffn: 3072, layers: 12, eps: 1e-12};

/** One layer's weights, separate Q/K/V as Hugging Face BERT stores them; [in, out] layout. */
export interface LayerWeights {
  q: Float32Array; qBias: Float32Array; k: Float32Array; kBias: Float32Array; v: Float32Array; vBias: Float32Array;
  out: Float32Array; outBias: Float32Array;
  ln1Gamma: Float32Array; ln1Beta: Float32Array;
  ffnIn: Float32Array; ffnInBias: Float32Array; ffnOut: Float32Array; ffnOutBias: Float32Array;
  ln2Gamma: Float32Array; ln2Beta: Float32Array;
}

export function layerWeights(s: EncoderShape, layer: number): LayerWeights {
  const e = s.embed, f = s.ffn, seed = 1000 * (layer + 1);
  const ones = (n: number, seedOffset: number) => seededNormal(n, seed + seedOffset, 0.05).map(x => 1 + x);
  return {
    q: seededNormal(e * e, seed + 1, 1 / Math.sqrt(e)), qBias: seededNormal(e, seed + 2, 0.02),
    k: seededNormal(e * e, seed + 3, 1 / Math.sqrt(e)), kBias: seededNormal(e, seed + 4, 0.02),
    v: seededNormal(e * e, seed + 5, 1 / Math.sqrt(e)), vBias: seededNormal(e, seed + 6, 0.02),
    out: seededNormal(e * e, seed + 7, 1 / Math.sqrt(e)), outBias: seededNormal(e, seed + 8, 0.02),
    ln1Gamma: ones(e, 9), ln1Beta: seededNormal(e, seed + 10, 0.02),
    ffnIn: seededNormal(e * f, seed + 11, 1 / Math.sqrt(e)), ffnInBias: seededNormal(f, seed + 12, 0.02),
    ffnOut: seededNormal(f * e, seed + 13, 1 / Math.sqrt(f)), ffnOutBias: seededNormal(e, seed + 14, 0.02),
    ln2Gamma: ones(e, 15), ln2Beta: seededNormal(e, seed + 16, 0.02),
  };
}

/** Real-token lengths spread evenly so that `padding` (0..1) of the batch is padding. */
export function spreadLengths(batch: number, seq: number, padding: number): number[] {
  if (padding === 0) return new Array(batch).fill(seq);
  const meanLength = seq * (1 - padding);
  // Evenly spaced from about 2·mean − seq up to seq (or 1 up to 2·mean), clipped to [1, seq].
  const lo = Math.max(1, 2 * meanLength - seq), hi = Math.min(seq, 2 * meanLength - 1);
  return Array.from({length: batch}, (_, b) => Math.round(batch === 1 ? meanLength : lo + (hi - lo) * b / (batch - 1)));
}
