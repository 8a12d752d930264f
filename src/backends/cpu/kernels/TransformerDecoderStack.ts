/**
 * TransformerDecoderStack on `cpu`: a whole decoder step in one native call
 * (weights read in place from the tensors' arrays, or bfloat16 copies made once
 * per tensor when weightPrecision is 'bfloat16'), or the portable TypeScript
 * step. The caches, and the cross caches of a model with cross-attention, are
 * donated (donated_cache.ts): written in place and returned.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {
  DecoderLayerInputName, decoderLayerInput, DecoderStackAttrs, decoderStackInput, DecoderStackInputName, kernelName,
} from '../../../op_table';
import {decoderStep, PortableDecoderLayer} from '../../../portable/decoder_stack';
import {asCpuBackend, CpuBackend, floatValues, typedValues} from '../cpu_backend';
import {DonatedCache, donateCache} from '../donated_cache';
import type {DecoderLayerParams, DecoderModelParams, InPlaceWeight} from '../native/api';
import {NativeCore} from '../native/addon';
import {bf16Weight} from '../native/packed_weights';
import {activeNativeCoreWith} from '../native/selection';

type Lookup = (name: DecoderStackInputName) => TensorInfo;
type LayerLookup = (layer: number, name: DecoderLayerInputName) => TensorInfo;

/** A placeholder ([0]-shaped) input is absent. */
function optional(cpu: CpuBackend, info: TensorInfo): Float32Array | null {
  return info.shape.reduce((a, b) => a * b, 1) === 0 ? null : floatValues(cpu, info);
}

/** An int32 tensor's values as an Int32Array (a cast from bool may keep the backend's Uint8Array). */
function int32Values(cpu: CpuBackend, info: TensorInfo): Int32Array {
  const values = typedValues(cpu, info);
  return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
}

function nativeModel(core: NativeCore, cpu: CpuBackend, a: DecoderStackAttrs, g: Lookup, layer: LayerLookup): DecoderModelParams {
  const bf16 = a.weightPrecision === 'bfloat16';
  const weight = (info: TensorInfo, transposed = false): InPlaceWeight =>
    (bf16 ? bf16Weight(core, cpu, info, transposed) : floatValues(cpu, info));
  const [vocab, embed] = g('wordEmbeddings').shape;
  const opt = (info: TensorInfo) => optional(cpu, info) ?? undefined;
  const layers: DecoderLayerParams[] = [];
  for (let l = 0; l < a.numLayers; l++) {
    const w = (name: DecoderLayerInputName) => layer(l, name);
    const params: DecoderLayerParams = {
      norm1Gamma: opt(w('norm1Gamma')), norm1Beta: opt(w('norm1Beta')), norm1Eps: a.normEps1[l],
      norm2Gamma: opt(w('norm2Gamma')), norm2Beta: opt(w('norm2Beta')), norm2Eps: a.normEps2[l],
      wo: weight(w('outWeight')), bo: opt(w('outBias')),
      wup: weight(w('upWeight')), bup: opt(w('upBias')), wdown: weight(w('downWeight')), bdown: opt(w('downBias')),
    };
    if (a.packedQkv) {
      params.wqkv = weight(w('qkvWeight'));
      params.bqkv = opt(w('qkvBias'));
    } else {
      params.wq = weight(w('qWeight'));
      params.wk = weight(w('kWeight'));
      params.wv = weight(w('vWeight'));
      params.bq = opt(w('qBias'));
      params.bk = opt(w('kBias'));
      params.bv = opt(w('vBias'));
    }
    if (a.gatedMlp) {
      params.wgate = weight(w('gateWeight'));
      params.bgate = opt(w('gateBias'));
    }
    if (a.crossAttention) {
      Object.assign(params, {
        crossNormGamma: opt(w('crossNormGamma')), crossNormBeta: opt(w('crossNormBeta')), crossNormEps: a.normEpsCross[l],
        wcq: weight(w('crossQWeight')), bcq: opt(w('crossQBias')), wck: weight(w('crossKWeight')),
        bck: opt(w('crossKBias')), wcv: weight(w('crossVWeight')), bcv: opt(w('crossVBias')),
        wco: weight(w('crossOutWeight')), bco: opt(w('crossOutBias')),
      });
    }
    layers.push(params);
  }
  const ffn = a.numLayers > 0 ? layer(0, 'upWeight').shape[1] : 0;
  return {
    vocabSize: vocab, E: embed, H: a.numHeads, Hkv: a.numKvHeads, D: a.headDim, F: ffn,
    normKind: a.normKind, normFirst: a.normFirst, parallel: a.parallel, parallelSharedNorm: a.parallelSharedNorm,
    activation: a.activation, gatedMlp: a.gatedMlp, scale: a.scale, embeddingScale: a.embeddingScale,
    wordEmbeddings: floatValues(cpu, g('wordEmbeddings')),
    ...(optional(cpu, g('positionEmbeddings')) ? {positionEmbeddings: floatValues(cpu, g('positionEmbeddings')),
      positionOffset: a.positionOffset} : {}),
    ...(a.rotaryDim > 0 ? {rotaryDim: a.rotaryDim, rotaryInterleaved: a.rotaryInterleaved,
      rotaryCos: floatValues(cpu, g('rotaryCos')), rotarySin: floatValues(cpu, g('rotarySin'))} : {}),
    hasFinalNorm: a.hasFinalNorm, finalNormGamma: opt(g('finalNormGamma')), finalNormBeta: opt(g('finalNormBeta')),
    finalNormEps: a.finalNormEps, lmHead: weight(g('lmHead'), a.lmHeadTransposed), lmHeadTransposed: a.lmHeadTransposed,
    lmHeadBias: opt(g('lmHeadBias')), layers, crossAttention: a.crossAttention,
    ...(a.hasPositionBias ? {positionBias: floatValues(cpu, g('positionBias')),
      positionBiasRows: g('positionBias').shape[1]} : {}),
    ...(a.hasEmbeddingNorm ? {hasEmbeddingNorm: true, embeddingNormGamma: opt(g('embeddingNormGamma')),
      embeddingNormBeta: opt(g('embeddingNormBeta')), embeddingNormEps: a.embeddingNormEps,
      embeddingNormBeforePositions: a.embeddingNormBeforePositions} : {}),
  };
}

