/**
 * The check a generator makes before it uses the fused decoder: the fused
 * step and the graph itself run on two probe prompts of different lengths and
 * two more tokens each (greedy), and their next-token logits must agree to
 * VERIFY_TOLERANCE relative. What structure cannot prove — masks, the scale's
 * placement, the order of q/k/v columns, the rotary pairing — shows up here:
 * a disagreement makes the generator recompute with the graph instead
 * (never a wrong token). With bfloat16 weights the bfloat16 step is measured
 * against the float32 one and reported.
 */
import {argmax} from './sampling';
import {StepModel} from './step_models';

export const VERIFY_TOLERANCE = 1e-3;

/** max |a − b| / max |b| over a row. */
export function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 1e-12;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    diff = Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

function compare(steps: StepModel, reference: StepModel, prompts: number[][]): number {
  let worst = 0;
  let ours: Array<Float32Array | null> = steps.begin(prompts, Math.max(...prompts.map(p => p.length)) + 2);
  let theirs: Array<Float32Array | null> = reference.begin(prompts, Math.max(...prompts.map(p => p.length)) + 2);
  for (let step = 0; step < 3; step++) {
    const tokens = theirs.map(row => (row ? argmax(row) : null));
    ours.forEach((row, b) => {
      const other = theirs[b];
      if (row && other) worst = Math.max(worst, relativeDifference(row, other));
    });
    if (step === 2) break;
    ours = steps.next(tokens);
    theirs = reference.next(tokens);
  }
  steps.end();
  reference.end();
  return worst;
}

export function verifyCachedSteps(cached: StepModel, graph: StepModel, vocab: number, bfloat16: StepModel | null):
    {ok: true; maxRelativeDifference: number; bfloat16RelativeDifference: number | null} | {ok: false; reason: string} {
  // Deterministic probe ids spread over the vocabulary.
  const id = (i: number) => (i * 7919 + 13) % vocab;
  const prompts = [[0, 1, 2, 3, 4].map(id), [5, 6, 7].map(id)];
  let difference: number;
  try {
    difference = compare(cached, graph, prompts);
  } catch (e) {
    return {ok: false, reason: `the fused decoder or the graph failed on the probe: ${(e as Error).message.split('\n')[0]}`};
  }
  if (!(difference <= VERIFY_TOLERANCE)) {
    return {ok: false, reason: `the fused decoder's logits differ from the graph's by ${difference.toExponential(2)} (relative) on the probe`};
  }
  const bf16 = bfloat16 ? compare(bfloat16, cached, prompts) : null;
  return {ok: true, maxRelativeDifference: difference, bfloat16RelativeDifference: bf16};
}
