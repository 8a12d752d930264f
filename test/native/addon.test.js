'use strict';
// Tests of the Node-API addon (build/Release/tfjs_bt_kernels.node, built from the
// package root's binding.gyp; TFJS_BT_NATIVE_PATH selects another build, e.g. the
// sanitizer build of tools/test-sanitizers.sh) against naive JavaScript
// references, plus argument validation. Run:
//   node --test test/native/addon.test.js
// The file re-runs itself in child processes for every instruction-set path
// (TFJS_BT_ISA=avx512_bf16|avx512|avx2|scalar) the machine supports below its best.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const {spawnSync} = require('node:child_process');
const {Worker} = require('node:worker_threads');

const ADDON_PATH = process.env.TFJS_BT_NATIVE_PATH ||
    path.join(__dirname, '..', '..', 'build', 'Release', 'tfjs_bt_kernels.node');
const addon = require(ADDON_PATH);
const ISAS = ['scalar', 'avx2', 'avx512', 'avx512_bf16'];

// ---- deterministic random data ----
let seed = 42;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randomFloats = (n, lo = -1, hi = 1) => Float32Array.from({length: n}, () => lo + (hi - lo) * random());
const randomInt = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

function assertClose(got, want, atol, rtol, what) {
  assert.strictEqual(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
    } else if (!Number.isFinite(w)) {
      assert.strictEqual(g, w, `${what}[${i}]`);
    } else {
      assert.ok(Math.abs(g - w) <= atol + rtol * Math.abs(w), `${what}[${i}]: got ${g}, want ${w}`);
    }
  }
}

// ---- reference attention (forward + backward), float64 ----
function referenceSdpa(a, dOut) {
  const {B, H, Hkv, Sq, Sk, D, Dv, scale, causal, mask, maskStrides, keyPadding, q, k, v} = a;
  const isFloatMask = mask instanceof Float32Array;
  const out = new Float64Array(B * H * Sq * Dv), lse = new Float64Array(B * H * Sq).fill(-Infinity);
  const dQ = new Float64Array(q.length), dK = new Float64Array(k.length), dV = new Float64Array(v.length);
  const dMask = mask ? new Float64Array(mask.length) : null;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const kvh = Math.floor(h / (H / Hkv));
    const kBase = (b * Hkv + kvh) * Sk, row0 = (b * H + h) * Sq;
    for (let i = 0; i < Sq; i++) {
      const row = row0 + i, s = new Float64Array(Sk), idx = new Array(Sk);
      let max = -Infinity, anyNaN = false;
      for (let j = 0; j < Sk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[row * D + d] * k[(kBase + j) * D + d];
        let value = scale * dot;
        if (mask) {
          idx[j] = b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2] + j * maskStrides[3];
          if (isFloatMask) value += mask[idx[j]]; else if (!mask[idx[j]]) value = -Infinity;
        }
        if (keyPadding && !keyPadding[b * Sk + j]) value = -Infinity;
        if (causal && j > i + (Sk - Sq)) value = -Infinity;
        s[j] = value;
        anyNaN ||= Number.isNaN(value);
        if (value > max) max = value;
      }
      if (max === -Infinity && !anyNaN) continue;
      let sum = 0;
      const p = s.map((x) => Math.exp(x - max));
      for (const x of p) sum += x;
      lse[row] = max + Math.log(sum);
      for (let j = 0; j < Sk; j++) p[j] /= sum;
      for (let c = 0; c < Dv; c++) {
        let o = 0;
        for (let j = 0; j < Sk; j++) o += p[j] * v[(kBase + j) * Dv + c];
        out[row * Dv + c] = o;
      }
      if (!dOut) continue;
      let delta = 0;
      for (let c = 0; c < Dv; c++) delta += dOut[row * Dv + c] * out[row * Dv + c];
      for (let j = 0; j < Sk; j++) {
        let dp = 0;
        for (let c = 0; c < Dv; c++) dp += dOut[row * Dv + c] * v[(kBase + j) * Dv + c];
        const ds = p[j] * (dp - delta);
        for (let c = 0; c < Dv; c++) dV[(kBase + j) * Dv + c] += p[j] * dOut[row * Dv + c];
        for (let d = 0; d < D; d++) {
          dQ[row * D + d] += scale * ds * k[(kBase + j) * D + d];
          dK[(kBase + j) * D + d] += scale * ds * q[row * D + d];
        }
        if (dMask && isFloatMask) dMask[idx[j]] += ds;
      }
    }
  }
  return {out, lse, dQ, dK, dV, dMask};
}

function makeSdpaCase({B, H, Hkv = H, Sq, Sk, D, Dv = D, causal = false, maskKind, maskDims, padding = false}) {
  const a = {B, H, Hkv, Sq, Sk, D, Dv, scale: 1 / Math.sqrt(Math.max(D, 1)), causal};
  a.q = randomFloats(B * H * Sq * D);
  a.k = randomFloats(B * Hkv * Sk * D);
  a.v = randomFloats(B * Hkv * Sk * Dv);
  if (maskKind) {
    const full = [B, H, Sq, Sk], strides = [0, 0, 0, 0];
    let size = 1;
    for (let d = 3; d >= 0; d--) {
      const n = maskDims[d] === 1 ? 1 : full[d];
      strides[d] = n === 1 ? 0 : size;
      size *= n;
    }
    a.maskStrides = strides;
    a.maskKind = maskKind;
    a.mask = maskKind === 'bool'
      ? Uint8Array.from({length: size}, () => (random() < 0.75 ? 1 : 0))
      : Float32Array.from({length: size}, () => (random() < 0.15 ? -Infinity : 4 * random() - 2));
  }
  if (padding) {
    a.keyPadding = new Uint8Array(B * Sk).fill(1);
    for (let b = 0; b < B; b++) {
      const real = b === 0 ? Sk : b === 1 ? 0 : randomInt(0, Sk);
      a.keyPadding.fill(0, b * Sk + real, (b + 1) * Sk);
    }
  }
  return a;
}

const SDPA_CASES = [
  {name: 'S=1, D=1', B: 1, H: 1, Sq: 1, Sk: 1, D: 1},
  {name: 'odd D (D=20, Dv=12)', B: 2, H: 2, Sq: 9, Sk: 13, D: 20, Dv: 12},
  {name: 'GQA 6/2', B: 1, H: 6, Hkv: 2, Sq: 17, Sk: 70, D: 8},
  {name: 'causal Sq<Sk', B: 2, H: 2, Sq: 7, Sk: 19, D: 8, causal: true},
  {name: 'causal Sq>Sk (rows without keys)', B: 1, H: 2, Sq: 21, Sk: 8, D: 8, causal: true},
  {name: 'key padding incl. all-padded batch', B: 3, H: 2, Sq: 6, Sk: 11, D: 8, padding: true},
  {name: 'bool mask full', B: 2, H: 2, Sq: 5, Sk: 9, D: 4, maskKind: 'bool', maskDims: [0, 0, 0, 0]},
  {name: 'bool mask [B,1,1,Sk] + causal', B: 2, H: 3, Sq: 9, Sk: 9, D: 4, causal: true, maskKind: 'bool', maskDims: [0, 1, 1, 0]},
  {name: 'float mask full + -inf', B: 2, H: 2, Sq: 5, Sk: 9, D: 4, maskKind: 'float', maskDims: [0, 0, 0, 0]},
  {name: 'float mask [1,1,Sq,Sk] GQA', B: 2, H: 4, Hkv: 2, Sq: 6, Sk: 70, D: 16, maskKind: 'float', maskDims: [1, 1, 0, 0]},
  {name: 'float mask [1,H,1,1] + padding', B: 3, H: 2, Sq: 4, Sk: 7, D: 4, maskKind: 'float', maskDims: [1, 0, 1, 1], padding: true},
  {name: 'Sk=0', B: 1, H: 2, Sq: 3, Sk: 0, D: 4},
  {name: 'Sq=0', B: 1, H: 2, Sq: 0, Sk: 3, D: 4},
];

test('info() reports the ISA, thread count and version', () => {
  const info = addon.info();
  assert.ok(ISAS.includes(info.isa));
  assert.ok(Number.isInteger(info.threads) && info.threads >= 1);
  assert.strictEqual(typeof info.version, 'string');
});

for (const c of SDPA_CASES) {
  test(`scaledDotProductAttention/scaledDotProductAttentionGrad match the reference: ${c.name}`, () => {
    const a = makeSdpaCase(c);
    const out = new Float32Array(a.B * a.H * a.Sq * a.Dv).fill(7), lse = new Float32Array(a.B * a.H * a.Sq).fill(7);
    addon.scaledDotProductAttention({...a, out, lse});
    const dOut = randomFloats(out.length);
    const want = referenceSdpa(a, dOut);
    assertClose(out, want.out, 2e-5, 1e-4, 'out');
    assertClose(lse, want.lse, 2e-5, 1e-5, 'lse');
    for (let r = 0; r < lse.length; r++) {
      if (lse[r] === -Infinity) assert.ok(out.subarray(r * a.Dv, (r + 1) * a.Dv).every((x) => x === 0), 'masked row is zeros');
    }
    const grads = {dQ: new Float32Array(a.q.length), dK: new Float32Array(a.k.length), dV: new Float32Array(a.v.length)};
    if (a.mask instanceof Float32Array) grads.dMask = new Float32Array(a.mask.length);
    addon.scaledDotProductAttentionGrad({...a, out, lse, dOut, ...grads});
    for (const name of ['dQ', 'dK', 'dV', 'dMask']) if (grads[name]) assertClose(grads[name], want[name], 1e-4, 1e-3, name);
  });
}

test('a relative-position float bias (maskStrides [0, 0, 1, 1]) gets its gradient summed', () => {
  const a = makeSdpaCase({B: 2, H: 3, Sq: 9, Sk: 70, D: 8, causal: true});
  a.mask = randomFloats(9 + 70 - 1, -1, 1);
  a.maskStrides = [0, 0, 1, 1];
  const out = new Float32Array(2 * 3 * 9 * 8), lse = new Float32Array(2 * 3 * 9);
  addon.scaledDotProductAttention({...a, out, lse});
  const dOut = randomFloats(out.length), want = referenceSdpa(a, dOut);
  assertClose(out, want.out, 2e-5, 1e-4, 'out');
  const dMask = new Float32Array(a.mask.length), dQ = new Float32Array(a.q.length);
  addon.scaledDotProductAttentionGrad({...a, out, lse, dOut, dQ, dK: new Float32Array(a.k.length), dV: new Float32Array(a.v.length), dMask});
  assertClose(dMask, want.dMask, 1e-4, 1e-3, 'dMask');
  assertClose(dQ, want.dQ, 1e-4, 1e-3, 'dQ');
});

test('scaledDotProductAttention propagates NaN to its own row only', () => {
  const a = makeSdpaCase({B: 1, H: 1, Sq: 2, Sk: 3, D: 4});
  a.q[0] = NaN;
  const out = new Float32Array(8), lse = new Float32Array(2);
  addon.scaledDotProductAttention({...a, out, lse});
  assert.ok(Number.isNaN(out[0]) && Number.isNaN(lse[0]));
  assert.ok(Number.isFinite(out[4]) && Number.isFinite(lse[1]));
});