/** The native step's encoder fields: the (donated) cross caches, the source mask, the states to fill them from. */
function nativeSource(cpu: CpuBackend, a: DecoderStackAttrs, g: Lookup, keys: DonatedCache | null,
  values: DonatedCache | null) {
  if (!a.crossAttention || !keys || !values) return {};
  return {
    S: g('crossKeyCache').shape[3], crossKeyCache: keys.values, crossValueCache: values.values,
    ...(a.fillCrossCache ? {encoderStates: floatValues(cpu, g('encoderStates'))} : {}),
    ...(a.hasSourceMask ? {sourceMask: int32Values(cpu, g('sourceMask'))} : {}),
  };
}

function portableLayer(cpu: CpuBackend, l: number, layer: LayerLookup): PortableDecoderLayer {
  const o = (name: DecoderLayerInputName) => optional(cpu, layer(l, name));
  return {
    norm1Gamma: o('norm1Gamma'), norm1Beta: o('norm1Beta'), norm2Gamma: o('norm2Gamma'), norm2Beta: o('norm2Beta'),
    qkvWeight: o('qkvWeight'), qkvBias: o('qkvBias'), qWeight: o('qWeight'), qBias: o('qBias'), kWeight: o('kWeight'),
    kBias: o('kBias'), vWeight: o('vWeight'), vBias: o('vBias'), outWeight: o('outWeight') as Float32Array,
    outBias: o('outBias'), gateWeight: o('gateWeight'), gateBias: o('gateBias'), upWeight: o('upWeight') as Float32Array,
    upBias: o('upBias'), downWeight: o('downWeight') as Float32Array, downBias: o('downBias'),
    crossNormGamma: o('crossNormGamma'), crossNormBeta: o('crossNormBeta'), crossQWeight: o('crossQWeight'),
    crossQBias: o('crossQBias'), crossKWeight: o('crossKWeight'), crossKBias: o('crossKBias'),
    crossVWeight: o('crossVWeight'), crossVBias: o('crossVBias'), crossOutWeight: o('crossOutWeight'),
    crossOutBias: o('crossOutBias'),
  };
}

