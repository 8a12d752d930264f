/**
 * Embedding sums on typed arrays: out[r] = Σ_i table_i[indices_i[r]] for each
 * output row r, where every index tensor broadcasts (numpy rules) to the
 * output's row shape. One pass per row instead of a tfjs gather (a strided
 * index computation per element on `cpu`) and a broadcasting add per table.
 */

export interface EmbeddingTable {
  values: Float32Array;
  rows: number;
}

export interface EmbeddingIndices {
  values: ArrayLike<number>;
  shape: readonly number[];
}

/** The row shape all index shapes broadcast to; throws when they do not. */
export function broadcastRowShape(shapes: ReadonlyArray<readonly number[]>): number[] {
  const rank = Math.max(0, ...shapes.map(s => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let d = 0; d < shape.length; d++) {
      const o = rank - shape.length + d;
      if (shape[d] === out[o] || shape[d] === 1) continue;
      if (out[o] !== 1) throw new Error(`embedding indices of shapes ${shapes.map(s => `[${s}]`).join(', ')} do not broadcast`);
      out[o] = shape[d];
    }
  }
  return out;
}

/** indices' element for each row of `rowShape` (broadcast), checked against the table's rows. */
function broadcastIndices(indices: EmbeddingIndices, rowShape: readonly number[], tableRows: number, label: string): Int32Array {
  const rank = rowShape.length;
  const count = rowShape.reduce((a, b) => a * b, 1);
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = indices.shape.length - 1; d >= 0; d--) {
    const o = rank - indices.shape.length + d;
    strides[o] = indices.shape[d] === 1 ? 0 : stride;
    stride *= indices.shape[d];
  }
  const out = new Int32Array(count);
  const position = new Array<number>(rank).fill(0);
  let source = 0;
  for (let r = 0; r < count; r++) {
    const id = indices.values[source];
    if (!(id >= 0 && id < tableRows) || !Number.isInteger(id)) {
      throw new RangeError(`${label}: index ${id} is not in [0, ${tableRows - 1}]`);
    }
    out[r] = id;
    // Advance the multi-index (last axis fastest), keeping the source offset in step.
    for (let d = rank - 1; d >= 0; d--) {
      position[d]++;
      source += strides[d];
      if (position[d] < rowShape[d]) break;
      source -= strides[d] * position[d];
      position[d] = 0;
    }
  }
  return out;
}

export interface EmbeddingLookupTerm {
  table: EmbeddingTable;
  indices: EmbeddingIndices;
}

/**
 * Sums the looked-up rows, in term order, into a new [rows, width]
 * Float32Array; returns it with the row shape (the indices' broadcast shape).
 */
export function embeddingSumRows(terms: readonly EmbeddingLookupTerm[], width: number,
    label = 'embedding sum'): {values: Float32Array; rowShape: number[]} {
  if (terms.length === 0) throw new Error(`${label}: no terms`);
  const rowShape = broadcastRowShape(terms.map(t => t.indices.shape));
  const ids = terms.map((t, i) => broadcastIndices(t.indices, rowShape, t.table.rows, `${label} (term ${i})`));
  const count = rowShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count * width);
  for (let r = 0; r < count; r++) {
    const base = r * width;
    const from0 = ids[0][r] * width;
    out.set(terms[0].table.values.subarray(from0, from0 + width), base);
    for (let t = 1; t < terms.length; t++) {
      const table = terms[t].table.values, from = ids[t][r] * width;
      for (let j = 0; j < width; j++) out[base + j] += table[from + j];
    }
  }
  return {values: out, rowShape};
}