// ---- reference encoder layer, float64, one sequence of real tokens ----
function layerNorm(x, rows, cols, gamma, beta, eps) {
  for (let r = 0; r < rows; r++) {
    let mean = 0, variance = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c];
    mean /= cols;
    for (let c = 0; c < cols; c++) variance += (x[r * cols + c] - mean) ** 2;
    variance /= cols;
    for (let c = 0; c < cols; c++)
      x[r * cols + c] = ((x[r * cols + c] - mean) / Math.sqrt(variance + eps)) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
  }
}
function matmul(a, m, k, w, n, bias) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = bias ? bias[j] : 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * w[p * n + j];
    c[i * n + j] = s;
  }
  return c;
}
function erf(x) {  // high-precision series / continued fraction is overkill: use erfc via Chebyshev (|err| < 1.2e-7)
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}
const ACTIVATIONS = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
};
function rmsNorm(x, rows, cols, gamma, eps) {
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += x[r * cols + c] ** 2;
    const inverse = 1 / Math.sqrt(squares / cols + eps);
    for (let c = 0; c < cols; c++) x[r * cols + c] *= inverse * (gamma ? gamma[c] : 1);
  }
}
// One layer on one sequence; `bias` (optional): {values [*, H, S, S], offset of this sequence's [H, S, S], S,
// positions: the original position of each real token}.
function referenceLayer(L, x, len, E, bias) {
  const F = L.w1.length / E, hd = E / L.numHeads;
  const norm = (v, gamma, beta, eps) => L.normKind === 'rms' ? rmsNorm(v, len, E, gamma, eps ?? 1e-5)
                                                              : layerNorm(v, len, E, gamma, beta, eps ?? 1e-5);
  let attnIn = Float64Array.from(x);
  if (L.normFirst) norm(attnIn, L.ln1Gamma, L.ln1Beta, L.ln1Eps);
  const qkv = matmul(attnIn, len, E, L.wqkv, 3 * E, L.bqkv);
  const ctx = new Float64Array(len * E);
  for (let h = 0; h < L.numHeads; h++) for (let i = 0; i < len; i++) {
    const s = new Float64Array(len);
    let max = -Infinity;
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let d = 0; d < hd; d++) dot += qkv[i * 3 * E + h * hd + d] * qkv[j * 3 * E + E + h * hd + d];
      s[j] = dot * (L.scale ?? 1 / Math.sqrt(hd));
      if (bias) s[j] += bias.values[bias.offset + (h * bias.S + bias.positions[i]) * bias.S + bias.positions[j]];
      if (L.isCausal && j > i) s[j] = -Infinity;
      max = Math.max(max, s[j]);
    }
    let sum = 0;
    for (let j = 0; j < len; j++) sum += (s[j] = Math.exp(s[j] - max));
    for (let d = 0; d < hd; d++) {
      let o = 0;
      for (let j = 0; j < len; j++) o += (s[j] / sum) * qkv[j * 3 * E + 2 * E + h * hd + d];
      ctx[i * E + h * hd + d] = o;
    }
  }
  const h1 = matmul(ctx, len, E, L.wo, E, L.bo).map((value, i) => value + x[i]);
  if (!L.normFirst) norm(h1, L.ln1Gamma, L.ln1Beta, L.ln1Eps);
  const ffnIn = Float64Array.from(h1);
  if (L.normFirst) norm(ffnIn, L.ln2Gamma, L.ln2Beta, L.ln2Eps);
  const activation = ACTIVATIONS[L.activation ?? 'gelu'];
  let u = matmul(ffnIn, len, E, L.w1, F, L.b1);
  if (L.gatedMlp) {
    const gate = matmul(ffnIn, len, E, L.wgate, F, L.bgate);
    u = u.map((value, i) => value * activation(gate[i]));
  } else {
    u = u.map(activation);
  }
  const y = matmul(u, len, F, L.w2, E, L.b2).map((value, i) => value + h1[i]);
  if (!L.normFirst) norm(y, L.ln2Gamma, L.ln2Beta, L.ln2Eps);
  return y;
}
function randomLayer(E, numHeads, F, options) {
  const r = 1 / Math.sqrt(E);
  return {
    numHeads, wqkv: randomFloats(E * 3 * E, -r, r), bqkv: randomFloats(3 * E, -0.1, 0.1), wo: randomFloats(E * E, -r, r),
    bo: randomFloats(E, -0.1, 0.1), ln1Gamma: randomFloats(E, 0.5, 1.5), ln1Beta: randomFloats(E, -0.2, 0.2), ln1Eps: 1e-5,
    ln2Gamma: randomFloats(E, 0.5, 1.5), ln2Beta: randomFloats(E, -0.2, 0.2), ln2Eps: 1e-6, w1: randomFloats(E * F, -r, r),
    b1: randomFloats(F, -0.1, 0.1), w2: randomFloats(F * E, -1 / Math.sqrt(F), 1 / Math.sqrt(F)), b2: randomFloats(E, -0.1, 0.1),
    activation: 'gelu', normFirst: false, isCausal: false, ...options,
  };
}
// attentionBias: [1 or B, H, S, S] (optional), added in every layer at the original positions.
function referenceStack(layers, x, B, S, E, keyPadding, attentionBias) {
  const y = new Float64Array(B * S * E);
  for (let b = 0; b < B; b++) {
    const rows = [];
    for (let t = 0; t < S; t++) if (!keyPadding || keyPadding[b * S + t]) rows.push(t);
    let seq = new Float64Array(rows.length * E);
    rows.forEach((t, r) => seq.set(x.subarray((b * S + t) * E, (b * S + t + 1) * E), r * E));
    const H = layers.length ? layers[0].numHeads : 0, perSequence = H * S * S;
    const bias = attentionBias && {values: attentionBias, S, positions: rows,
                                   offset: attentionBias.length === perSequence ? 0 : b * perSequence};
    for (const L of layers) seq = referenceLayer(L, seq, rows.length, E, bias);
    rows.forEach((t, r) => y.set(seq.subarray(r * E, (r + 1) * E), (b * S + t) * E));
  }
  return y;
}
function paddingFor(lengths, S, left) {
  const mask = new Uint8Array(lengths.length * S);
  lengths.forEach((len, b) => mask.fill(1, b * S + (left ? S - len : 0), b * S + (left ? S : len)));
  return mask;
}
// Separate Q/K/V weights split out of a packed wqkv.
function splitQkv(L, E) {
  const pick = (part) => Float32Array.from({length: E * E}, (_, idx) => L.wqkv[Math.floor(idx / E) * 3 * E + part * E + (idx % E)]);
  const {wqkv, bqkv, ...rest} = L;
  return {...rest, wq: pick(0), wk: pick(1), wv: pick(2), bq: bqkv.slice(0, E), bk: bqkv.slice(E, 2 * E), bv: bqkv.slice(2 * E)};
}

const ENCODER_CASES = [
  {name: 'post-norm gelu, right padding, lengths 5,0,1,7', options: {}, lengths: [5, 0, 1, 7], S: 7},
  {name: 'pre-norm gelu_tanh causal, left padding', options: {normFirst: true, activation: 'gelu_tanh', isCausal: true}, lengths: [3, 6, 0, 1], S: 6, left: true},
  {name: 'post-norm relu, separate QKV, handles', options: {activation: 'relu'}, lengths: [4, 2], S: 4, separate: true, handles: true},
  {name: 'S=1, no padding mask', options: {}, lengths: [1, 1, 1], S: 1, noMask: true},
  {name: 'post-norm silu (Marian), right padding', options: {activation: 'silu'}, lengths: [6, 3], S: 6},
  {name: 'explicit attention scale, long sequences (several attention tiles)', options: {scale: 0.3}, lengths: [70, 130], S: 130},
];
for (const c of ENCODER_CASES) {
  test(`transformerEncoderLayer matches the reference: ${c.name}`, () => {
    const E = 24, B = c.lengths.length, S = c.S;
    const L = randomLayer(E, 3, 40, c.options);
    const x = randomFloats(B * S * E), keyPadding = c.noMask ? undefined : paddingFor(c.lengths, S, c.left);
    let args = c.separate ? splitQkv(L, E) : {...L};
    if (c.handles) for (const w of ['wq', 'wk', 'wv', 'wqkv', 'wo']) if (args[w]) args[w] = addon.packWeight(args[w], E, E * (w === 'wqkv' ? 3 : 1));
    if (c.handles) { args.w1 = addon.packWeight(L.w1, E, 40); args.w2 = addon.packWeight(L.w2, 40, E); }
    const out = new Float32Array(B * S * E).fill(9);
    addon.transformerEncoderLayer({...args, x, out, B, S, E, keyPadding});
    assertClose(out, referenceStack([L], x, B, S, E, keyPadding), 2e-4, 2e-4, 'out');
  });
}

test('transformerEncoderStack runs layers packed and matches layer-by-layer reference', () => {
  const E = 16, B = 3, S = 5, lengths = [5, 0, 2];
  const layers = [randomLayer(E, 2, 32, {}), randomLayer(E, 4, 24, {normFirst: true, activation: 'relu', isCausal: true})];
  const x = randomFloats(B * S * E), keyPadding = paddingFor(lengths, S, false), out = new Float32Array(B * S * E);
  const packed = layers.map((L) => ({...L, wqkv: addon.packWeight(L.wqkv, E, 3 * E), w1: addon.packWeight(L.w1, E, L.b1.length)}));
  addon.transformerEncoderStack({x, out, B, S, E, keyPadding, layers: packed});
  assertClose(out, referenceStack(layers, x, B, S, E, keyPadding), 2e-4, 2e-4, 'out');
  addon.transformerEncoderStack({x, out, B, S, E, keyPadding, layers: []});  // identity on real rows, zeros elsewhere
  assertClose(out, referenceStack([], x, B, S, E, keyPadding), 0, 0, 'identity');
});

// T5 v1.1: pre-norm RMSNorm without betas, gated gelu_tanh MLP, no biases, attention scale 1.
function randomT5Layer(E, numHeads, F, options) {
  const r = 1 / Math.sqrt(E);
  return {
    numHeads, wqkv: randomFloats(E * 3 * E, -r, r), wo: randomFloats(E * E, -r, r), ln1Gamma: randomFloats(E, 0.5, 1.5),
    ln2Gamma: randomFloats(E, 0.5, 1.5), ln1Eps: 1e-6, ln2Eps: 1e-6, w1: randomFloats(E * F, -r, r), wgate: randomFloats(E * F, -r, r),
    w2: randomFloats(F * E, -1 / Math.sqrt(F), 1 / Math.sqrt(F)), normKind: 'rms', gatedMlp: true, activation: 'gelu_tanh',
    normFirst: true, scale: 1, ...options,
  };
}
// keyPadding with real tokens spread over each sequence (padding before, between and after them).
function paddingWithHoles(lengths, S) {
  const mask = new Uint8Array(lengths.length * S);
  lengths.forEach((len, b) => { for (let t = 0; t < len; t++) mask[b * S + Math.floor((t * S + (S - len) / 2) / Math.max(len, 1))] = 1; });
  return mask;
}
// A [biasBatch, H, S, S] bias that is NaN wherever no real query and key of its sequence(s) meet.
function poisonedBias(biasBatch, H, S, keyPadding, B) {
  const bias = randomFloats(biasBatch * H * S * S, -2, 2);
  for (let bb = 0; bb < biasBatch; bb++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
    const sequences = biasBatch === 1 ? [...Array(B).keys()] : [bb];
    const read = sequences.some((b) => !keyPadding || (keyPadding[b * S + i] && keyPadding[b * S + j]));
    if (!read) bias[((bb * H + h) * S + i) * S + j] = NaN;
  }
  return bias;
}
const T5_CASES = [
  {name: 'bias [1, H, S, S], holes in the padding', lengths: [5, 0, 1, 9], S: 9, biasBatch: 1, holes: true},
  {name: 'bias [B, H, S, S], left padding, separate QKV, handles', lengths: [4, 7, 2], S: 7, biasBatch: 3, left: true, separate: true, handles: true},
  {name: 'bias, causal, long sequences (several attention tiles)', lengths: [130, 71], S: 133, biasBatch: 2, holes: true, options: {isCausal: true}},
  {name: 'no bias, no padding mask', lengths: [3, 3], S: 3, biasBatch: 0, noMask: true},
  {name: 'post-norm RMSNorm with biases, plain relu MLP, bias [1, H, S, S], B = 1', lengths: [6], S: 8, biasBatch: 1, holes: true,
   options: {normFirst: false, gatedMlp: false, wgate: undefined, activation: 'relu', bqkv: randomFloats(72, -0.1, 0.1),
             bo: randomFloats(24, -0.1, 0.1), b1: randomFloats(40, -0.1, 0.1), b2: randomFloats(24, -0.1, 0.1), scale: undefined}},
  {name: 'LayerNorm with a gated MLP with biases, bias [B, H, S, S]', lengths: [2, 5], S: 6, biasBatch: 2,
   options: {normKind: 'layer', ln1Beta: randomFloats(24, -0.2, 0.2), bgate: randomFloats(40, -0.1, 0.1), b1: randomFloats(40, -0.1, 0.1)}},
];
for (const c of T5_CASES) {
  test(`transformerEncoderLayer, T5 form: ${c.name}`, () => {
    const E = 24, H = 3, F = 40, B = c.lengths.length, S = c.S;
    const L = randomT5Layer(E, H, F, c.options);
    const x = randomFloats(B * S * E);
    const keyPadding = c.noMask ? undefined : c.holes ? paddingWithHoles(c.lengths, S) : paddingFor(c.lengths, S, c.left);
    const attentionBias = c.biasBatch ? poisonedBias(c.biasBatch, H, S, keyPadding, B) : undefined;
    const args = c.separate ? splitQkv({...L, bqkv: new Float32Array(3 * E)}, E) : {...L};
    if (c.separate) for (const b of ['bq', 'bk', 'bv']) delete args[b];
    if (c.handles) for (const w of ['wq', 'wk', 'wv', 'wo']) args[w] = addon.packWeight(args[w], E, E);
    if (c.handles && args.wgate) args.wgate = addon.packWeight(args.wgate, E, F);
    const out = new Float32Array(B * S * E).fill(9);
    addon.transformerEncoderLayer({...args, x, out, B, S, E, keyPadding, attentionBias});
    assertClose(out, referenceStack([L], x, B, S, E, keyPadding, attentionBias), 2e-4, 2e-4, 'out');
  });
}

test('transformerEncoderStack adds one attention bias in every layer, tokens packed between layers', () => {
  const E = 16, H = 4, B = 3, S = 7, lengths = [7, 3, 5];
  const layers = [randomT5Layer(E, H, 24), randomT5Layer(E, H, 40), randomLayer(E, H, 20, {normFirst: true})];
  const keyPadding = paddingWithHoles(lengths, S), x = randomFloats(B * S * E);
  for (const biasBatch of [1, B]) {
    const attentionBias = poisonedBias(biasBatch, H, S, keyPadding, B), out = new Float32Array(B * S * E);
    addon.transformerEncoderStack({x, out, B, S, E, keyPadding, attentionBias, layers});
    assertClose(out, referenceStack(layers, x, B, S, E, keyPadding, attentionBias), 2e-4, 2e-4, `bias batch ${biasBatch}`);
  }
  const out = new Float32Array(B * S * E);
  addon.transformerEncoderStack({x, out, B, S, E, keyPadding, attentionBias: new Float32Array(5), layers: []});
  assertClose(out, referenceStack([], x, B, S, E, keyPadding), 0, 0, 'no layers: the bias is not read');
});

test('linear matches x.W + b with every activation and a residual', () => {
  for (const activation of ['none', 'relu', 'gelu', 'gelu_tanh']) {
    const M = 37, K = 70, N = 53;
    const x = randomFloats(M * K), w = randomFloats(K * N), bias = randomFloats(N), residual = randomFloats(M * N);
    const out = new Float32Array(M * N);
    const act = activation === 'none' ? (z) => z : ACTIVATIONS[activation];
    const want = matmul(x, M, K, w, N, bias).map((z, i) => act(z) + residual[i]);
    addon.linear({x, M, K, w: addon.packWeight(w, K, N), bias, activation, residual, out});
    assertClose(out, want, 1e-4, 1e-4, `linear ${activation}`);
    addon.linear({x, M, K, w, out});  // raw weight, no epilogue
    assertClose(out, matmul(x, M, K, w, N, null), 1e-4, 1e-4, 'linear plain');
  }
  assert.throws(() => addon.linear({x: randomFloats(6), M: 2, K: 3, w: randomFloats(6), out: new Float32Array(3)}),
                /out has 3 elements, expected M\*N \(N = 2 columns of w\) = 4/);
  const x = randomFloats(4);
  assert.throws(() => addon.linear({x, M: 2, K: 2, w: randomFloats(4), residual: x.subarray(0, 4), out: x}), /out shares memory/);
});

