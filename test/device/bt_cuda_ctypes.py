"""ctypes binding of libbt_cuda (kernels/include/bt_cuda.h, ABI version 4) for the device check,
the graph ops (LayerNorm, EmbeddingSum, ReorderCache) included.

The structures mirror the C header field for field; `load()` checks their sizes
against the library's own sizeof before anything is called.
"""
import ctypes as C

ABI_VERSION = 4
OK, INVALID_ARGUMENT, NO_DEVICE, UNSUPPORTED, RUNTIME_ERROR, CUBLAS_ERROR = range(6)
# 'medium' (ABI 4): bfloat16 tensor cores, FP32 in/out, accumulation and softmax statistics.
PRECISION = {"highest": 0, "high": 1, "medium": 2}
MASK_KIND = {"none": 0, "bool": 1, "additive": 2}
ACTIVATION = {"gelu": 0, "gelu_tanh": 1, "relu": 2, "silu": 3}
NORM_KIND = {"layer": 0, "rms": 1}
LOGITS_ROWS = {"last": 0, "all": 1}

_f32p = C.POINTER(C.c_float)


class Attention(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "heads", "kv_heads", "q_seq", "k_seq", "depth", "value_depth")] + [
        ("scale", C.c_float), ("is_causal", C.c_int32), ("precision", C.c_int32),
        ("q", C.c_void_p), ("k", C.c_void_p), ("v", C.c_void_p),
        ("mask_kind", C.c_int32), ("reserved0", C.c_int32), ("mask", C.c_void_p),
        ("mask_strides", C.c_int64 * 4),
        ("key_valid", C.c_void_p), ("key_limit", C.c_void_p), ("out", C.c_void_p), ("lse", C.c_void_p),
    ]


class AttentionGrad(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("dout", "out", "lse", "dq", "dk", "dv", "dmask")] + [
        ("dmask_elements", C.c_int64)]


ENCODER_TENSORS = ("x", "qkv_weight", "qkv_bias", "q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias",
                   "out_weight", "out_bias", "ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "ffn_in_weight",
                   "ffn_in_bias", "ffn_out_weight", "ffn_out_bias")


class Encoder(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "seq", "embed", "ffn", "num_heads")] + [
        (n, C.c_int32) for n in ("norm_first", "is_causal", "activation", "precision")] + [
        ("eps1", C.c_float), ("eps2", C.c_float), ("scale", C.c_float), ("reserved0", C.c_int32)] + [
        (n, C.c_void_p) for n in ENCODER_TENSORS] + [("key_valid_host", C.c_void_p), ("y", C.c_void_p)]


class EncoderStack(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "seq", "embed", "num_layers")] + [
        ("x", C.c_void_p), ("key_valid_host", C.c_void_p), ("y", C.c_void_p), ("layers", C.POINTER(Encoder))]


# ---- decoding (ABI 3; the cross-attention fields ABI 4) ----

class RmsNormArgs(C.Structure):
    _fields_ = [("rows", C.c_int64), ("width", C.c_int64), ("eps", C.c_float), ("reserved0", C.c_int32),
                ("x", C.c_void_p), ("gamma", C.c_void_p), ("y", C.c_void_p)]


class RotaryArgs(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "heads", "seq", "head_dim", "rotary_dim", "table_rows")] + [
        ("interleaved", C.c_int32), ("reserved0", C.c_int32),
        ("x", C.c_void_p), ("positions_host", C.c_void_p), ("cos", C.c_void_p), ("sin", C.c_void_p),
        ("y", C.c_void_p)]


class KvCache(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "heads", "kv_heads", "new_len", "capacity", "head_dim",
                                         "value_dim")] + [
        ("scale", C.c_float), ("precision", C.c_int32)] + [
        (n, C.c_void_p) for n in ("q", "k", "v", "key_cache", "value_cache", "past_lengths_host",
                                  "new_lengths_host", "out", "lengths_host")]


DECODER_LAYER_TENSORS = ("qkv_weight", "qkv_bias", "q_weight", "q_bias", "k_weight", "k_bias", "v_weight", "v_bias",
                         "out_weight", "out_bias", "gate_weight", "gate_bias", "up_weight", "up_bias", "down_weight",
                         "down_bias")


# Cross-attention (ABI 4; encoder-decoder models): all null/zero for a decoder-only model.
DECODER_CROSS_TENSORS = ("cross_q_weight", "cross_q_bias", "cross_k_weight", "cross_k_bias", "cross_v_weight",
                         "cross_v_bias", "cross_out_weight", "cross_out_bias")


class DecoderLayer(C.Structure):
    _fields_ = [(n, C.c_void_p) for n in ("norm1_gamma", "norm1_beta", "norm2_gamma", "norm2_beta")] + [
        ("norm1_eps", C.c_float), ("norm2_eps", C.c_float)] + [(n, C.c_void_p) for n in DECODER_LAYER_TENSORS] + [
        ("cross_norm_gamma", C.c_void_p), ("cross_norm_beta", C.c_void_p), ("cross_norm_eps", C.c_float),
        ("reserved0", C.c_int32)] + [(n, C.c_void_p) for n in DECODER_CROSS_TENSORS]


