/**
 * A tfjs-layers decoder (a Keras model of stock layers) turned into the fused
 * decoder's weights and configuration (src/ops/decoder_args.ts). The decoder
 * is recognised from the layer graph alone — class names, configs and inbound
 * connections, never layer names — walking back from the output:
 *
 *   head       Dense(vocab, linear), with or without bias
 *   final norm LayerNormalization (optional)
 *   blocks     pre-norm:  x + MHA(LN1(x)), then x + MLP(LN2(x))
 *              post-norm: LN1(x + MHA(x)), then LN2(x + MLP(x))
 *              MHA: this package's MultiHeadAttention called as causal
 *              self-attention (use_causal_mask, query = value [= key], no
 *              attention_mask), value_dim = key_dim, output to the model width
 *              MLP: Dense(F, act) → Dense(E), the activation on the first
 *              Dense or as an Activation / ReLU layer between them, or gated:
 *              Multiply(Dense(F, act), Dense(F)) → Dense(E)
 *   embeddings Embedding of the token input [→ Rescaling(scale)], plus (Add)
 *              an Embedding of a second input (position ids 0, 1, 2, ...)
 *
 * Dropout-like layers (identity at inference) and linear Activation layers
 * are passed through anywhere. Keras' Dense activation 'gelu' is the exact
 * (erf) GELU (approximate=False is the default, and a Dense config cannot
 * carry another), as is tfjs-layers' 'gelu'; 'gelu_new' is the tanh form.
 *
 * Weights are the model's own variables: Dense kernels [in, out] and
 * embeddings as they are; MultiHeadAttention's [E, H, D] / [H, D] / [H, D, E]
 * kernels and biases as reshaped views of the same data ([E, H·D], [H·D],
 * [H·D, E]), never copies. Anything not understood is a reason string; the
 * generator then recomputes with the model itself.
 *
 * tfjs-layers is not loaded here: layers are read through the few members
 * every tfjs-layers Layer has (getClassName, getConfig, inboundNodes, weights).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import type {DecoderActivation} from '../op_table';
import type {DecoderConfig, DecoderLayerWeights, DecoderWeights} from '../ops/decoder_args';

/** The members of a tfjs-layers Layer read here. */
export interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  inboundNodes: NodeLike[];
  weights: WeightLike[];
}

interface NodeLike {
  inboundLayers: LayerLike[];
  tensorIndices: number[];
  callArgs?: Record<string, unknown> | null;
}

interface WeightLike {
  name: string;
  originalName?: string;
  shape: number[];
  read(): tf.Tensor;
}

export interface LayersDecoder {
  weights: DecoderWeights;
  config: DecoderConfig;
  /** Positions the model takes: the position embedding's rows, or the generator's limit. */
  positions: number;
  /** Index in model.inputs of the token ids, and of the position ids (null: the model has no position input). */
  tokenInput: number;
  positionInput: number | null;
  /** Index in model.outputs of the logits. */
  output: number;
  /** The token id the token Embedding masks (mask_zero: 0), or null. */
  maskTokenId: number | null;
  /** Tensors made here (reshaped views of the model's weights), disposed with the generator. */
  owned: tf.Tensor[];
}

export type LayersDecoderResult = {ok: true; decoder: LayersDecoder} | {ok: false; reason: string};

/** A structure the recogniser does not accept; `depth` counts the decoder blocks matched before it. */
class Refusal extends Error {
  constructor(message: string, readonly depth = 0) {
    super(message);
  }
}

function refuse(message: string): never {
  throw new Refusal(message);
}

/** Layers that compute the identity at inference. */
const PASS_THROUGH = new Set(['Dropout', 'SpatialDropout1D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout']);

const ACTIVATIONS: Record<string, DecoderActivation> = {
  gelu: 'gelu', gelu_new: 'gelu_tanh', geluNew: 'gelu_tanh', relu: 'relu', swish: 'silu', silu: 'silu',
};

const cls = (layer: LayerLike) => layer.getClassName();
const is = (layer: LayerLike, className: string) => cls(layer) === className;
const label = (layer: LayerLike) => `${cls(layer)} '${layer.name}'`;

function activationName(value: unknown): string {
  if (value == null) return 'linear';
  if (typeof value === 'string') return value;
  const named = value as {className?: unknown; class_name?: unknown};
  return String(named.className ?? named.class_name ?? JSON.stringify(value));
}

