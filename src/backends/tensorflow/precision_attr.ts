/** The GPU precision the tensorflow kernels pass to the op library's ops (its `precision` attribute). */
import {getGpuPrecision, GpuPrecision} from '../../config';
import type {GpuPrecisionAttr} from '../../op_table';

/**
 * The `precision` attribute of an op whose GPU kernel does matrix products: the one the public op
 * resolved, or the process-wide setting for a kernel run without it (a direct runKernel call).
 * The op library's CPU kernels ignore it; its GPU kernels refuse anything but 'highest', 'high'
 * and 'medium'.
 */
export function gpuPrecisionAttr(attrs: Partial<GpuPrecisionAttr>): GpuPrecision {
  return attrs.precision ?? getGpuPrecision();
}
