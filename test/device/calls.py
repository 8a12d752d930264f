"""Calls of libbt_cuda on PyTorch CUDA tensors: outputs are poisoned with NaN
first, so an element the kernels fail to write can never pass a check."""
import ctypes as C
import math

import torch

import bt_cuda_ctypes as bc


def ptr(t):
    return C.c_void_p(t.data_ptr()) if t is not None and t.numel() > 0 else None


def mask_strides(shape):
    """Element strides of a contiguous mask of `shape` over [B, H, Sq, Sk] (0 = broadcast)."""
    strides, stride = [0, 0, 0, 0], 1
    for i in range(len(shape) - 1, -1, -1):
        t = 4 - len(shape) + i
        strides[t] = 0 if shape[i] == 1 else stride
        stride *= shape[i]
    return strides


def key_limit_of(key_valid):
    """One past the last real key of each sequence (0 when none)."""
    idx = torch.arange(1, key_valid.shape[1] + 1, device=key_valid.device, dtype=torch.int32)
    return (key_valid.bool().to(torch.int32) * idx).amax(dim=1).to(torch.int32).contiguous()


def attention_struct(q, k, v, out, lse, *, scale, causal, precision, bool_mask=None, add_mask=None,
                     key_valid=None, key_limit=None):
    a = bc.Attention()
    a.batch, a.heads, a.q_seq, a.depth = q.shape
    a.kv_heads, a.k_seq, a.value_depth = k.shape[1], k.shape[2], v.shape[3]
    a.scale = scale
    a.is_causal = int(causal)
    a.precision = bc.PRECISION[precision]
    a.q, a.k, a.v = ptr(q), ptr(k), ptr(v)
    keep = []
    if bool_mask is not None:
        m = bool_mask.to(torch.uint8).contiguous()
        keep.append(m)
        a.mask_kind, a.mask = bc.MASK_KIND["bool"], ptr(m)
        a.mask_strides[:] = mask_strides(m.shape)
    elif add_mask is not None:
        m = add_mask.contiguous()
        keep.append(m)
        a.mask_kind, a.mask = bc.MASK_KIND["additive"], ptr(m)
        a.mask_strides[:] = mask_strides(m.shape)
    if key_valid is not None:
        kv = key_valid.to(torch.uint8).contiguous()
        keep.append(kv)
        a.key_valid = ptr(kv)
        if key_limit is not None:
            a.key_limit = ptr(key_limit)
    a.out, a.lse = ptr(out), ptr(lse)
    return a, keep


def attention_forward(lib, ctx, q, k, v, *, stream=None, out=None, lse=None, **kw):
    """Returns (out, lse); pass preallocated out/lse (timing) to skip the NaN poisoning."""
    b, h, sq, _ = q.shape
    if out is None:
        out = torch.full((b, h, sq, v.shape[3]), math.nan, device=q.device)
        lse = torch.full((b, h, sq), math.nan, device=q.device)
    a, keep = attention_struct(q, k, v, out, lse, **kw)
    lib.check(lib.lib.bt_cuda_scaled_dot_product_attention(ctx, C.byref(a), stream), "attention forward")
    del keep
    return out, lse


def attention_backward(lib, ctx, q, k, v, dout, out, lse, *, stream=None, **kw):
    a, keep = attention_struct(q, k, v, out, lse, **kw)
    nan = math.nan
    dq = torch.full(q.shape, nan, device=q.device)
    dk = torch.full(k.shape, nan, device=q.device)
    dv = torch.full(v.shape, nan, device=q.device)
    g = bc.AttentionGrad()
    g.dout, g.out, g.lse, g.dq, g.dk, g.dv = ptr(dout), ptr(out), ptr(lse), ptr(dq), ptr(dk), ptr(dv)
    dmask = None
    if kw.get("add_mask") is not None:
        dmask = torch.full(kw["add_mask"].shape, nan, device=q.device)
        g.dmask, g.dmask_elements = ptr(dmask), dmask.numel()
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes(C.byref(a), C.byref(ws_bytes)),
              "workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=q.device)
    lib.check(lib.lib.bt_cuda_scaled_dot_product_attention_grad(ctx, C.byref(a), C.byref(g), ptr(ws), ws_bytes.value,
                                                                stream),
              "attention backward")
    del keep
    return dq, dk, dv, dmask


