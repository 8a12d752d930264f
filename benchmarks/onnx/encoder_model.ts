/**
 * A BERT encoder stack as standard ONNX ops, shaped like a Hugging Face
 * export (separate Q/K/V MatMul+Add, additive padding mask from an int mask,
 * erf GELU, LayerNormalization), so onnxruntime's graph optimiser can apply
 * the fusions it applies to real exported models.
 */
import {EncoderShape, LayerWeights} from '../weights';
import {f, i, ints, OnnxGraph} from './graph_builder';

export function encoderModel(shape: EncoderShape, layers: LayerWeights[]): Uint8Array {
  const {embed: e, heads, ffn} = shape;
  const dh = e / heads;
  const g = new OnnxGraph();
  let x = g.input('x', ['B', 'S', e]);
  const mask = g.input('mask', ['B', 'S'], 7 /* INT64 */);
  // (1 - mask) * -10000, shaped [B, 1, 1, S]: the Hugging Face extended attention mask.
  const maskF = g.op('Cast', [mask], {to: i(1)});
  const inverted = g.op('Sub', [g.floatConstant(Float32Array.of(1), []), maskF]);
  const maskAdd = g.op('Unsqueeze', [g.op('Mul', [inverted, g.floatConstant(Float32Array.of(-10000), [])]),
                                     g.int64Constant([1, 2])]);
  const headShape = g.int64Constant([0, 0, heads, dh]);
  const mergedShape = g.int64Constant([0, 0, e]);
  const dense = (input: string, w: Float32Array, b: Float32Array, rows: number, cols: number) =>
      g.op('Add', [g.op('MatMul', [input, g.floatConstant(w, [rows, cols])]), g.floatConstant(b, [cols])]);
  const layerNorm = (input: string, gamma: Float32Array, beta: Float32Array) =>
      g.op('LayerNormalization', [input, g.floatConstant(gamma, [e]), g.floatConstant(beta, [e])],
           {axis: i(-1), epsilon: f(shape.eps)});

  for (const w of layers) {
    const split = (t: string) => g.op('Transpose', [g.op('Reshape', [t, headShape])], {perm: ints([0, 2, 1, 3])});
    const q = split(dense(x, w.q, w.qBias, e, e));
    const kT = g.op('Transpose', [g.op('Reshape', [dense(x, w.k, w.kBias, e, e), headShape])], {perm: ints([0, 2, 3, 1])});
    const v = split(dense(x, w.v, w.vBias, e, e));
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT]), g.floatConstant(Float32Array.of(Math.sqrt(dh)), [])]),
                                maskAdd]);
    const context = g.op('MatMul', [g.op('Softmax', [scores], {axis: i(-1)}), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [context], {perm: ints([0, 2, 1, 3])}), mergedShape]);
    const h = layerNorm(g.op('Add', [dense(merged, w.out, w.outBias, e, e), x]), w.ln1Gamma, w.ln1Beta);
    const pre = dense(h, w.ffnIn, w.ffnInBias, e, ffn);
    // GELU as exported by Hugging Face: x · 0.5 · (1 + erf(x / sqrt(2))).
    const erf = g.op('Erf', [g.op('Div', [pre, g.floatConstant(Float32Array.of(Math.SQRT2), [])])]);
    const gelu = g.op('Mul', [g.op('Mul', [pre, g.op('Add', [erf, g.floatConstant(Float32Array.of(1), [])])]),
                              g.floatConstant(Float32Array.of(0.5), [])]);
    x = layerNorm(g.op('Add', [dense(gelu, w.ffnOut, w.ffnOutBias, ffn, e), h]), w.ln2Gamma, w.ln2Beta);
  }
  g.op('Identity', [x], {}, 'y');
  g.output('y', ['B', 'S', e]);
  return g.encode('bert_encoder');
}
