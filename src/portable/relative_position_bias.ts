/**
 * RelativePositionBias on typed arrays: each head's bias at every distance
 * looked up once, then its [Sq, Sk] plane filled row by row. A bucket outside the table is an error (it is data: checked here, not
 * when the op is called).
 */
import {BetterTransformerArgumentError} from '../errors';

export function relativePositionBiasValues(table: Float32Array, heads: number, bucketOfDistance: Int32Array,
                                           queryPositions: Int32Array, keyPositions: Int32Array, op: string): Float32Array {
  const rows = heads > 0 ? table.length / heads : 0;
  const radius = (bucketOfDistance.length - 1) / 2;
  for (let d = 0; d < bucketOfDistance.length; d++) {
    const b = bucketOfDistance[d];
    if (!(b >= 0 && b < rows)) {
      throw new BetterTransformerArgumentError(
          `${op}: bucketOfDistance[${d}] = ${b} is outside the table's ${rows} buckets`);
    }
  }
  const sq = queryPositions.length, sk = keyPositions.length;
  const out = new Float32Array(heads * sq * sk);
  // Per head: its bias at each clamped distance, then the plane row by row (contiguous writes).
  const byDistance = new Float32Array(bucketOfDistance.length);
  for (let h = 0; h < heads; h++) {
    for (let d = 0; d < bucketOfDistance.length; d++) byDistance[d] = table[bucketOfDistance[d] * heads + h];
    for (let i = 0; i < sq; i++) {
      const q = queryPositions[i], base = (h * sq + i) * sk;
      for (let j = 0; j < sk; j++) {
        const d = keyPositions[j] - q;
        out[base + j] = byDistance[(d < -radius ? -radius : d > radius ? radius : d) + radius];
      }
    }
  }
  return out;
}
