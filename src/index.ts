/**
 * tfjs-better-transformer: fused attention and transformer encoder kernels for
 * TensorFlow.js. Importing this module registers the kernels and gradients.
 */
import {registerAll} from './register_all';

registerAll();

export {scaledDotProductAttention} from './ops/scaled_dot_product_attention';
export type {ScaledDotProductAttentionOptions} from './ops/scaled_dot_product_attention';
export {transformerEncoderLayer} from './ops/transformer_encoder_layer';
export type {TransformerEncoderLayerOptions, TransformerEncoderLayerWeights} from './ops/transformer_encoder_layer';
export {transformerEncoderStack} from './ops/transformer_encoder_stack';
export type {TransformerEncoderStackOptions} from './ops/transformer_encoder_stack';
export {layerNorm} from './ops/layer_norm';
export type {LayerNormOptions} from './ops/layer_norm';
export {embeddingSum} from './ops/embedding_sum';
export {rmsNorm} from './ops/rms_norm';
export type {RmsNormOptions} from './ops/rms_norm';
export {rotaryEmbedding} from './ops/rotary_embedding';
export type {RotaryEmbeddingOptions} from './ops/rotary_embedding';
export {attentionWithKVCache, createKVCache} from './ops/attention_with_kv_cache';
export type {AttentionWithKVCacheOptions, AttentionWithKVCacheResult, KVCache} from './ops/attention_with_kv_cache';
export {createDecoderCache, transformerDecoderStack} from './ops/transformer_decoder_stack';
export {reorderCache} from './ops/reorder_cache';
export type {
  DecoderCache, DecoderConfig, DecoderLayerWeights, DecoderStepOptions, DecoderStepResult, DecoderWeights,
} from './ops/transformer_decoder_stack';
export type {EmbeddingSumOptions, EmbeddingTerm} from './ops/embedding_sum';
export {BetterTransformer} from './transform/better_transformer';
export type {TransformOptions} from './transform/better_transformer';
export type {
  AnyGenerator, FinishReason, GenerateOptions, GenerationResult, GenerationStep, Generator, GeneratorOptions, GeneratorReport,
} from './generation/generator';
export type {Seq2SeqGenerator, Seq2SeqGeneratorReport} from './generation/seq2seq_generator';
export type {Seq2SeqGenerateOptions} from './generation/seq2seq_options';
export type {TransformReport, FusedBlock, FusedBlockKind, SkippedCandidate, Verification} from './transform/report';
export {inspectModelJson} from './transform/inspect';
export {BetterTransformerArgumentError} from './errors';
export {directoryIOHandler, loadGraphModelFromDirectory, loadLayersModelFromDirectory} from './io/directory_loader';
export type {ModelLocation} from './io/directory_loader';
export {ModelFileError} from './io/model_files';
export {MultiHeadAttention, withKerasCallArguments} from './layers';
export {getKernelPreference, setKernelPreference, KERNEL_PREFERENCES} from './config';
export type {KernelPreference} from './config';
export {getGpuPrecision, setGpuPrecision, GPU_PRECISIONS} from './config';
export type {GpuPrecision} from './config';
export {activeImplementations} from './dispatch/implementation';
export type {ActiveImplementations, Implementation} from './dispatch/implementation';
export {tensorflowOpLibraryStatus} from './backends/tensorflow/op_library';
export {nativeCoreFailure} from './backends/cpu/native/addon';
export type {OpLibraryStatus} from './backends/tensorflow/op_library';
export {OPS, opNames} from './op_table';
export type {OpName, OpDef, OpNames, EncoderActivation} from './op_table';