def layer_struct(x, weights, *, num_heads, norm_first, activation, eps1, eps2, causal, scale, precision):
    """One layer's description: sizes from x [B, S, E], the weights' device pointers; x, y and the
    key padding mask are left null for the caller (a stack passes them once)."""
    e = bc.Encoder()
    e.batch, e.seq, e.embed = x.shape
    e.ffn = weights["ffn_in_weight"].shape[1]
    e.num_heads = num_heads
    e.norm_first, e.is_causal = int(norm_first), int(causal)
    e.activation, e.precision = bc.ACTIVATION[activation], bc.PRECISION[precision]
    e.eps1, e.eps2, e.scale = eps1, eps2, scale
    for name, t in weights.items():
        setattr(e, name, ptr(t))
    return e


def _host_valid(key_valid):
    # Already on the host and uint8 in timing runs: no device round trip per call.
    return None if key_valid is None else key_valid.to("cpu", torch.uint8).contiguous()


def encoder_layer(lib, ctx, x, weights, *, key_valid, stream=None, **options):
    """options: num_heads, norm_first, activation, eps1, eps2, causal, scale, precision."""
    e = layer_struct(x, weights, **options)
    e.x = ptr(x)
    host_valid = _host_valid(key_valid)
    if host_valid is not None:
        e.key_valid_host = C.c_void_p(host_valid.data_ptr())
    y = torch.full(x.shape, math.nan, device=x.device)
    e.y = ptr(y)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_transformer_encoder_layer_workspace_bytes(C.byref(e), C.byref(ws_bytes)),
              "encoder workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=x.device)
    lib.check(lib.lib.bt_cuda_transformer_encoder_layer(ctx, C.byref(e), ptr(ws), ws_bytes.value, stream),
              "encoder layer")
    del host_valid
    return y


def encoder_stack(lib, ctx, x, layers, *, key_valid, stream=None):
    """layers: one (weights, options) pair per layer, options as for encoder_layer."""
    structs = (bc.Encoder * max(len(layers), 1))()
    for i, (weights, options) in enumerate(layers):
        structs[i] = layer_struct(x, weights, **options)
    s = bc.EncoderStack()
    s.batch, s.seq, s.embed = x.shape
    s.num_layers = len(layers)
    s.layers = structs
    s.x = ptr(x)
    host_valid = _host_valid(key_valid)
    if host_valid is not None:
        s.key_valid_host = C.c_void_p(host_valid.data_ptr())
    y = torch.full(x.shape, math.nan, device=x.device)
    s.y = ptr(y)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_transformer_encoder_stack_workspace_bytes(C.byref(s), C.byref(ws_bytes)),
              "encoder stack workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=x.device)
    lib.check(lib.lib.bt_cuda_transformer_encoder_stack(ctx, C.byref(s), ptr(ws), ws_bytes.value, stream),
              "encoder stack")
    del host_valid, structs
    return y


# ---- decoding ----
# Host tables (positions, lengths, token ids) are ctypes arrays or CPU int32 tensors; every struct
# builder returns (struct, keep): keep holds what the struct points into until the call returns.

def _int32s(values):
    values = [int(v) for v in values]
    return (C.c_int32 * max(len(values), 1))(*values)


def _host_i32(t):
    t = t.to("cpu", torch.int32).contiguous()
    return t, (C.c_void_p(t.data_ptr()) if t.numel() > 0 else None)


def rms_struct(x, gamma, y, eps):
    a = bc.RmsNormArgs()
    a.width = x.shape[-1]
    a.rows = x.numel() // a.width if a.width else 0
    a.eps = eps
    a.x, a.gamma, a.y = ptr(x), ptr(gamma), ptr(y)
    return a, [x, gamma, y]


