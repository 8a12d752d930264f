/**
 * Which implementation the ops prefer. `auto` uses the fastest fused kernel
 * registered for the active backend (on `cpu`: the native core when it loads)
 * and falls back to a composite of plain tfjs ops where none is; `portable`
 * forces the TypeScript kernels on the `cpu` backend (and composite ops
 * elsewhere); `composite` forces plain tfjs ops everywhere (useful for checking a
 * result against tfjs itself). Set with `setKernelPreference` or the
 * TFJS_BT_KERNELS environment variable.
 */
import {BetterTransformerArgumentError} from './errors';

export const KERNEL_PREFERENCES = ['auto', 'portable', 'composite'] as const;
export type KernelPreference = typeof KERNEL_PREFERENCES[number];

function parsePreference(value: string | undefined, source: string): KernelPreference {
  if (value === undefined || value === '') return 'auto';
  if ((KERNEL_PREFERENCES as readonly string[]).includes(value)) return value as KernelPreference;
  throw new BetterTransformerArgumentError(
      `${source} must be one of ${KERNEL_PREFERENCES.join(', ')}, got '${value}'`);
}

let preference: KernelPreference =
    parsePreference(typeof process !== 'undefined' ? process.env.TFJS_BT_KERNELS : undefined,
                    'environment variable TFJS_BT_KERNELS');

export function getKernelPreference(): KernelPreference {
  return preference;
}

export function setKernelPreference(value: KernelPreference): void {
  preference = parsePreference(value, 'setKernelPreference(value)');
}

/**
 * The arithmetic of the GPU kernels' matrix products (tfjs-node-gpu's `tensorflow` backend), named
 * after PyTorch's `torch.set_float32_matmul_precision`: 'highest' FP32 FMA; 'high' TF32 tensor
 * cores with FP32 accumulation (the default: what TensorFlow itself uses for float32 matmuls on
 * Ampere and newer); 'medium' bfloat16 tensor cores with FP32 accumulation and softmax
 * statistics. Inputs and outputs are float32 at every precision. The CPU kernels (native core,
 * portable TypeScript) and the composites compute in float32 whatever the setting.
 */
export const GPU_PRECISIONS = ['highest', 'high', 'medium'] as const;
export type GpuPrecision = typeof GPU_PRECISIONS[number];

/** The precision when neither setGpuPrecision nor TFJS_BT_GPU_PRECISION says otherwise. */
export const DEFAULT_GPU_PRECISION: GpuPrecision = 'high';

export function isGpuPrecision(value: unknown): value is GpuPrecision {
  return typeof value === 'string' && (GPU_PRECISIONS as readonly string[]).includes(value);
}

function describeGpuPrecisionError(source: string, value: unknown): string {
  const got = typeof value === 'string' ? `'${value}'` : value === null ? 'null' : typeof value;
  return `${source} must be one of ${GPU_PRECISIONS.map(p => `'${p}'`).join(', ')}, got ${got}`;
}

/** The value setGpuPrecision set; undefined until it is called. */
let gpuPrecision: GpuPrecision | undefined;

function gpuPrecisionFromEnvironment(): GpuPrecision {
  const value = typeof process !== 'undefined' ? process.env?.TFJS_BT_GPU_PRECISION : undefined;
  if (value === undefined || value === '') return DEFAULT_GPU_PRECISION;
  if (isGpuPrecision(value)) return value;
  throw new BetterTransformerArgumentError(describeGpuPrecisionError('environment variable TFJS_BT_GPU_PRECISION', value));
}

/**
 * The process-wide GPU precision: the one set by setGpuPrecision, else the environment variable
 * TFJS_BT_GPU_PRECISION ('highest', 'high' or 'medium'), else 'high'. The variable is read by
 * each call until setGpuPrecision is called: an invalid value makes every op call that needs the
 * precision (one without its own `precision` option) throw a BetterTransformerArgumentError
 * naming the variable.
 */
export function getGpuPrecision(): GpuPrecision {
  return gpuPrecision ?? gpuPrecisionFromEnvironment();
}

/**
 * Sets the precision of the GPU kernels' matrix products for every later op call that does not
 * pass its own `precision` option. Throws a BetterTransformerArgumentError naming the argument
 * for anything but 'highest', 'high' or 'medium'.
 */
export function setGpuPrecision(precision: GpuPrecision): void {
  if (!isGpuPrecision(precision)) {
    throw new BetterTransformerArgumentError(describeGpuPrecisionError('setGpuPrecision(precision)', precision));
  }
  gpuPrecision = precision;
}