/** The layers feeding `layer`'s (single) call. */
function parents(layer: LayerLike): LayerLike[] {
  const nodes = layer.inboundNodes ?? [];
  if (nodes.length !== 1) refuse(`${label(layer)} is called ${nodes.length} times (a shared layer)`);
  const node = nodes[0];
  if (node.tensorIndices.some(i => i !== 0)) refuse(`${label(layer)} reads an output other than a layer's first`);
  return node.inboundLayers;
}

function single(layer: LayerLike): LayerLike {
  const inputs = parents(layer);
  if (inputs.length !== 1) refuse(`${label(layer)} takes ${inputs.length} inputs, not one`);
  return inputs[0];
}

/** The first layer at or above `layer` that is not the identity at inference. */
function skip(layer: LayerLike): LayerLike {
  let current = layer;
  for (;;) {
    const linear = is(current, 'Activation') && activationName(current.getConfig()['activation']) === 'linear';
    if (!PASS_THROUGH.has(cls(current)) && !linear) return current;
    current = single(current);
  }
}

function weight(layer: LayerLike, suffix: string, optional = false): tf.Tensor | undefined {
  const found = layer.weights.find(w => {
    const name = w.originalName ?? w.name;
    return name === suffix || name.endsWith(`/${suffix}`);
  });
  if (!found) {
    if (optional) return undefined;
    refuse(`${label(layer)} has no '${suffix}' weight`);
  }
  const t = found.read();
  if (t.dtype !== 'float32') refuse(`${label(layer)}'s '${suffix}' is ${t.dtype}, not float32`);
  return t;
}

interface Norm {
  layer: LayerLike;
  gamma?: tf.Tensor1D;
  beta?: tf.Tensor1D;
  eps: number;
}

function layerNorm(layer: LayerLike): Norm {
  if (!is(layer, 'LayerNormalization')) refuse(`expected a LayerNormalization, found ${label(layer)}`);
  const c = layer.getConfig();
  const axis = Array.isArray(c['axis']) ? c['axis'] : [c['axis']];
  // Over the features of [batch, sequence, features] only.
  if (axis.length !== 1 || !(axis[0] === -1 || axis[0] === 2)) {
    refuse(`${label(layer)} normalises over axes ${JSON.stringify(c['axis'])}, not the features alone`);
  }
  const eps = Number(c['epsilon'] ?? 1e-3);
  if (!Number.isFinite(eps) || eps < 0) refuse(`${label(layer)} has epsilon ${String(c['epsilon'])}`);
  return {
    layer,
    gamma: c['scale'] === false ? undefined : weight(layer, 'gamma') as tf.Tensor1D,
    beta: c['center'] === false ? undefined : weight(layer, 'beta') as tf.Tensor1D,
    eps,
  };
}

interface Dense {
  layer: LayerLike;
  kernel: tf.Tensor2D;
  bias?: tf.Tensor1D;
  units: number;
  activation: string;
}

function dense(layer: LayerLike): Dense {
  if (!is(layer, 'Dense')) refuse(`expected a Dense, found ${label(layer)}`);
  const c = layer.getConfig();
  const kernel = weight(layer, 'kernel') as tf.Tensor2D;
  if (kernel.rank !== 2) refuse(`${label(layer)}'s kernel has shape [${kernel.shape.join(', ')}], not [in, out]`);
  return {
    layer, kernel, bias: c['useBias'] === false ? undefined : weight(layer, 'bias', true) as tf.Tensor1D | undefined,
    units: kernel.shape[1], activation: activationName(c['activation']),
  };
}

function activationOf(name: string, where: LayerLike): DecoderActivation {
  const act = ACTIVATIONS[name];
  if (!act) refuse(`${label(where)} applies the activation '${name}', which the fused decoder does not have (gelu, gelu_new, relu, swish)`);
  return act;
}

/** An activation layer (Activation or ReLU), or null. */
function activationLayer(layer: LayerLike): DecoderActivation | null {
  if (is(layer, 'Activation')) return activationOf(activationName(layer.getConfig()['activation']), layer);
  if (is(layer, 'ReLU')) {
    const max = layer.getConfig()['maxValue'];
    if (max != null) refuse(`${label(layer)} caps at ${String(max)}`);
    return 'relu';
  }
  return null;
}

