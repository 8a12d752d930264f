'use strict';
// Seeded fuzzing of every entry point of the Node-API addon: valid argument
// objects, then mutated — sizes (0, negative, fractional, huge, NaN, wrong
// types), arrays of the wrong length or type, views of resizable, shared,
// detached and offset buffers, getters that shrink, detach or release what an
// earlier argument holds or that throw, Proxies that lie about their contents
// or their length, bad strides and names, outputs aliasing other arrays; for the
// decoding entry points also token ids outside the vocabulary, lengths past the
// cache capacity or negative, positions past the rotary / position / position-bias
// tables, source masks without a real token, beam rows outside the batch.
// Every call must return or throw a JavaScript error; nothing may crash the
// process. Valid (unmutated) calls must return, and no call may get past the
// addon's checks only to be refused by the native core ("rejected by the native
// core"): either exits with status 1. tools/test-sanitizers.sh runs it against
// the AddressSanitizer + UBSan build, where any report aborts.
//
//   node test/native/fuzz_addon.js [calls] [seed]      (default 20000 calls, seed 1)
// TFJS_BT_NATIVE_PATH selects the addon build (default build/Release at the package root).
const path = require('node:path');
const {types} = require('node:util');

const ADDON_PATH = process.env.TFJS_BT_NATIVE_PATH ||
    path.join(__dirname, '..', '..', 'build', 'Release', 'tfjs_bt_kernels.node');
const addon = require(ADDON_PATH);
const CALLS = Number(process.argv[2] || 20000);
let state = Number(process.argv[3] || 1) >>> 0;

// mulberry32: the same stream for the same seed, so a failure can be replayed.
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = list => list[Math.floor(random() * list.length)];
const floats = n => Float32Array.from({length: n}, () => random() * 2 - 1);
const ints = (n, lo, hi) => Int32Array.from({length: n}, () => int(lo, hi));

const BAD_NUMBERS = [-1, 0, 1, 2, 3, 1.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53, -0, NaN, Infinity, -Infinity, '3', null,
  undefined, {}, [], true, 1e300, -1e300, 5e-324];

// ---- valid arguments for each entry point (small sizes) ----
function sdpaArgs(grad) {
  const B = int(0, 2), Hkv = int(1, 2), H = Hkv * int(1, 2), Sq = int(0, 5), Sk = int(0, 5), D = int(1, 4), Dv = int(0, 4);
  const a = {B, H, Hkv, Sq, Sk, D, Dv, scale: random(), causal: random() < 0.5,
    q: floats(B * H * Sq * D), k: floats(B * Hkv * Sk * D), v: floats(B * Hkv * Sk * Dv), out: new Float32Array(B * H * Sq * Dv),
    lse: new Float32Array(B * H * Sq)};
  const maskChoice = int(0, 2);
  if (maskChoice > 0) {
    a.mask = maskChoice === 1 ? new Uint8Array(B * H * Sq * Sk).map(() => int(0, 1)) : floats(B * H * Sq * Sk);
    a.maskStrides = [H * Sq * Sk, Sq * Sk, Sk, 1];
  }
  if (random() < 0.5) a.keyPadding = new Uint8Array(B * Sk).map(() => int(0, 1));
  if (grad) {
    a.dOut = floats(a.out.length);
    a.dQ = new Float32Array(a.q.length);
    a.dK = new Float32Array(a.k.length);
    a.dV = new Float32Array(a.v.length);
    if (a.mask instanceof Float32Array && random() < 0.5) a.dMask = new Float32Array(a.mask.length);
  }
  return a;
}