// ---- decoding: rmsNorm, rotaryEmbedding, attentionWithKVCache, transformerDecoderStack (float64 references) ----
function referenceRmsNorm(x, rows, cols, gamma, eps) {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(squares / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * inv * (gamma ? gamma[c] : 1);
  }
  return y;
}

/** HF-style tables [rows, rotaryDim / 2]: angle = position / 10000^(2i / rotaryDim). */
function rotaryTables(rows, rotaryDim) {
  const half = rotaryDim / 2, cos = new Float32Array(rows * half), sin = new Float32Array(rows * half);
  for (let p = 0; p < rows; p++) for (let i = 0; i < half; i++) {
    const angle = p / 10000 ** ((2 * i) / rotaryDim);
    cos[p * half + i] = Math.cos(angle);
    sin[p * half + i] = Math.sin(angle);
  }
  return {cos, sin};
}

/** One head's features (a copy) rotated at `position`: pairs (i, i + half), or (2i, 2i + 1) when interleaved. */
function rotateHead(head, position, cos, sin, rotaryDim, interleaved) {
  const half = rotaryDim / 2, out = Array.from(head);
  for (let i = 0; i < half; i++) {
    const a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    const c = cos[position * half + i], s = sin[position * half + i];
    out[a] = head[a] * c - head[b] * s;
    out[b] = head[b] * c + head[a] * s;
  }
  return out;
}

test('rmsNorm matches x / sqrt(mean(x^2) + eps) * gamma', () => {
  for (const [rows, cols] of [[1, 1], [3, 7], [5, 64], [2, 257]]) {
    const x = randomFloats(rows * cols, -3, 3), gamma = randomFloats(cols, 0.5, 1.5), out = new Float32Array(rows * cols).fill(9);
    addon.rmsNorm({x, rows, cols, gamma, eps: 1e-5, out});
    assertClose(out, referenceRmsNorm(x, rows, cols, gamma, 1e-5), 1e-5, 1e-5, `rmsNorm ${rows}x${cols}`);
    addon.rmsNorm({x, rows, cols, out});  // no gamma, eps 1e-6
    assertClose(out, referenceRmsNorm(x, rows, cols, null, 1e-6), 1e-5, 1e-5, `rmsNorm ${rows}x${cols} without gamma`);
  }
  addon.rmsNorm({x: new Float32Array(0), rows: 0, cols: 4, out: new Float32Array(0)});
});

test('rotaryEmbedding matches the reference: both pairings, full and partial rotary, per-token positions', () => {
  const B = 2, H = 3, S = 4, D = 8, rows = 10;
  const x = randomFloats(B * H * S * D), positions = Int32Array.from({length: B * S}, () => randomInt(0, rows - 1));
  for (const rotaryDim of [8, 4, 2]) {
    for (const interleaved of [false, true]) {
      const {cos, sin} = rotaryTables(rows, rotaryDim), out = new Float32Array(x.length).fill(9);
      addon.rotaryEmbedding({x, positions, B, H, S, D, rotaryDim, interleaved, cos, sin, out});
      const want = new Float64Array(x.length);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let s = 0; s < S; s++) {
        const base = ((b * H + h) * S + s) * D;
        want.set(rotateHead(x.subarray(base, base + D), positions[b * S + s], cos, sin, rotaryDim, interleaved), base);
      }
      assertClose(out, want, 1e-6, 1e-6, `rotary ${rotaryDim}/${D} interleaved=${interleaved}`);
      if (rotaryDim < D) {  // features past rotaryDim are copied as they are
        for (let r = 0; r < B * H * S; r++) for (let d = rotaryDim; d < D; d++) assert.strictEqual(out[r * D + d], x[r * D + d]);
      }
    }
  }
  const out = new Float32Array(x.length);
  addon.rotaryEmbedding({x, positions, B, H, S, D, rotaryDim: 0, out});  // no rotary: a copy
  assert.deepStrictEqual(out, x);
});

/**
 * attentionWithKVCache over a prefill and two steps (the second one with two
 * new tokens for one sequence and none for the other), against attention of
 * each new token over its whole sequence so far. Cache rows at and past the
 * lengths start as NaN: they must be neither read (the outputs stay finite)
 * nor written; rows within the lengths are exactly the keys/values given.
 */
function runCacheSteps({B, H, Hkv, D, Dv, prompts, scale}) {
  const steps = [prompts, prompts.map(() => 1), prompts.map((_, b) => (b === 0 ? 2 : 0))];
  const total = prompts.map((p, b) => steps.reduce((sum, s) => sum + s[b], 0));
  const C = Math.max(...total) + 2;
  const tokens = total.map(n => Array.from({length: n}, () => ({q: randomFloats(H * D), k: randomFloats(Hkv * D), v: randomFloats(Hkv * Dv)})));
  const keyCache = new Float32Array(B * Hkv * C * D).fill(NaN), valueCache = new Float32Array(B * Hkv * C * Dv).fill(NaN);
  const past = new Int32Array(B);
  for (const fresh of steps) {
    const N = Math.max(...fresh);
    // Padding rows (i >= newLengths[b]) are NaN: never read.
    const q = new Float32Array(B * H * N * D).fill(NaN), k = new Float32Array(B * Hkv * N * D).fill(NaN);
    const v = new Float32Array(B * Hkv * N * Dv).fill(NaN);
    for (let b = 0; b < B; b++) for (let i = 0; i < fresh[b]; i++) {
      const t = tokens[b][past[b] + i];
      for (let h = 0; h < H; h++) q.set(t.q.subarray(h * D, (h + 1) * D), ((b * H + h) * N + i) * D);
      for (let g = 0; g < Hkv; g++) {
        k.set(t.k.subarray(g * D, (g + 1) * D), ((b * Hkv + g) * N + i) * D);
        v.set(t.v.subarray(g * Dv, (g + 1) * Dv), ((b * Hkv + g) * N + i) * Dv);
      }
    }
    const out = new Float32Array(B * H * N * Dv).fill(9), lengths = new Int32Array(B).fill(-5);
    const pastLengths = Int32Array.from(past), newLengths = Int32Array.from(fresh);
    addon.attentionWithKVCache({q, k, v, keyCache, valueCache, pastLengths, newLengths, out, lengths, B, H, Hkv, N, C, D, Dv,
      ...(scale === undefined ? {} : {scale})});
    const want = new Float64Array(out.length);  // zeros for padding rows
    for (let b = 0; b < B; b++) for (let i = 0; i < fresh[b]; i++) for (let h = 0; h < H; h++) {
      const position = past[b] + i, g = Math.floor(h / (H / Hkv));
      const s = [];
      let max = -Infinity, sum = 0;
      for (let j = 0; j <= position; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += tokens[b][position].q[h * D + d] * tokens[b][j].k[g * D + d];
        s.push(dot * (scale ?? 1 / Math.sqrt(D)));
        max = Math.max(max, s[j]);
      }
      for (let j = 0; j <= position; j++) sum += (s[j] = Math.exp(s[j] - max));
      for (let c = 0; c < Dv; c++) {
        let o = 0;
        for (let j = 0; j <= position; j++) o += (s[j] / sum) * tokens[b][j].v[g * Dv + c];
        want[((b * H + h) * N + i) * Dv + c] = o;
      }
    }
    assertClose(out, want, 2e-5, 1e-4, `out after newLengths ${fresh}`);
    for (let b = 0; b < B; b++) past[b] += fresh[b];
    assert.deepStrictEqual(Array.from(lengths), Array.from(past), 'lengths = past + new');
    assert.deepStrictEqual(Array.from(pastLengths), Array.from(past, (p, b) => p - fresh[b]), 'pastLengths are not written');
    for (let b = 0; b < B; b++) for (let g = 0; g < Hkv; g++) for (let j = 0; j < C; j++) {
      const keyRow = keyCache.subarray(((b * Hkv + g) * C + j) * D, ((b * Hkv + g) * C + j + 1) * D);
      const valueRow = valueCache.subarray(((b * Hkv + g) * C + j) * Dv, ((b * Hkv + g) * C + j + 1) * Dv);
      if (j < past[b]) {
        assert.deepStrictEqual(Array.from(keyRow), Array.from(tokens[b][j].k.subarray(g * D, (g + 1) * D)), `key row ${b},${g},${j}`);
        assert.deepStrictEqual(Array.from(valueRow), Array.from(tokens[b][j].v.subarray(g * Dv, (g + 1) * Dv)), `value row ${b},${g},${j}`);
      } else {
        assert.ok(keyRow.every(Number.isNaN) && valueRow.every(Number.isNaN), `cache row ${b},${g},${j} past the length is untouched`);
      }
    }
  }
}

test('attentionWithKVCache: prefill + 2 steps equal causal attention over the whole sequence (GQA, Dv != D)', () => {
  runCacheSteps({B: 2, H: 4, Hkv: 2, D: 8, Dv: 6, prompts: [5, 3]});
});

test('attentionWithKVCache: a long prefill (tiled kernel), then steps; explicit scale; MHA', () => {
  runCacheSteps({B: 3, H: 2, Hkv: 2, D: 16, Dv: 16, prompts: [20, 7, 1], scale: 0.3});
});

test('attentionWithKVCache with no new tokens (N = 0: empty q, k, v, out) writes only the lengths', () => {
  // Under UBSan this once reported a null pointer passed to memset (the empty out array has no address).
  const B = 2, H = 2, Hkv = 1, C = 3, D = 4, empty = () => new Float32Array(0);
  const keyCache = randomFloats(B * Hkv * C * D), valueCache = randomFloats(B * Hkv * C * D);
  const keys = keyCache.slice(), values = valueCache.slice(), lengths = new Int32Array(B);
  addon.attentionWithKVCache({q: empty(), k: empty(), v: empty(), out: empty(), keyCache, valueCache, B, H, Hkv, N: 0, C, D,
    pastLengths: Int32Array.from([3, 1]), newLengths: new Int32Array(B), lengths});
  assert.deepStrictEqual(Array.from(lengths), [3, 1]);
  assert.deepStrictEqual(keyCache, keys);
  assert.deepStrictEqual(valueCache, values);
});

// A decoder-only model (the fields of transformerDecoderStack's `model`), recomputed from scratch in float64.
const DECODER_ACTIVATIONS = {...ACTIVATIONS, silu: (x) => x / (1 + Math.exp(-x))};
function referenceDecoder(m, ids) {
  const {E, H, D, vocabSize: V} = m, Hkv = m.Hkv ?? H, rms = m.normKind === 'rms';
  const normFirst = m.normFirst ?? true, parallel = m.parallel ?? false, act = DECODER_ACTIVATIONS[m.activation ?? 'gelu_tanh'];
  const scale = m.scale ?? 1 / Math.sqrt(D), half = (m.rotaryDim ?? 0) / 2;
  const norm = (rows, gamma, beta, eps) => rows.map((row) => {
    if (rms) {
      const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + eps);
      return row.map((v, j) => v * inv * (gamma ? gamma[j] : 1));
    }
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * (gamma ? gamma[j] : 1) + (beta ? beta[j] : 0));
  });
  const mm = (rows, w, n, bias) => rows.map((row) => Array.from({length: n}, (_, j) => {
    let s = bias ? bias[j] : 0;
    for (let k = 0; k < row.length; k++) s += row[k] * w[k * n + j];
    return s;
  }));
  let x = ids.map((id, t) => Array.from({length: E}, (_, j) => m.wordEmbeddings[id * E + j] * (m.embeddingScale ?? 1) +
      (m.positionEmbeddings ? m.positionEmbeddings[(t + (m.positionOffset ?? 0)) * E + j] : 0)));
  for (const l of m.layers) {
    const eps1 = l.norm1Eps ?? 1e-5, eps2 = l.norm2Eps ?? 1e-5;
    const h = normFirst || parallel ? norm(x, l.norm1Gamma, l.norm1Beta, eps1) : x;
    let q, k, v;
    if (l.wqkv) {
      const qkv = mm(h, l.wqkv, (H + 2 * Hkv) * D, l.bqkv);
      [q, k, v] = [qkv.map((r) => r.slice(0, H * D)), qkv.map((r) => r.slice(H * D, (H + Hkv) * D)), qkv.map((r) => r.slice((H + Hkv) * D))];
    } else {
      [q, k, v] = [mm(h, l.wq, H * D, l.bq), mm(h, l.wk, Hkv * D, l.bk), mm(h, l.wv, Hkv * D, l.bv)];
    }
    if (half > 0) {
      const rotate = (rows, heads) => rows.map((row, t) => {
        const out = [];
        for (let hh = 0; hh < heads; hh++) {
          out.push(...rotateHead(row.slice(hh * D, (hh + 1) * D), t, m.rotaryCos, m.rotarySin, m.rotaryDim, m.rotaryInterleaved ?? false));
        }
        return out;
      });
      [q, k] = [rotate(q, H), rotate(k, Hkv)];
    }
    const ctx = q.map((row, t) => {
      const out = [];
      for (let hh = 0; hh < H; hh++) {
        const g = Math.floor(hh / (H / Hkv)), s = [];
        let max = -Infinity, sum = 0;
        for (let j = 0; j <= t; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += row[hh * D + d] * k[j][g * D + d];
          s.push(dot * scale);
          max = Math.max(max, s[j]);
        }
        for (let j = 0; j <= t; j++) sum += (s[j] = Math.exp(s[j] - max));
        for (let d = 0; d < D; d++) {
          let o = 0;
          for (let j = 0; j <= t; j++) o += (s[j] / sum) * v[j][g * D + d];
          out.push(o);
        }
      }
      return out;
    });
    let attn = mm(ctx, l.wo, E, l.bo).map((row, t) => row.map((value, j) => value + x[t][j]));
    let mlpIn;
    if (parallel) mlpIn = m.parallelSharedNorm ? h : norm(x, l.norm2Gamma, l.norm2Beta, eps2);
    else if (normFirst) mlpIn = norm(attn, l.norm2Gamma, l.norm2Beta, eps2);
    else mlpIn = attn = norm(attn, l.norm1Gamma, l.norm1Beta, eps1);
    const F = m.F, up = mm(mlpIn, l.wup, F, l.bup);
    const hidden = m.gatedMlp ? mm(mlpIn, l.wgate, F, l.bgate).map((row, t) => row.map((g, j) => act(g) * up[t][j]))
      : up.map((row) => row.map(act));
    x = mm(hidden, l.wdown, E, l.bdown).map((row, t) => row.map((value, j) => value + attn[t][j]));
    if (!normFirst && !parallel) x = norm(x, l.norm2Gamma, l.norm2Beta, eps2);
  }
  if (m.hasFinalNorm ?? true) x = norm(x, m.finalNormGamma, m.finalNormBeta, m.finalNormEps ?? 1e-5);
  return x.map((row) => Array.from({length: V}, (_, j) => {
    let s = m.lmHeadBias ? m.lmHeadBias[j] : 0;
    for (let i = 0; i < E; i++) s += row[i] * (m.lmHeadTransposed ? m.lmHead[j * E + i] : m.lmHead[i * V + j]);
    return s;
  }));
}