class Decoder(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("num_layers", "vocab_size", "embed_dim", "num_heads", "num_kv_heads",
                                         "head_dim", "ffn_dim")] + [
        (n, C.c_int32) for n in ("norm_kind", "norm_first", "parallel", "parallel_shared_norm", "activation",
                                 "gated_mlp", "precision", "has_final_norm", "lm_head_transposed",
                                 "rotary_interleaved")] + [
        ("attention_scale", C.c_float), ("embedding_scale", C.c_float), ("final_norm_eps", C.c_float),
        ("reserved0", C.c_int32),
        ("word_embeddings", C.c_void_p), ("position_embeddings", C.c_void_p),
        ("position_rows", C.c_int64), ("position_offset", C.c_int64),
        ("rotary_cos", C.c_void_p), ("rotary_sin", C.c_void_p), ("rotary_dim", C.c_int64), ("rotary_rows", C.c_int64),
        ("final_norm_gamma", C.c_void_p), ("final_norm_beta", C.c_void_p), ("lm_head", C.c_void_p),
        ("lm_head_bias", C.c_void_p), ("layers", C.POINTER(DecoderLayer)),
        # ABI 4: encoder-decoder models (cross-attention, embedding norm, relative position bias).
        ("cross_attention", C.c_int32), ("has_embedding_norm", C.c_int32),
        ("embedding_norm_before_positions", C.c_int32), ("embedding_norm_eps", C.c_float),
        ("embedding_norm_gamma", C.c_void_p), ("embedding_norm_beta", C.c_void_p),
        ("position_bias", C.c_void_p), ("position_bias_rows", C.c_int64)]


class DecoderStep(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("batch", "new_len", "capacity")] + [
        ("logits_rows", C.c_int32), ("reserved0", C.c_int32)] + [
        (n, C.c_void_p) for n in ("input_ids_host", "past_lengths_host", "new_lengths_host", "key_cache",
                                  "value_cache", "logits", "lengths_host")] + [
        ("source_len", C.c_int64)] + [  # ABI 4: cross-attention's (0 / null without it)
        (n, C.c_void_p) for n in ("encoder_states", "source_mask_host", "cross_key_cache", "cross_value_cache")]


# ---- graph ops and beam search (bt_cuda_api_graph_ops.cu) ----

class LayerNormArgs(C.Structure):
    _fields_ = [("rows", C.c_int64), ("width", C.c_int64), ("eps", C.c_float), ("reserved0", C.c_int32),
                ("x", C.c_void_p), ("gamma", C.c_void_p), ("beta", C.c_void_p), ("y", C.c_void_p)]


class EmbeddingSumArgs(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("rows", "width", "num_terms")] + [
        ("has_norm", C.c_int32), ("eps", C.c_float)] + [
        (n, C.c_void_p) for n in ("tables_host", "table_rows_host", "row_ids_host", "gamma", "beta", "y")]


class ReorderCacheArgs(C.Structure):
    _fields_ = [(n, C.c_int64) for n in ("num_layers", "batch", "kv_heads", "capacity", "head_dim")] + [
        (n, C.c_void_p) for n in ("key_cache", "value_cache", "lengths_host", "source_rows_host",
                                  "new_lengths_host")]


class BtCudaError(RuntimeError):
    def __init__(self, status, name, message):
        super().__init__(f"{name} ({status}): {message}")
        self.status = status


