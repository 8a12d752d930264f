/**
 * ScaledDotProductAttentionGrad on `cpu` (the native core when it is loaded, else portable TypeScript). Inputs: dy plus
 * the forward's inputs and outputs (q, k, v, attnMask, keyPaddingMask, out,
 * lse). Outputs: dq, dk, dv and d(attnMask) (the mask's shape for an additive
 * mask, [0] otherwise).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, SdpaAttrs} from '../../../op_table';
import {attentionBackwardHead} from '../../../portable/flash_attention_backward';
import {headProblem, matrixAt, readAttentionLayout} from '../attention_layout';
import {asCpuBackend, floatValues} from '../cpu_backend';
import {nativeSdpaShape} from '../native/attention';
import {activeNativeCore} from '../native/selection';

const scaledDotProductAttentionGrad: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as SdpaAttrs;
  const layout = readAttentionLayout(cpu, inputs, a);
  const {batch, heads, kvHeads, querySeq, keySeq, depth, valueDepth, maskStrides, maskShape} = layout;
  const dy = floatValues(cpu, inputs.dy as TensorInfo);
  const out = floatValues(cpu, inputs.out as TensorInfo);
  const lse = floatValues(cpu, inputs.lse as TensorInfo);
  const group = heads / kvHeads;
  const additive = a.maskKind === 'additive' && maskShape !== null && maskStrides !== null;
  const maskSize = maskShape === null ? 0 : maskShape.reduce((x, y) => x * y, 1);

  const core = activeNativeCore();
  if (core) {
    const dq = new Float32Array(batch * heads * querySeq * depth);
    const dk = new Float32Array(batch * kvHeads * keySeq * depth);
    const dv = new Float32Array(batch * kvHeads * keySeq * valueDepth);
    const dMask = new Float32Array(additive ? maskSize : 0);
    core.scaledDotProductAttentionGrad({
      ...nativeSdpaShape(layout, a), q: layout.q, k: layout.k, v: layout.v, out, lse, dOut: dy,
      dQ: dq, dK: dk, dV: dv, ...(additive ? {dMask} : {}),
    });
    return [
      cpu.makeTensorInfo([batch, heads, querySeq, depth], 'float32', dq),
      cpu.makeTensorInfo([batch, kvHeads, keySeq, depth], 'float32', dk),
      cpu.makeTensorInfo([batch, kvHeads, keySeq, valueDepth], 'float32', dv),
      cpu.makeTensorInfo(additive && maskShape ? maskShape : [0], 'float32', dMask),
    ];
  }

  const dq = new Float32Array(batch * heads * querySeq * depth);
  // float64 accumulators: several query heads (GQA) and many rows add into each.
  const dkAcc = new Float64Array(batch * kvHeads * keySeq * depth);
  const dvAcc = new Float64Array(batch * kvHeads * keySeq * valueDepth);
  const dMaskAcc = additive ? new Float64Array(maskSize) : null;
  const dqRow = new Float64Array(Math.max(depth, 1));

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const head = b * heads + h;
      const kvHead = b * kvHeads + Math.floor(h / group);
      attentionBackwardHead(headProblem(layout, a, b, h), {
        q: matrixAt(layout.q, head, querySeq, depth),
        k: matrixAt(layout.k, kvHead, keySeq, depth),
        v: matrixAt(layout.v, kvHead, keySeq, valueDepth),
        out: matrixAt(out, head, querySeq, valueDepth),
        dOut: matrixAt(dy, head, querySeq, valueDepth),
        lse, lseOffset: head * querySeq,
        dq: matrixAt(dq, head, querySeq, depth),
        dk: {values: dkAcc, offset: kvHead * keySeq * depth, rowStride: depth},
        dv: {values: dvAcc, offset: kvHead * keySeq * valueDepth, rowStride: valueDepth},
        dMask: dMaskAcc === null || maskStrides === null ? null : {
          values: dMaskAcc,
          offset: b * maskStrides[0] + h * maskStrides[1],
          rowStride: maskStrides[2],
          colStride: maskStrides[3],
        },
      }, dqRow);
    }
  }
  return [
    cpu.makeTensorInfo([batch, heads, querySeq, depth], 'float32', dq),
    cpu.makeTensorInfo([batch, kvHeads, keySeq, depth], 'float32', Float32Array.from(dkAcc)),
    cpu.makeTensorInfo([batch, kvHeads, keySeq, valueDepth], 'float32', Float32Array.from(dvAcc)),
    dMaskAcc === null || maskShape === null ?
        cpu.makeTensorInfo([0], 'float32', new Float32Array(0)) :
        cpu.makeTensorInfo(maskShape, 'float32', Float32Array.from(dMaskAcc)),
  ];
};

export const scaledDotProductAttentionGradConfig: KernelConfig = {
  kernelName: kernelName('ScaledDotProductAttentionGrad'),
  backendName: 'cpu',
  kernelFunc: scaledDotProductAttentionGrad,
};