interface Mlp {
  up: Dense;
  gate: Dense | null;
  down: Dense;
  activation: DecoderActivation;
  /** The layer the MLP reads. */
  input: LayerLike;
}

/** Dense(F, act) [→ act] → Dense(E), or Multiply(act(Dense), Dense) → Dense(E), from the last Dense back. */
function mlp(last: LayerLike): Mlp {
  const down = dense(last);
  if (down.activation !== 'linear') refuse(`the MLP's output ${label(last)} applies '${down.activation}'`);
  let inner = skip(single(last));
  const between = activationLayer(inner);
  if (between) inner = skip(single(inner));
  const projection = (layer: LayerLike): {dense: Dense; act: DecoderActivation | null} => {
    let d = skip(layer);
    const act = activationLayer(d);
    if (act) d = skip(single(d));
    const out = dense(d);
    if (out.activation !== 'linear') {
      if (act) refuse(`${label(d)} applies '${out.activation}' before another activation`);
      return {dense: out, act: activationOf(out.activation, d)};
    }
    return {dense: out, act};
  };
  if (is(inner, 'Multiply')) {
    if (between) refuse(`an activation after the gated product ${label(inner)}`);
    const inputs = parents(inner);
    if (inputs.length !== 2) refuse(`${label(inner)} multiplies ${inputs.length} tensors, not a gate and an up projection`);
    const [a, b] = inputs.map(projection);
    const gated = a.act && !b.act ? {gate: a, up: b} : b.act && !a.act ? {gate: b, up: a} : null;
    if (!gated) refuse(`${label(inner)} is not act(Dense(x)) · Dense(x) (one activated factor)`);
    const input = skip(single(gated.gate.dense.layer));
    if (skip(single(gated.up.dense.layer)) !== input) refuse(`the gate and up projections of ${label(inner)} read different tensors`);
    return {up: gated.up.dense, gate: gated.gate.dense, down, activation: gated.gate.act as DecoderActivation, input};
  }
  const up = dense(inner);
  let activation: DecoderActivation;
  if (between) {
    if (up.activation !== 'linear') refuse(`${label(inner)} applies '${up.activation}' before another activation`);
    activation = between;
  } else {
    if (up.activation === 'linear') refuse(`the MLP ${label(inner)} → ${label(last)} has no activation`);
    activation = activationOf(up.activation, inner);
  }
  return {up, gate: null, down, activation, input: skip(single(inner))};
}

interface Attention {
  layer: LayerLike;
  heads: number;
  headDim: number;
  q: {kernel: tf.Tensor; bias?: tf.Tensor};
  k: {kernel: tf.Tensor; bias?: tf.Tensor};
  v: {kernel: tf.Tensor; bias?: tf.Tensor};
  out: {kernel: tf.Tensor; bias?: tf.Tensor};
  /** The layer the attention reads (query = value = key). */
  input: LayerLike;
}

function attention(layer: LayerLike): Attention {
  if (!is(layer, 'MultiHeadAttention')) refuse(`expected a MultiHeadAttention, found ${label(layer)}`);
  const inputs = parents(layer);
  const args = layer.inboundNodes[0].callArgs ?? {};
  if (args['useCausalMask'] !== true && args['use_causal_mask'] !== true) {
    refuse(`${label(layer)} is called without use_causal_mask: it attends both ways (an encoder, not a decoder)`);
  }
  const roles = args['inputRoles'] ?? args['input_roles'];
  const names = Array.isArray(roles) && roles.length === 1 ? (Array.isArray(roles[0]) ? roles[0] : [roles[0]]).map(String) : null;
  const normal = names?.map(n => n.replace(/_/g, '').toLowerCase());
  if (inputs.length !== 1 || !normal || !normal.includes('query') || !normal.includes('value') ||
      normal.some(n => n !== 'query' && n !== 'value' && n !== 'key')) {
    refuse(`${label(layer)} is not causal self-attention on one tensor (query = value = key, no attention_mask): ` +
        `roles ${JSON.stringify(roles ?? null)}`);
  }
  const c = layer.getConfig();
  const heads = Number(c['numHeads']), keyDim = Number(c['keyDim']), valueDim = Number(c['valueDim'] ?? keyDim);
  if (valueDim !== keyDim) refuse(`${label(layer)} has value_dim ${valueDim} != key_dim ${keyDim}`);
  const axes = c['attentionAxes'];
  if (axes != null && JSON.stringify(axes) !== '[1]' && axes !== 1) refuse(`${label(layer)} attends over axes ${JSON.stringify(axes)}`);
  const part = (name: string) => ({kernel: weight(layer, `${name}/kernel`) as tf.Tensor, bias: weight(layer, `${name}/bias`, true)});
  const att: Attention = {
    layer, heads, headDim: keyDim, q: part('query'), k: part('key'), v: part('value'), out: part('attention_output'),
    input: skip(inputs[0]),
  };
  for (const [name, p] of [['query', att.q], ['key', att.k], ['value', att.v]] as const) {
    const s = p.kernel.shape;
    if (s.length !== 3 || s[1] !== heads || s[2] !== keyDim) refuse(`${label(layer)}'s ${name} kernel has shape [${s.join(', ')}]`);
  }
  const o = att.out.kernel.shape;
  if (o.length !== 3 || o[0] !== heads || o[1] !== keyDim) {
    refuse(`${label(layer)}'s attention_output kernel has shape [${o.join(', ')}], not [heads, value_dim, width]`);
  }
  return att;
}

