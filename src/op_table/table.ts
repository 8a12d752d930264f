/**
 * The op table: one declarative entry per op. Every name an op goes by is
 * derived from its entry (`names.ts`): the tfjs kernel, the GraphDef op a
 * rewritten model calls, the TensorFlow op, the addon function and the C
 * symbols. The kernel registrations, the gradients, `activeImplementations()`
 * and docs/ops/ follow it, and test/op_table.test.ts fails when a backend
 * declared here has no registered kernel (or registers one not declared).
 *
 * To add an op: docs/ops/adding-an-op.md.
 */
import {ATTENTION_INPUTS, ENCODER_KERNEL_INPUTS, KV_CACHE_ATTENTION_INPUTS, REORDER_CACHE_INPUTS} from './attrs';

/** The tfjs backends this package registers kernels for. */
export type BackendName = 'cpu' | 'tensorflow';

/**
 * How a `cpu` kernel computes: `native` calls the C++ core's addon when it is
 * loaded (and the preference is not 'portable'); `portable` is TypeScript on
 * the backend's typed arrays and runs everywhere `cpu` does.
 */
export type CpuImplementationKind = 'native' | 'portable';

/** TensorFlow devices the op library registers a kernel for. */
export type TensorflowDevice = 'CPU' | 'GPU';

export type AttrType = 'float' | 'int' | 'bool' | 'string' | 'float[]' | 'bool[]';

/** How an op is differentiated. */
export type GradientKind =
  /** tfjs differentiates the op's composite (src/composite) re-run in the backward pass. */
  | {kind: 'composite'}
  /** A backward kernel (another op of this table) where the backend has it, else the composite. */
  | {kind: 'kernel'; op: string}
  /** Not differentiable (integer outputs) or itself a gradient. */
  | {kind: 'none'};

export interface OpDef {
  /** PascalCase; every other name derives from it (names.ts). */
  name: string;
  summary: string;
  /**
   * Kernel inputs in order. An array of names: a NamedTensorMap with these
   * keys (optional ones get [0]-shaped placeholders). 'list': the inputs are
   * an array whose layout `listInputs` describes.
   */
  inputs: readonly string[] | 'list';
  listInputs?: string;
  outputs: readonly string[];
  attrs: Readonly<Record<string, AttrType>>;
  /**
   * Whether the package exports the op's function (src/ops, named opNames(op).function: it validates
   * the arguments and dispatches). Backward ops have no function; graph-only helpers are not exported.
   */
  exported: boolean;
  /** Emitted by the rewriting pass as a GraphDef node (run by the graph-op executor). */
  graphOp: boolean;
  /** Fused kernels per backend; a backend not listed runs the composite. */
  kernels: {
    cpu?: readonly CpuImplementationKind[];
    tensorflow?: readonly TensorflowDevice[];
  };
  /** Whether a composite of plain tfjs ops implements the op (every backend without a kernel). */
  composite: boolean;
  gradient: GradientKind;
  /** Inputs that never get a gradient (masks, indices); the rest of the float inputs do. */
  nonDifferentiable?: readonly string[];
  /** The native entry points implementing the op (names derived in names.ts). */
  native: {
    /** The Node addon's function and the C core's `btk_*` symbol. */
    cpuCore: boolean;
    /** The CUDA library's `bt_cuda_*` symbol. */
    cuda: boolean;
  };
}

/**
 * `precision` (ops whose GPU kernel does matrix products): 'highest' | 'high' | 'medium', resolved by
 * the public op at each call and never written into a rewritten model's GraphDef (attrs.ts).
 */
const ATTENTION_ATTRS = {
  scale: 'float', isCausal: 'bool', maskKind: 'string', hasKeyPaddingMask: 'bool', precision: 'string',
} as const;

