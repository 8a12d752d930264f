/**
 * The op table (src/op_table) is the one description of every op: these tests
 * hold the rest of the package to it. A kernel declared for a backend must be
 * registered there and have its file; nothing may be registered that the
 * table does not declare; composites, gradients, public functions, native
 * entry points and docs/ops checklists follow the table.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as api from '../src';
import {BACKEND_KERNELS} from '../src/backends/registry';
import {nativeCore} from '../src/backends/cpu/native/addon';
import {tensorflowOpLibraryStatus} from '../src/backends/tensorflow/op_library';
import {compositeOf} from '../src/dispatch/composite_registry';
import {BackendName, OP_NAMES, opDef, opNames, OpName, OPS} from '../src/op_table';

const ROOT = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

function declaredBackends(op: OpName): BackendName[] {
  const kernels = opDef(op).kernels;
  return (Object.keys(kernels) as BackendName[]).filter(b => (kernels[b]?.length ?? 0) > 0);
}

describe.each(OP_NAMES)('op %s', op => {
  const def = opDef(op);
  const names = opNames(op);

  test('every backend the table declares has its kernel registered and in its own file', () => {
    for (const backend of declaredBackends(op)) {
      expect([backend, tf.getKernel(names.kernel, backend)?.kernelName]).toEqual([backend, names.kernel]);
      expect(fs.existsSync(path.join(ROOT, 'src', 'backends', backend, 'kernels', names.kernelFile))).toBe(true);
    }
  });

  test('has a composite exactly when the table says so', () => {
    expect(fs.existsSync(path.join(ROOT, 'src', 'composite', names.kernelFile))).toBe(def.composite);
    if (def.composite) expect(typeof compositeOf(op)).toBe('function');
    else expect(() => compositeOf(op)).toThrow(/no composite/);
  });

  test('the gradient the table declares is registered', () => {
    const registered = tf.getGradient(names.kernel);
    if (def.gradient.kind === 'none') {
      expect(registered).toBeUndefined();
    } else {
      expect(registered?.kernelName).toBe(names.kernel);
      if (def.gradient.kind === 'kernel') expect(OP_NAMES).toContain(def.gradient.op);
    }
  });

  test('its public function is exported under the derived name', () => {
    const exported = (api as Record<string, unknown>)[names.function];
    expect(typeof exported === 'function').toBe(def.exported);
  });

  test('its native entry points exist under the derived names', () => {
    const btk = read('kernels/include/btk.h');
    const cuda = read('kernels/include/bt_cuda.h');
    const declares = (header: string, symbol: string) => new RegExp(`\\b${symbol}\\s*\\(`).test(header);
    expect(declares(btk, names.cpuSymbol)).toBe(def.native.cpuCore);
    expect(declares(cuda, names.cudaSymbol)).toBe(def.native.cuda);
    const core = nativeCore() as unknown as Record<string, unknown> | null;
    if (core) expect(typeof core[names.function] === 'function').toBe(def.native.cpuCore);
    // A native `cpu` kernel needs the core's entry point.
    expect(def.native.cpuCore).toBe((def.kernels.cpu as readonly string[] | undefined)?.includes('native') ?? false);
  });

  test('has a checklist in docs/ops naming it and only files that exist', () => {
    const doc = read(path.join('docs', 'ops', names.docFile));
    for (const name of [names.kernel, names.function]) expect(doc).toContain(name);
    const paths = [...doc.matchAll(/`((?:src|test|kernels|tools|docs|benchmarks)\/[^`*\s]+)`/g)].map(m => m[1]);
    expect(paths.length).toBeGreaterThan(0);
    for (const file of paths) expect([file, fs.existsSync(path.join(ROOT, file))]).toEqual([file, true]);
  });
});

test('nothing is registered that the op table does not declare', () => {
  const declared = new Set(OP_NAMES.flatMap(op => declaredBackends(op).map(b => `${b}/${opNames(op).kernel}`)));
  const registered = BACKEND_KERNELS.flatMap(b => b.kernels.map(k => {
    expect(k.backendName).toBe(b.backendName);
    return `${k.backendName}/${k.kernelName}`;
  }));
  expect(registered.sort()).toEqual([...declared].sort());
  for (const backend of ['cpu', 'tensorflow'] as const) {
    const files = fs.readdirSync(path.join(ROOT, 'src', 'backends', backend, 'kernels')).sort();
    expect(files).toEqual(OP_NAMES.filter(op => declaredBackends(op).includes(backend)).map(op => opNames(op).kernelFile).sort());
  }
});

test('every op the TensorFlow op library registers is one the table declares, on the declared devices', () => {
  const status = tensorflowOpLibraryStatus();
  if (!status.loaded) return;  // the `tensorflow` project loads it; elsewhere there is nothing to check
  const expectedOps = OP_NAMES.filter(op => declaredBackends(op).includes('tensorflow')).map(op => opNames(op).tensorflowOp);
  expect([...status.ops].sort()).toEqual(expectedOps.sort());
  const cpuKernels = status.kernels.filter(k => k.device === 'CPU').map(k => k.op).sort();
  const expectedCpu = OP_NAMES.filter(op => (OPS[op].kernels as {tensorflow?: readonly string[]}).tensorflow?.includes('CPU'))
      .map(op => opNames(op).tensorflowOp).sort();
  expect(cpuKernels).toEqual(expectedCpu);
});

test('names are derived one way: kernel = graph op = TensorFlow op, function = camelCase, C symbols snake_case', () => {
  expect(opNames('ScaledDotProductAttention')).toEqual({
    kernel: 'BtScaledDotProductAttention', graphOp: 'BtScaledDotProductAttention',
    tensorflowOp: 'BtScaledDotProductAttention', function: 'scaledDotProductAttention',
    cpuSymbol: 'btk_scaled_dot_product_attention', cudaSymbol: 'bt_cuda_scaled_dot_product_attention',
    kernelFile: 'ScaledDotProductAttention.ts', docFile: 'scaled_dot_product_attention.md',
  });
});
