/**
 * Reading attention Einsums: which operand is q, k, v or the probabilities,
 * and in which layout each tensor is ('bhsd' = [B, H, S, D], 'bshd' =
 * [B, S, H, D] as Keras' MultiHeadAttention keeps them, 'bhds' = kᵀ).
 */
export type HeadLayout = 'bhsd' | 'bshd' | 'bhds';

export interface EinsumTerms {
  inputs: string[];
  output: string;
}

export function parseEinsum(equation: string): EinsumTerms | null {
  const m = /^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$/.exec(equation.replace(/\s/g, ''));
  return m ? {inputs: [m[1], m[2]], output: m[3]} : null;
}

/** The layout of a 4-letter term given the letters that play b, h, s and d. */
function layoutOf(term: string, roles: {b: string; h: string; s: string; d: string}): HeadLayout | null {
  if (term.length !== 4) return null;
  const word = [...term].map(c => (c === roles.b ? 'b' : c === roles.h ? 'h' : c === roles.s ? 's' : c === roles.d ? 'd' : '?')).join('');
  return word === 'bhsd' || word === 'bshd' || word === 'bhds' ? word : null;
}

/** scores[b, h, i, j] = Σ_d q·k: which input is q (0 or 1) and the layouts of q and k. */
export function scoresEinsum(equation: string): {qIndex: 0 | 1; qLayout: HeadLayout; kLayout: HeadLayout} | null {
  const t = parseEinsum(equation);
  if (!t || t.output.length !== 4 || t.inputs.some(x => x.length !== 4)) return null;
  const [b, h, i, j] = t.output;
  const qIndex = t.inputs[0].includes(i) && !t.inputs[0].includes(j) ? 0 : 1;
  const q = t.inputs[qIndex];
  const k = t.inputs[1 - qIndex];
  const d = [...q].find(c => !t.output.includes(c));
  if (!d || !k.includes(d) || k.includes(i) || !q.includes(b) || !q.includes(h) || !k.includes(b) || !k.includes(h)) return null;
  const qLayout = layoutOf(q, {b, h, s: i, d});
  const kLayout = layoutOf(k, {b, h, s: j, d});
  return qLayout && kLayout ? {qIndex: qIndex as 0 | 1, qLayout, kLayout} : null;
}

/** out = probs[b, h, i, j] · v: the layouts of v and of the output; probs must be input 0 in [b, h, i, j] order. */
export function outputEinsum(equation: string): {vLayout: HeadLayout; outLayout: HeadLayout} | null {
  const t = parseEinsum(equation);
  if (!t || t.output.length !== 4 || t.inputs.some(x => x.length !== 4)) return null;
  const [p, v] = t.inputs;
  const [b, h, i, j] = p;
  const e = [...v].find(c => !p.includes(c));
  if (!e || t.output.includes(j) || !v.includes(j) || v.includes(i) || !t.output.includes(i) || !t.output.includes(e)) return null;
  const vLayout = layoutOf(v, {b, h, s: j, d: e});
  const outLayout = layoutOf(t.output, {b, h, s: i, d: e});
  return vLayout && outLayout && outLayout !== 'bhds' ? {vLayout, outLayout} : null;
}
