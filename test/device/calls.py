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
