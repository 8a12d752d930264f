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


def _workspace(lib, fn, what, device, *structs):
    """A device workspace of the size fn (a *_workspace_bytes query) gives for structs: (tensor, bytes)."""
    size = C.c_size_t()
    lib.check(fn(*[C.byref(x) for x in structs], C.byref(size)), what)
    return torch.empty(max(size.value, 1), dtype=torch.uint8, device=device), size.value


def attention_workspace(lib, q, k, v, **kw):
    """The forward's workspace for these arguments (ABI 4: empty except at 'medium'), for timing loops that
    allocate it once: (tensor, bytes)."""
    out = torch.empty(0, device=q.device)
    a, keep = attention_struct(q, k, v, out, out, **kw)
    ws = _workspace(lib, lib.lib.bt_cuda_scaled_dot_product_attention_workspace_bytes, "attention workspace",
                    q.device, a)
    del keep
    return ws


def attention_forward(lib, ctx, q, k, v, *, stream=None, out=None, lse=None, workspace=None, **kw):
    """Returns (out, lse); pass preallocated out/lse and workspace (timing: attention_workspace) to skip the
    NaN poisoning and the allocation. The workspace is queried every call otherwise."""
    b, h, sq, _ = q.shape
    if out is None:
        out = torch.full((b, h, sq, v.shape[3]), math.nan, device=q.device)
        lse = torch.full((b, h, sq), math.nan, device=q.device)
    a, keep = attention_struct(q, k, v, out, lse, **kw)
    if workspace is None:
        workspace = _workspace(lib, lib.lib.bt_cuda_scaled_dot_product_attention_workspace_bytes,
                               "attention workspace", q.device, a)
    ws, ws_bytes = workspace
    lib.check(lib.lib.bt_cuda_scaled_dot_product_attention(ctx, C.byref(a), ptr(ws), ws_bytes, stream),
              "attention forward")
    del keep
    return out, lse


def attention_grad_workspace(lib, q, k, v, out, lse, **kw):
    """The backward's workspace (always queried: it may grow at 'medium'): (tensor, bytes)."""
    a, keep = attention_struct(q, k, v, out, lse, **kw)
    ws = _workspace(lib, lib.lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes, "grad workspace",
                    q.device, a)
    del keep
    return ws


