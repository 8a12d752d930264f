"""ctypes binding of libbt_cuda (kernels/include/bt_cuda.h, ABI version 2) for the device check.

The structures mirror the C header field for field; `load()` checks their sizes
against the library's own sizeof before anything is called.
"""
import ctypes as C

ABI_VERSION = 2
OK, INVALID_ARGUMENT, NO_DEVICE, UNSUPPORTED, RUNTIME_ERROR, CUBLAS_ERROR = range(6)
PRECISION = {"highest": 0, "high": 1}
MASK_KIND = {"none": 0, "bool": 1, "additive": 2}
ACTIVATION = {"gelu": 0, "gelu_tanh": 1, "relu": 2}

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
        lib.bt_cuda_scaled_dot_product_attention.argtypes = [C.c_void_p, C.POINTER(Attention), C.c_void_p]
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