function layerArgs(E, heads = pick([1, E].filter(h => E % h === 0))) {
  const F = int(1, 8);
  const layer = {numHeads: heads, wo: floats(E * E), bo: floats(E), w1: floats(E * F), b1: floats(F), w2: floats(F * E),
    b2: floats(E), ln1Gamma: floats(E), ln1Beta: floats(E), ln2Gamma: floats(E), ln2Beta: floats(E),
    activation: pick(['gelu', 'gelu_tanh', 'relu', 'silu']), normFirst: random() < 0.5, isCausal: random() < 0.5};
  if (random() < 0.5) Object.assign(layer, {wqkv: floats(E * 3 * E), bqkv: floats(3 * E)});
  else Object.assign(layer, {wq: floats(E * E), wk: floats(E * E), wv: floats(E * E), bq: floats(E), bk: floats(E), bv: floats(E)});
  if (random() < 0.3) layer.wo = addon.packWeight(layer.wo, E, E);
  // T5-class layers: RMSNorm (no betas), a gated MLP, biases absent.
  if (random() < 0.4) { layer.normKind = 'rms'; delete layer.ln1Beta; delete layer.ln2Beta; }
  if (random() < 0.4) {
    layer.gatedMlp = true;
    layer.wgate = random() < 0.3 ? addon.packWeight(floats(E * F), E, F) : floats(E * F);
    if (random() < 0.5) layer.bgate = floats(F);
  }
  for (const bias of ['bo', 'b1', 'b2', 'bqkv', 'bq', 'bk', 'bv']) if (random() < 0.2) delete layer[bias];
  if (random() < 0.2) layer.scale = pick([1, 0, 0.5]);
  return layer;
}

function encoderArgs(stack) {
  const E = int(1, 6), B = int(0, 2), S = random() < 0.1 ? int(60, 70) : int(0, 4);
  const a = {B, S, E, x: floats(B * S * E), out: new Float32Array(B * S * E)};
  if (random() < 0.5) a.keyPadding = new Uint8Array(B * S).map(() => int(0, 1));
  // One head count for every layer (mostly: a bias needs it), and maybe the attention bias [1 or B, H, S, S].
  const heads = pick([1, E].filter(h => E % h === 0));
  const layerHeads = () => (random() < 0.9 ? heads : undefined);
  if (stack) a.layers = Array.from({length: int(0, 3)}, () => layerArgs(E, layerHeads()));
  else Object.assign(a, layerArgs(E, heads));
  const sameHeads = !stack || a.layers.every(layer => layer.numHeads === heads);
  if (sameHeads && random() < 0.4) a.attentionBias = floats(pick([1, B]) * heads * S * S);
  return a;
}

function linearArgs() {
  const M = int(0, 4), K = int(1, 4), N = int(1, 4);
  return {M, K, w: random() < 0.3 ? addon.packWeight(floats(K * N), K, N) : floats(K * N), x: floats(M * K),
    bias: floats(N), residual: random() < 0.5 ? floats(M * N) : undefined, out: new Float32Array(M * N),
    activation: pick(['none', 'relu', 'gelu', 'gelu_tanh'])};
}

// ---- the decoding entry points ----
function rmsNormArgs() {
  const rows = int(0, 4), cols = int(0, 6);
  const a = {rows, cols, x: floats(rows * cols), out: new Float32Array(rows * cols)};
  if (random() < 0.7) a.gamma = floats(cols);
  if (random() < 0.4) a.eps = pick([1e-6, 1e-5, 0, 0.5]);
  return a;
}

function rotaryArgs() {
  const B = int(0, 2), H = int(0, 3), S = int(0, 4), D = int(0, 6), rotaryDim = 2 * int(0, Math.floor(D / 2));
  const rows = int(1, 6), half = Math.max(1, rotaryDim / 2);
  const a = {B, H, S, D, rotaryDim, x: floats(B * H * S * D), positions: ints(B * S, 0, rows - 1),
    out: new Float32Array(B * H * S * D)};
  if (random() < 0.6) a.interleaved = random() < 0.5;
  if (rotaryDim > 0 || random() < 0.5) Object.assign(a, {cos: floats(rows * half), sin: floats(rows * half)});
  return a;
}

/** Past and new lengths of B sequences: new within N, past + new within the capacity C. */
function cacheLengths(B, N, C) {
  const pastLengths = new Int32Array(B), newLengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    pastLengths[b] = int(0, C);
    newLengths[b] = int(0, Math.min(N, C - pastLengths[b]));
  }
  return {pastLengths, newLengths};
}

