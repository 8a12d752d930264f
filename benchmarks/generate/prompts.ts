/** Seeded prompts of random token ids: the models are random too, so text would mean nothing. */

/** mulberry32: a small seeded 32-bit generator, the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `batchSize` prompts of `length` token ids in [0, vocabSize); row r of a batch is the same for every batch size. */
export function makePrompts(batchSize: number, length: number, vocabSize: number, seed = 1234): number[][] {
  return Array.from({length: batchSize}, (_, r) => {
    const random = seededRandom(seed + 7919 * r);
    return Array.from({length}, () => Math.floor(random() * vocabSize));
  });
}