/** The cross caches' outputs: donated when the model has cross-attention, else empty placeholders. */
function crossCaches(cpu: CpuBackend, a: DecoderStackAttrs, g: Lookup): {keys: DonatedCache | null; values: DonatedCache | null;
  outputs: TensorInfo[]} {
  if (!a.crossAttention) {
    const empty = () => cpu.makeTensorInfo([0], 'float32', new Float32Array(0));
    return {keys: null, values: null, outputs: [empty(), empty()]};
  }
  const keys = donateCache(cpu, g('crossKeyCache')), values = donateCache(cpu, g('crossValueCache'));
  return {keys, values, outputs: [keys.output, values.output]};
}

const transformerDecoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as unknown as DecoderStackAttrs;
  const list = inputs as unknown as TensorInfo[];
  const g: Lookup = name => list[decoderStackInput(name)];
  const layer: LayerLookup = (l, name) => list[decoderLayerInput(l, name)];
  const ids = g('inputIds');
  const [batch, newTokens] = ids.shape;
  const [vocab, embed] = g('wordEmbeddings').shape;
  const capacity = g('keyCache').shape[3];
  const past = typedValues(cpu, g('pastLengths')) as Int32Array, fresh = typedValues(cpu, g('newLengths')) as Int32Array;
  const keys = donateCache(cpu, g('keyCache')), values = donateCache(cpu, g('valueCache'));
  const cross = crossCaches(cpu, a, g);
  const logitsShape = a.logitsRows === 'all' ? [batch, newTokens, vocab] : [batch, vocab];
  const logits = new Float32Array(logitsShape.reduce((x, y) => x * y, 1));
  const lengths = new Int32Array(batch);
  const inputIds = typedValues(cpu, ids) as Int32Array;
  const core = activeNativeCoreWith('transformerDecoderStack');
  if (core) {
    core.transformerDecoderStack({
      model: nativeModel(core, cpu, a, g, layer), inputIds, pastLengths: past, newLengths: fresh, B: batch, N: newTokens,
      C: capacity, keyCache: keys.values, valueCache: values.values, logitsRows: a.logitsRows, logits, lengths,
      ...nativeSource(cpu, a, g, cross.keys, cross.values),
    });
  } else {
    for (let b = 0; b < batch; b++) lengths[b] = past[b] + fresh[b];
    decoderStep({
      attrs: a, vocab, embed, ffn: a.numLayers > 0 ? layer(0, 'upWeight').shape[1] : 0,
      wordEmbeddings: floatValues(cpu, g('wordEmbeddings')), positionEmbeddings: optional(cpu, g('positionEmbeddings')),
      rotaryCos: optional(cpu, g('rotaryCos')), rotarySin: optional(cpu, g('rotarySin')),
      finalNormGamma: optional(cpu, g('finalNormGamma')), finalNormBeta: optional(cpu, g('finalNormBeta')),
      lmHead: floatValues(cpu, g('lmHead')), lmHeadBias: optional(cpu, g('lmHeadBias')),
      positionBias: a.hasPositionBias ? floatValues(cpu, g('positionBias')) : null,
      embeddingNormGamma: optional(cpu, g('embeddingNormGamma')), embeddingNormBeta: optional(cpu, g('embeddingNormBeta')),
      layers: Array.from({length: a.numLayers}, (_, l) => portableLayer(cpu, l, layer)),
    }, {
      inputIds, batch, newTokens, capacity, past, fresh, keyCache: keys.values, valueCache: values.values, logits,
      sourceLength: a.crossAttention ? g('crossKeyCache').shape[3] : 0,
      encoderStates: a.crossAttention && a.fillCrossCache ? floatValues(cpu, g('encoderStates')) : null,
      sourceMask: a.crossAttention && a.hasSourceMask ? int32Values(cpu, g('sourceMask')) : null,
      crossKeyCache: cross.keys?.values ?? null, crossValueCache: cross.values?.values ?? null,
    });
  }
  return [cpu.makeTensorInfo(logitsShape, 'float32', logits), keys.output, values.output,
    cpu.makeTensorInfo([batch], 'int32', lengths), ...cross.outputs];
};

export const transformerDecoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerDecoderStack'),
  backendName: 'cpu',
  kernelFunc: transformerDecoderStack,
};
