/**
 * The backend the CLI runs on: `tensorflow` when tfjs-node or tfjs-node-gpu is installed (or when asked
 * for), else `cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../index';
import {loadTfjsNode} from '../backends/tensorflow/load_tfjs_node';
import {GPU_PRECISIONS, GpuPrecision, setGpuPrecision} from '../config';

/** The `--gpu-precision` option of the commands that run models (bench, generate). */
export const GPU_PRECISION_CHOICES: readonly string[] = GPU_PRECISIONS;
export const GPU_PRECISION_HELP = "precision of the GPU kernels' matrix products on tfjs-node-gpu: 'highest' (FP32), " +
    "'high' (TF32, the default) or 'medium' (bfloat16); no effect on the CPU";

/** Applies `--gpu-precision` process-wide (commander has checked it against the choices). */
export function applyGpuPrecision(precision: string | undefined): void {
  if (precision !== undefined) setGpuPrecision(precision as GpuPrecision);
}

export async function prepareBackend(requested?: string): Promise<string> {
  if (requested !== 'cpu') {
    try {
      loadTfjsNode();
    } catch (e) {
      if (requested === 'tensorflow') {
        throw new Error(`the tensorflow backend needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: ${(e as Error).message}`);
      }
    }
  }
  const name = requested ?? (tf.findBackend('tensorflow') ? 'tensorflow' : 'cpu');
  if (!(await tf.setBackend(name))) throw new Error(`cannot use the ${name} backend`);
  await tf.ready();
  return name;
}