def rms_norm(lib, ctx, x, gamma, eps, *, inplace=False, stream=None):
    """y = RMSNorm(x) over the last dimension; inplace: y is x (x is overwritten and returned)."""
    y = x if inplace else torch.full(x.shape, math.nan, device=x.device)
    a, keep = rms_struct(x, gamma, y, eps)
    lib.check(lib.lib.bt_cuda_rms_norm(ctx, C.byref(a), stream), "rms norm")
    del keep
    return y


def rotary_struct(x, positions, cos, sin, y, rotary_dim, interleaved):
    a = bc.RotaryArgs()
    a.batch, a.heads, a.seq, a.head_dim = x.shape
    a.rotary_dim = rotary_dim
    a.table_rows = cos.shape[0] if cos is not None else 0
    a.interleaved = int(interleaved)
    pos, a.positions_host = _host_i32(positions)
    a.x, a.y = ptr(x), ptr(y)
    a.cos, a.sin = ptr(cos), ptr(sin)
    return a, [pos, x, y, cos, sin]


def rotary(lib, ctx, x, positions, cos, sin, rotary_dim, interleaved, *, inplace=False, stream=None):
    """The op RotaryEmbedding on x [B, H, S, D] at positions [B, S] (host int32)."""
    y = x if inplace else torch.full(x.shape, math.nan, device=x.device)
    a, keep = rotary_struct(x, positions, cos, sin, y, rotary_dim, interleaved)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_rotary_embedding_workspace_bytes(C.byref(a), C.byref(ws_bytes)), "rotary workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=x.device)
    lib.check(lib.lib.bt_cuda_rotary_embedding(ctx, C.byref(a), ptr(ws), ws_bytes.value, stream), "rotary")
    del keep
    return y


def kv_struct(q, k, v, key_cache, value_cache, past, new, out, *, scale, precision):
    a = bc.KvCache()
    a.batch, a.heads, a.new_len, a.head_dim = q.shape
    a.kv_heads, a.capacity, a.value_dim = key_cache.shape[1], key_cache.shape[2], value_cache.shape[3]
    a.scale = scale
    a.precision = bc.PRECISION[precision]
    a.q, a.k, a.v, a.out = ptr(q), ptr(k), ptr(v), ptr(out)
    a.key_cache, a.value_cache = ptr(key_cache), ptr(value_cache)
    past_h, new_h, lengths = _int32s(past), _int32s(new), _int32s([-1] * len(past))
    a.past_lengths_host = C.cast(past_h, C.c_void_p)
    a.new_lengths_host = C.cast(new_h, C.c_void_p)
    a.lengths_host = C.cast(lengths, C.c_void_p)
    return a, [past_h, new_h, lengths]


def kv_cache_attention(lib, ctx, q, k, v, key_cache, value_cache, past, new, *, scale, precision, stream=None):
    """The op AttentionWithKVCache: appends k/v rows [0, new[b]) into the caches in place; returns
    (out [B, H, N, Dv], lengths list)."""
    b, h, n, _ = q.shape
    out = torch.full((b, h, n, value_cache.shape[3]), math.nan, device=q.device)
    a, keep = kv_struct(q, k, v, key_cache, value_cache, past, new, out, scale=scale, precision=precision)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes(C.byref(a), C.byref(ws_bytes)),
              "kv cache workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=q.device)
    lib.check(lib.lib.bt_cuda_attention_with_kv_cache(ctx, C.byref(a), ptr(ws), ws_bytes.value, stream),
              "attention with kv cache")
    lengths = list(keep[2])[:b]
    del keep
    return out, lengths


DECODER_NORM_FIELDS = ("norm1_gamma", "norm1_beta", "norm2_gamma", "norm2_beta")