function kvCacheArgs() {
  const B = int(0, 2), Hkv = int(1, 2), H = Hkv * int(1, 2);
  const N = random() < 0.1 ? int(17, 20) : int(0, 3);  // past 16 queries a prompt runs on the tiled kernel
  const C = int(0, N + 4), D = int(0, 4), Dv = random() < 0.5 ? D : int(0, 4);
  const a = {B, H, N, C, D, ...cacheLengths(B, N, C), q: floats(B * H * N * D), k: floats(B * Hkv * N * D),
    v: floats(B * Hkv * N * Dv), keyCache: floats(B * Hkv * C * D), valueCache: floats(B * Hkv * C * Dv),
    out: new Float32Array(B * H * N * Dv)};
  if (Hkv !== H || random() < 0.5) a.Hkv = Hkv;
  if (Dv !== D || random() < 0.5) a.Dv = Dv;
  if (random() < 0.3) a.scale = random();
  if (random() < 0.6) a.lengths = new Int32Array(B);
  return a;
}

/** A decoder weight [rows, cols]: read in place, or a float32 / bfloat16 handle. */
function decoderWeight(rows, cols) {
  const w = floats(rows * cols);
  if (rows * cols === 0) return w;
  const r = random();
  return r < 0.15 ? addon.packWeight(w, rows, cols) : r < 0.3 ? addon.packWeightBf16(w, rows, cols) : w;
}

function decoderLayer(m) {
  const {E, H, D, F} = m, qWidth = H * D, kvWidth = (m.Hkv ?? H) * D, layer = {};
  const maybe = (key, make) => { if (random() < 0.7) layer[key] = make(); };
  maybe('norm1Gamma', () => floats(E));
  maybe('norm2Gamma', () => floats(E));
  if (m.normKind !== 'rms') {
    maybe('norm1Beta', () => floats(E));
    maybe('norm2Beta', () => floats(E));
  }
  if (random() < 0.3) layer.norm1Eps = pick([1e-5, 1e-6, 0]);
  if (random() < 0.3) layer.norm2Eps = pick([1e-5, 1e-6, 0]);
  if (random() < 0.5) {
    layer.wqkv = decoderWeight(E, qWidth + 2 * kvWidth);
    maybe('bqkv', () => floats(qWidth + 2 * kvWidth));
  } else {
    Object.assign(layer, {wq: decoderWeight(E, qWidth), wk: decoderWeight(E, kvWidth), wv: decoderWeight(E, kvWidth)});
    maybe('bq', () => floats(qWidth));
    maybe('bk', () => floats(kvWidth));
    maybe('bv', () => floats(kvWidth));
  }
  layer.wo = decoderWeight(qWidth, E);
  maybe('bo', () => floats(E));
  if (m.gatedMlp) {
    layer.wgate = decoderWeight(E, F);
    maybe('bgate', () => floats(F));
  }
  layer.wup = decoderWeight(E, F);
  maybe('bup', () => floats(F));
  layer.wdown = decoderWeight(F, E);
  maybe('bdown', () => floats(E));
  if (m.crossAttention) {  // an encoder-decoder layer
    maybe('crossNormGamma', () => floats(E));
    if (m.normKind !== 'rms') maybe('crossNormBeta', () => floats(E));
    if (random() < 0.3) layer.crossNormEps = pick([1e-5, 1e-6, 0]);
    Object.assign(layer, {wcq: decoderWeight(E, qWidth), wck: decoderWeight(E, kvWidth), wcv: decoderWeight(E, kvWidth),
      wco: decoderWeight(qWidth, E)});
    maybe('bcq', () => floats(qWidth));
    maybe('bck', () => floats(kvWidth));
    maybe('bcv', () => floats(kvWidth));
    maybe('bco', () => floats(E));
  }
  return layer;
}