/** A small random decoder (the addon's `model` object, weights as Float32Arrays). */
function randomDecoderModel({layers = 1, E = 16, H = 4, Hkv = H, D = 4, F = 24, V = 11, normKind = 'layer', normFirst = true,
  parallel = false, parallelSharedNorm = false, activation = 'gelu_tanh', gatedMlp = false, packedQkv = true, biases = true,
  position = 'learned', positionOffset = 0, rotaryDim = D, rotaryInterleaved = false, tied = false, finalNorm = true,
  rows = 16}) {
  const w = (n, fanIn) => randomFloats(n, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  const b = (n) => (biases ? randomFloats(n, -0.1, 0.1) : undefined);
  const gammaBeta = (prefix, target) => {
    target[`${prefix}Gamma`] = randomFloats(E, 0.8, 1.2);
    if (normKind === 'layer') target[`${prefix}Beta`] = randomFloats(E, -0.1, 0.1);
  };
  const m = {vocabSize: V, E, H, Hkv, D, F, normKind, normFirst, parallel, parallelSharedNorm, activation, gatedMlp,
    wordEmbeddings: randomFloats(V * E, -0.5, 0.5), layers: []};
  for (let i = 0; i < layers; i++) {
    const l = {norm1Eps: 1e-5, norm2Eps: 1e-6};
    gammaBeta('norm1', l);
    if (!(parallel && parallelSharedNorm)) gammaBeta('norm2', l);
    if (packedQkv) Object.assign(l, {wqkv: w(E * (H + 2 * Hkv) * D, E), bqkv: b((H + 2 * Hkv) * D)});
    else Object.assign(l, {wq: w(E * H * D, E), wk: w(E * Hkv * D, E), wv: w(E * Hkv * D, E), bq: b(H * D), bk: b(Hkv * D), bv: b(Hkv * D)});
    Object.assign(l, {wo: w(H * D * E, H * D), bo: b(E), wup: w(E * F, E), bup: b(F), wdown: w(F * E, F), bdown: b(E)});
    if (gatedMlp) Object.assign(l, {wgate: w(E * F, E), bgate: b(F)});
    for (const key of Object.keys(l)) if (l[key] === undefined) delete l[key];
    m.layers.push(l);
  }
  if (position === 'learned') Object.assign(m, {positionEmbeddings: randomFloats((rows + positionOffset) * E, -0.5, 0.5), positionOffset});
  if (position === 'rotary') {
    const {cos, sin} = rotaryTables(rows, rotaryDim);
    Object.assign(m, {rotaryDim, rotaryInterleaved, rotaryCos: cos, rotarySin: sin});
  }
  m.hasFinalNorm = finalNorm;
  if (finalNorm) gammaBeta('finalNorm', m);
  if (tied) Object.assign(m, {lmHead: m.wordEmbeddings, lmHeadTransposed: true});
  else Object.assign(m, {lmHead: w(E * V, E), lmHeadTransposed: false, ...(biases ? {lmHeadBias: b(V)} : {})});
  return m;
}

/** The model with its weights as handles: bfloat16 copies (packWeightBf16) or float32 panels (packWeight). */
function withHandles(m, pack) {
  const {E, H, D, F, vocabSize: V} = m, Hkv = m.Hkv ?? H;
  const shapes = {wqkv: [E, (H + 2 * Hkv) * D], wq: [E, H * D], wk: [E, Hkv * D], wv: [E, Hkv * D], wo: [H * D, E],
    wgate: [E, F], wup: [E, F], wdown: [F, E]};
  const layers = m.layers.map((l) => Object.fromEntries(Object.entries(l).map(([key, value]) =>
    [key, shapes[key] ? pack(value, ...shapes[key], false) : value])));
  return {...m, layers, lmHead: pack(m.lmHead, E, V, m.lmHeadTransposed)};
}

/**
 * A batch of prompts (different lengths) run as a prefill (logits of every
 * row), then `steps` decode steps of one token per sequence (the last step
 * leaves sequence 1 idle); every logits row against the reference on the
 * whole sequence so far.
 */
function runDecoderSteps(reference, model, prompts, {steps = 2, atol = 2e-4, rtol = 2e-4} = {}) {
  const B = prompts.length, L = model.layers.length, Hkv = model.Hkv ?? model.H, D = model.D, V = model.vocabSize;
  const C = Math.max(...prompts.map((p) => p.length)) + steps + 1;
  const keyCache = new Float32Array(L * B * Hkv * C * D), valueCache = new Float32Array(L * B * Hkv * C * D);
  const sequences = prompts.map((p) => p.slice()), past = new Int32Array(B);
  for (let step = 0; step <= steps; step++) {
    const prefill = step === 0;
    const fresh = prefill ? prompts.map((p) => p.length) : prompts.map((_, b) => (step === steps && b === 1 ? 0 : 1));
    const N = Math.max(...fresh);
    const inputIds = new Int32Array(B * N).fill(-1);  // padding ids are never read
    for (let b = 0; b < B; b++) for (let i = 0; i < fresh[b]; i++) inputIds[b * N + i] = sequences[b][past[b] + i];
    const logits = new Float32Array((prefill ? B * N : B) * V).fill(9), lengths = new Int32Array(B);
    addon.transformerDecoderStack({model, inputIds, pastLengths: Int32Array.from(past), newLengths: Int32Array.from(fresh),
      B, N, C, keyCache, valueCache, logitsRows: prefill ? 'all' : 'last', logits, lengths});
    const want = new Float64Array(logits.length);  // rows without a new token are zeros
    for (let b = 0; b < B; b++) {
      if (fresh[b] === 0) continue;
      const all = reference(sequences[b].slice(0, past[b] + fresh[b]));
      if (prefill) for (let i = 0; i < fresh[b]; i++) want.set(all[i], (b * N + i) * V);
      else want.set(all[past[b]], b * V);
    }
    assertClose(logits, want, atol, rtol, `logits of step ${step}`);
    for (let b = 0; b < B; b++) past[b] += fresh[b];
    assert.deepStrictEqual(Array.from(lengths), Array.from(past), 'lengths');
    // The next token: the argmax of the last logits row (any id would do; this is what greedy decoding feeds).
    for (let b = 0; b < B; b++) {
      if (fresh[b] === 0) continue;
      const row = prefill ? (b * N + fresh[b] - 1) * V : b * V;
      let best = 0;
      for (let j = 1; j < V; j++) if (logits[row + j] > logits[row + best]) best = j;
      sequences[b].push(best);
    }
  }
  // Cache rows past each sequence's length were never written.
  for (let l = 0; l < L; l++) for (let b = 0; b < B; b++) for (let g = 0; g < Hkv; g++) {
    const start = (((l * B + b) * Hkv + g) * C + past[b]) * D, end = (((l * B + b) * Hkv + g) * C + C) * D;
    assert.ok(keyCache.subarray(start, end).every((x) => x === 0) && valueCache.subarray(start, end).every((x) => x === 0),
        `cache rows past the length of sequence ${b} (layer ${l}) are untouched`);
  }
}

const DECODER_CASES = [
  {name: 'GPT-2 form: LayerNorm pre-norm, packed QKV, learned positions, tied head, gelu_tanh', spec: {}},
  {name: 'OPT form: post-norm, separate QKV, position offset 2, relu, no final norm', spec: {normFirst: false,
    packedQkv: false, positionOffset: 2, activation: 'relu', finalNorm: false, tied: true}},
  {name: 'Llama form: RMSNorm, GQA 4/2, gated silu, rotary (half pairs), untied head, no biases', spec: {normKind: 'rms',
    Hkv: 2, gatedMlp: true, activation: 'silu', position: 'rotary', packedQkv: false, biases: false}},
  {name: 'GPT-J form: parallel with a shared norm, partial interleaved rotary, gelu, untied head with bias', spec: {
    parallel: true, parallelSharedNorm: true, position: 'rotary', rotaryDim: 2, rotaryInterleaved: true, activation: 'gelu',
    packedQkv: false}},
  {name: 'GPT-NeoX form: parallel with two norms, full rotary, two layers, explicit scales', spec: {parallel: true,
    position: 'rotary', layers: 2, H: 2, D: 8}, extra: {scale: 0.4, embeddingScale: 1.5}},
];
for (const c of DECODER_CASES) {
  test(`transformerDecoderStack matches a from-scratch decoder: ${c.name}`, () => {
    const model = {...randomDecoderModel(c.spec), ...c.extra};
    const reference = (ids) => referenceDecoder(model, ids);
    runDecoderSteps(reference, model, [[1, 5, 7, 2, 9], [3], [4, 4, 10]]);
    // The same weights as float32 handles (packWeight): the same arithmetic.
    runDecoderSteps(reference, withHandles(model, (w, rows, cols, transposed) => (transposed ? w : addon.packWeight(w, rows, cols))),
        [[2, 8, 1], [6, 0]]);
  });
}

test('transformerDecoderStack with bfloat16 weights (packWeightBf16, tied head transposed) stays within bfloat16 rounding', () => {
  const model = randomDecoderModel({tied: true, layers: 2});
  const bf16 = withHandles(model, (w, rows, cols, transposed) => addon.packWeightBf16(w, rows, cols, transposed));
  // Weights rounded to 8 mantissa bits (activations too with AVX512-BF16): ~1e-2 of the logits' scale.
  runDecoderSteps((ids) => referenceDecoder(model, ids), bf16, [[1, 5, 7], [3, 2]], {atol: 3e-2, rtol: 3e-2});
});

test('transformerDecoderStack without layers is embeddings, final norm and head (empty caches)', () => {
  const model = randomDecoderModel({layers: 0});
  runDecoderSteps((ids) => referenceDecoder(model, ids), model, [[1, 2], [3, 4, 5]]);
});

test('packWeightBf16 keeps a [rows, cols] weight (or its [cols, rows] transpose) within bfloat16 rounding', () => {
  const K = 40, N = 24, M = 3, w = randomFloats(K * N), x = randomFloats(M * K);
  const transposed = new Float32Array(N * K);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) transposed[n * K + k] = w[k * N + n];
  const want = matmul(x, M, K, w, N, null);
  for (const handle of [addon.packWeightBf16(w, K, N), addon.packWeightBf16(transposed, K, N, true)]) {
    const out = new Float32Array(M * N);
    addon.linear({x, M, K, w: handle, out});
    assertClose(out, want, 2e-2, 2e-2, 'x . bf16(W)');
  }
});

test('exports one function per op, named as the op, and the building blocks', () => {
  assert.deepStrictEqual(Object.keys(addon).sort(), [
    'attentionWithKVCache', 'info', 'linear', 'packWeight', 'packWeightBf16', 'releaseWeight', 'reorderCache', 'rmsNorm',
    'rotaryEmbedding', 'scaledDotProductAttention', 'scaledDotProductAttentionGrad', 'transformerDecoderStack',
    'transformerEncoderLayer', 'transformerEncoderStack',
  ]);
});

// ---- encoder-decoder steps (cross-attention, T5's position bias) and beam search's reorder ----

