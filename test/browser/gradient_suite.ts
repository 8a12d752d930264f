/**
 * Gradients in the page: scaledDotProductAttention's fused backward against
 * tfjs's autodiff of the plain-tfjs oracle (the core ops' gradients come from
 * tfjs-layers, which the browser build imports), at test/sdpa_grad.test.ts's
 * tolerance, on a few of its cases.
 */
import {scaledDotProductAttention} from 'tfjs-better-transformer';
import {AttentionCase} from '../helpers/attention_cases';
import {checkAttentionGradients, GRADIENT_BASE_CASE} from '../helpers/attention_gradients';
import {BrowserCase} from './suite';

const checkGradients = (c: AttentionCase) => checkAttentionGradients(c, scaledDotProductAttention);
const base = GRADIENT_BASE_CASE;

export function gradientCases(): BrowserCase[] {
  const cases: Array<[string, AttentionCase]> = [
    ['no masks', base],
    ['grouped-query heads (dk, dv summed over the group)', {...base, heads: 12, kvHeads: 3, seed: 4}],
    ['causal masking with Sq != Sk', {...base, isCausal: true, querySeq: 9, keySeq: 7}],
    ['key padding and fully masked rows', {...base, keyPadding: 'float32', emptyRows: true, batch: 3}],
    ['an additive mask (its gradient too)', {...base, mask: 'additive', maskShape: 'perHeadKeys', seed: 6}],
  ];
  return cases.map(([name, c]) => ({suite: 'scaledDotProductAttention gradients', name, run: () => checkGradients(c)}));
}