function decoderArgs() {
  const Hkv = int(1, 2), H = Hkv * int(1, 2), D = 2 * int(1, 2), E = int(1, 6), vocab = int(1, 7);
  const m = {vocabSize: vocab, E, H, D, F: random() < 0.1 ? 0 : int(1, 6)};
  if (Hkv !== H || random() < 0.5) m.Hkv = Hkv;
  if (random() < 0.8) m.normKind = pick(['layer', 'rms']);
  for (const flag of ['normFirst', 'parallel', 'parallelSharedNorm', 'gatedMlp', 'hasFinalNorm'])
    if (random() < 0.7) m[flag] = random() < 0.5;
  if (random() < 0.8) m.activation = pick(['gelu', 'gelu_tanh', 'relu', 'silu', 'gelu_erf', 'gelu_new']);
  if (random() < 0.3) m.scale = random();
  if (random() < 0.3) m.embeddingScale = 1 + random();
  m.wordEmbeddings = floats(vocab * E);
  // The step: B sequences of up to N new tokens each, into caches of capacity C.
  const B = int(0, 2), N = random() < 0.1 ? int(17, 20) : int(0, 3), C = int(0, N + 4);
  const lengths = cacheLengths(B, N, C);
  const inputIds = new Int32Array(B * N);
  let positions = 0;  // positions used: [0, positions)
  for (let b = 0; b < B; b++) {
    // Rows past a sequence's new tokens are padding: never read, so anything goes there.
    for (let i = 0; i < N; i++) inputIds[b * N + i] = i < lengths.newLengths[b] ? int(0, vocab - 1) : int(-3, vocab + 3);
    if (lengths.newLengths[b] > 0) positions = Math.max(positions, lengths.pastLengths[b] + lengths.newLengths[b]);
  }
  const positionKind = pick(['rotary', 'learned', 'none']);
  if (positionKind === 'rotary') {
    m.rotaryDim = 2 * int(1, D / 2);
    const rows = Math.max(1, positions + int(0, 2)), half = m.rotaryDim / 2;
    Object.assign(m, {rotaryCos: floats(rows * half), rotarySin: floats(rows * half)});
    if (random() < 0.7) m.rotaryInterleaved = random() < 0.5;
  } else if (positionKind === 'learned') {
    const offset = int(0, 2);
    m.positionEmbeddings = floats(Math.max(1, positions + offset + int(0, 2)) * E);
    if (offset > 0 || random() < 0.5) m.positionOffset = offset;
  }
  if (random() < 0.7) m.finalNormGamma = floats(E);
  if (m.normKind !== 'rms' && random() < 0.7) m.finalNormBeta = floats(E);
  if (random() < 0.3) m.finalNormEps = pick([1e-5, 0]);
  switch (int(0, 4)) {
    case 0: Object.assign(m, {lmHead: m.wordEmbeddings, lmHeadTransposed: true}); break;  // tied
    case 1: Object.assign(m, {lmHead: addon.packWeightBf16(m.wordEmbeddings, E, vocab, true), lmHeadTransposed: true}); break;
    case 2: Object.assign(m, {lmHead: floats(vocab * E), lmHeadTransposed: true}); break;
    default: m.lmHead = decoderWeight(E, vocab); if (random() < 0.5) m.lmHeadTransposed = false;
  }
  if (random() < 0.4) m.lmHeadBias = floats(vocab);
  if (random() < 0.2) {  // BART's embedding norm
    if (random() < 0.7) m.embeddingNormGamma = floats(E);
    if (m.normKind !== 'rms' && random() < 0.7) m.embeddingNormBeta = floats(E);
    if (random() < 0.5) m.hasEmbeddingNorm = true;
    if (random() < 0.3) m.embeddingNormEps = pick([1e-5, 0]);
  }
  const cross = random() < 0.35;
  if (cross) {  // encoder-decoder: cross-attention (never with parallel layers), maybe T5's position bias
    m.crossAttention = true;
    if (m.parallel) m.parallel = false;
    if (random() < 0.5) {
      m.positionBiasRows = Math.max(1, positions + int(0, 2));
      m.positionBias = floats(H * m.positionBiasRows);
    }
  } else if (random() < 0.1) {
    m.crossAttention = false;
  }
  m.layers = Array.from({length: random() < 0.05 ? 0 : int(1, 2)}, () => decoderLayer(m));
  const cache = m.layers.length * B * Hkv * C * D;
  const a = {model: m, inputIds, ...lengths, B, N, C, keyCache: floats(cache), valueCache: floats(cache)};
  if (random() < 0.7) a.logitsRows = pick(['last', 'all']);
  a.logits = new Float32Array((a.logitsRows === 'all' ? B * N : B) * vocab);
  if (random() < 0.6) a.lengths = new Int32Array(B);
  if (cross) {
    const S = random() < 0.1 ? int(17, 40) : int(1, 4), crossCache = m.layers.length * B * Hkv * S * D;
    Object.assign(a, {S, crossKeyCache: floats(crossCache), crossValueCache: floats(crossCache)});
    if (random() < 0.6) a.encoderStates = floats(B * S * E);
    if (random() < 0.6) {  // any pattern with a real token in every row
      a.sourceMask = ints(B * S, 0, 1);
      for (let b = 0; b < B; b++) a.sourceMask[b * S + int(0, S - 1)] = 1;
    }
  }
  return a;
}

