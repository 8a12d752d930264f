'use strict';
// Seeded fuzzing of every entry point of the Node-API addon: valid argument
// objects, then mutated — sizes (0, negative, fractional, huge, NaN, wrong
// types), arrays of the wrong length or type, views of resizable, shared,
// detached and offset buffers, getters that shrink, detach or release what an
// earlier argument holds or that throw, Proxies that lie about their contents
// or their length, bad strides and names. Every call must return or throw a
// JavaScript error; nothing may crash the process. tools/test-sanitizers.sh
// runs it against the AddressSanitizer + UBSan build, where any report aborts.
//
//   node test/native/fuzz_addon.js [calls] [seed]      (default 20000 calls, seed 1)
// TFJS_BT_NATIVE_PATH selects the addon build (default build/Release at the package root).
const path = require('node:path');

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

function layerArgs(E) {
  const F = int(1, 8), heads = pick([1, E].filter(h => E % h === 0));
  const layer = {numHeads: heads, wo: floats(E * E), bo: floats(E), w1: floats(E * F), b1: floats(F), w2: floats(F * E),
    b2: floats(E), ln1Gamma: floats(E), ln1Beta: floats(E), ln2Gamma: floats(E), ln2Beta: floats(E),
    activation: pick(['gelu', 'gelu_tanh', 'relu']), normFirst: random() < 0.5, isCausal: random() < 0.5};
  if (random() < 0.5) Object.assign(layer, {wqkv: floats(E * 3 * E), bqkv: floats(3 * E)});
  else Object.assign(layer, {wq: floats(E * E), wk: floats(E * E), wv: floats(E * E), bq: floats(E), bk: floats(E), bv: floats(E)});
  if (random() < 0.3) layer.wo = addon.packWeight(layer.wo, E, E);
  return layer;
}

function encoderArgs(stack) {
  const E = int(1, 6), B = int(0, 2), S = int(0, 4);
  const a = {B, S, E, x: floats(B * S * E), out: new Float32Array(B * S * E)};
  if (random() < 0.5) a.keyPadding = new Uint8Array(B * S).map(() => int(0, 1));
  if (stack) a.layers = Array.from({length: int(0, 3)}, () => layerArgs(E));
  else Object.assign(a, layerArgs(E));
  return a;
}

function linearArgs() {
  const M = int(0, 4), K = int(1, 4), N = int(1, 4);
  return {M, K, w: random() < 0.3 ? addon.packWeight(floats(K * N), K, N) : floats(K * N), x: floats(M * K),
    bias: floats(N), residual: random() < 0.5 ? floats(M * N) : undefined, out: new Float32Array(M * N),
    activation: pick(['none', 'relu', 'gelu', 'gelu_tanh'])};
}

// ---- mutations ----
function resizableView(length) {
  const buffer = new ArrayBuffer(4 * length, {maxByteLength: 8 * length + 8});
  return {buffer, view: new Float32Array(buffer)};
}

function mutateArray(value) {
  const n = value.length;
  switch (int(0, 9)) {
    case 0: return new Float32Array(Math.max(0, n + pick([-1, 1, 7])));
    case 1: return new Uint8Array(n);
    case 2: return new Float64Array(n);
    case 3: return Array.from(value);
    case 4: { const a = new Float32Array(new SharedArrayBuffer(4 * n)); a.set(value); return a; }
    case 5: { const view = new Float32Array(n); structuredClone(view.buffer, {transfer: [view.buffer]}); return view; }  // detached
    case 6: { const a = new Float32Array(n + 3); return a.subarray(3); }
    case 7: return resizableView(n).view;
    case 8: return value.subarray(0, Math.max(0, n - 1));
    default: return pick(BAD_NUMBERS);
  }
}

// Hostile getters act only while the addon reads the arguments, not while the fuzzer builds them.
let armed = false;

/** The fields holding plain values (a field already turned into a getter is left alone). */
function plainFields(args) {
  return Object.entries(Object.getOwnPropertyDescriptors(args)).filter(([, d]) => 'value' in d).map(([k, d]) => [k, d.value]);
}

/** A getter on `key` that, when read, damages what another field holds. */
function hostileGetter(args, key) {
  const fields = plainFields(args);
  const arrays = fields.filter(([k, v]) => k !== key && ArrayBuffer.isView(v));
  const handles = fields.filter(([k, v]) => k !== key && v && typeof v === 'object' && !ArrayBuffer.isView(v) &&
      !Array.isArray(v));
  const descriptor = Object.getOwnPropertyDescriptor(args, key);
  if (!descriptor || !('value' in descriptor)) return;
  const original = descriptor.value;
  let reads = 0;
  const damage = int(0, 4);
  const victim = arrays.length ? pick(arrays) : null;
  let resizable = null;
  if (victim && damage <= 1 && victim[1] instanceof Float32Array) {
    resizable = resizableView(victim[1].length);
    resizable.view.set(victim[1]);
    args[victim[0]] = resizable.view;
  }
  Object.defineProperty(args, key, {
    enumerable: true, configurable: true,
    get() {
      if (!armed) return original;
      reads++;
      if (damage === 0 && resizable) resizable.buffer.resize(0);
      else if (damage === 1 && resizable) resizable.buffer.resize(4);
      else if (damage === 2 && victim && victim[1].buffer.byteLength > 0 && !(victim[1].buffer instanceof SharedArrayBuffer)) {
        try { structuredClone(victim[1].buffer, {transfer: [victim[1].buffer]}); } catch { /* not transferable */ }
      } else if (damage === 3 && handles.length) {
        try { addon.releaseWeight(pick(handles)[1]); } catch { /* not a handle */ }
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
    switch (int(0, 5)) {
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
  packWeight: () => { const r = int(1, 4), c = int(1, 4); return random() < 0.5 ? [floats(r * c), r, c] : [{weight: floats(r * c), rows: r, cols: c}]; },
  releaseWeight: () => [random() < 0.7 ? addon.packWeight(floats(4), 2, 2) : pick(BAD_NUMBERS)],
  info: () => [],
};

const outcomes = {};
const names = Object.keys(ENTRY_POINTS);
const started = Date.now();
for (let call = 0; call < CALLS; call++) {
  const name = names[call % names.length];
  let args = ENTRY_POINTS[name]();
  if (random() < 0.8 && args.length > 0) {
    args = args.map(a => (a && typeof a === 'object' && !ArrayBuffer.isView(a) ? mutate(a) : random() < 0.3 ? pick(BAD_NUMBERS) : a));
  }
  let outcome;
  try {
    armed = true;
    addon[name](...args);
    outcome = 'returned';
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`${name} threw a non-Error: ${String(e)}`);
    outcome = e.constructor.name;
  } finally {
    armed = false;
  }
  const key = `${name} ${outcome}`;
  outcomes[key] = (outcomes[key] || 0) + 1;
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`fuzz_addon: ${CALLS} calls in ${seconds} s, no crash`);
for (const key of Object.keys(outcomes).sort()) console.log(`  ${key}: ${outcomes[key]}`);