class Library:
    def __init__(self, path):
        lib = C.CDLL(path)
        self.lib = lib
        lib.bt_cuda_last_error.restype = C.c_char_p
        lib.bt_cuda_status_name.restype = C.c_char_p
        lib.bt_cuda_status_name.argtypes = [C.c_int]
        lib.bt_cuda_context_create.argtypes = [C.c_int, C.POINTER(C.c_void_p)]
        lib.bt_cuda_context_destroy.argtypes = [C.c_void_p]
        lib.bt_cuda_context_stream.argtypes = [C.c_void_p]
        lib.bt_cuda_context_stream.restype = C.c_void_p
        lib.bt_cuda_wait_device.argtypes = [C.c_void_p]
        lib.bt_cuda_synchronize.argtypes = [C.c_void_p]
        # ABI 4: the forward takes a workspace (empty except at 'medium').
        lib.bt_cuda_scaled_dot_product_attention_workspace_bytes.argtypes = [C.POINTER(Attention),
                                                                             C.POINTER(C.c_size_t)]
        lib.bt_cuda_scaled_dot_product_attention.argtypes = [C.c_void_p, C.POINTER(Attention), C.c_void_p,
                                                             C.c_size_t, C.c_void_p]
        lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes.argtypes = [C.POINTER(Attention),
                                                                                  C.POINTER(C.c_size_t)]
        lib.bt_cuda_scaled_dot_product_attention_grad.argtypes = [C.c_void_p, C.POINTER(Attention),
                                                                  C.POINTER(AttentionGrad), C.c_void_p, C.c_size_t,
                                                                  C.c_void_p]
        lib.bt_cuda_transformer_encoder_layer_workspace_bytes.argtypes = [C.POINTER(Encoder), C.POINTER(C.c_size_t)]
        lib.bt_cuda_transformer_encoder_layer.argtypes = [C.c_void_p, C.POINTER(Encoder), C.c_void_p, C.c_size_t,
                                                          C.c_void_p]
        lib.bt_cuda_transformer_encoder_stack_workspace_bytes.argtypes = [C.POINTER(EncoderStack),
                                                                          C.POINTER(C.c_size_t)]
        lib.bt_cuda_transformer_encoder_stack.argtypes = [C.c_void_p, C.POINTER(EncoderStack), C.c_void_p,
                                                          C.c_size_t, C.c_void_p]
        lib.bt_cuda_rms_norm.argtypes = [C.c_void_p, C.POINTER(RmsNormArgs), C.c_void_p]
        lib.bt_cuda_rotary_embedding_workspace_bytes.argtypes = [C.POINTER(RotaryArgs), C.POINTER(C.c_size_t)]
        lib.bt_cuda_rotary_embedding.argtypes = [C.c_void_p, C.POINTER(RotaryArgs), C.c_void_p, C.c_size_t,
                                                 C.c_void_p]
        lib.bt_cuda_attention_with_kv_cache_workspace_bytes.argtypes = [C.POINTER(KvCache), C.POINTER(C.c_size_t)]
        lib.bt_cuda_attention_with_kv_cache.argtypes = [C.c_void_p, C.POINTER(KvCache), C.c_void_p, C.c_size_t,
                                                        C.c_void_p]
        lib.bt_cuda_transformer_decoder_stack_workspace_bytes.argtypes = [C.POINTER(Decoder), C.POINTER(DecoderStep),
                                                                          C.POINTER(C.c_size_t)]
        lib.bt_cuda_transformer_decoder_stack.argtypes = [C.c_void_p, C.POINTER(Decoder), C.POINTER(DecoderStep),
                                                          C.c_void_p, C.c_size_t, C.c_void_p]
        lib.bt_cuda_layer_norm.argtypes = [C.c_void_p, C.POINTER(LayerNormArgs), C.c_void_p]
        lib.bt_cuda_embedding_sum_workspace_bytes.argtypes = [C.POINTER(EmbeddingSumArgs), C.POINTER(C.c_size_t)]
        lib.bt_cuda_embedding_sum.argtypes = [C.c_void_p, C.POINTER(EmbeddingSumArgs), C.c_void_p, C.c_size_t,
                                              C.c_void_p]
        lib.bt_cuda_reorder_cache_workspace_bytes.argtypes = [C.POINTER(ReorderCacheArgs), C.POINTER(C.c_size_t)]
        lib.bt_cuda_reorder_cache.argtypes = [C.c_void_p, C.POINTER(ReorderCacheArgs), C.c_void_p, C.c_size_t,
                                              C.c_void_p]
        lib.bt_cuda_abi_version.restype = C.c_int
        self.abi_version = lib.bt_cuda_abi_version()
        if self.abi_version != ABI_VERSION:
            raise RuntimeError(f"ABI version mismatch: library {self.abi_version}, binding {ABI_VERSION}")
        sizes = [C.c_size_t() for _ in range(4)]
        lib.bt_cuda_struct_sizes(*[C.byref(s) for s in sizes])
        want = [C.sizeof(Attention), C.sizeof(AttentionGrad), C.sizeof(Encoder), C.sizeof(EncoderStack)]
        got = [s.value for s in sizes]
        if got != want:
            raise RuntimeError(f"struct layout mismatch: library {got}, binding {want}")
        sizes = [C.c_size_t() for _ in range(6)]
        lib.bt_cuda_decoder_struct_sizes(*[C.byref(s) for s in sizes])
        want = [C.sizeof(t) for t in (RmsNormArgs, RotaryArgs, KvCache, DecoderLayer, Decoder, DecoderStep)]
        got = [s.value for s in sizes]
        if got != want:
            raise RuntimeError(f"decoding struct layout mismatch: library {got}, binding {want}")
        sizes = [C.c_size_t() for _ in range(3)]
        lib.bt_cuda_graph_op_struct_sizes(*[C.byref(s) for s in sizes])
        want = [C.sizeof(t) for t in (LayerNormArgs, EmbeddingSumArgs, ReorderCacheArgs)]
        got = [s.value for s in sizes]
        if got != want:
            raise RuntimeError(f"graph op struct layout mismatch: library {got}, binding {want}")

    def check(self, status, what):
        if status != OK:
            raise BtCudaError(status, self.lib.bt_cuda_status_name(status).decode(),
                              f"{what}: {self.lib.bt_cuda_last_error().decode()}")

    def status_of(self, fn, *args):
        """Calls fn and returns (status, message) instead of raising."""
        status = fn(*args)
        return status, (self.lib.bt_cuda_last_error().decode() if status else "")

    def context(self, device=0):
        ctx = C.c_void_p()
        self.check(self.lib.bt_cuda_context_create(device, C.byref(ctx)), "context")
        return ctx