function reorderArgs() {
  const layers = int(0, 2), B = int(0, 4), Hkv = int(1, 2), C = int(0, 5), D = int(0, 3);
  const cache = layers * B * Hkv * C * D;
  return {layers, B, Hkv, C, D, keyCache: floats(cache), valueCache: floats(cache), lengths: ints(B, 0, C),
    sourceRows: ints(B, 0, Math.max(0, B - 1))};
}

// Arguments that are well formed but out of range where only the values tell:
// lengths past the capacity, negative lengths, ids outside the vocabulary,
// positions past the tables.
function lengthEdge(a) {
  if (!(a.B > 0) || !(a.pastLengths instanceof Int32Array) || !(a.newLengths instanceof Int32Array)) return;
  const b = int(0, a.B - 1);
  switch (int(0, 4)) {
    case 0: a.pastLengths[b] = a.C - a.newLengths[b] + 1; break;  // one row past the capacity
    case 1: a.newLengths[b] = a.N + 1; break;
    case 2: a.pastLengths[b] = pick([-1, -(2 ** 31)]); break;
    case 3: a.newLengths[b] = pick([-1, -(2 ** 31)]); break;
    default: a.pastLengths[b] = 2 ** 31 - 1; a.newLengths[b] = Math.min(a.N, 1);
  }
}