interface Block {
  /** Pre-norm: before attention and before the MLP; post-norm: after each residual sum. */
  norm1: Norm;
  norm2: Norm;
  attention: Attention;
  mlp: Mlp;
}

/** The two inputs of a residual Add as [residual, branch], the branch being the one of class `branchClass`. */
function residual(add: LayerLike, isBranch: (layer: LayerLike) => boolean, what: string): [LayerLike, LayerLike] {
  if (!is(add, 'Add')) refuse(`expected the residual Add of ${what}, found ${label(add)}`);
  const inputs = parents(add).map(skip);
  if (inputs.length !== 2) {
    refuse(`${label(add)} sums ${inputs.length} tensors (parallel attention and MLP are not recognised), not x + ${what}`);
  }
  const [a, b] = inputs;
  if (isBranch(b) && !isBranch(a)) return [a, b];
  if (isBranch(a) && !isBranch(b)) return [b, a];
  refuse(`${label(add)} is not x + ${what}`);
}

const isMlpOutput = (layer: LayerLike) => is(layer, 'Dense');
const isAttention = (layer: LayerLike) => is(layer, 'MultiHeadAttention');

/** x + MLP(LN2(x)) after x = y + MHA(LN1(y)); returns the block and y. */
function preNormBlock(top: LayerLike): {block: Block; next: LayerLike} {
  const [mid, mlpOut] = residual(top, isMlpOutput, 'an MLP');
  const m = mlp(mlpOut);
  const norm2 = layerNorm(m.input);
  if (skip(single(norm2.layer)) !== mid) refuse(`the MLP's ${label(norm2.layer)} does not read the residual stream ${label(mid)}`);
  const [start, attOut] = residual(mid, isAttention, 'a MultiHeadAttention');
  const a = attention(attOut);
  const norm1 = layerNorm(a.input);
  if (skip(single(norm1.layer)) !== start) refuse(`${label(attOut)}'s ${label(norm1.layer)} does not read the residual stream ${label(start)}`);
  return {block: {norm1, norm2, attention: a, mlp: m}, next: start};
}

/** LN2(x + MLP(x)) after x = LN1(y + MHA(y)); returns the block and y. */
function postNormBlock(top: LayerLike): {block: Block; next: LayerLike} {
  const norm2 = layerNorm(top);
  const [mid, mlpOut] = residual(skip(single(top)), isMlpOutput, 'an MLP');
  const m = mlp(mlpOut);
  if (m.input !== mid) refuse(`the MLP ending in ${label(mlpOut)} does not read the residual stream ${label(mid)}`);
  const norm1 = layerNorm(mid);
  const [start, attOut] = residual(skip(single(mid)), isAttention, 'a MultiHeadAttention');
  const a = attention(attOut);
  if (a.input !== start) refuse(`${label(attOut)} does not read the residual stream ${label(start)}`);
  return {block: {norm1, norm2, attention: a, mlp: m}, next: start};
}

