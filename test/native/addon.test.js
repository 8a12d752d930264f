'use strict';
// Tests of the Node-API addon (build/Release/tfjs_bt_kernels.node, built from the
// package root's binding.gyp; TFJS_BT_NATIVE_PATH selects another build, e.g. the
// sanitizer build of tools/test-sanitizers.sh) against naive JavaScript
// references, plus argument validation. Run:
//   node --test test/native/addon.test.js
// The file re-runs itself in child processes for every instruction-set path
// (TFJS_BT_ISA=avx512|avx2|scalar) the machine supports.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const {spawnSync} = require('node:child_process');
const {Worker} = require('node:worker_threads');

const ADDON_PATH = process.env.TFJS_BT_NATIVE_PATH ||
    path.join(__dirname, '..', '..', 'build', 'Release', 'tfjs_bt_kernels.node');
const addon = require(ADDON_PATH);
const ISAS = ['scalar', 'avx2', 'avx512'];

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
};
function referenceLayer(L, x, len, E) {
  const F = L.b1.length, hd = E / L.numHeads;
  let attnIn = Float64Array.from(x);
  if (L.normFirst) layerNorm(attnIn, len, E, L.ln1Gamma, L.ln1Beta, L.ln1Eps);
  const qkv = matmul(attnIn, len, E, L.wqkv, 3 * E, L.bqkv);
  const ctx = new Float64Array(len * E);
  for (let h = 0; h < L.numHeads; h++) for (let i = 0; i < len; i++) {
    const s = new Float64Array(len);
    let max = -Infinity;
    for (let j = 0; j < len; j++) {
      let dot = 0;
      for (let d = 0; d < hd; d++) dot += qkv[i * 3 * E + h * hd + d] * qkv[j * 3 * E + E + h * hd + d];
      s[j] = L.isCausal && j > i ? -Infinity : dot * (L.scale ?? 1 / Math.sqrt(hd));
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
  if (!L.normFirst) layerNorm(h1, len, E, L.ln1Gamma, L.ln1Beta, L.ln1Eps);
  const ffnIn = Float64Array.from(h1);
  if (L.normFirst) layerNorm(ffnIn, len, E, L.ln2Gamma, L.ln2Beta, L.ln2Eps);
  const u = matmul(ffnIn, len, E, L.w1, F, L.b1).map(ACTIVATIONS[L.activation]);
  const y = matmul(u, len, F, L.w2, E, L.b2).map((value, i) => value + h1[i]);
  if (!L.normFirst) layerNorm(y, len, E, L.ln2Gamma, L.ln2Beta, L.ln2Eps);
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
function referenceStack(layers, x, B, S, E, keyPadding) {
  const y = new Float64Array(B * S * E);
  for (let b = 0; b < B; b++) {
    const rows = [];
    for (let t = 0; t < S; t++) if (!keyPadding || keyPadding[b * S + t]) rows.push(t);
    let seq = new Float64Array(rows.length * E);
    rows.forEach((t, r) => seq.set(x.subarray((b * S + t) * E, (b * S + t + 1) * E), r * E));
    for (const L of layers) seq = referenceLayer(L, seq, rows.length, E);
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

test('exports one function per op, named as the op, and the building blocks', () => {
  assert.deepStrictEqual(Object.keys(addon).sort(), [
    'info', 'linear', 'packWeight', 'releaseWeight', 'scaledDotProductAttention', 'scaledDotProductAttentionGrad',
    'transformerEncoderLayer', 'transformerEncoderStack',
  ]);
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
      const child = spawnSync(process.execPath, ['--test', __filename], {
        env: {...process.env, TFJS_BT_ISA: isa, BTK_TEST_CHILD: '1'},
        encoding: 'utf8',
      });
      assert.strictEqual(child.status, 0, child.stdout + child.stderr);
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
