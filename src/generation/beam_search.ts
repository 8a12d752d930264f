/**
 * Beam search as Hugging Face's TensorFlow generate() does it (the
 * algorithm its fixtures' references come from): per source, K running beams
 * and K finished slots; each step takes the top 2K continuations of the
 * running beams by summed log-probability, keeps the best K that do not end in
 * a stop token as the new running beams, and merges the ones that do (among
 * the top K, scored with the length penalty) into the finished slots. The
 * search ends at the length limit, when every slot is finished and
 * earlyStopping is true, or when no running beam can beat the worst finished
 * one. Scores are float32 as in TensorFlow (their -1e9 sentinels absorb small
 * log-probabilities exactly as there), and ties keep the lower index, as
 * tf.math.top_k does.
 *
 * The model side is a BeamStepper: logits for every running row, and a step
 * that first reorders its rows (the caches are reordered in place) and then
 * appends one token to each.
 */
const f32 = Math.fround;
const NEG = -1e9;

export interface BeamStepper {
  /** Logits of each row (source-major: row = source · K + beam) after the decoder prompt. */
  first(): Float32Array[];
  /** Row r continues old row sourceRows[r] with tokens[r]; the logits after it for every row. */
  advance(sourceRows: number[], tokens: number[]): Float32Array[];
}

export interface BeamSearchOptions {
  numBeams: number;
  /** New tokens at most. */
  maxNewTokens: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  stopTokens: Set<number>;
  /** Log-probability processors (min length, forced tokens) for the row's next token at decoder length curLen. */
  process(logProbs: Float32Array, curLen: number): void;
}

export interface BeamSearchResult {
  /** The best sequence's new tokens per source (a stop token included). */
  tokens: number[][];
  finished: boolean[];
  scores: number[];
}

function logSoftmax(row: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(f32(v - max));
  const lse = f32(Math.log(sum));
  const out = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = f32(f32(row[i] - max) - lse);
  return out;
}

/** Indices of the k largest values, descending, ties to the lower index. */
function topK(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && !(v > values[best[k - 1]])) continue;
    let at = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push(i);
    while (at > 0 && v > values[best[at - 1]]) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return best;
}

export function beamSearch(sources: number, stepper: BeamStepper, o: BeamSearchOptions): BeamSearchResult {
  const K = o.numBeams;
  const promptLength = 1;
  const maxLength = promptLength + o.maxNewTokens;
  // Per source: running beams (tokens after the prompt), their scores; finished slots.
  let running: number[][][] = Array.from({length: sources}, () => Array.from({length: K}, () => []));
  let runningScores: number[][] = Array.from({length: sources}, () => Array.from({length: K}, (_, k) => (k === 0 ? 0 : NEG)));
  let finished: number[][][] = Array.from({length: sources}, () => Array.from({length: K}, () => []));
  let finishedScores: number[][] = Array.from({length: sources}, () => new Array(K).fill(NEG));
  let isFinished: boolean[][] = Array.from({length: sources}, () => new Array(K).fill(false));
  let logits = stepper.first();
  let curLen = promptLength;
  const penalty = (length: number) => f32(Math.pow(length, o.lengthPenalty));

  const canContinue = (): boolean => {
    if (curLen >= maxLength) return false;
    let improvable = false, allDone = true;
    for (let b = 0; b < sources; b++) {
      const best = o.earlyStopping === 'never' && o.lengthPenalty > 0
        ? f32(runningScores[b][0] / penalty(maxLength - promptLength))
        : f32(runningScores[b][0] / penalty(curLen - promptLength));
      const worst = Math.min(...finishedScores[b]);
      for (let k = 0; k < K; k++) {
        if (best > (isFinished[b][k] ? worst : NEG)) improvable = true;
        if (!isFinished[b][k]) allDone = false;
      }
    }
    return improvable && !(allDone && o.earlyStopping === true);
  };

  for (let first = true; first || canContinue(); first = false) {
    const nextRows: number[] = [];
    const nextTokens: number[] = [];
    for (let b = 0; b < sources; b++) {
      // Summed log-probabilities of every (beam, token), flattened beam-major.
      const vocab = logits[b * K].length;
      const flat = new Float32Array(K * vocab);
      for (let k = 0; k < K; k++) {
        const lp = logSoftmax(logits[b * K + k]);
        o.process(lp, curLen);
        for (let t = 0; t < vocab; t++) flat[k * vocab + t] = f32(lp[t] + runningScores[b][k]);
      }
      const top = topK(flat, 2 * K);
      const candidates = top.map(i => ({beam: Math.floor(i / vocab), token: i % vocab, score: flat[i]}));
      const eos = candidates.map(c => o.stopTokens.has(c.token));
      const justFinished = eos.map((e, i) => e && i < K);
      const runningCandidates = candidates.map((c, i) => f32(c.score + (eos[i] ? NEG : 0)));
      const keep = topK(runningCandidates, K);
      const newRunning = keep.map(i => [...running[b][candidates[i].beam], candidates[i].token]);
      const newRunningScores = keep.map(i => runningCandidates[i]);
      keep.forEach(i => {
        nextRows.push(b * K + candidates[i].beam);
        nextTokens.push(candidates[i].token);
      });
      const full = isFinished[b].every(x => x) && o.earlyStopping === true;
      const candidateScores = candidates.map((c, i) => {
        let s = f32(c.score / penalty(curLen + 1 - promptLength));
        if (!justFinished[i] || full) s = f32(s + NEG);
        return s;
      });
      const mergedScores = [...finishedScores[b], ...candidateScores];
      const mergedSequences = [...finished[b], ...candidates.map(c => [...running[b][c.beam], c.token])];
      const mergedFinished = [...isFinished[b], ...justFinished];
      const best = topK(mergedScores, K);
      finished[b] = best.map(i => mergedSequences[i]);
      finishedScores[b] = best.map(i => mergedScores[i]);
      isFinished[b] = best.map(i => mergedFinished[i]);
      running[b] = newRunning;
      runningScores[b] = newRunningScores;
    }
    curLen++;
    // The rows are reordered and advanced only when another step will read them.
    if (!canContinue()) break;
    logits = stepper.advance(nextRows, nextTokens);
  }
  const tokens: number[][] = [];
  const done: boolean[] = [];
  const scores: number[] = [];
  for (let b = 0; b < sources; b++) {
    const any = isFinished[b].some(x => x);
    tokens.push(any ? finished[b][0] : running[b][0]);
    done.push(any);
    scores.push(any ? finishedScores[b][0] : f32(runningScores[b][0] / penalty(curLen - promptLength)));
  }
  void running;
  void finished;
  return {tokens, finished: done, scores};
}
