/**
 * EmbeddingSum on tfjs-node (`tensorflow`): the op library's TensorFlow op of
 * the same name (CPU and GPU kernels), which takes the tables and the indices
 * as two lists (`tables: N * float`, `indices: N * int32`) where the tfjs
 * kernel interleaves them. A constant term's indices placeholder goes as an
 * int32 [0] tensor (the op never reads it).
 */
import type {KernelConfig, KernelFunc, Tensor, TensorInfo} from '@tensorflow/tfjs-core';
import {
  EMBEDDING_SUM_BETA_INPUT, EMBEDDING_SUM_GAMMA_INPUT, EmbeddingSumAttrs, embeddingSumIndicesInput,
  embeddingSumTableInput, kernelName, opNames,
} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';

const embeddingSum: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as EmbeddingSumAttrs;
  const input = (i: number) => inputs[i] as TensorInfo;
  const casts: Tensor[] = [];
  const intIndices = (t: TensorInfo): TensorInfo => {
    if (t.dtype === 'int32') return t;
    const cast = nb.executeSingleOutput('Cast',
        new OpAttrs(nb).dtype('SrcT', t.dtype).dtype('DstT', 'int32').bool('Truncate', false).build(), [t]);
    casts.push(cast);
    return cast;
  };
  try {
    const tables = Array.from({length: a.numTerms}, (_, k) => input(embeddingSumTableInput(k)));
    const indices = Array.from({length: a.numTerms}, (_, k) => intIndices(input(embeddingSumIndicesInput(k))));
    const opAttrs = new OpAttrs(nb).int('N', a.numTerms).bools('lookups', a.lookups).bool('has_norm', a.hasNorm)
        .float('epsilon', a.epsilon).build();
    return nb.executeSingleOutput(opNames('EmbeddingSum').tensorflowOp, opAttrs, [
      input(EMBEDDING_SUM_GAMMA_INPUT), input(EMBEDDING_SUM_BETA_INPUT), ...tables, ...indices,
    ]);
  } finally {
    for (const cast of casts) cast.dispose();
  }
};

export const embeddingSumConfig: KernelConfig = {
  kernelName: kernelName('EmbeddingSum'),
  backendName: 'tensorflow',
  kernelFunc: embeddingSum,
};
