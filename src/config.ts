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