/** Does `layer` end a block of this form (rather than being the embeddings)? */
function endsBlock(layer: LayerLike, normFirst: boolean): boolean {
  const add = normFirst ? layer : is(layer, 'LayerNormalization') ? skip(single(layer)) : null;
  return add !== null && is(add, 'Add') && parents(add).map(skip).some(isMlpOutput);
}

/** Blocks from the last back, until the embeddings. */
function blocks(top: LayerLike, normFirst: boolean): {blocks: Block[]; embeddings: LayerLike} {
  const out: Block[] = [];
  let x = top;
  while (endsBlock(x, normFirst)) {
    try {
      const {block, next} = normFirst ? preNormBlock(x) : postNormBlock(x);
      out.unshift(block);
      x = next;
    } catch (e) {
      if (e instanceof Refusal) throw new Refusal(e.message, out.length + 1);
      throw e;
    }
  }
  if (out.length === 0) {
    throw new Refusal(`${label(x)} does not end a ${normFirst ? 'pre' : 'post'}-norm block of MultiHeadAttention and MLP`);
  }
  return {blocks: out, embeddings: x};
}

interface EmbeddingMatch {
  layer: LayerLike;
  table: tf.Tensor2D;
  rows: number;
  maskZero: boolean;
  /** The InputLayer it reads. */
  input: LayerLike;
  scale: number;
}

function embedding(top: LayerLike): EmbeddingMatch {
  let layer = top, scale = 1;
  if (is(layer, 'Rescaling')) {
    const c = layer.getConfig();
    if (Number(c['offset'] ?? 0) !== 0) refuse(`${label(layer)} shifts the embeddings by ${String(c['offset'])}`);
    scale = Number(c['scale']);
    layer = skip(single(layer));
  }
  if (!is(layer, 'Embedding')) refuse(`expected an Embedding, found ${label(layer)}`);
  const input = single(layer);
  if (!is(input, 'InputLayer')) refuse(`${label(layer)} reads ${label(input)}, not a model input`);
  const table = weight(layer, 'embeddings') as tf.Tensor2D;
  if (table.rank !== 2) refuse(`${label(layer)}'s table has shape [${table.shape.join(', ')}]`);
  return {layer, table, rows: table.shape[0], maskZero: layer.getConfig()['maskZero'] === true, input, scale};
}

/** The token Embedding, and the position Embedding of a second input when they are summed. */
function embeddings(top: LayerLike, vocab: number): {token: EmbeddingMatch; position: EmbeddingMatch | null} {
  if (!is(top, 'Add')) return {token: embedding(top), position: null};
  const inputs = parents(top).map(skip);
  if (inputs.length !== 2) refuse(`the embeddings ${label(top)} sum ${inputs.length} tensors, not token and position embeddings`);
  const [a, b] = inputs.map(embedding);
  if (a.input === b.input) refuse(`both embeddings of ${label(top)} read the same input`);
  // The token embedding is the one whose rows the head's outputs match; else the masking one.
  const pick = (test: (e: EmbeddingMatch) => boolean) => (test(a) !== test(b) ? (test(a) ? [a, b] : [b, a]) : null);
  const order = pick(e => e.rows === vocab) ?? pick(e => e.maskZero);
  if (!order) refuse(`cannot tell the token embedding from the position embedding in ${label(top)}`);
  const [token, position] = order;
  if (position.scale !== 1) refuse(`the position embedding ${label(position.layer)} is rescaled`);
  if (position.maskZero) refuse(`the position embedding ${label(position.layer)} masks position 0 (mask_zero)`);
  return {token, position};
}

interface Recognised {
  head: Dense;
  finalNorm: Norm | null;
  normFirst: boolean;
  blocks: Block[];
  token: EmbeddingMatch;
  position: EmbeddingMatch | null;
}