const EDGES = {
  rotaryEmbedding(a) {
    if (!a.positions.length) return;
    const rows = a.rotaryDim > 0 ? a.cos.length / (a.rotaryDim / 2) : 0;
    a.positions[int(0, a.positions.length - 1)] = pick([-1, rows, rows + 1, 2 ** 31 - 1, -(2 ** 31)]);
  },
  attentionWithKVCache: lengthEdge,
  reorderCache(a) {  // a beam row outside the batch, a length past the capacity
    if (!(a.B > 0)) return;
    const b = int(0, a.B - 1);
    if (random() < 0.5) a.sourceRows[b] = pick([-1, a.B, 2 ** 31 - 1, -(2 ** 31)]);
    else a.lengths[b] = pick([-1, a.C + 1, 2 ** 31 - 1]);
  },
  transformerDecoderStack(a) {
    const m = a.model, live = [];
    for (let b = 0; b < a.B; b++) if (a.newLengths[b] > 0) live.push(b);
    switch (int(0, 3)) {
      case 0: lengthEdge(a); break;
      case 1: if (live.length) {
        const b = pick(live);
        a.inputIds[b * a.N + int(0, a.newLengths[b] - 1)] = pick([-1, m.vocabSize, m.vocabSize + 1, 2 ** 31 - 1, -(2 ** 31)]);
      } break;
      case 2: {  // the last position one row past the tables; a source row with no real token
        let last = 0;
        for (const b of live) last = Math.max(last, a.pastLengths[b] + a.newLengths[b]);
        if (a.sourceMask instanceof Int32Array && a.B > 0 && random() < 0.3) {
          a.sourceMask.fill(0, int(0, a.B - 1) * a.S).fill(1, a.B * a.S);
        } else if (m.positionBias && last > 1 && random() < 0.5) {
          m.positionBiasRows = last - 1;
          m.positionBias = m.positionBias.slice(0, m.H * (last - 1));
        } else if (m.rotaryCos && last > 1) {
          const half = m.rotaryDim / 2;
          m.rotaryCos = m.rotaryCos.slice(0, (last - 1) * half);
          m.rotarySin = m.rotarySin.slice(0, (last - 1) * half);
        } else if (m.positionEmbeddings && last > 0) {
          m.positionOffset = m.positionEmbeddings.length / m.E - last + 1;
        } else if (live.length) {
          const b = pick(live);
          a.pastLengths[b] = a.C - a.newLengths[b] + 1;
        }
      } break;
      default: {  // the caches or the logits aliasing another array of the call
        const outputs = ['keyCache', 'valueCache', 'logits', 'lengths', 'crossKeyCache', 'crossValueCache'].filter(k => a[k]);
        const others = [['inputIds', a], ['pastLengths', a], ['newLengths', a], ['keyCache', a], ['valueCache', a],
          ['logits', a], ['wordEmbeddings', m], ...['encoderStates', 'sourceMask', 'crossKeyCache'].filter(k => a[k])
            .map(k => [k, a]), ...(m.layers[0] ? Object.keys(m.layers[0]).map(k => [k, m.layers[0]]) : [])];
        const [key, owner] = pick(others), output = pick(outputs);
        if (key !== output && ArrayBuffer.isView(owner[key])) alias(a, output, owner, key);
      }
    }
  },
};

// ---- mutations ----
function resizableView(length, Type = Float32Array) {
  const buffer = new ArrayBuffer(Type.BYTES_PER_ELEMENT * length, {maxByteLength: Type.BYTES_PER_ELEMENT * (2 * length + 2)});
  return {buffer, view: new Type(buffer)};
}

function mutateArray(value) {
  try {
    return mutateArrayOnce(value);
  } catch {  // `value` was detached by an earlier mutation
    return pick(BAD_NUMBERS);
  }
}

function mutateArrayOnce(value) {
  const n = value.length, Type = random() < 0.5 ? value.constructor : Float32Array;
  switch (int(0, 9)) {
    case 0: return new Type(Math.max(0, n + pick([-1, 1, 7])));
    case 1: return new Uint8Array(n);
    case 2: return new Float64Array(n);
    case 3: return Array.from(value);
    case 4: { const a = new Type(new SharedArrayBuffer(Type.BYTES_PER_ELEMENT * n)); a.set(value); return a; }
    case 5: { const view = new Type(n); structuredClone(view.buffer, {transfer: [view.buffer]}); return view; }  // detached
    case 6: { const a = new Type(n + 3); return a.subarray(3); }
    case 7: return resizableView(n, Type).view;
    case 8: return value.subarray(0, Math.max(0, n - 1));
    default: return pick(BAD_NUMBERS);
  }
}

/**
 * The fields holding plain values, here and in the objects and arrays under
 * `args` (as [owner, key, value]; a field already turned into a getter and
 * Proxies are left alone).
 */
function deepFields(args, depth = 3) {
  const fields = [];
  for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(args))) {
    if (!('value' in d) || key === 'length') continue;
    const value = d.value;
    fields.push([args, key, value]);
    if (depth > 0 && value && typeof value === 'object' && !ArrayBuffer.isView(value) && !types.isProxy(value) &&
        !types.isExternal(value))
      fields.push(...deepFields(value, depth - 1));
  }
  return fields;
}

/**
 * owner[key] and other[otherKey] replaced by views of one buffer whose bytes
 * overlap (same lengths and contents; types kept): an output aliasing another
 * array of the call.
 */
