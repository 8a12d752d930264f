/**
 * Beam search's reorder of a decoder cache's batch rows in place, in plain
 * TypeScript: for each layer, the used positions of every row that changes
 * are first read into one temporary (so a row can be both read and
 * overwritten, and read twice for repeats), then written to their new rows.
 * The temporary holds at most one layer's used rows; rows that keep their
 * own contents are not touched.
 */

export interface PortableReorder {
  /** [layers, B, Hkv, C, D], reordered in place. */
  caches: Float32Array[];
  layers: number;
  batch: number;
  kvHeads: number;
  capacity: number;
  depth: number;
  /** Old lengths [B]. */
  lengths: ArrayLike<number>;
  sourceRows: ArrayLike<number>;
}

/** Reorders `r.caches` in place; returns the new lengths. */
export function reorderCacheRows(r: PortableReorder): Int32Array {
  const {batch, kvHeads, capacity, depth} = r;
  const next = new Int32Array(batch);
  const moved: number[] = [];
  let used = 0;
  for (let b = 0; b < batch; b++) {
    const src = r.sourceRows[b];
    next[b] = r.lengths[src];
    if (src !== b) {
      moved.push(b);
      used += next[b];
    }
  }
  if (moved.length === 0) return next;
  const rowStride = capacity * depth, headStride = kvHeads * rowStride;
  const temp = new Float32Array(used * kvHeads * depth);
  for (const cache of r.caches) {
    for (let l = 0; l < r.layers; l++) {
      const layerBase = l * batch * headStride;
      let at = 0;
      for (const b of moved) {
        const width = next[b] * depth, from = layerBase + r.sourceRows[b] * headStride;
        for (let g = 0; g < kvHeads; g++, at += width) temp.set(cache.subarray(from + g * rowStride, from + g * rowStride + width), at);
      }
      at = 0;
      for (const b of moved) {
        const width = next[b] * depth, to = layerBase + b * headStride;
        for (let g = 0; g < kvHeads; g++, at += width) cache.set(temp.subarray(at, at + width), to + g * rowStride);
      }
    }
  }
  return next;
}
