/**
 * TransformerDecoderStack on tfjs-node (`tensorflow`): one call of the op
 * library's TensorFlow op of the same name: its `weights` input is the list of
 * the 8 global tensors and every layer's 20 (after the ids, lengths and
 * caches); the caches are appended to in place and returned (donated: see
 * ../donated_cache.ts).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {DecoderStackAttrs, decoderStackInput, kernelName, opNames} from '../../../op_table';
import {donateCaches} from '../donated_cache';
import {asNodeBackend, OpAttrs} from '../node_backend';

const transformerDecoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as DecoderStackAttrs;
  const all = Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map(key => inputs[key] as TensorInfo);
  const at = (name: Parameters<typeof decoderStackInput>[0]) => all[decoderStackInput(name)];
  const weights = all.slice(decoderStackInput('wordEmbeddings'));
  const caches = donateCaches(nb, at('keyCache'), at('valueCache'));
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
        .build();
    return nb.executeMultipleOutputs(opNames('TransformerDecoderStack').tensorflowOp, opAttrs, [
      at('inputIds'), at('pastLengths'), at('newLengths'), caches.keyCache, caches.valueCache, ...weights,
    ], 4);
  } finally {
    for (const copy of caches.copies) copy.dispose();
  }
};

export const transformerDecoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerDecoderStack'),
  backendName: 'tensorflow',
  kernelFunc: transformerDecoderStack,
};