export const OPS = {
  ScaledDotProductAttention: {
    name: 'ScaledDotProductAttention',
    summary: 'softmax(scale · q·kᵀ + masks) · v without materialising the scores (flash attention)',
    inputs: ATTENTION_INPUTS,
    outputs: ['out', 'lse'],
    attrs: ATTENTION_ATTRS,
    exported: true,
    graphOp: true,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'kernel', op: 'ScaledDotProductAttentionGrad'},
    nonDifferentiable: ['keyPaddingMask'],
    native: {cpuCore: true, cuda: true},
  },
  ScaledDotProductAttentionGrad: {
    name: 'ScaledDotProductAttentionGrad',
    summary: 'gradients of ScaledDotProductAttention, recomputing the scores tile by tile from the saved log-sum-exp',
    inputs: ['dy', ...ATTENTION_INPUTS, 'out', 'lse'],
    outputs: ['dq', 'dk', 'dv', 'dAttnMask'],
    attrs: ATTENTION_ATTRS,
    exported: false,
    graphOp: false,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: false,
    gradient: {kind: 'none'},
    native: {cpuCore: true, cuda: true},
  },
  TransformerEncoderLayer: {
    name: 'TransformerEncoderLayer',
    summary: 'a whole encoder layer (attention with an optional per-head bias, output projection, FFN or gated MLP, residuals, LayerNorms or RMSNorms) with padding skipped',
    inputs: ENCODER_KERNEL_INPUTS,
    outputs: ['y'],
    attrs: {
      numHeads: 'int', normFirst: 'bool', activation: 'string', layerNormEps1: 'float', layerNormEps2: 'float',
      isCausal: 'bool', scale: 'float', packedQkv: 'bool', hasKeyPaddingMask: 'bool', normKind: 'string',
      gatedMlp: 'bool', hasAttentionBias: 'bool', precision: 'string',
    },
    exported: true,
    graphOp: true,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    // attentionBias is differentiable (through the composite's attention mask gradient).
    nonDifferentiable: ['keyPaddingMask'],
    native: {cpuCore: true, cuda: true},
  },
  TransformerEncoderStack: {
    name: 'TransformerEncoderStack',
    summary: 'several encoder layers in one call: padding removed once, tokens kept packed between layers',
    inputs: 'list',
    listInputs: "[x, keyPaddingMask, attentionBias, ...layer 0's 20 weight inputs (TransformerEncoderLayer's order after x), ...layer 1's, …]",
    outputs: ['y'],
    attrs: {
      numLayers: 'int', numHeads: 'int', normFirst: 'bool', activation: 'string', isCausal: 'bool', scale: 'float',
      packedQkv: 'bool[]', layerNormEps1: 'float[]', layerNormEps2: 'float[]', hasKeyPaddingMask: 'bool',
      normKind: 'string', gatedMlp: 'bool', hasAttentionBias: 'bool', precision: 'string',
    },
    exported: true,
    graphOp: true,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    // List inputs are keyed by position: 1 is the key padding mask (2, the attention bias, is differentiable).
    nonDifferentiable: ['1'],
    native: {cpuCore: true, cuda: true},
  },
  LayerNorm: {
    name: 'LayerNorm',
    summary: 'LayerNorm over the last axis: (x − mean) / sqrt(var + epsilon) · gamma + beta',
    inputs: ['x', 'gamma', 'beta'],
    outputs: ['y'],
    attrs: {epsilon: 'float'},
    exported: true,
    graphOp: true,
    kernels: {cpu: ['portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    native: {cpuCore: false, cuda: true},
  },
  EmbeddingSum: {
    name: 'EmbeddingSum',
    summary: 'a sum of embedding-table lookups and constant terms, optionally followed by a LayerNorm (BERT embeddings)',
    inputs: 'list',
    listInputs: '[gamma, beta, table0, indices0, table1, indices1, …] (a constant term has a [0]-shaped indices placeholder)',
    outputs: ['y'],
    attrs: {numTerms: 'int', lookups: 'bool[]', hasNorm: 'bool', epsilon: 'float'},
    exported: true,
    graphOp: true,
    kernels: {cpu: ['portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    native: {cpuCore: false, cuda: true},
  },
  RmsNorm: {
    name: 'RmsNorm',
    summary: 'RMSNorm over the last axis: x / sqrt(mean(x²) + epsilon) · gamma (T5, Llama, Mistral)',
    inputs: ['x', 'gamma'],
    outputs: ['y'],
    attrs: {epsilon: 'float'},
    exported: true,
    graphOp: true,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    native: {cpuCore: true, cuda: true},
  },
  RotaryEmbedding: {
    name: 'RotaryEmbedding',
    summary: 'rotary position embedding of x [B,H,S,D] at int32 positions [B,S] from cos/sin tables, rotate-half or interleaved pairs',
    inputs: ['x', 'positions', 'cos', 'sin'],
    outputs: ['y'],
    attrs: {rotaryDim: 'int', interleaved: 'bool'},
    exported: true,
    graphOp: false,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'composite'},
    nonDifferentiable: ['positions', 'cos', 'sin'],
    native: {cpuCore: true, cuda: true},
  },
  AttentionWithKVCache: {
    name: 'AttentionWithKVCache',
    summary: 'appends new keys/values to a preallocated cache in place and attends over each sequence\'s cached rows (bottom-right causal, per-sequence lengths, GQA)',
    inputs: KV_CACHE_ATTENTION_INPUTS,
    outputs: ['out', 'keyCache', 'valueCache', 'lengths'],
    attrs: {scale: 'float', precision: 'string'},
    exported: true,
    graphOp: false,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'none'},
    native: {cpuCore: true, cuda: true},
  },
  TransformerDecoderStack: {
    name: 'TransformerDecoderStack',
    summary: "a language model decoder's step: embeddings, every layer with its key/value cache appended in place (and cross-attention to an encoder's states), final norm and LM head",
    inputs: 'list',
    listInputs: "[inputIds, pastLengths, newLengths, keyCache, valueCache, wordEmbeddings, positionEmbeddings, rotaryCos, rotarySin, finalNormGamma, finalNormBeta, lmHead, lmHeadBias, positionBias, encoderStates, sourceMask, crossKeyCache, crossValueCache, embeddingNormGamma, embeddingNormBeta, ...layer 0's 30 weight inputs (DECODER_LAYER_INPUTS), ...layer 1's, …]",
    outputs: ['logits', 'keyCache', 'valueCache', 'lengths', 'crossKeyCache', 'crossValueCache'],
    attrs: {
      numLayers: 'int', numHeads: 'int', numKvHeads: 'int', headDim: 'int', normKind: 'string', normFirst: 'bool',
      parallel: 'bool', parallelSharedNorm: 'bool', activation: 'string', gatedMlp: 'bool', packedQkv: 'bool',
      scale: 'float', embeddingScale: 'float', positionOffset: 'int', rotaryDim: 'int', rotaryInterleaved: 'bool',
      hasFinalNorm: 'bool', lmHeadTransposed: 'bool', normEps1: 'float[]', normEps2: 'float[]', finalNormEps: 'float',
      logitsRows: 'string', weightPrecision: 'string', crossAttention: 'bool', fillCrossCache: 'bool',
      hasSourceMask: 'bool', hasPositionBias: 'bool', normEpsCross: 'float[]', hasEmbeddingNorm: 'bool',
      embeddingNormEps: 'float', embeddingNormBeforePositions: 'bool', precision: 'string',
    },
    exported: true,
    graphOp: false,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'none'},
    native: {cpuCore: true, cuda: true},
  },
  ReorderCache: {
    name: 'ReorderCache',
    summary: 'beam search: reorders the batch rows of a decoder\'s key/value caches and lengths in place (new row b = old row sourceRows[b])',
    inputs: REORDER_CACHE_INPUTS,
    outputs: ['keyCache', 'valueCache', 'lengths'],
    attrs: {},
    exported: true,
    graphOp: false,
    kernels: {cpu: ['native', 'portable'], tensorflow: ['CPU', 'GPU']},
    composite: true,
    gradient: {kind: 'none'},
    native: {cpuCore: true, cuda: true},
  },
  AttentionScoresShape: {
    name: 'AttentionScoresShape',
    summary: 'the shape [..., Sq, Sk] of the attention scores a fused block no longer materialises (for shape arithmetic left in a graph)',
    inputs: ['q', 'k'],
    outputs: ['shape'],
    attrs: {},
    exported: false,
    graphOp: true,
    kernels: {},
    composite: true,
    gradient: {kind: 'none'},
    native: {cpuCore: false, cuda: false},
  },
  RelativePositionBias: {
    name: 'RelativePositionBias',
    summary: "T5's relative position bias [1, H, Sq, Sk] from its learned bucket table and the bucket of each key-minus-query distance",
    inputs: ['table', 'bucketOfDistance', 'queryPositions', 'keyPositions'],
    outputs: ['bias'],
    attrs: {},
    exported: false,
    graphOp: true,
    kernels: {cpu: ['portable']},
    composite: true,
    gradient: {kind: 'composite'},
    nonDifferentiable: ['bucketOfDistance', 'queryPositions', 'keyPositions'],
    native: {cpuCore: false, cuda: false},
  },
} as const satisfies Record<string, OpDef>;

export type OpName = keyof typeof OPS;

export const OP_NAMES = Object.keys(OPS) as OpName[];

export function opDef(name: OpName): OpDef {
  return OPS[name];
}
