/** A cosine-similarity matrix as a fixed-width text table, with a legend of the sentences. */
import {cosineSimilarity} from 'tfjs-better-transformer/embeddings';

export function similarityMatrix(embeddings: readonly Float32Array[]): number[][] {
  return embeddings.map(a => embeddings.map(b => cosineSimilarity(a, b)));
}

export function formatSimilarityTable(sentences: readonly string[], embeddings: readonly Float32Array[]): string {
  const matrix = similarityMatrix(embeddings);
  const label = (i: number) => `S${i + 1}`;
  const width = Math.max(6, label(sentences.length - 1).length + 2);
  const pad = (s: string) => s.padStart(width);
  const lines = sentences.map((s, i) => `${label(i).padStart(4)}  ${s}`);
  lines.push('', pad('') + sentences.map((_, j) => pad(label(j))).join(''));
  matrix.forEach((row, i) => lines.push(pad(label(i)) + row.map(v => pad(v.toFixed(2))).join('')));
  return lines.join('\n');
}

/** For each sentence, the other sentence it is closest to. */
export function nearestNeighbours(embeddings: readonly Float32Array[]): number[] {
  return similarityMatrix(embeddings).map((row, i) => row.reduce((best, v, j) => (j !== i && (best < 0 || v > row[best]) ? j : best), -1));
}