def decoder_structs(model, input_ids, past, new, key_cache, value_cache, logits, logits_rows, *, precision):
    """model: parity.decoder_model's dict (cfg + tensors, None = absent). Returns (decoder, step, keep)."""
    c = model["cfg"]
    layers = model["layers"]
    arr = (bc.DecoderLayer * max(len(layers), 1))()
    for i, layer in enumerate(layers):
        for name in DECODER_NORM_FIELDS + bc.DECODER_LAYER_TENSORS:
            setattr(arr[i], name, ptr(layer[name]))
        arr[i].norm1_eps, arr[i].norm2_eps = layer["norm1_eps"], layer["norm2_eps"]
    m = bc.Decoder()
    m.num_layers, m.vocab_size, m.embed_dim = len(layers), model["word_embeddings"].shape[0], \
        model["word_embeddings"].shape[1]
    m.num_heads, m.num_kv_heads, m.head_dim = c["num_heads"], c["num_kv_heads"], c["head_dim"]
    m.ffn_dim = layers[0]["up_weight"].shape[1] if layers else 0
    m.norm_kind = bc.NORM_KIND[c["norm_kind"]]
    m.activation = bc.ACTIVATION[c["activation"]]
    m.precision = bc.PRECISION[precision]
    for name in ("norm_first", "parallel", "parallel_shared_norm", "gated_mlp", "has_final_norm",
                 "lm_head_transposed", "rotary_interleaved"):
        setattr(m, name, int(bool(c[name])))
    m.attention_scale, m.embedding_scale, m.final_norm_eps = c["attention_scale"], c["embedding_scale"], \
        c["final_norm_eps"]
    m.word_embeddings, m.position_embeddings = ptr(model["word_embeddings"]), ptr(model["position_embeddings"])
    if model["position_embeddings"] is not None:
        m.position_rows, m.position_offset = model["position_embeddings"].shape[0], c["position_offset"]
    m.rotary_dim = c["rotary_dim"]
    if c["rotary_dim"] > 0:
        m.rotary_cos, m.rotary_sin = ptr(model["rotary_cos"]), ptr(model["rotary_sin"])
        m.rotary_rows = model["rotary_cos"].shape[0]
    m.final_norm_gamma, m.final_norm_beta = ptr(model["final_norm_gamma"]), ptr(model["final_norm_beta"])
    m.lm_head, m.lm_head_bias = ptr(model["lm_head"]), ptr(model["lm_head_bias"])
    m.layers = arr
    s = bc.DecoderStep()
    s.batch, s.new_len = input_ids.shape
    s.capacity = key_cache.shape[3]
    s.logits_rows = bc.LOGITS_ROWS[logits_rows]
    ids, s.input_ids_host = _host_i32(input_ids)
    past_h, new_h, lengths = _int32s(past), _int32s(new), _int32s([-1] * len(past))
    s.past_lengths_host = C.cast(past_h, C.c_void_p)
    s.new_lengths_host = C.cast(new_h, C.c_void_p)
    s.lengths_host = C.cast(lengths, C.c_void_p)
    s.key_cache, s.value_cache, s.logits = ptr(key_cache), ptr(value_cache), ptr(logits)
    return m, s, [arr, ids, past_h, new_h, lengths]


def decoder_step(lib, ctx, model, input_ids, past, new, key_cache, value_cache, logits_rows, *, precision,
                 stream=None):
    """One TransformerDecoderStack step: input_ids [B, N] (host int32), caches [layers, B, Hkv, C, D]
    appended in place; returns (logits [B, V] or [B, N, V], lengths list)."""
    b, n = input_ids.shape
    vocab = model["word_embeddings"].shape[0]
    shape = (b, n, vocab) if logits_rows == "all" else (b, vocab)
    logits = torch.full(shape, math.nan, device=model["word_embeddings"].device)
    m, s, keep = decoder_structs(model, input_ids, past, new, key_cache, value_cache, logits, logits_rows,
                                 precision=precision)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_transformer_decoder_stack_workspace_bytes(C.byref(m), C.byref(s), C.byref(ws_bytes)),
              "decoder workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=logits.device)
    lib.check(lib.lib.bt_cuda_transformer_decoder_stack(ctx, C.byref(m), C.byref(s), ptr(ws), ws_bytes.value,
                                                        stream), "decoder step")
    lengths = list(keep[4])[:b]
    del keep
    return logits, lengths