/** Tries the forms (final norm or not, pre- or post-norm); the refusal of the one that got furthest. */
function recogniseFrom(head: Dense): Recognised {
  const top = skip(single(head.layer));
  const attempts: Array<() => Recognised> = [];
  const form = (finalNorm: Norm | null, start: LayerLike, normFirst: boolean) => (): Recognised => {
    const found = blocks(start, normFirst);
    const e = (() => {
      try {
        return embeddings(skip(found.embeddings), head.units);
      } catch (err) {
        if (err instanceof Refusal) throw new Refusal(err.message, found.blocks.length + 1);
        throw err;
      }
    })();
    return {head, finalNorm, normFirst, blocks: found.blocks, ...e};
  };
  if (is(top, 'LayerNormalization')) {
    const below = skip(single(top));
    attempts.push(() => form(layerNorm(top), below, true)());
    attempts.push(form(null, top, false));
    if (is(below, 'LayerNormalization')) attempts.push(() => form(layerNorm(top), below, false)());
  } else {
    attempts.push(form(null, top, true));
  }
  let best: Refusal | null = null;
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      if (best === null || e.depth > best.depth) best = e;
    }
  }
  throw best as Refusal;
}

function same<T>(values: T[], what: string): T {
  if (new Set(values).size !== 1) refuse(`the blocks differ in ${what} (${[...new Set(values)].join(', ')})`);
  return values[0];
}

export function isLayersModelLike(model: unknown): model is LayersModel {
  return typeof model === 'object' && model !== null && Array.isArray((model as {layers?: unknown}).layers) &&
      typeof (model as {predict?: unknown}).predict === 'function' && !('executeAsync' in model);
}

/** The index of the model output holding the logits: the only one, or the one named like logits. */
export function logitsOutput(model: LayersModel): number | string {
  if (model.outputs.length === 1) return 0;
  const names = model.outputNames ?? model.outputs.map(o => o.name);
  const found = names.findIndex(n => /logits/i.test(n));
  return found >= 0 ? found : `the model has ${model.outputs.length} outputs and none is named like logits`;
}

export function buildLayersDecoder(model: LayersModel, maxPositions: number): LayersDecoderResult {
  const owned: tf.Tensor[] = [];
  try {
    return {ok: true, decoder: build(model, maxPositions, owned)};
  } catch (e) {
    tf.dispose(owned);
    if (e instanceof Refusal) return {ok: false, reason: e.message};
    return {ok: false, reason: `reading the model's layers failed: ${(e as Error).message.split('\n')[0]}`};
  }
}

