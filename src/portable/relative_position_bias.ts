/**
 * RelativePositionBias on typed arrays: the bucket of each distinct distance
 * looked up once, then each head's [Sq, Sk] plane filled from its column of the
 * table. A bucket outside the table is an error (it is data: checked here, not
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
  for (let i = 0; i < sq; i++) {
    for (let j = 0; j < sk; j++) {
      const d = Math.min(Math.max(keyPositions[j] - queryPositions[i], -radius), radius);
      const row = bucketOfDistance[d + radius] * heads;
      for (let h = 0; h < heads; h++) out[(h * sq + i) * sk + j] = table[row + h];
    }
  }
  return out;
}