/** A decoder model with cross-attention (and optionally T5's per-distance bias) from randomDecoderModel. */
function randomSeq2SeqModel({positionBias = false, P = 12, ...spec}) {
  const m = randomDecoderModel({...spec, layers: spec.layers ?? 2});
  const {E, H, D} = m, Hkv = m.Hkv ?? H, biases = spec.biases ?? true;
  const w = (n, fanIn) => randomFloats(n, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  const b = (n) => randomFloats(n, -0.1, 0.1);
  for (const l of m.layers) {
    Object.assign(l, {crossNormGamma: randomFloats(E, 0.8, 1.2), crossNormEps: 1e-6, wcq: w(E * H * D, E),
      wck: w(E * Hkv * D, E), wcv: w(E * Hkv * D, E), wco: w(H * D * E, H * D)});
    if (spec.normKind !== 'rms') l.crossNormBeta = randomFloats(E, -0.1, 0.1);
    if (biases) Object.assign(l, {bcq: b(H * D), bck: b(Hkv * D), bcv: b(Hkv * D), bco: b(E)});
  }
  m.crossAttention = true;
  if (positionBias) Object.assign(m, {positionBias: randomFloats(H * P, -1, 1), positionBiasRows: P});
  return m;
}

/** The cross keys or values of layer l for one sequence's encoder rows enc [S][E]: [S][Hkv D]. */
function crossProjection(m, l, enc, values) {
  const Hkv = m.Hkv ?? m.H, n = Hkv * m.D, w = values ? l.wcv : l.wck, bias = values ? l.bcv : l.bck;
  return enc.map((row) => Array.from({length: n}, (_, j) => {
    let s = bias ? bias[j] : 0;
    for (let k = 0; k < row.length; k++) s += row[k] * w[k * n + j];
    return s;
  }));
}

/** Logits of every position of `ids` for one sequence with encoder rows enc [S][E] and source flags real [S]. */
function referenceSeq2Seq(m, ids, enc, real) {
  const {E, H, D, vocabSize: V} = m, Hkv = m.Hkv ?? H, rms = m.normKind === 'rms', normFirst = m.normFirst ?? true;
  const act = DECODER_ACTIVATIONS[m.activation ?? 'gelu_tanh'], scale = m.scale ?? 1 / Math.sqrt(D);
  const norm = (rows, gamma, beta, eps) => rows.map((row) => {
    if (rms) {
      const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + eps);
      return row.map((v, j) => v * inv * (gamma ? gamma[j] : 1));
    }
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * (gamma ? gamma[j] : 1) + (beta ? beta[j] : 0));
  });
  const mm = (rows, w, n, bias) => rows.map((row) => Array.from({length: n}, (_, j) => {
    let s = bias ? bias[j] : 0;
    for (let k = 0; k < row.length; k++) s += row[k] * w[k * n + j];
    return s;
  }));
  const add = (a, b) => a.map((row, t) => row.map((v, j) => v + b[t][j]));
  // Query rows q over key rows k/v; visible(t, j) says which keys a query sees, bias(h, t, j) what it adds.
  const attend = (q, k, v, visible, bias) => q.map((row, t) => {
    const out = [];
    for (let hh = 0; hh < H; hh++) {
      const g = Math.floor(hh / (H / Hkv)), s = k.map(() => -Infinity);
      let max = -Infinity, sum = 0;
      for (let j = 0; j < k.length; j++) {
        if (!visible(t, j)) continue;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += row[hh * D + d] * k[j][g * D + d];
        s[j] = dot * scale + bias(hh, t, j);
        max = Math.max(max, s[j]);
      }
      for (let j = 0; j < k.length; j++) sum += (s[j] = Math.exp(s[j] - max));
      for (let d = 0; d < D; d++) out.push(s.reduce((o, p, j) => (p ? o + (p / sum) * v[j][g * D + d] : o), 0));
    }
    return out;
  });
  const P = m.positionBiasRows ?? 0;
  const selfBias = (hh, t, j) => (m.positionBias ? m.positionBias[hh * P + t - j] : 0);
  let x = ids.map((id, t) => Array.from({length: E}, (_, j) => m.wordEmbeddings[id * E + j] +
      (m.positionEmbeddings ? m.positionEmbeddings[(t + (m.positionOffset ?? 0)) * E + j] : 0)));
  if (m.embeddingNormGamma || m.embeddingNormBeta) x = norm(x, m.embeddingNormGamma, m.embeddingNormBeta, m.embeddingNormEps ?? 1e-5);
  for (const l of m.layers) {
    const self = (h) => mm(attend(mm(h, l.wq, H * D, l.bq), mm(h, l.wk, Hkv * D, l.bk), mm(h, l.wv, Hkv * D, l.bv),
        (t, j) => j <= t, selfBias), l.wo, E, l.bo);
    const cross = (h) => mm(attend(mm(h, l.wcq, H * D, l.bcq), crossProjection(m, l, enc, false),
        crossProjection(m, l, enc, true), (t, j) => real[j] !== 0, () => 0), l.wco, E, l.bco);
    const mlp = (h) => mm(mm(h, l.wup, m.F, l.bup).map((row) => row.map(act)), l.wdown, E, l.bdown);
    const [n1, n2, nc] = [[l.norm1Gamma, l.norm1Beta, l.norm1Eps], [l.norm2Gamma, l.norm2Beta, l.norm2Eps],
      [l.crossNormGamma, l.crossNormBeta, l.crossNormEps]];
    if (normFirst) {
      x = add(x, self(norm(x, ...n1)));
      x = add(x, cross(norm(x, ...nc)));
      x = add(x, mlp(norm(x, ...n2)));
    } else {
      x = norm(add(x, self(x)), ...n1);
      x = norm(add(x, cross(x)), ...nc);
      x = norm(add(x, mlp(x)), ...n2);
    }
  }
  if (m.hasFinalNorm ?? true) x = norm(x, m.finalNormGamma, m.finalNormBeta, m.finalNormEps ?? 1e-5);
  return mm(x, m.lmHead, V, m.lmHeadBias);
}

/**
 * Prompts (batch rows) against encoder states [B, S, E] under a source mask: a prefill that fills the cross caches
 * (checked against the projections), then decode steps that only read them (their padded rows poisoned with NaN).
 */
function runSeq2SeqSteps(model, prompts, S, mask, {steps = 2, atol = 2e-4, rtol = 2e-4, reference = model} = {}) {
  const B = prompts.length, L = model.layers.length, Hkv = model.Hkv ?? model.H, D = model.D, V = model.vocabSize, E = model.E;
  const C = Math.max(...prompts.map((p) => p.length)) + steps + 1;
  const encoderStates = randomFloats(B * S * E), sourceMask = mask ? Int32Array.from(mask) : undefined;
  const enc = Array.from({length: B}, (_, b) => Array.from({length: S}, (_, s) =>
    Array.from(encoderStates.subarray((b * S + s) * E, (b * S + s + 1) * E))));
  const real = Array.from({length: B}, (_, b) => Array.from({length: S}, (_, s) => (mask ? mask[b * S + s] : 1)));
  const keyCache = new Float32Array(L * B * Hkv * C * D), valueCache = new Float32Array(keyCache.length);
  const crossKeyCache = new Float32Array(L * B * Hkv * S * D).fill(NaN), crossValueCache = crossKeyCache.slice();
  const sequences = prompts.map((p) => p.slice()), past = new Int32Array(B);
  for (let step = 0; step <= steps; step++) {
    const prefill = step === 0;
    const fresh = prefill ? prompts.map((p) => p.length) : prompts.map((_, b) => (step === steps && b === 1 ? 0 : 1));
    const N = Math.max(...fresh), inputIds = new Int32Array(B * N).fill(-1);
    for (let b = 0; b < B; b++) for (let i = 0; i < fresh[b]; i++) inputIds[b * N + i] = sequences[b][past[b] + i];
    const logits = new Float32Array((prefill ? B * N : B) * V).fill(9), lengths = new Int32Array(B);
    addon.transformerDecoderStack({model, inputIds, pastLengths: Int32Array.from(past), newLengths: Int32Array.from(fresh),
      B, N, C, keyCache, valueCache, logitsRows: prefill ? 'all' : 'last', logits, lengths, S, crossKeyCache,
      crossValueCache, sourceMask, ...(prefill ? {encoderStates} : {})});
    if (prefill) {
      const want = new Float64Array(crossKeyCache.length * 2);
      reference.layers.forEach((l, li) => {
        for (let b = 0; b < B; b++) [false, true].forEach((values, which) => {
          const rows = crossProjection(reference, l, enc[b], values);
          for (let g = 0; g < Hkv; g++) for (let s = 0; s < S; s++) for (let d = 0; d < D; d++) {
            want[which * crossKeyCache.length + (((li * B + b) * Hkv + g) * S + s) * D + d] = rows[s][g * D + d];
          }
        });
      });
      const got = new Float32Array(want.length);
      got.set(crossKeyCache);
      got.set(crossValueCache, crossKeyCache.length);
      assertClose(got, want, atol, rtol, 'cross caches filled from the encoder states');
      for (let i = 0; i < crossKeyCache.length; i++) {  // padded source rows are never read after this
        const b = Math.floor(i / (Hkv * S * D)) % B, s = Math.floor(i / D) % S;
        if (!real[b][s]) crossKeyCache[i] = crossValueCache[i] = NaN;
      }
    }
    const want = new Float64Array(logits.length);
    for (let b = 0; b < B; b++) {
      if (fresh[b] === 0) continue;
      const all = referenceSeq2Seq(reference, sequences[b].slice(0, past[b] + fresh[b]), enc[b], real[b]);
      if (prefill) for (let i = 0; i < fresh[b]; i++) want.set(all[i], (b * N + i) * V);
      else want.set(all[past[b]], b * V);
    }
    assertClose(logits, want, atol, rtol, `logits of step ${step}`);
    for (let b = 0; b < B; b++) past[b] += fresh[b];
    assert.deepStrictEqual(Array.from(lengths), Array.from(past), 'lengths');
    for (let b = 0; b < B; b++) sequences[b].push(randomInt(0, V - 1));
  }
}

const SEQ2SEQ_CASES = [
  {name: 'T5 form: RMSNorm pre-norm, position bias, unscaled scores, no biases, GQA 4/2, ragged source mask', spec: {
    normKind: 'rms', position: 'none', positionBias: true, Hkv: 2, biases: false, activation: 'relu'},
  extra: {scale: 1}, S: 5, mask: [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1]},
  {name: 'BART form: LayerNorm post-norm, learned positions, embedding norm, biases, all source rows real', spec: {
    normFirst: false, packedQkv: false, activation: 'gelu'}, S: 4,
  extra: {embeddingNormGamma: randomFloats(16, 0.8, 1.2), embeddingNormBeta: randomFloats(16, -0.1, 0.1), embeddingNormEps: 1e-6}},
  {name: 'Whisper form: pre-norm, a long prompt (tiled kernels) and a long source', spec: {packedQkv: false, rows: 24},
    S: 37, prompts: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [3], [4, 4]]},
];
for (const c of SEQ2SEQ_CASES) {
  test(`transformerDecoderStack with cross-attention matches a from-scratch encoder-decoder: ${c.name}`, () => {
    const model = {...randomSeq2SeqModel({...c.spec, packedQkv: false}), ...c.extra};
    runSeq2SeqSteps(model, c.prompts ?? [[1, 5, 7, 2], [3], [4, 4, 10]], c.S, c.mask);
  });
}

test('transformerDecoderStack with bfloat16 cross weights stays within bfloat16 rounding', () => {
  const model = randomSeq2SeqModel({packedQkv: false, positionBias: true});
  const {E, H, D} = model, Hkv = model.Hkv ?? H;
  const shapes = {wcq: [E, H * D], wck: [E, Hkv * D], wcv: [E, Hkv * D], wco: [H * D, E]};
  const bf16 = withHandles(model, (w, rows, cols, transposed) => addon.packWeightBf16(w, rows, cols, transposed));
  bf16.layers = bf16.layers.map((l) => Object.fromEntries(Object.entries(l).map(([key, value]) =>
    [key, shapes[key] ? addon.packWeightBf16(value, ...shapes[key]) : value])));
  runSeq2SeqSteps(bf16, [[1, 5, 7], [3, 2]], 6, [1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1],
      {atol: 3e-2, rtol: 3e-2, reference: model});
});

test('reorderCache moves each source row\'s used positions (repeats, swaps) and reorders the lengths', () => {
  for (const [L, B, Hkv, C, D, sourceRows] of [[2, 4, 2, 7, 3, [1, 1, 0, 3]], [1, 5, 1, 6, 4, [4, 3, 2, 1, 0]],
    [3, 3, 2, 5, 2, [2, 2, 2]], [1, 0, 2, 5, 2, []]]) {
    const keyCache = randomFloats(L * B * Hkv * C * D), valueCache = randomFloats(keyCache.length);
    const lengths = Int32Array.from({length: B}, () => randomInt(0, C)), old = lengths.slice();
    const [k0, v0] = [keyCache.slice(), valueCache.slice()];
    addon.reorderCache({keyCache, valueCache, lengths, sourceRows: Int32Array.from(sourceRows), layers: L, B, Hkv, C, D});
    assert.deepStrictEqual(Array.from(lengths), sourceRows.map((r) => old[r]));
    for (let l = 0; l < L; l++) for (let b = 0; b < B; b++) for (let g = 0; g < Hkv; g++) {
      const r = sourceRows[b], dst = ((l * B + b) * Hkv + g) * C * D, src = ((l * B + r) * Hkv + g) * C * D;
      const count = old[r] * D;
      assert.deepStrictEqual(keyCache.subarray(dst, dst + count), k0.subarray(src, src + count), `keys of row ${b}`);
      assert.deepStrictEqual(valueCache.subarray(dst, dst + count), v0.subarray(src, src + count), `values of row ${b}`);
    }
  }
});

