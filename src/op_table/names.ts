/**
 * Every name an op goes by, derived from its table name so that an op has one
 * name end to end: `ScaledDotProductAttention` is the tfjs kernel, the GraphDef
 * op and the TensorFlow op `BtScaledDotProductAttention`, the public function
 * and addon function `scaledDotProductAttention`, the C symbols
 * `btk_scaled_dot_product_attention` (CPU core) and
 * `bt_cuda_scaled_dot_product_attention` (CUDA).
 */
import {OpDef, OPS, OpName} from './table';

/** The prefix that keeps our kernel and op names apart from tfjs' and TensorFlow's own. */
const PREFIX = 'Bt';

/** `AttentionWithKVCache` → `attention_with_kv_cache` (an acronym is one word). */
function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

function camelCase(name: string): string {
  return name[0].toLowerCase() + name.slice(1);
}

export interface OpNames {
  /** tfjs kernel name (registerKernel / runKernel). */
  kernel: string;
  /** The op of a rewritten GraphModel's node (tfjs-converter registerOp). */
  graphOp: string;
  /** The TensorFlow op library's op (tfjs-node's `tensorflow` backend). */
  tensorflowOp: string;
  /** The exported function (and the Node addon's function). */
  function: string;
  /** The C core's symbol (kernels/include/btk.h). */
  cpuSymbol: string;
  /** The CUDA library's symbol (kernels/include/bt_cuda.h). */
  cudaSymbol: string;
  /** This op's kernel file on each backend: src/backends/<backend>/kernels/<file>. */
  kernelFile: string;
  /** Its checklist: docs/ops/<file>. */
  docFile: string;
}

/** Names by table name: kernelName() and graphOpName() run on every op call, and the regexes are not free. */
const NAMES = new Map<string, OpNames>();

export function opNames(op: OpDef | OpName): OpNames {
  const name = typeof op === 'string' ? OPS[op].name : op.name;
  let names = NAMES.get(name);
  if (names === undefined) {
    names = namesOf(name);
    NAMES.set(name, names);
  }
  return names;
}

function namesOf(name: string): OpNames {
  return Object.freeze({
    kernel: `${PREFIX}${name}`,
    graphOp: `${PREFIX}${name}`,
    tensorflowOp: `${PREFIX}${name}`,
    function: camelCase(name),
    cpuSymbol: `btk_${snakeCase(name)}`,
    cudaSymbol: `bt_cuda_${snakeCase(name)}`,
    kernelFile: `${name}.ts`,
    docFile: `${snakeCase(name)}.md`,
  });
}

export function kernelName(op: OpName): string {
  return opNames(op).kernel;
}

export function graphOpName(op: OpName): string {
  return opNames(op).graphOp;
}
