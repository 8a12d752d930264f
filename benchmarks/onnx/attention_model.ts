/**
 * Attention as standard ONNX ops, with the inputs the fused op gets:
 * softmax(q·kᵀ·scale + padding + causal)·v, padding as an additive [B,1,1,S]
 * float mask input and the causal mask as a constant.
 */
import {ints, OnnxGraph} from './graph_builder';

export function attentionModel(heads: number, seq: number, depth: number, causal: boolean): Uint8Array {
  const g = new OnnxGraph();
  const q = g.input('q', ['B', heads, seq, depth]);
  const k = g.input('k', ['B', heads, seq, depth]);
  const v = g.input('v', ['B', heads, seq, depth]);
  const maskAdd = g.input('mask_add', ['B', 1, 1, seq]);
  const kT = g.op('Transpose', [k], {perm: ints([0, 1, 3, 2])});
  let scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.floatConstant(Float32Array.of(1 / Math.sqrt(depth)), [])]);
  scores = g.op('Add', [scores, maskAdd]);
  if (causal) {
    const band = new Float32Array(seq * seq);
    for (let r = 0; r < seq; r++) for (let c = r + 1; c < seq; c++) band[r * seq + c] = -1e9;
    scores = g.op('Add', [scores, g.floatConstant(band, [seq, seq])]);
  }
  const probs = g.op('Softmax', [scores], {axis: {i: -1}});
  g.op('MatMul', [probs, v], {}, 'out');
  g.output('out', ['B', heads, seq, depth]);
  return g.encode('attention');
}
