/** RotaryEmbedding on `cpu`: native, or the portable rotation per (sequence, token). */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, RotaryEmbeddingAttrs} from '../../../op_table';
import {rotateHeads} from '../../../portable/rotary';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';
import {activeNativeCoreWith} from '../native/selection';

const rotaryEmbedding: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const {x, positions, cos, sin} = inputs as Record<string, TensorInfo>;
  const {rotaryDim, interleaved} = attrs as RotaryEmbeddingAttrs;
  const [batch, heads, seq, depth] = x.shape;
  const values = floatValues(cpu, x);
  const pos = typedValues(cpu, positions) as Int32Array;
  const core = activeNativeCoreWith('rotaryEmbedding');
  if (core) {
    const out = new Float32Array(values.length);
    core.rotaryEmbedding({x: values, positions: pos, B: batch, H: heads, S: seq, D: depth, rotaryDim, interleaved,
      cos: floatValues(cpu, cos), sin: floatValues(cpu, sin), out});
    return cpu.makeTensorInfo(x.shape, 'float32', out);
  }
  const out = values.slice();
  const c = floatValues(cpu, cos), s = floatValues(cpu, sin);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      rotateHeads(out, (b * heads * seq + t) * depth, heads, seq * depth, pos[b * seq + t], rotaryDim / 2, c, s, interleaved);
    }
  }
  return cpu.makeTensorInfo(x.shape, 'float32', out);
};

export const rotaryEmbeddingConfig: KernelConfig = {
  kernelName: kernelName('RotaryEmbedding'),
  backendName: 'cpu',
  kernelFunc: rotaryEmbedding,
};
