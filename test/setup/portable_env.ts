// The `cpu-portable` project: the same suites on the portable TypeScript kernels (native core not loaded).
process.env.TFJS_BT_NATIVE = 'off';
