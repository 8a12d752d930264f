/**
 * Limits every op enforces before anything is allocated: a dimension, and the
 * element count of any result or intermediate the kernels allocate, fit in an
 * int32 (the native core's and typed arrays' practical limit); numbers that
 * become float32 attributes stay finite as float32; a stack has at most
 * MAX_LAYERS layers (the native core's limit too).
 */
export const MAX_DIMENSION = 2 ** 31 - 1;
export const MAX_ELEMENTS = 2 ** 31 - 1;
export const FLOAT32_MAX = 3.4028234663852886e38;
export const MAX_LAYERS = 100_000;
