/** ScaledDotProductAttention on `cpu`: the native core when it is loaded, else portable TypeScript. */
import type {KernelConfig, KernelFunc} from '@tensorflow/tfjs-core';
import {kernelName, SdpaAttrs} from '../../../op_table';
import {attentionForwardHead, ForwardScratch} from '../../../portable/flash_attention_forward';
import {AttentionLayout, headProblem, matrixAt, readAttentionLayout} from '../attention_layout';
import {asCpuBackend} from '../cpu_backend';
import {nativeSdpaShape} from '../native/attention';
import {activeNativeCore} from '../native/selection';

const scaledDotProductAttention: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as SdpaAttrs;
  const layout = readAttentionLayout(cpu, inputs, a);
  const {batch, heads, querySeq, valueDepth} = layout;
  const out = new Float32Array(batch * heads * querySeq * valueDepth);
  const lse = new Float32Array(batch * heads * querySeq);
  const core = activeNativeCore();
  if (core) {
    core.scaledDotProductAttention({...nativeSdpaShape(layout, a), q: layout.q, k: layout.k, v: layout.v, out, lse});
  } else {
    portableForward(layout, a, out, lse);
  }
  return [
    cpu.makeTensorInfo([batch, heads, querySeq, valueDepth], 'float32', out),
    cpu.makeTensorInfo([batch, heads, querySeq], 'float32', lse),
  ];
};

function portableForward(layout: AttentionLayout, a: SdpaAttrs, out: Float32Array, lse: Float32Array): void {
  const {batch, heads, kvHeads, querySeq, keySeq, depth, valueDepth} = layout;
  const group = heads / kvHeads;
  const scratch = new ForwardScratch(valueDepth);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const head = b * heads + h;
      const kvHead = b * kvHeads + Math.floor(h / group);
      attentionForwardHead(
          headProblem(layout, a, b, h),
          matrixAt(layout.q, head, querySeq, depth),
          matrixAt(layout.k, kvHead, keySeq, depth),
          matrixAt(layout.v, kvHead, keySeq, valueDepth),
          matrixAt(out, head, querySeq, valueDepth),
          lse, head * querySeq, scratch);
    }
  }
}

export const scaledDotProductAttentionConfig: KernelConfig = {
  kernelName: kernelName('ScaledDotProductAttention'),
  backendName: 'cpu',
  kernelFunc: scaledDotProductAttention,
};
