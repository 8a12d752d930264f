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
  /** Hugging Face's logits processors, applied to the log-probabilities: stop tokens are -Infinity before this many new tokens. */
  minNewTokens: number;
  /** Forced as the first new token (log-probability 0, every other -Infinity). */
  forcedBosTokenId: number | null;
  /** Forced as the last new token. */
  forcedEosTokenId: number | null;
}

export interface BeamSearchResult {
  /** The best sequence's new tokens per source (a stop token included). */
  tokens: number[][];
  finished: boolean[];
  scores: number[];
}

interface Candidate {
  beam: number;
  token: number;
  score: number;
}

/**
 * The `count` best continuations of one beam, in tf.math.top_k's order over the flattened [beam, token] scores
 * (score descending, then the lower index): score = float32(logSoftmax(row)[token] after the processors + running).
 * One pass over the row for the log-sum-exp and one that keeps the best `count`: the log-probabilities of the whole
 * vocabulary are never stored.
 */
function beamCandidates(row: Float32Array, beam: number, running: number, count: number, newSoFar: number,
    o: BeamSearchOptions, out: Candidate[]): void {
  const vocab = row.length;
  const forced = newSoFar === 0 && o.forcedBosTokenId !== null ? o.forcedBosTokenId
    : newSoFar === o.maxNewTokens - 1 && o.forcedEosTokenId !== null ? o.forcedEosTokenId : null;
  const suppress = newSoFar < o.minNewTokens ? o.stopTokens : null;
  let max = -Infinity;
  for (let t = 0; t < vocab; t++) if (row[t] > max) max = row[t];
  let sum = 0;
  if (forced === null) for (let t = 0; t < vocab; t++) sum += Math.exp(row[t] - max);
  const lse = f32(Math.log(sum));
  const best: Candidate[] = [];
  // Scores are float32 (TensorFlow's): a token whose float64 score is below the worst kept one by more than float32
  // rounding can move it cannot enter, and is skipped before the exact arithmetic.
  const offset = running - max - lse;
  for (let t = 0; t < vocab; t++) {
    if (best.length === count && forced === null) {
      const worst = best[count - 1].score;
      if (row[t] + offset < worst - (Math.abs(worst) * 2.4e-7 + 1e-6)) continue;
    }
    let logProb: number;
    if (forced !== null) logProb = t === forced ? 0 : -Infinity;
    else if (suppress?.has(t)) logProb = -Infinity;
    else logProb = f32(f32(row[t] - max) - lse);
    const score = f32(logProb + running);
    // Ascending token order: an equal score never displaces one already kept (the lower index wins).
    if (best.length === count && !(score > best[count - 1].score)) continue;
    let at = best.length === count ? count - 1 : best.length;
    if (best.length < count) best.push({beam, token: t, score});
    while (at > 0 && score > best[at - 1].score) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = {beam, token: t, score};
  }
  out.push(...best);
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
      // The best 2K (beam, token) continuations: each beam's best 2K, merged in the flattened order (beam-major).
      const perBeam: Candidate[] = [];
      for (let k = 0; k < K; k++) beamCandidates(logits[b * K + k], k, runningScores[b][k], 2 * K, curLen - promptLength, o, perBeam);
      const candidates = perBeam.map((c, i) => ({c, i})).sort((x, y) => y.c.score - x.c.score || x.i - y.i || 0)
          .slice(0, 2 * K).map(x => x.c);
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