function build(model: LayersModel, maxPositions: number, owned: tf.Tensor[]): LayersDecoder {
  const output = logitsOutput(model);
  if (typeof output === 'string') refuse(output);
  const outLayer = skip(model.outputs[output].sourceLayer as unknown as LayerLike);
  if (!is(outLayer, 'Dense')) refuse(`the output comes from ${label(outLayer)}, not a Dense head over the vocabulary`);
  const head = dense(outLayer);
  if (head.activation !== 'linear') refuse(`the head ${label(head.layer)} applies '${head.activation}', so its output is not logits`);
  const r = recogniseFrom(head);
  const vocab = head.units;
  const embed = r.token.table.shape[1];
  if (r.token.rows !== vocab) refuse(`the head's ${vocab} outputs do not match the token embedding's ${r.token.rows} rows`);
  if (r.position && r.position.table.shape[1] !== embed) refuse('the token and position embeddings differ in width');
  if (head.kernel.shape[0] !== embed) refuse(`the head reads ${head.kernel.shape[0]} features, not the model width ${embed}`);

  // The inputs the fused step replaces: token ids and position ids 0, 1, 2, ... and nothing else.
  const inputLayers = model.inputLayers as unknown as LayerLike[];
  const tokenInput = inputLayers.indexOf(r.token.input);
  const positionInput = r.position ? inputLayers.indexOf(r.position.input) : null;
  if (tokenInput < 0 || positionInput === -1) refuse('the embeddings read inputs that are not the model\'s');
  const others = inputLayers.filter((_, i) => i !== tokenInput && i !== positionInput);
  if (others.length > 0) refuse(`the model takes inputs besides token and position ids (${others.map(l => l.name).join(', ')})`);

  const heads = same(r.blocks.map(b => b.attention.heads), 'heads');
  const headDim = same(r.blocks.map(b => b.attention.headDim), 'head size');
  const activation = same(r.blocks.map(b => b.mlp.activation), 'activation');
  same(r.blocks.map(b => b.mlp.gate !== null), 'MLP form (gated or not)');
  const eps = same(r.blocks.flatMap(b => [b.norm1.eps, b.norm2.eps]), 'norm epsilon');
  const width = heads * headDim;
  /** `t` as [rows, cols]: itself, or a reshaped view of its data. */
  const view = (t: tf.Tensor, shape: number[], what: string): tf.Tensor => {
    if (t.size !== shape.reduce((a, b) => a * b, 1)) refuse(`${what} has shape [${t.shape.join(', ')}], not [${shape.join(', ')}]`);
    if (tf.util.arraysEqual(t.shape, shape)) return t;
    const v = tf.reshape(t, shape);
    owned.push(v);
    return v;
  };
  const matrix = (t: tf.Tensor, rows: number, cols: number, what: string) => view(t, [rows, cols], what) as tf.Tensor2D;
  const vector = (t: tf.Tensor, n: number, what: string) => view(t, [n], what) as tf.Tensor1D;
  const layers: DecoderLayerWeights[] = r.blocks.map((b, l) => {
    const a = b.attention, m = b.mlp;
    const name = `block ${l} (${label(a.layer)})`;
    if (m.up.kernel.shape[0] !== embed || m.down.units !== embed) refuse(`${name}: the MLP does not map the model width ${embed} back to itself`);
    if (a.q.kernel.shape[0] !== embed) refuse(`${name}: the attention reads ${a.q.kernel.shape[0]} features, not ${embed}`);
    const w: DecoderLayerWeights = {
      qWeight: matrix(a.q.kernel, embed, width, `${name} query kernel`),
      kWeight: matrix(a.k.kernel, embed, width, `${name} key kernel`),
      vWeight: matrix(a.v.kernel, embed, width, `${name} value kernel`),
      outWeight: matrix(a.out.kernel, width, embed, `${name} attention_output kernel`),
      upWeight: m.up.kernel,
      downWeight: m.down.kernel,
    };
    const optional = <K extends keyof DecoderLayerWeights>(key: K, t: tf.Tensor | undefined, n: number, what: string) => {
      if (t) w[key] = vector(t, n, `${name} ${what}`) as DecoderLayerWeights[K];
    };
    optional('qBias', a.q.bias, width, 'query bias');
    optional('kBias', a.k.bias, width, 'key bias');
    optional('vBias', a.v.bias, width, 'value bias');
    optional('outBias', a.out.bias, embed, 'attention_output bias');
    optional('upBias', m.up.bias, m.up.units, 'MLP bias');
    optional('downBias', m.down.bias, embed, 'MLP output bias');
    if (m.gate) {
      if (m.gate.units !== m.up.units) refuse(`${name}: the gate and up projections differ in width`);
      w.gateWeight = m.gate.kernel;
      optional('gateBias', m.gate.bias, m.gate.units, 'gate bias');
    }
    optional('norm1Gamma', b.norm1.gamma, embed, 'first norm gamma');
    optional('norm1Beta', b.norm1.beta, embed, 'first norm beta');
    optional('norm2Gamma', b.norm2.gamma, embed, 'second norm gamma');
    optional('norm2Beta', b.norm2.beta, embed, 'second norm beta');
    return w;
  });

  const weights: DecoderWeights = {wordEmbeddings: r.token.table, lmHead: head.kernel, layers};
  if (head.bias) weights.lmHeadBias = vector(head.bias, vocab, 'the head bias');
  if (r.position) weights.positionEmbeddings = r.position.table;
  if (r.finalNorm) {
    if (r.finalNorm.gamma) weights.finalNormGamma = vector(r.finalNorm.gamma, embed, 'the final norm gamma');
    if (r.finalNorm.beta) weights.finalNormBeta = vector(r.finalNorm.beta, embed, 'the final norm beta');
    if (!r.finalNorm.gamma && !r.finalNorm.beta) {
      const ones = tf.ones([embed]) as tf.Tensor1D;
      owned.push(ones);
      weights.finalNormGamma = ones;
    }
  }
  const config: DecoderConfig = {
    numHeads: heads, numKvHeads: heads, normKind: 'layer', normFirst: r.normFirst, parallel: false, activation,
    scale: 1 / Math.sqrt(headDim), embeddingScale: r.token.scale, positionOffset: 0, normEps: eps,
    finalNormEps: r.finalNorm?.eps ?? eps, lmHeadTransposed: false,
  };
  return {
    weights, config, positions: r.position ? Math.min(maxPositions, r.position.rows) : maxPositions,
    tokenInput, positionInput, output, maskTokenId: r.token.maskZero ? 0 : null, owned,
  };
}