// ---- argument validation: errors, never crashes ----
function validSdpa() {
  const a = makeSdpaCase({B: 1, H: 2, Sq: 3, Sk: 4, D: 2});
  return {...a, out: new Float32Array(12), lse: new Float32Array(6)};
}
const BAD_SDPA = [
  ['no options object', () => addon.scaledDotProductAttention(), /expected one options object/],
  ['q too short', (a) => ({...a, q: new Float32Array(10)}), /scaledDotProductAttention: q has 10 elements, expected B\*H\*Sq\*D = 12/],
  ['q wrong kind', (a) => ({...a, q: new Float64Array(12)}), /q must be a Float32Array/],
  ['q plain array', (a) => ({...a, q: Array(12).fill(0)}), /q must be a Float32Array/],
  ['missing k', (a) => ({...a, k: undefined}), /k is required/],
  ['negative B', (a) => ({...a, B: -1}), /B must be an integer/],
  ['fractional Sq', (a) => ({...a, Sq: 1.5}), /Sq must be an integer/],
  ['string D', (a) => ({...a, D: '2'}), /D must be a number/],
  ['huge dims overflow', (a) => ({...a, B: 2 ** 31 - 1, H: 2 ** 31 - 1, Hkv: 2 ** 31 - 1, Sq: 2 ** 31 - 1}), /too large/],
  ['Hkv not dividing H', (a) => ({...a, Hkv: 3}), /Hkv \(3\) must be a positive divisor of H \(2\)/],
  ['NaN scale', (a) => ({...a, scale: NaN}), /scale must be a finite number/],
  ['out overlaps q', (a) => ({...a, out: new Float32Array(a.q.buffer, 0, 12)}), /out shares memory with the input q/],
  ['lse overlaps out', (a) => { const buf = new Float32Array(14); return {...a, out: buf.subarray(0, 12), lse: buf.subarray(8, 14)}; }, /out and lse share memory/],
  ['mask without strides', (a) => ({...a, mask: new Uint8Array(24)}), /maskStrides must be an array of 4/],
  ['mask strides past the end', (a) => ({...a, mask: new Uint8Array(24), maskStrides: [0, 13, 4, 1]}), /mask has 24 elements but maskStrides reach element 24/],
  ['mask strides past any mask', (a) => ({...a, mask: new Uint8Array(24), maskStrides: [0, 2 ** 49, 2 ** 49, 1]}), /maskStrides reach past any possible mask/],
  ['negative mask stride', (a) => ({...a, mask: new Uint8Array(24), maskStrides: [0, 12, -4, 1]}), /maskStrides\[2\] must be a non-negative integer/],
  ['mask kind mismatch', (a) => ({...a, mask: new Uint8Array(24), maskKind: 'float', maskStrides: [0, 12, 4, 1]}), /maskKind 'float' needs mask to be a Float32Array/],
  ['mask of wrong type', (a) => ({...a, mask: new Int32Array(24), maskStrides: [0, 12, 4, 1]}), /mask must be a Uint8Array/],
  ['key padding wrong length', (a) => ({...a, keyPadding: new Uint8Array(3)}), /keyPadding has 3 elements, expected B\*Sk = 4/],
];
for (const [name, make, pattern] of BAD_SDPA) {
  test(`scaledDotProductAttention rejects: ${name}`, () => {
    assert.throws(() => (make.length === 0 ? make() : addon.scaledDotProductAttention(make(validSdpa()))), pattern);
  });
}

test('scaledDotProductAttentionGrad rejects a dMask without a float mask and wrong gradient sizes', () => {
  const a = validSdpa();
  const g = {dOut: new Float32Array(12), dQ: new Float32Array(12), dK: new Float32Array(16), dV: new Float32Array(16)};
  assert.throws(() => addon.scaledDotProductAttentionGrad({...a, ...g, dMask: new Float32Array(24)}), /dMask needs a float mask/);
  assert.throws(() => addon.scaledDotProductAttentionGrad({...a, ...g, dK: new Float32Array(15)}), /dK has 15 elements, expected B\*Hkv\*Sk\*D = 16/);
  assert.throws(() => addon.scaledDotProductAttentionGrad({...a, ...g, lse: undefined}), /lse is required/);
});

test('packWeight / encoder weight handles are validated', () => {
  assert.throws(() => addon.packWeight(new Float32Array(6), 2, 4), /weight has 6 elements, expected rows\*cols = 8/);
  assert.throws(() => addon.packWeight([1, 2], 1, 2), /expected \(weight: Float32Array, rows, cols\)/);
  assert.throws(() => addon.packWeight({weight: new Float32Array(6), rows: 2, cols: 4}), /weight has 6 elements/);
  assert.strictEqual(typeof addon.packWeight({weight: new Float32Array(8), rows: 2, cols: 4}), 'object');
  assert.throws(() => addon.packWeight(new Float32Array(2), 0, 2), /rows must be a positive integer/);
  const E = 8, L = randomLayer(E, 2, 8, {});
  const base = {...L, x: new Float32Array(E), out: new Float32Array(E), B: 1, S: 1, E};
  assert.throws(() => addon.transformerEncoderLayer({...base, wo: {}}), /wo must be a weight handle from packWeight\(\) or a Float32Array/);
  assert.throws(() => addon.transformerEncoderLayer({...base, wo: addon.packWeight(L.w1, 8, 8), w1: addon.packWeight(new Float32Array(16), 2, 8)}), /w1 is a packed \[2, 8\] weight, expected \[8, \*\]/);
  const handle = addon.packWeight(L.wo, E, E);
  addon.releaseWeight(handle);
  assert.throws(() => addon.transformerEncoderLayer({...base, wo: handle}), /wo was released/);
  assert.throws(() => addon.releaseWeight({}), /handle must be a weight handle/);
  assert.throws(() => addon.transformerEncoderLayer({...base, numHeads: 3}), /numHeads \(3\) must divide E \(8\)/);
  assert.throws(() => addon.transformerEncoderLayer({...base, numHeads: 0}), /transformerEncoderLayer: numHeads \(0\) must divide E \(8\)/);
  assert.throws(() => addon.transformerEncoderStack({...base, layers: [{...L, numHeads: 3}]}), /transformerEncoderStack: layers\[0\]\.numHeads \(3\) must divide E \(8\)/);
  assert.throws(() => addon.transformerEncoderLayer({...base, E: 0, x: new Float32Array(0), out: new Float32Array(0)}), /E \(0\) must be at least 1/);
  assert.throws(() => addon.transformerEncoderLayer({...base, activation: 'swish'}), /activation must be 'gelu'/);
  assert.throws(() => addon.transformerEncoderLayer({...base, wq: L.wo}), /give either wqkv or wq\/wk\/wv/);
  assert.throws(() => addon.transformerEncoderLayer({...base, w2: new Float32Array(63)}), /w2 has 63 elements, expected 8\*8 = 64/);
  assert.throws(() => addon.transformerEncoderLayer({...base, x: new Float32Array(7)}), /x has 7 elements, expected B\*S\*E = 8/);
  assert.throws(() => addon.transformerEncoderLayer({...base, out: base.x}), /out shares memory with the input x/);
  assert.throws(() => addon.transformerEncoderStack({...base, layers: [{...L, ln1Eps: -1}]}), /layers\[0\]\.ln1Eps must be a finite number >= 0/);
  assert.throws(() => addon.transformerEncoderStack({...base, layers: 'x'}), /layers must be an array/);
});

test('encoder T5 arguments are validated by name', () => {
  const E = 8, H = 2, F = 12, L = randomT5Layer(E, H, F);
  const base = {...L, x: new Float32Array(2 * 3 * E), out: new Float32Array(2 * 3 * E), B: 2, S: 3, E};
  const bias = (n) => new Float32Array(n);
  assert.throws(() => addon.transformerEncoderLayer({...base, normKind: 'batch'}), /transformerEncoderLayer: normKind must be 'layer' or 'rms', got 'batch'/);
  assert.throws(() => addon.transformerEncoderLayer({...base, ln1Beta: new Float32Array(E)}), /ln1Beta: an RMSNorm has no beta/);
  assert.throws(() => addon.transformerEncoderStack({...base, layers: [{...L, ln2Beta: new Float32Array(E)}]}), /layers\[0\]\.ln2Beta: an RMSNorm has no beta/);
  assert.throws(() => addon.transformerEncoderLayer({...base, wgate: undefined}), /wgate is required/);
  assert.throws(() => addon.transformerEncoderLayer({...base, wgate: new Float32Array(E * E)}), /wgate has 64 elements, expected 8\*12 = 96/);
  assert.throws(() => addon.transformerEncoderLayer({...base, wgate: addon.packWeight(new Float32Array(E * E), E, E)}), /wgate is a packed \[8, 8\] weight, expected \[8, 12\]/);
  assert.throws(() => addon.transformerEncoderLayer({...base, bgate: new Float32Array(F + 1)}), /bgate has 13 elements, expected F \(columns of w1\) = 12/);
  assert.throws(() => addon.transformerEncoderLayer({...base, gatedMlp: false}), /wgate is given but gatedMlp is false/);
  assert.throws(() => addon.transformerEncoderLayer({...base, gatedMlp: false, wgate: undefined, bgate: new Float32Array(F)}), /bgate is given but gatedMlp is false/);
  assert.throws(() => addon.transformerEncoderLayer({...base, attentionBias: bias(H * 9 + 1)}), /attentionBias has 19 elements, expected H\*S\*S = 18 \(\[1, H, S, S\]\) or B\*H\*S\*S = 36/);
  assert.throws(() => addon.transformerEncoderLayer({...base, attentionBias: [0, 1]}), /attentionBias must be a Float32Array/);
  assert.throws(() => addon.transformerEncoderLayer({...base, attentionBias: base.out.subarray(0, 18)}), /out shares memory with the input attentionBias/);
  assert.throws(() => addon.transformerEncoderStack({...base, attentionBias: bias(18), layers: [L, {...L, numHeads: 4}]}),
                /attentionBias needs the same numHeads in every layer \(layers\[0\] has 2, layers\[1\] 4\)/);
  addon.transformerEncoderStack({...base, layers: [L, {...L, numHeads: 4}]});  // no bias: head counts may differ
  addon.transformerEncoderLayer({...base, attentionBias: bias(18)});
  addon.transformerEncoderLayer({...base, attentionBias: bias(36)});
  addon.transformerEncoderLayer({...base, B: 0, x: new Float32Array(0), out: new Float32Array(0), attentionBias: bias(0)});
});