def attention_backward(lib, ctx, q, k, v, dout, out, lse, *, stream=None, grads=None, workspace=None, **kw):
    """Returns (dq, dk, dv, dmask). Timing passes grads=(dq, dk, dv) preallocated and workspace
    (attention_grad_workspace) to skip the NaN poisoning and the allocations."""
    a, keep = attention_struct(q, k, v, out, lse, **kw)
    nan = math.nan
    if grads is None:
        grads = (torch.full(q.shape, nan, device=q.device), torch.full(k.shape, nan, device=q.device),
                 torch.full(v.shape, nan, device=q.device))
    dq, dk, dv = grads
    g = bc.AttentionGrad()
    g.dout, g.out, g.lse, g.dq, g.dk, g.dv = ptr(dout), ptr(out), ptr(lse), ptr(dq), ptr(dk), ptr(dv)
    dmask = None
    if kw.get("add_mask") is not None:
        dmask = torch.full(kw["add_mask"].shape, nan, device=q.device)
        g.dmask, g.dmask_elements = ptr(dmask), dmask.numel()
    if workspace is None:
        workspace = _workspace(lib, lib.lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes,
                               "grad workspace", q.device, a)
    ws, ws_bytes = workspace
    lib.check(lib.lib.bt_cuda_scaled_dot_product_attention_grad(ctx, C.byref(a), C.byref(g), ptr(ws), ws_bytes,
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


def encoder_stack_runner(lib, ctx, x, layers, *, key_valid, stream=None):
    """One bt_cuda_transformer_encoder_stack call prepared: the structs, the host padding mask, y (NaN) and
    the workspace built once. Returns (run, y): run() issues the call again (timing loops)."""
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
    ws, ws_bytes = _workspace(lib, lib.lib.bt_cuda_transformer_encoder_stack_workspace_bytes,
                              "encoder stack workspace", x.device, s)
    keep = (structs, host_valid, ws, x, layers)

    def run():
        lib.check(lib.lib.bt_cuda_transformer_encoder_stack(ctx, C.byref(s), ptr(ws), ws_bytes, stream),
                  "encoder stack")
        return keep

    return run, y


def encoder_stack(lib, ctx, x, layers, *, key_valid, stream=None):
    """layers: one (weights, options) pair per layer, options as for encoder_layer."""
    run, y = encoder_stack_runner(lib, ctx, x, layers, key_valid=key_valid, stream=stream)
    run()
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
DECODER_CROSS_FIELDS = ("cross_norm_gamma", "cross_norm_beta") + bc.DECODER_CROSS_TENSORS


def decoder_structs(model, input_ids, past, new, key_cache, value_cache, logits, logits_rows, *, precision,
                    cross_key_cache=None, cross_value_cache=None, encoder_states=None, source_mask=None):
    """model: parity.decoder_model's dict (cfg + tensors, None = absent). Encoder-decoder steps: the cross
    caches [layers, B, Hkv, S, D] (device), encoder_states [B, S, E] (device; given: the caches are filled
    from it first), source_mask [B, S] (host int32; None: all real). Returns (decoder, step, keep)."""
    c = model["cfg"]
    layers = model["layers"]
    arr = (bc.DecoderLayer * max(len(layers), 1))()
    for i, layer in enumerate(layers):
        for name in DECODER_NORM_FIELDS + bc.DECODER_LAYER_TENSORS:
            setattr(arr[i], name, ptr(layer[name]))
        arr[i].norm1_eps, arr[i].norm2_eps = layer["norm1_eps"], layer["norm2_eps"]
        if c.get("cross_attention"):
            for name in DECODER_CROSS_FIELDS:
                setattr(arr[i], name, ptr(layer[name]))
            arr[i].cross_norm_eps = layer["cross_norm_eps"]
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
    m.cross_attention = int(bool(c.get("cross_attention")))
    if c.get("has_embedding_norm"):
        m.has_embedding_norm = 1
        m.embedding_norm_before_positions = int(bool(c.get("embedding_norm_before_positions")))
        m.embedding_norm_eps = c["embedding_norm_eps"]
        m.embedding_norm_gamma = ptr(model["embedding_norm_gamma"])
        m.embedding_norm_beta = ptr(model["embedding_norm_beta"])
    if model.get("position_bias") is not None:
        m.position_bias, m.position_bias_rows = ptr(model["position_bias"]), model["position_bias"].shape[1]
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
    keep = [arr, ids, past_h, new_h, lengths]
    if c.get("cross_attention"):
        s.source_len = cross_key_cache.shape[3]
        s.cross_key_cache, s.cross_value_cache = ptr(cross_key_cache), ptr(cross_value_cache)
        s.encoder_states = ptr(encoder_states)
        if source_mask is not None:
            mask, s.source_mask_host = _host_i32(source_mask)
            keep.append(mask)
    return m, s, keep


def decoder_step(lib, ctx, model, input_ids, past, new, key_cache, value_cache, logits_rows, *, precision,
                 stream=None, cross_key_cache=None, cross_value_cache=None, encoder_states=None, source_mask=None):
    """One TransformerDecoderStack step: input_ids [B, N] (host int32), caches [layers, B, Hkv, C, D]
    appended in place (the cross caches filled in place first when encoder_states is given); returns
    (logits [B, V] or [B, N, V], lengths list)."""
    b, n = input_ids.shape
    vocab = model["word_embeddings"].shape[0]
    shape = (b, n, vocab) if logits_rows == "all" else (b, vocab)
    logits = torch.full(shape, math.nan, device=model["word_embeddings"].device)
    m, s, keep = decoder_structs(model, input_ids, past, new, key_cache, value_cache, logits, logits_rows,
                                 precision=precision, cross_key_cache=cross_key_cache,
                                 cross_value_cache=cross_value_cache, encoder_states=encoder_states,
                                 source_mask=source_mask)
    ws_bytes = C.c_size_t()
    lib.check(lib.lib.bt_cuda_transformer_decoder_stack_workspace_bytes(C.byref(m), C.byref(s), C.byref(ws_bytes)),
              "decoder workspace")
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device=logits.device)
    lib.check(lib.lib.bt_cuda_transformer_decoder_stack(ctx, C.byref(m), C.byref(s), ptr(ws), ws_bytes.value,
                                                        stream), "decoder step")
    lengths = list(keep[4])[:b]
    del keep
    return logits, lengths


# ---- graph ops (FP32 at every precision) ----

def layer_norm_struct(x, gamma, beta, y, eps):
    a = bc.LayerNormArgs()
    a.width = x.shape[-1]
    a.rows = x.numel() // a.width if a.width else 0
    a.eps = eps
    a.x, a.gamma, a.beta, a.y = ptr(x), ptr(gamma), ptr(beta), ptr(y)
    return a, [x, gamma, beta, y]


def layer_norm(lib, ctx, x, gamma, beta, eps, *, inplace=False, stream=None):
    """y = LayerNorm(x) over the last dimension (gamma/beta None: ones/zeros); inplace: y is x."""
    y = x if inplace else torch.full(x.shape, math.nan, device=x.device)
    a, keep = layer_norm_struct(x, gamma, beta, y, eps)
    lib.check(lib.lib.bt_cuda_layer_norm(ctx, C.byref(a), stream), "layer norm")
    del keep
    return y


def embedding_sum_struct(tables, row_ids, y, *, norm, gamma=None, beta=None, eps=0.0):
    """tables: num_terms device tensors [rows_k, width]; row_ids: host int32 [num_terms, rows]; y [rows,
    width]. Returns (struct, keep)."""
    a = bc.EmbeddingSumArgs()
    a.rows, a.width = y.shape[0], y.shape[1]
    a.num_terms = len(tables)
    a.has_norm, a.eps = int(bool(norm)), eps
    table_ptrs = (C.c_void_p * max(len(tables), 1))(*[t.data_ptr() for t in tables])
    table_rows = (C.c_int64 * max(len(tables), 1))(*[t.shape[0] for t in tables])
    ids, _ = _host_i32(row_ids)
    a.tables_host = C.cast(table_ptrs, C.c_void_p)
    a.table_rows_host = C.cast(table_rows, C.c_void_p)
    a.row_ids_host = C.c_void_p(ids.data_ptr())
    a.gamma, a.beta, a.y = ptr(gamma), ptr(beta), ptr(y)
    return a, [table_ptrs, table_rows, ids, tables, gamma, beta, y]


def embedding_sum(lib, ctx, tables, row_ids, rows, *, norm, gamma=None, beta=None, eps=0.0, stream=None):
    """The op EmbeddingSum resolved to one table row per term and output row: y [rows, width]."""
    y = torch.full((rows, tables[0].shape[1]), math.nan, device=tables[0].device)
    a, keep = embedding_sum_struct(tables, row_ids, y, norm=norm, gamma=gamma, beta=beta, eps=eps)
    ws, ws_bytes = _workspace(lib, lib.lib.bt_cuda_embedding_sum_workspace_bytes, "embedding sum workspace",
                              y.device, a)
    lib.check(lib.lib.bt_cuda_embedding_sum(ctx, C.byref(a), ptr(ws), ws_bytes, stream), "embedding sum")
    del keep
    return y


def reorder_struct(key_cache, value_cache, lengths, sources, new_lengths):
    """Caches [L, B, Hkv, C, D] (device); lengths, sources, new_lengths: ctypes int32 arrays (new_lengths
    None: not returned; it may be lengths itself)."""
    a = bc.ReorderCacheArgs()
    a.num_layers, a.batch, a.kv_heads, a.capacity, a.head_dim = key_cache.shape
    a.key_cache, a.value_cache = ptr(key_cache), ptr(value_cache)
    a.lengths_host = C.cast(lengths, C.c_void_p)
    a.source_rows_host = C.cast(sources, C.c_void_p)
    a.new_lengths_host = None if new_lengths is None else C.cast(new_lengths, C.c_void_p)
    return a, [lengths, sources, new_lengths]


def reorder_cache(lib, ctx, key_cache, value_cache, lengths, sources, *, inplace_lengths=False, stream=None):
    """Beam search's reorder of both caches in place; returns the new lengths (list)."""
    lengths_h, sources_h = _int32s(lengths), _int32s(sources)
    new_h = lengths_h if inplace_lengths else _int32s([-1] * len(lengths))
    a, keep = reorder_struct(key_cache, value_cache, lengths_h, sources_h, new_h)
    ws, ws_bytes = _workspace(lib, lib.lib.bt_cuda_reorder_cache_workspace_bytes, "reorder cache workspace",
                              key_cache.device, a)
    lib.check(lib.lib.bt_cuda_reorder_cache(ctx, C.byref(a), ptr(ws), ws_bytes, stream), "reorder cache")
    out = list(new_h)[:len(lengths)]
    del keep
    return out
