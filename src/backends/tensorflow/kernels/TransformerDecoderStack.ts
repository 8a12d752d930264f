/**
 * TransformerDecoderStack on tfjs-node (`tensorflow`): one call of the op
 * library's TensorFlow op of the same name. Its inputs are the ids, lengths and
 * caches, then the int32 sourceMask and the cross caches (named inputs: the
 * mask is not float), then `weights`: the float global tensors (every global
 * input from wordEmbeddings on, less those three) and every layer's tensors.
 * The caches and cross caches are written in place and returned (donated: see
 * ../donated_cache.ts).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {DecoderStackAttrs, decoderStackInput, kernelName, opNames} from '../../../op_table';
import {donateCaches} from '../donated_cache';
import {asNodeBackend, OpAttrs} from '../node_backend';
import {gpuPrecisionAttr} from '../precision_attr';

const transformerDecoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as DecoderStackAttrs;
  const all = Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map(key => inputs[key] as TensorInfo);
  const at = (name: Parameters<typeof decoderStackInput>[0]) => all[decoderStackInput(name)];
  const named = new Set((['sourceMask', 'crossKeyCache', 'crossValueCache'] as const).map(decoderStackInput));
  const first = decoderStackInput('wordEmbeddings');
  const weights = all.slice(first).filter((_, i) => !named.has(first + i));
  const caches = donateCaches(nb, at('keyCache'), at('valueCache'));
  // Placeholders without cross-attention (never written: nothing to donate).
  const cross = a.crossAttention ? donateCaches(nb, at('crossKeyCache'), at('crossValueCache'))
    : {keyCache: at('crossKeyCache'), valueCache: at('crossValueCache'), copies: []};
  // The op's source_mask is int32; an absent mask may come as a float32 placeholder.
  const mask = at('sourceMask');
  const intMask = mask.dtype === 'int32' ? null : nb.executeSingleOutput('Cast',
      new OpAttrs(nb).dtype('SrcT', mask.dtype).dtype('DstT', 'int32').bool('Truncate', false).build(), [mask]);
  try {
    const opAttrs = new OpAttrs(nb)
        .int('N', weights.length).int('num_layers', a.numLayers).int('num_heads', a.numHeads)
        .int('num_kv_heads', a.numKvHeads).int('head_dim', a.headDim).string('norm_kind', a.normKind)
        .bool('norm_first', a.normFirst).bool('parallel', a.parallel).bool('parallel_shared_norm', a.parallelSharedNorm)
        .string('activation', a.activation).bool('gated_mlp', a.gatedMlp).bool('packed_qkv', a.packedQkv)
        .float('scale', a.scale).float('embedding_scale', a.embeddingScale).int('position_offset', a.positionOffset)
        .int('rotary_dim', a.rotaryDim).bool('rotary_interleaved', a.rotaryInterleaved)
        .bool('has_final_norm', a.hasFinalNorm).bool('lm_head_transposed', a.lmHeadTransposed)
        .floats('norm_eps1', a.normEps1).floats('norm_eps2', a.normEps2).float('final_norm_eps', a.finalNormEps)
        .string('logits_rows', a.logitsRows).string('weight_precision', a.weightPrecision)
        .bool('cross_attention', a.crossAttention).bool('fill_cross_cache', a.fillCrossCache)
        .bool('has_source_mask', a.hasSourceMask).bool('has_position_bias', a.hasPositionBias)
        .floats('norm_eps_cross', a.normEpsCross).bool('has_embedding_norm', a.hasEmbeddingNorm)
        .float('embedding_norm_eps', a.embeddingNormEps)
        .bool('embedding_norm_before_positions', a.embeddingNormBeforePositions)
        .string('precision', gpuPrecisionAttr(a))
        .build();
    return nb.executeMultipleOutputs(opNames('TransformerDecoderStack').tensorflowOp, opAttrs, [
      at('inputIds'), at('pastLengths'), at('newLengths'), caches.keyCache, caches.valueCache, intMask ?? mask,
      cross.keyCache, cross.valueCache, ...weights,
    ], 6);
  } finally {
    for (const copy of [...caches.copies, ...cross.copies]) copy.dispose();
    intMask?.dispose();
  }
};

export const transformerDecoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerDecoderStack'),
  backendName: 'tensorflow',
  kernelFunc: transformerDecoderStack,
};