function alias(owner, key, other, otherKey) {
  const a = owner[key], b = other[otherKey];
  if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || types.isDataView(a) || types.isDataView(b)) return;
  const shift = 8 * int(0, Math.max(0, Math.floor(a.byteLength / 8) - 1));
  const buffer = new ArrayBuffer(Math.max(a.byteLength, shift + b.byteLength, 8));
  let viewA, viewB;
  try {
    viewA = new a.constructor(buffer, 0, a.length);
    viewB = new b.constructor(buffer, shift, b.length);
    viewB.set(b);
    viewA.set(a.subarray(0, Math.min(a.length, shift / a.BYTES_PER_ELEMENT)));  // a's own values before b's start
  } catch {  // detached, or an element size that does not fit the offset
    return;
  }
  owner[key] = viewA;
  other[otherKey] = viewB;
}

// Hostile getters act only while the addon reads the arguments, not while the fuzzer builds them.
let armed = false;

/** A getter on `key` that, when read, damages what another field holds (in `args` or in an object under it). */
function hostileGetter(args, key) {
  const descriptor = Object.getOwnPropertyDescriptor(args, key);
  if (!descriptor || !('value' in descriptor)) return;
  const original = descriptor.value;
  const fields = deepFields(args).filter(([owner, k]) => !(owner === args && k === key));
  const arrays = fields.filter(([, , v]) => ArrayBuffer.isView(v) && !types.isDataView(v));
  const handles = fields.filter(([, , v]) => types.isExternal(v));
  let reads = 0;
  const damage = int(0, 4);
  const victim = arrays.length ? pick(arrays) : null;
  let resizable = null;
  if (victim && damage <= 1 && [Float32Array, Int32Array, Uint8Array].includes(victim[2].constructor)) {
    resizable = resizableView(victim[2].length, victim[2].constructor);
    try {
      resizable.view.set(victim[2]);
      victim[0][victim[1]] = resizable.view;
    } catch {  // a detached victim
      resizable = null;
    }
  }
  Object.defineProperty(args, key, {
    enumerable: true, configurable: true,
    get() {
      if (!armed) return original;
      reads++;
      if (damage === 0 && resizable) resizable.buffer.resize(0);
      else if (damage === 1 && resizable) resizable.buffer.resize(resizable.view.BYTES_PER_ELEMENT);
      else if (damage === 2 && victim && victim[2].buffer.byteLength > 0 && !(victim[2].buffer instanceof SharedArrayBuffer)) {
        try { structuredClone(victim[2].buffer, {transfer: [victim[2].buffer]}); } catch { /* not transferable */ }
      } else if (damage === 3 && handles.length) {
        try { addon.releaseWeight(pick(handles)[2]); } catch { /* released already */ }
      } else if (damage === 4 && reads > 1) {
        throw new Error('a getter that throws on the second read');
      }
      return original;
    },
  });
}

function lyingProxy(args) {
  return new Proxy(args, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (armed && random() < 0.05) return ArrayBuffer.isView(value) ? mutateArray(value) : pick(BAD_NUMBERS);
      return value;
    },
  });
}

function mutate(args) {
  const keys = Object.keys(args);
  for (let m = int(0, 3); m > 0; m--) {
    const key = pick(keys);
    const descriptor = Object.getOwnPropertyDescriptor(args, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const value = descriptor.value;
    switch (int(0, 7)) {
      case 0: args[key] = pick(BAD_NUMBERS); break;
      case 1: if (ArrayBuffer.isView(value)) args[key] = mutateArray(value); break;
      case 2: hostileGetter(args, key); break;
      case 3: if (key === 'maskStrides') args[key] = pick([[-1, 0, 0, 1], [0, 0, 0], [2 ** 62, 2 ** 62, 1, 1], [0.5, 0, 0, 1], 'x']); break;
      case 4: if (key === 'layers' && Array.isArray(value)) {
        let lengthReads = 0;
        args[key] = pick([
          [...value, undefined], [null], Object.assign([], {length: 3}), new Array(200001),
          new Proxy(value, {get: (t, k) => (k === 'length' ? (lengthReads++ === 0 ? value.length : 200001) : Reflect.get(t, k))}),
        ]);
      } else if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
        mutate(value);
      }
        break;
      case 5: {  // an array aliasing another array of the call (an output overlapping an input or another output)
        const others = deepFields(args).filter(([owner, k, v]) => ArrayBuffer.isView(v) && !(owner === args && k === key));
        if (ArrayBuffer.isView(value) && others.length) { const [owner, k] = pick(others); alias(args, key, owner, k); }
      } break;
      case 6: if (value instanceof Int32Array && value.length > 0) {  // ids, lengths, positions out of range
        value[int(0, value.length - 1)] = pick([-1, -(2 ** 31), 2 ** 31 - 1, value[0] + 1, 1000, 2 ** 16]);
      } else if (ArrayBuffer.isView(value)) {
        args[key] = mutateArray(value);
      } break;
      default: delete args[key];
    }
  }
  return random() < 0.1 ? lyingProxy(args) : args;
}