// ---- decoding entry points: argument errors name the argument; nothing is written before they throw ----
test('rmsNorm and rotaryEmbedding reject bad arguments by name', () => {
  const x = randomFloats(6), out = new Float32Array(6);
  const rms = {x, rows: 2, cols: 3, out};
  assert.throws(() => addon.rmsNorm(), /rmsNorm: expected one options object/);
  assert.throws(() => addon.rmsNorm({...rms, x: randomFloats(5)}), /rmsNorm: x has 5 elements, expected rows\*cols = 6/);
  assert.throws(() => addon.rmsNorm({...rms, gamma: randomFloats(2)}), /rmsNorm: gamma has 2 elements, expected cols = 3/);
  assert.throws(() => addon.rmsNorm({...rms, eps: NaN}), /rmsNorm: eps must be a finite float32 number/);
  assert.throws(() => addon.rmsNorm({...rms, cols: -1}), /rmsNorm: cols must be an integer/);
  assert.throws(() => addon.rmsNorm({...rms, out: x}), /rmsNorm: out shares memory with the input x/);

  const B = 1, H = 2, S = 3, D = 8, {cos, sin} = rotaryTables(4, 4);
  const rot = {x: randomFloats(B * H * S * D), positions: Int32Array.from([0, 1, 3]), B, H, S, D, rotaryDim: 4, cos, sin,
    out: new Float32Array(B * H * S * D)};
  addon.rotaryEmbedding(rot);
  assert.throws(() => addon.rotaryEmbedding({...rot, rotaryDim: 3}), /rotaryEmbedding: rotaryDim must be even and at most the head size 8/);
  assert.throws(() => addon.rotaryEmbedding({...rot, rotaryDim: 10}), /rotaryDim must be even and at most the head size 8/);
  assert.throws(() => addon.rotaryEmbedding({...rot, cos: cos.subarray(1)}), /rotaryEmbedding: cos has 7 elements, not a positive multiple of rotaryDim\/2 = 2/);
  assert.throws(() => addon.rotaryEmbedding({...rot, sin: sin.subarray(2)}), /rotaryEmbedding: sin has 6 elements, expected cos\.length = 8/);
  assert.throws(() => addon.rotaryEmbedding({...rot, positions: Int32Array.from([0, 4, 1])}), /rotaryEmbedding: positions\[1\] = 4 is outside the cos\/sin tables' 4 rows/);
  assert.throws(() => addon.rotaryEmbedding({...rot, positions: Int32Array.from([0, -1, 1])}), /positions\[1\] = -1 is outside/);
  assert.throws(() => addon.rotaryEmbedding({...rot, positions: new Float32Array(3)}), /rotaryEmbedding: positions must be an? Int32Array/);
  assert.throws(() => addon.rotaryEmbedding({...rot, positions: new Int32Array(2)}), /positions has 2 elements, expected B\*S = 3/);
  assert.throws(() => addon.rotaryEmbedding({...rot, interleaved: 1}), /rotaryEmbedding: interleaved must be a boolean/);
});

/** A copy of the outputs `names` of `args` (plain data fields only), and a check that they were not written. */
function unchanged(args, names) {
  const copies = names.map((name) => {
    const d = Object.getOwnPropertyDescriptor(args, name);
    return d && 'value' in d && ArrayBuffer.isView(d.value) && d.value.length ? [name, d.value, d.value.slice()] : null;
  }).filter(Boolean);
  return {check: (what) => {
    for (const [name, array, copy] of copies) {
      assert.ok(array.every((x, i) => Object.is(x, copy[i])), `${name} is untouched after ${what}`);
    }
  }};
}

test('attentionWithKVCache rejects bad arguments by name, before anything is written', () => {
  const B = 2, H = 4, Hkv = 2, N = 2, C = 5, D = 4;
  const base = () => ({B, H, Hkv, N, C, D, q: randomFloats(B * H * N * D), k: randomFloats(B * Hkv * N * D),
    v: randomFloats(B * Hkv * N * D), keyCache: new Float32Array(B * Hkv * C * D).fill(7),
    valueCache: new Float32Array(B * Hkv * C * D).fill(7), pastLengths: Int32Array.from([3, 0]),
    newLengths: Int32Array.from([2, 1]), out: new Float32Array(B * H * N * D).fill(7), lengths: new Int32Array(B).fill(7)});
  addon.attentionWithKVCache(base());
  const rejects = (change, pattern) => {
    const a = base();
    change(a);
    const before = unchanged(a, ['keyCache', 'valueCache', 'out', 'lengths']);
    assert.throws(() => addon.attentionWithKVCache(a), pattern);
    before.check(pattern);
  };
  rejects((a) => { a.pastLengths[0] = 4; }, /attentionWithKVCache: pastLengths\[0\] \+ newLengths\[0\] = 6 exceeds the cache capacity C = 5/);
  rejects((a) => { a.pastLengths[1] = -1; }, /attentionWithKVCache: pastLengths\[1\] = -1 is negative/);
  rejects((a) => { a.newLengths[1] = 3; }, /attentionWithKVCache: newLengths\[1\] = 3 is outside \[0, N = 2\]/);
  rejects((a) => { a.newLengths[0] = -1; }, /newLengths\[0\] = -1 is outside \[0, N = 2\]/);
  rejects((a) => { a.pastLengths[0] = 2 ** 31 - 1; }, /pastLengths\[0\] \+ newLengths\[0\] = 2147483649 exceeds the cache capacity C = 5/);
  rejects((a) => { a.Hkv = 3; }, /attentionWithKVCache: H = 4 must be a multiple of Hkv = 3/);
  rejects((a) => { a.keyCache = new Float32Array(B * Hkv * (C - 1) * D); }, /attentionWithKVCache: keyCache has 64 elements, expected B\*Hkv\*C\*D = 80/);
  rejects((a) => { a.v = randomFloats(8); }, /attentionWithKVCache: v has 8 elements, expected B\*Hkv\*N\*Dv = 32/);
  rejects((a) => { a.pastLengths = new Int32Array(1); }, /attentionWithKVCache: pastLengths has 1 elements, expected B = 2/);
  rejects((a) => { a.lengths = new Float32Array(2); }, /attentionWithKVCache: lengths must be an? Int32Array/);
  rejects((a) => { a.scale = Infinity; }, /attentionWithKVCache: scale must be a finite float32 number/);
  rejects((a) => { a.valueCache = a.keyCache; }, /attentionWithKVCache: keyCache and valueCache share memory/);
  rejects((a) => { a.out = new Float32Array(a.keyCache.buffer, 0, B * H * N * D); }, /keyCache and out share memory/);
  rejects((a) => { a.q = new Float32Array(a.keyCache.buffer, 4 * D, B * H * N * D); }, /keyCache shares memory with the input q/);
  rejects((a) => { a.lengths = a.pastLengths; }, /lengths shares memory with the input pastLengths/);
  rejects((a) => { delete a.C; }, /attentionWithKVCache: C is required/);
});

test('transformerDecoderStack rejects bad arguments by name, before anything is written', () => {
  const model = randomDecoderModel({position: 'learned', rows: 6, positionOffset: 2});
  const B = 2, N = 3, C = 6, L = 1, Hkv = model.H, D = model.D, V = model.vocabSize;
  const base = () => ({model: {...model, layers: model.layers.map((l) => ({...l}))}, inputIds: Int32Array.from([1, 2, 3, 4, -9, -9]),
    pastLengths: Int32Array.from([0, 2]), newLengths: Int32Array.from([3, 1]), B, N, C,
    keyCache: new Float32Array(L * B * Hkv * C * D).fill(7), valueCache: new Float32Array(L * B * Hkv * C * D).fill(7),
    logits: new Float32Array(B * V).fill(7), lengths: new Int32Array(B).fill(7)});
  addon.transformerDecoderStack(base());
  const rejects = (change, pattern) => {
    const a = base();
    change(a);
    const before = unchanged(a, ['keyCache', 'valueCache', 'logits', 'lengths']);
    assert.throws(() => addon.transformerDecoderStack(a), pattern);
    before.check(pattern);
  };
  rejects((a) => { a.inputIds[1] = V; }, new RegExp(`transformerDecoderStack: inputIds\\[0, 1\\] = ${V} is outside the vocabulary \\[0, ${V}\\)`));
  rejects((a) => { a.inputIds[3] = -1; }, /inputIds\[1, 0\] = -1 is outside the vocabulary/);
  rejects((a) => { a.pastLengths[1] = 6; }, /transformerDecoderStack: pastLengths\[1\] \+ newLengths\[1\] = 7 exceeds the cache capacity C = 6/);
  rejects((a) => { a.pastLengths[0] = -2; }, /transformerDecoderStack: pastLengths\[0\] = -2 is negative/);
  rejects((a) => { a.newLengths[0] = 4; }, /transformerDecoderStack: newLengths\[0\] = 4 is outside \[0, N = 3\]/);
  // 8 rows of learned positions from offset 2: positions 0..5.
  rejects((a) => { a.model.positionOffset = 6; }, /transformerDecoderStack: position 2 of sequence 0 is past the 2 learned positions/);
  rejects((a) => { a.model.positionEmbeddings = a.model.positionEmbeddings.subarray(0, 5 * model.E); a.pastLengths[1] = 3; },
      /transformerDecoderStack: position 3 of sequence 1 is past the 3 learned positions/);
  rejects((a) => {
    const {cos, sin} = rotaryTables(4, model.D);
    Object.assign(a.model, {positionEmbeddings: undefined, rotaryDim: model.D, rotaryCos: cos, rotarySin: sin});
    a.pastLengths[1] = 4;
  }, /transformerDecoderStack: position 4 of sequence 1 is past the rotary tables' 4 rows/);
  rejects((a) => { delete a.model; }, /transformerDecoderStack: model must be an object/);
  rejects((a) => { a.model.layers[0].wo = randomFloats(5); }, /transformerDecoderStack: model\.layers\[0\]\.wo has 5 elements, expected 16\*16/);
  rejects((a) => { a.model.layers[0].wo = addon.packWeight(randomFloats(16 * 8), 16, 8); }, /model\.layers\[0\]\.wo is a packed \[16, 8\] weight, expected \[16, 16\]/);
  rejects((a) => { a.model.layers = {}; }, /transformerDecoderStack: model.layers must be an array/);
  rejects((a) => { a.model.normKind = 'batch'; }, /transformerDecoderStack: model.normKind must be 'layer' or 'rms', got 'batch'/);
  rejects((a) => { a.model.normKind = 'rms'; }, /model\.layers\[0\]\.norm[12]Beta: an RMSNorm has no beta/);
  rejects((a) => { a.model.layers[0].wgate = randomFloats(16 * 24); }, /model\.layers\[0\]\.wgate is given but gatedMlp is false/);
  rejects((a) => { a.model.activation = 'swish'; }, /activation must be 'gelu', 'gelu_tanh', 'relu' or 'silu', got 'swish'/);
  rejects((a) => { a.model.Hkv = 3; }, /transformerDecoderStack: model.H = \d+ must be a multiple of model.Hkv = 3/);
  rejects((a) => { a.model.rotaryDim = 3; a.model.rotaryCos = randomFloats(3); a.model.rotarySin = randomFloats(3); }, /model\.rotaryDim must be even and at most the head size 4/);
  rejects((a) => { a.logits = new Float32Array(B * N * V); }, /transformerDecoderStack: logits has \d+ elements, expected B\*vocabSize = \d+/);
  rejects((a) => { a.logitsRows = 'first'; }, /logitsRows must be 'last' or 'all', got 'first'/);
  rejects((a) => { a.keyCache = new Float32Array(5); }, /transformerDecoderStack: keyCache has 5 elements, expected layers\*B\*Hkv\*C\*D = \d+/);
  rejects((a) => { a.valueCache = a.keyCache; }, /keyCache and valueCache share memory/);
  rejects((a) => { a.logits = new Float32Array(a.valueCache.buffer, 4, B * V); }, /valueCache and logits share memory/);
  rejects((a) => { a.keyCache = new Float32Array(a.model.layers[0].wup.buffer, 0, a.keyCache.length); }, /keyCache shares memory with the input model\.layers\[0\]\.wup/);
  rejects((a) => { a.logits = new Float32Array(a.model.wordEmbeddings.buffer, 4, B * V); }, /logits shares memory with the input model\.wordEmbeddings/);
  rejects((a) => { a.lengths = new Int32Array(a.newLengths.buffer); }, /lengths shares memory with the input newLengths/);
  rejects((a) => { a.model.lmHead = randomFloats(3); }, /model\.lmHead has 3 elements/);
  rejects((a) => { a.model.wordEmbeddings = randomFloats(3); }, /transformerDecoderStack: model\.wordEmbeddings has 3 elements, expected vocabSize\*E/);
  // A bfloat16 handle released before the call, and one released by a getter while later arguments are read.
  const handle = addon.packWeightBf16(model.layers[0].wo, 16, 16);
  addon.releaseWeight(handle);
  rejects((a) => { a.model.layers[0].wo = handle; }, /model\.layers\[0\]\.wo was released with releaseWeight\(\)/);
  rejects((a) => {
    const live = addon.packWeightBf16(model.layers[0].wup, 16, 24);
    a.model.layers[0].wup = live;
    const logits = a.logits;
    let released = false;
    Object.defineProperty(a, 'logits', {enumerable: true, get() {
      if (!released) addon.releaseWeight(live);
      released = true;
      return logits;
    }});
  }, /transformerDecoderStack: model\.layers\[0\]\.wup was released/);
  rejects((a) => {
    const rab = new ArrayBuffer(a.keyCache.byteLength, {maxByteLength: a.keyCache.byteLength});
    a.keyCache = new Float32Array(rab).fill(7);
    const lengths = a.lengths;
    Object.defineProperty(a, 'lengths', {enumerable: true, get() { if (rab.byteLength) rab.resize(0); return lengths; }});
  }, /keyCache changed \(detached or resized\) while the arguments were read/);
});

test('transformerDecoderStack rejects bad encoder-decoder arguments by name, before anything is written', () => {
  const model = randomSeq2SeqModel({layers: 1, packedQkv: false, positionBias: true, P: 4, position: 'none'});
  const B = 2, N = 2, C = 6, S = 3, Hkv = model.H, D = model.D, V = model.vocabSize, E = model.E;
  const base = () => ({model: {...model, layers: model.layers.map((l) => ({...l}))}, inputIds: Int32Array.from([1, 2, 3, -9]),
    pastLengths: Int32Array.from([0, 1]), newLengths: Int32Array.from([2, 1]), B, N, C,
    keyCache: new Float32Array(B * Hkv * C * D).fill(7), valueCache: new Float32Array(B * Hkv * C * D).fill(7),
    logits: new Float32Array(B * V).fill(7), lengths: new Int32Array(B).fill(7), S,
    crossKeyCache: new Float32Array(B * Hkv * S * D).fill(7), crossValueCache: new Float32Array(B * Hkv * S * D).fill(7),
    encoderStates: randomFloats(B * S * E), sourceMask: Int32Array.from([1, 0, 1, 0, 1, 1])});
  addon.transformerDecoderStack(base());
  const rejects = (change, pattern) => {
    const a = base();
    change(a);
    const before = unchanged(a, ['keyCache', 'valueCache', 'logits', 'lengths', 'crossKeyCache', 'crossValueCache']);
    assert.throws(() => addon.transformerDecoderStack(a), pattern);
    before.check(pattern);
  };
  rejects((a) => { a.sourceMask[3] = 0; a.sourceMask[4] = 0; a.sourceMask[5] = 0; },
      /transformerDecoderStack: sourceMask row 1 has no real source token/);
  rejects((a) => { a.sourceMask = new Int32Array(5).fill(1); }, /transformerDecoderStack: sourceMask has 5 elements, expected B\*S = 6/);
  rejects((a) => { a.sourceMask = new Uint8Array(6).fill(1); }, /transformerDecoderStack: sourceMask must be an? Int32Array/);
  rejects((a) => { a.crossKeyCache = new Float32Array(5); }, /crossKeyCache has 5 elements, expected layers\*B\*Hkv\*S\*D = \d+/);
  rejects((a) => { delete a.crossValueCache; }, /transformerDecoderStack: crossValueCache is required/);
  rejects((a) => { a.encoderStates = randomFloats(7); }, /encoderStates has 7 elements, expected B\*S\*E = \d+/);
  rejects((a) => { delete a.S; }, /transformerDecoderStack: S is required/);
  rejects((a) => { a.S = 0; a.crossKeyCache = a.crossValueCache = new Float32Array(0); }, /S must be positive/);
  rejects((a) => { a.crossValueCache = a.crossKeyCache; }, /crossKeyCache and crossValueCache share memory/);
  rejects((a) => { a.crossKeyCache = new Float32Array(a.encoderStates.buffer, 0, a.crossKeyCache.length); },
      /crossKeyCache shares memory with the input encoderStates/);
  rejects((a) => { delete a.model.layers[0].wck; }, /model\.layers\[0\]\.wck is required/);
  rejects((a) => { a.model.layers[0].wco = randomFloats(3); }, /model\.layers\[0\]\.wco has 3 elements/);
  rejects((a) => { a.model.layers[0].bcq = randomFloats(3); }, /model\.layers\[0\]\.bcq has 3 elements, expected H D/);
  rejects((a) => { a.model.crossAttention = false; }, /model\.layers\[0\]\.crossNormGamma is given but model\.crossAttention is false/);
  rejects((a) => { a.model = {...a.model, crossAttention: false, layers: model.layers.map(({crossNormGamma, crossNormBeta,
    crossNormEps, wcq, wck, wcv, wco, bcq, bck, bcv, bco, ...l}) => l)}; }, /S is given but model\.crossAttention is false/);
  rejects((a) => { a.model.parallel = true; }, /model\.crossAttention cannot be used with model\.parallel layers/);
  rejects((a) => { a.pastLengths[1] = 4; }, /transformerDecoderStack: position 4 of sequence 1 is past model\.positionBias's 4 distances/);
  rejects((a) => { a.model.positionBias = randomFloats(3); }, /model\.positionBias has 3 elements, expected H\*positionBiasRows/);
  rejects((a) => { delete a.model.positionBiasRows; }, /model\.positionBiasRows is required/);
  rejects((a) => { delete a.model.positionBias; }, /model\.positionBiasRows is given without model\.positionBias/);
  rejects((a) => { a.model.positionBiasRows = 0; a.model.positionBias = new Float32Array(0); }, /model\.positionBiasRows must be positive/);
  rejects((a) => { a.model.embeddingNormGamma = randomFloats(3); }, /model\.embeddingNormGamma has 3 elements, expected E/);
  rejects((a) => { a.model.embeddingNormGamma = randomFloats(E); a.model.hasEmbeddingNorm = false; },
      /model\.embeddingNormGamma\/Beta are given but model\.hasEmbeddingNorm is false/);
});

test('reorderCache rejects bad arguments by name, before anything is written', () => {
  const L = 1, B = 3, Hkv = 2, C = 4, D = 2;
  const base = () => ({keyCache: randomFloats(L * B * Hkv * C * D), valueCache: randomFloats(L * B * Hkv * C * D),
    lengths: Int32Array.from([1, 4, 0]), sourceRows: Int32Array.from([2, 0, 0]), layers: L, B, Hkv, C, D});
  addon.reorderCache(base());
  const rejects = (change, pattern) => {
    const a = base();
    change(a);
    const before = unchanged(a, ['keyCache', 'valueCache', 'lengths']);
    assert.throws(() => addon.reorderCache(a), pattern);
    before.check(pattern);
  };
  rejects((a) => { a.sourceRows[1] = 3; }, /reorderCache: sourceRows\[1\] = 3 is outside \[0, B = 3\)/);
  rejects((a) => { a.sourceRows[0] = -1; }, /reorderCache: sourceRows\[0\] = -1 is outside \[0, B = 3\)/);
  rejects((a) => { a.lengths[2] = 5; }, /reorderCache: lengths\[2\] = 5 is outside \[0, C = 4\]/);
  rejects((a) => { a.lengths[0] = -1; }, /reorderCache: lengths\[0\] = -1 is outside \[0, C = 4\]/);
  rejects((a) => { a.keyCache = randomFloats(5); }, /reorderCache: keyCache has 5 elements, expected layers\*B\*Hkv\*C\*D = 48/);
  rejects((a) => { a.sourceRows = new Int32Array(2); }, /reorderCache: sourceRows has 2 elements, expected B = 3/);
  rejects((a) => { a.lengths = new Float32Array(3); }, /reorderCache: lengths must be an? Int32Array/);
  rejects((a) => { a.valueCache = a.keyCache; }, /keyCache and valueCache share memory/);
  rejects((a) => { a.sourceRows = a.lengths; }, /lengths shares memory with the input sourceRows/);
  rejects((a) => { delete a.Hkv; }, /reorderCache: Hkv is required/);
});

test('packWeightBf16 rejects bad arguments by name', () => {
  assert.throws(() => addon.packWeightBf16(new Float32Array(6), 2, 4), /packWeightBf16: weight has 6 elements, expected rows\*cols = 8/);
  assert.throws(() => addon.packWeightBf16([1, 2], 1, 2), /packWeightBf16: expected \(weight: Float32Array, rows, cols, transposed\?\)/);
  assert.throws(() => addon.packWeightBf16(new Float32Array(2), 0, 2), /packWeightBf16: rows must be a positive integer/);
  assert.throws(() => addon.packWeightBf16(new Float32Array(2), 1, '2'), /packWeightBf16: cols must be a number/);
  assert.throws(() => addon.packWeightBf16(new Float32Array(2), 1, 2, 1), /packWeightBf16: transposed must be a boolean/);
});

test('concurrent calls from worker threads are safe', async () => {
  const source = `
    const {parentPort, workerData} = require('node:worker_threads');
    const addon = require(workerData.path);
    const n = 2 * 4 * 70 * 32, q = new Float32Array(n).map((_, i) => Math.sin(i));
    const out = new Float32Array(n);
    for (let r = 0; r < 20; r++) addon.scaledDotProductAttention({q, k: q, v: q, out, B: 2, H: 4, Sq: 70, Sk: 70, D: 32});
    parentPort.postMessage(Array.from(out.subarray(0, 64)));`;
  const run = () => new Promise((resolve, reject) => {
    const worker = new Worker(source, {eval: true, workerData: {path: ADDON_PATH}});
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const results = await Promise.all([run(), run(), run()]);
  assert.deepStrictEqual(results[1], results[0]);
  assert.deepStrictEqual(results[2], results[0]);
});

if (!process.env.BTK_TEST_CHILD) {
  const best = addon.info().isa;
  for (const isa of ISAS.filter((name) => name !== best && ISAS.indexOf(name) <= ISAS.indexOf(best))) {
    test(`the whole suite passes with TFJS_BT_ISA=${isa}`, () => {
      // Without NODE_TEST_CONTEXT: `node --test` inside a test file's process (which has it set) skips
      // running files and exits 0, so the child would have tested nothing.
      const {NODE_TEST_CONTEXT, ...env} = process.env;
      const child = spawnSync(process.execPath, ['--test', __filename], {
        env: {...env, TFJS_BT_ISA: isa, BTK_TEST_CHILD: '1'},
        encoding: 'utf8',
      });
      assert.strictEqual(child.status, 0, child.stdout + child.stderr);
      assert.match(child.stdout, /^# pass [1-9]\d*$/m, `the child ran no tests:\n${child.stdout}${child.stderr}`);
      assert.match(child.stdout, /^# fail 0$/m);
    });
  }
} else {
  test('the forced ISA is the one running', () => assert.strictEqual(addon.info().isa, process.env.TFJS_BT_ISA));
}

test('arguments changed by getters while being read are caught', () => {
  const E = 8, L = randomLayer(E, 2, 8, {});
  const handle = addon.packWeight(L.wo, E, E);
  const layer = {...L, x: new Float32Array(E), out: new Float32Array(E), B: 1, S: 1, E, wo: handle};
  let released = false;
  Object.defineProperty(layer, 'x', {get() { if (!released) addon.releaseWeight(handle); released = true; return new Float32Array(E); }});
  assert.throws(() => addon.transformerEncoderLayer(layer), /wo was released/);
  const buffer = new ArrayBuffer(48), q = new Float32Array(buffer);
  const options = {q, k: new Float32Array(12), v: new Float32Array(12), B: 1, H: 1, Sq: 3, Sk: 3, D: 4};
  Object.defineProperty(options, 'out', {get() { if (buffer.byteLength) structuredClone(buffer, {transfer: [buffer]}); return new Float32Array(12); }});
  assert.throws(() => addon.scaledDotProductAttention(options), /q changed \(detached or resized\)/);
});

test('a resizable ArrayBuffer shrunk by a later getter is caught, on every entry point', () => {
  const n = 1 << 16;
  const shrinking = () => {
    const rab = new ArrayBuffer(4 * n, {maxByteLength: 8 * n});
    return {rab, array: new Float32Array(rab)};
  };
  {
    const {rab, array} = shrinking();
    const args = {M: n, K: 1, w: new Float32Array([2]), x: array};
    Object.defineProperty(args, 'out', {enumerable: true, get() { rab.resize(0); return new Float32Array(n); }});
    assert.throws(() => addon.linear(args), /x changed \(detached or resized\)/);
  }
  {
    // A length-tracking view: its length follows the buffer.
    const rab = new ArrayBuffer(4 * n, {maxByteLength: 8 * n});
    const args = {M: n, K: 1, w: new Float32Array([2]), x: new Float32Array(rab, 0, n)};
    Object.defineProperty(args, 'out', {enumerable: true, get() { rab.resize(4); return new Float32Array(n); }});
    assert.throws(() => addon.linear(args), /x changed \(detached or resized\)/);
  }
  {
    const B = 1, H = 2, Sq = 64, Sk = 64, D = 8, size = B * H * Sq * D;
    const {rab, array} = (() => { const r = new ArrayBuffer(4 * size, {maxByteLength: 4 * size}); return {rab: r, array: new Float32Array(r)}; })();
    const args = {B, H, Sq, Sk, D, q: array, k: randomFloats(size), v: randomFloats(size), out: randomFloats(size),
      lse: randomFloats(B * H * Sq), dOut: randomFloats(size), dK: new Float32Array(size), dV: new Float32Array(size)};
    Object.defineProperty(args, 'dQ', {enumerable: true, get() { rab.resize(0); return new Float32Array(size); }});
    assert.throws(() => addon.scaledDotProductAttentionGrad(args), /q changed \(detached or resized\)/);
  }
  {
    const E = 8, L = randomLayer(E, 2, 8, {});
    const rab = new ArrayBuffer(4 * 4 * E, {maxByteLength: 4 * 4 * E});
    const layer = {...L, x: new Float32Array(rab), B: 1, S: 4, E};
    Object.defineProperty(layer, 'out', {enumerable: true, get() { rab.resize(0); return new Float32Array(4 * E); }});
    assert.throws(() => addon.transformerEncoderLayer(layer), /x changed \(detached or resized\)/);
  }
});

test('SharedArrayBuffer-backed arrays are read like any other', () => {
  const shared = f => { const a = new Float32Array(new SharedArrayBuffer(4 * f.length)); a.set(f); return a; };
  const B = 1, H = 2, Sq = 5, Sk = 7, D = 4, q = randomFloats(B * H * Sq * D), k = randomFloats(B * H * Sk * D), v = randomFloats(B * H * Sk * D);
  const plain = new Float32Array(B * H * Sq * D), viaShared = shared(new Float32Array(B * H * Sq * D));
  addon.scaledDotProductAttention({B, H, Sq, Sk, D, q, k, v, out: plain});
  addon.scaledDotProductAttention({B, H, Sq, Sk, D, q: shared(q), k: shared(k), v: shared(v), out: viaShared});
  assert.deepStrictEqual(Array.from(viaShared), Array.from(plain));
  const E = 8, L = randomLayer(E, 2, 16, {}), x = randomFloats(3 * E);
  const want = new Float32Array(3 * E), got = shared(new Float32Array(3 * E));
  addon.transformerEncoderLayer({...L, x, out: want, B: 1, S: 3, E});
  const sharedLayer = Object.fromEntries(Object.entries(L).map(([key, value]) => [key, value instanceof Float32Array ? shared(value) : value]));
  addon.transformerEncoderLayer({...sharedLayer, x: shared(x), out: got, B: 1, S: 3, E});
  assert.deepStrictEqual(Array.from(got), Array.from(want));
});

test('empty problems with masks run (zero-length arrays may have no address)', () => {
  const run = (extra, dims) => {
    const {B, H, Sq, Sk, D} = dims, out = new Float32Array(B * H * Sq * D);
    addon.scaledDotProductAttention({B, H, Sq, Sk, D, q: new Float32Array(B * H * Sq * D).fill(1),
      k: new Float32Array(B * H * Sk * D), v: new Float32Array(B * H * Sk * D), out, ...extra});
    return out;
  };
  assert.ok(run({mask: new Float32Array(0), maskStrides: [0, 0, 0, 1]}, {B: 1, H: 2, Sq: 4, Sk: 0, D: 8}).every(x => x === 0));
  assert.ok(run({mask: new Uint8Array(0), maskStrides: [0, 0, 0, 1]}, {B: 1, H: 2, Sq: 4, Sk: 0, D: 8}).every(x => x === 0));
  assert.strictEqual(run({mask: new Float32Array(0), maskStrides: [0, 0, 0, 1], keyPadding: new Uint8Array(0)},
      {B: 0, H: 2, Sq: 4, Sk: 5, D: 8}).length, 0);
  assert.strictEqual(run({mask: new Uint8Array(0), maskStrides: [0, 0, 5, 1]}, {B: 1, H: 2, Sq: 0, Sk: 5, D: 8}).length, 0);
  // The backward pass of an empty float mask writes an empty mask gradient.
  const B = 1, H = 2, Sq = 4, Sk = 0, D = 8;
  addon.scaledDotProductAttentionGrad({B, H, Sq, Sk, D, q: new Float32Array(B * H * Sq * D), k: new Float32Array(0),
    v: new Float32Array(0), out: new Float32Array(B * H * Sq * D), lse: new Float32Array(B * H * Sq).fill(-Infinity),
    dOut: new Float32Array(B * H * Sq * D), dQ: new Float32Array(B * H * Sq * D), dK: new Float32Array(0), dV: new Float32Array(0),
    mask: new Float32Array(0), maskStrides: [0, 0, 0, 1], dMask: new Float32Array(0)});
});

test('sizes whose products overflow int64 and arrays that grow while read are refused', () => {
  const big = 2 ** 31 - 1;
  assert.throws(() => addon.linear({M: 1, K: big, w: new Float32Array(4), x: new Float32Array(0), out: new Float32Array(0)}),
      RangeError);
  const E = 8, layer = randomLayer(E, 2, 8, {});
  assert.throws(() => addon.transformerEncoderLayer({...layer, numHeads: 1, wqkv: new Float32Array(3), E: big, B: 0, S: 0,
    x: new Float32Array(0), out: new Float32Array(0)}), RangeError);
  // An array that grows while its entries are read is read to the length it had (a Proxy is refused outright).
  const first = randomLayer(E, 2, 8, {}), extra = randomLayer(E, 2, 8, {});
  const growing = [undefined];
  Object.defineProperty(growing, 0, {enumerable: true, get() { for (let i = 0; i < 3; i++) growing.push(extra); return first; }});
  const x = randomFloats(E), once = new Float32Array(E), got = new Float32Array(E);
  addon.transformerEncoderStack({x, out: once, B: 1, S: 1, E, layers: [first]});
  addon.transformerEncoderStack({x, out: got, B: 1, S: 1, E, layers: growing});
  assert.strictEqual(growing.length, 4);
  assert.deepStrictEqual(Array.from(got), Array.from(once));
  assert.throws(() => addon.transformerEncoderStack({x, out: got, B: 1, S: 1, E, layers: new Proxy([first], {})}),
      /layers must be an array/);
});
