/**
 * EmbeddingSum on `cpu`: one pass over the output rows (a tfjs-cpu gather
 * computes a strided index per element, and each add broadcasts), then the
 * LayerNorm in place. Portable TypeScript on the backend's typed arrays.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {
  EMBEDDING_SUM_BETA_INPUT, EMBEDDING_SUM_GAMMA_INPUT, EmbeddingSumAttrs, embeddingSumIndicesInput,
  embeddingSumTableInput, kernelName,
} from '../../../op_table';
import {embeddingSumRows, EmbeddingIndices} from '../../../portable/embedding_sum';
import {layerNormRows} from '../../../portable/layer_norm';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';

/** Indices 0..n-1 in the given shape: a constant term is a table indexed by its own row positions. */
function rowPositions(shape: number[]): EmbeddingIndices {
  const count = shape.reduce((a, b) => a * b, 1);
  return {values: Int32Array.from({length: count}, (_, i) => i), shape};
}

const embeddingSum: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as unknown as EmbeddingSumAttrs;
  const input = (i: number) => inputs[i] as TensorInfo;
  const first = input(embeddingSumTableInput(0));
  const width = first.shape[first.shape.length - 1];
  const terms = Array.from({length: a.numTerms}, (_, k) => {
    const table = input(embeddingSumTableInput(k)), indices = input(embeddingSumIndicesInput(k));
    return {
      table: {values: floatValues(cpu, table), rows: table.shape.reduce((x, y) => x * y, 1) / width},
      indices: a.lookups[k] ? {values: typedValues(cpu, indices), shape: indices.shape} :
                              rowPositions(table.shape.slice(0, -1)),
    };
  });
  const {values, rowShape} = embeddingSumRows(terms, width, 'embeddingSum');
  if (a.hasNorm) {
    layerNormRows(values, values.length / width, width, floatValues(cpu, input(EMBEDDING_SUM_GAMMA_INPUT)),
        floatValues(cpu, input(EMBEDDING_SUM_BETA_INPUT)), a.epsilon, values);
  }
  return cpu.makeTensorInfo([...rowShape, width], 'float32', values);
};

export const embeddingSumConfig: KernelConfig = {
  kernelName: kernelName('EmbeddingSum'),
  backendName: 'cpu',
  kernelFunc: embeddingSum,
};