// ---- the run ----
const ENTRY_POINTS = {
  scaledDotProductAttention: () => [sdpaArgs(false)],
  scaledDotProductAttentionGrad: () => [sdpaArgs(true)],
  transformerEncoderLayer: () => [encoderArgs(false)],
  transformerEncoderStack: () => [encoderArgs(true)],
  linear: () => [linearArgs()],
  rmsNorm: () => [rmsNormArgs()],
  rotaryEmbedding: () => [rotaryArgs()],
  attentionWithKVCache: () => [kvCacheArgs()],
  transformerDecoderStack: () => [decoderArgs()],
  reorderCache: () => [reorderArgs()],
  packWeightBf16: () => {
    const r = int(1, 4), c = int(1, 4), w = floats(r * c);
    return random() < 0.5 ? [w, r, c] : [w, r, c, random() < 0.5];
  },
  packWeight: () => { const r = int(1, 4), c = int(1, 4); return random() < 0.5 ? [floats(r * c), r, c] : [{weight: floats(r * c), rows: r, cols: c}]; },
  releaseWeight: () => [random() < 0.7 ? addon.packWeight(floats(4), 2, 2) : pick(BAD_NUMBERS)],
  info: () => [],
};

const outcomes = {};
// Failures that are not crashes: a valid (unmutated) call that throws, or a call the addon let through
// and the native core refused (the addon's own checks should have named the argument).
const failures = [];
// releaseWeight's generator also makes non-handles on purpose.
const MAY_THROW_UNMUTATED = new Set(['releaseWeight']);
const names = Object.keys(ENTRY_POINTS);
const started = Date.now();
for (let call = 0; call < CALLS; call++) {
  const name = names[call % names.length];
  let args = ENTRY_POINTS[name]();
  const mutated = random() < 0.8 && args.length > 0;
  if (mutated) {
    if (EDGES[name] && random() < 0.4) EDGES[name](args[0]);
    args = args.map(a => (a && typeof a === 'object' && !ArrayBuffer.isView(a) ? mutate(a)
      : random() < 0.3 ? (ArrayBuffer.isView(a) && random() < 0.5 ? mutateArray(a) : pick(BAD_NUMBERS)) : a));
  }
  let outcome;
  try {
    armed = true;
    addon[name](...args);
    outcome = 'returned';
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`${name} threw a non-Error: ${String(e)}`);
    outcome = e.constructor.name;
    if (/rejected by the native core/.test(e.message) || (!mutated && !MAY_THROW_UNMUTATED.has(name)))
      failures.push(`call ${call} (${mutated ? 'mutated' : 'valid'} arguments): ${e.message}`);
  } finally {
    armed = false;
  }
  const key = `${name} ${outcome}`;
  outcomes[key] = (outcomes[key] || 0) + 1;
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`fuzz_addon: ${CALLS} calls in ${seconds} s, no crash`);
for (const key of Object.keys(outcomes).sort()) console.log(`  ${key}: ${outcomes[key]}`);
if (failures.length) {
  console.error(`fuzz_addon: ${failures.length} calls failed (replay with the same seed):`);
  for (const line of failures.slice(0, 20)) console.error(`  ${line}`);
  process.exitCode = 1;
}
