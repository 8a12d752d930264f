"""Parity of libbt_cuda against the float64 references, every mask kind, odd
sizes, GQA, padding, empty rows, NaN propagation, backward, the encoder layer
and the encoder stack, and the decoding ops (RMSNorm, rotary, attention over a
key/value cache step after step, a decoder stack's prefill and decode steps).
Each case returns a record; a failure is recorded, never raised."""
import ctypes as C
import math
import traceback

import torch

import bt_cuda_ctypes as bc
import calls
import reference as ref

from cases import (ATTENTION_CASES, DECODER_CASES, EMBEDDING_SUM_CASES, ENCODER_CASES,  # noqa: F401
                   ENCODER_STACK_CASES, KV_CACHE_CASES, LAYER_NORM_CASES, MEDIUM_CONVERT, MEDIUM_CONVERT_KINDS,
                   REORDER_CACHE_CASES, RMS_NORM_CASES, ROTARY_CASES, TF32_V1, TF32_V1_KINDS, TOLERANCE,
                   base_precision)


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def key_padding(b, s, device, gen):
    """Mixed patterns: prefix lengths, a scattered pattern, and (B >= 3) a fully padded sequence."""
    valid = torch.zeros(b, s, dtype=torch.bool)
    for i in range(b):
        if i == 1:
            valid[i] = torch.rand(s, generator=gen) < 0.6
        elif i == 2:
            continue
        else:
            valid[i, : max(1, (s * (i + 2)) // (b + 2))] = True
    return valid.to(device)


def unaligned(t):
    """A contiguous copy of t whose data starts 4 bytes past a 16-byte boundary (its own buffer)."""
    buf = torch.empty(t.numel() + 1, dtype=t.dtype, device=t.device)
    view = buf[1:].view(t.shape)
    view.copy_(t)
    return view


def hide_padded_keys(k, v, key_valid):
    """k and v with the rows key_valid hides set to zero (what the reference computes with when the inputs
    hold NaN there: hidden rows do not count, and 0 * NaN would)."""
    keep = key_valid.bool()[:, None, :, None]
    return k.masked_fill(~keep, 0.0), v.masked_fill(~keep, 0.0)


def _inputs(c, device, gen):
    def rnd(*shape):
        return torch.randn(*shape, generator=gen).to(device)
    q = rnd(c["B"], c["H"], c["Sq"], c["D"])
    k = rnd(c["B"], c["Hkv"], c["Sk"], c["D"])
    v = rnd(c["B"], c["Hkv"], c["Sk"], c["Dv"])
    if c.get("nan"):
        q[0, 1, 3, :] = math.nan
    if c.get("offset"):
        q, k, v = unaligned(q), unaligned(k), unaligned(v)
    kw = dict(scale=1.0 / math.sqrt(c["D"]), causal=bool(c.get("causal")))
    if c.get("mask") == "bool":
        m = torch.rand(*c["mask_shape"], generator=gen) < 0.7
        if len(c["mask_shape"]) == 4:
            m[..., 0, :] = False  # a row with nothing visible
        kw["bool_mask"] = m.to(device)
    elif c.get("mask") == "additive":
        m = torch.randn(*c["mask_shape"], generator=gen)
        m[torch.rand(*c["mask_shape"], generator=gen) < 0.2] = -math.inf
        kw["add_mask"] = m.to(device)
    if c.get("padding"):
        kw["key_valid"] = key_padding(c["B"], c["Sk"], device, gen)
        if c.get("nan_padding"):  # never read by the op
            hidden = ~kw["key_valid"].bool()[:, None, :, None]
            k.masked_fill_(hidden, math.nan)
            v.masked_fill_(hidden, math.nan)
    return q, k, v, kw


def _reference(q, k, v, kw, need_grad, dout=None):
    d = lambda t: None if t is None else t.double()  # noqa: E731
    if kw.get("key_valid") is not None:
        k, v = hide_padded_keys(k, v, kw["key_valid"])
    q64, k64, v64 = (t.double().requires_grad_(need_grad) for t in (q, k, v))
    add = d(kw.get("add_mask"))
    if add is not None and need_grad:
        add.requires_grad_(True)
    bool_mask = kw.get("bool_mask")
    if bool_mask is not None and bool_mask.dim() < 4:
        bool_mask = bool_mask.reshape((1,) * (4 - bool_mask.dim()) + tuple(bool_mask.shape))
    if add is not None and add.dim() < 4:
        add = add.reshape((1,) * (4 - add.dim()) + tuple(add.shape))
    out, lse = ref.attention(q64, k64, v64, kw["scale"], causal=kw["causal"], bool_mask=bool_mask, add_mask=add,
                             key_valid=kw.get("key_valid"))
    grads = None
    if need_grad:
        leaves = [q64, k64, v64] + ([add] if add is not None else [])
        grads = torch.autograd.grad(out, leaves, dout.double())
    return out.detach(), lse.detach(), grads


def run_attention_case(lib, ctx, c, precision, device, gen, stream):
    """Forward (out, and lse on its own) and, for cases with grad, the backward; under 'high/v1' (the
    previous TF32 forward kernel) the forward only, since the backward does not depend on the kernel."""
    rec = dict(kind="attention", case=c["name"], precision=precision, passed=False, errors={}, notes=[])
    try:
        q, k, v, kw = _inputs(c, device, gen)
        key_limit = calls.key_limit_of(kw["key_valid"]) if "key_valid" in kw else None
        out, lse = calls.attention_forward(lib, ctx, q, k, v, stream=stream, precision=base_precision(precision),
                                           key_limit=key_limit, **kw)
        _sync()
        need_grad = bool(c.get("grad")) and precision != TF32_V1
        dout = torch.randn(out.shape, generator=gen).to(device) if need_grad else None
        out_ref, lse_ref, grads = _reference(q, k, v, kw, need_grad, dout)
        tol = TOLERANCE[base_precision(precision)]
        ok = True
        if c.get("nan"):
            same_nan = bool(torch.equal(torch.isnan(out.cpu()), torch.isnan(out_ref.cpu())))
            rec["notes"].append(f"NaN positions match: {same_nan}")
            ok &= same_nan
        rec["errors"]["out"] = ref.rel_error(out, out_ref)
        ok &= rec["errors"]["out"] <= tol["forward"]
        # lse on its own: finite where the reference's is (rows hit by a NaN input are NaN in both).
        rec["errors"]["lse"] = ref.rel_error(lse, lse_ref)
        lse_nan = bool(torch.equal(torch.isnan(lse.cpu()), torch.isnan(lse_ref.cpu())))
        ok &= rec["errors"]["lse"] <= tol["forward"] and lse_nan
        if not lse_nan:
            rec["notes"].append("lse NaN where the reference's is not (or the reverse)")
        empty = torch.isneginf(lse_ref)
        if bool(empty.any()):
            zero_rows = bool((out[empty.to(out.device)] == 0).all()) and bool(torch.isneginf(lse[empty]).all())
            rec["notes"].append(f"{int(empty.sum())} rows without visible keys; zeros and lse=-inf: {zero_rows}")
            ok &= zero_rows
        if need_grad:
            dq, dk, dv, dmask = calls.attention_backward(lib, ctx, q, k, v, dout, out, lse, stream=stream,
                                                         precision=base_precision(precision), key_limit=key_limit,
                                                         **kw)
            _sync()
            names = ["dq", "dk", "dv"] + (["dmask"] if dmask is not None else [])
            mine = [dq, dk, dv] + ([dmask] if dmask is not None else [])
            for name, a, e in zip(names, mine, grads):
                e = e.reshape(a.shape)
                rec["errors"][name] = ref.rel_error(a, e)
                ok &= rec["errors"][name] <= tol["backward"]
            if key_limit is not None:  # keys at or past key_limit: dk and dv exact zeros
                past = torch.arange(c["Sk"], device=dk.device)[None, :] >= key_limit.to(dk.device).long()[:, None]
                hidden = ~kw["key_valid"].bool().to(dk.device)
                zero = bool((dk.transpose(1, 2)[past] == 0).all()) and bool((dv.transpose(1, 2)[past] == 0).all())
                zero_hidden = bool((dk.transpose(1, 2)[hidden] == 0).all()) and \
                    bool((dv.transpose(1, 2)[hidden] == 0).all())
                rec["notes"].append(f"{int(past.sum())} keys past key_limit: dk, dv exact zeros: {zero} (required); "
                                    f"all {int(hidden.sum())} padded keys: {zero_hidden} (noted)")
                ok &= zero
        rec["passed"] = bool(ok)
    except Exception as exc:  # recorded, the run goes on
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=3)
    return rec


def encoder_weights(E, F, packed, device, gen):
    w = lambda *s: (torch.randn(*s, generator=gen) * 0.08).to(device)  # noqa: E731
    out = {}
    if packed:
        out["qkv_weight"], out["qkv_bias"] = w(E, 3 * E), w(3 * E)
    else:
        for n in "qkv":
            out[f"{n}_weight"], out[f"{n}_bias"] = w(E, E), w(E)
    out["out_weight"], out["out_bias"] = w(E, E), w(E)
    for n in ("ln1", "ln2"):
        out[f"{n}_gamma"] = (1 + torch.randn(E, generator=gen) * 0.1).to(device)
        out[f"{n}_beta"] = w(E)
    out["ffn_in_weight"], out["ffn_in_bias"] = w(E, F), w(F)
    out["ffn_out_weight"], out["ffn_out_bias"] = w(F, E), w(E)
    return out


def run_encoder_case(lib, ctx, c, precision, device, gen, stream):
    rec = dict(kind="encoder", case=c["name"], precision=precision, passed=False, errors={}, notes=[])
    try:
        B, S, E, H, F = c["B"], c["S"], c["E"], c["H"], c["F"]
        x = torch.randn(B, S, E, generator=gen).to(device)
        w = encoder_weights(E, F, c["packed"], device, gen)
        valid = key_padding(B, S, device, gen) if c["padding"] else None
        scale = 1.0 / math.sqrt(E // H)
        y = calls.encoder_layer(lib, ctx, x, w, num_heads=H, norm_first=c["norm_first"], activation=c["act"],
                                eps1=c["eps"][0], eps2=c["eps"][1], causal=c["causal"], key_valid=valid,
                                scale=scale, precision=base_precision(precision), stream=stream)
        _sync()
        w64 = {n: t.double() for n, t in w.items()}
        y_ref = ref.encoder_layer(x.double(), w64, H, c["norm_first"], c["act"], c["eps"][0], c["eps"][1],
                                  c["causal"], valid, scale)
        rec["errors"]["y"] = ref.rel_error(y, y_ref)
        ok = rec["errors"]["y"] <= TOLERANCE[base_precision(precision)]["encoder"]
        if valid is not None:
            pad_zero = bool((y[~valid] == 0).all())
            rec["notes"].append(f"padding rows exactly zero: {pad_zero}")
            ok &= pad_zero
        rec["passed"] = bool(ok)
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=3)
    return rec


def _stack_layers(c, device, gen):
    """Per layer of stack case c: its weights and its options (as calls.encoder_layer takes them)."""
    scale = 1.0 / math.sqrt(c["E"] // c["H"])
    return [(encoder_weights(c["E"], layer["F"], layer["packed"], device, gen),
             dict(num_heads=c["H"], norm_first=layer["norm_first"], activation=layer["act"], eps1=layer["eps"][0],
                  eps2=layer["eps"][1], causal=layer["causal"], scale=scale))
            for layer in c["layers"]]


def _stack_reference(x, layers, valid):
    return ref.encoder_stack(x.double(), [({n: t.double() for n, t in w.items()}, o["num_heads"], o["norm_first"],
                                           o["activation"], o["eps1"], o["eps2"], o["causal"], o["scale"])
                                          for w, o in layers], valid)


def run_encoder_stack_case(lib, ctx, c, precision, device, gen, stream):
    """The stack against the float64 layer applied in a loop; a one-layer stack must also agree with
    the layer entry point (it runs the same code; bit equality is noted, not required, since cuBLASLt
    may pick another algorithm for other buffers)."""
    rec = dict(kind="encoder_stack", case=c["name"], precision=precision, passed=False, errors={}, notes=[])
    try:
        x = torch.randn(c["B"], c["S"], c["E"], generator=gen).to(device)
        layers = _stack_layers(c, device, gen)
        valid = key_padding(c["B"], c["S"], device, gen) if c["padding"] else None
        run = [(w, dict(o, precision=base_precision(precision))) for w, o in layers]
        y = calls.encoder_stack(lib, ctx, x, run, key_valid=valid, stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, _stack_reference(x, layers, valid))
        tol = TOLERANCE[base_precision(precision)]
        ok = rec["errors"]["y"] <= tol["encoder_stack"]
        if valid is not None:
            pad_zero = bool((y[~valid] == 0).all())
            rec["notes"].append(f"padding rows exactly zero: {pad_zero}")
            ok &= pad_zero
        if len(run) == 1:
            y_layer = calls.encoder_layer(lib, ctx, x, run[0][0], key_valid=valid, stream=stream, **run[0][1])
            _sync()
            rec["errors"]["y vs layer"] = ref.rel_error(y, y_layer)
            rec["notes"].append(f"bit-equal to the layer entry point: {bool(torch.equal(y, y_layer))}")
            ok &= rec["errors"]["y vs layer"] <= tol["encoder"]
        rec["passed"] = bool(ok)
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=3)
    return rec


# ---- decoding ----

def _record(kind, c, precision):
    return dict(kind=kind, case=c["name"], precision=precision, passed=False, errors={}, notes=[])


def _fail(rec, exc):
    rec["error"] = f"{type(exc).__name__}: {exc}"
    rec["traceback"] = traceback.format_exc(limit=3)
    return rec


def _rms_inputs(c, device, gen):
    x = (torch.randn(c["rows"], c["width"], generator=gen) * c.get("x_scale", 1.0)).to(device)
    gamma = (1 + 0.3 * torch.randn(c["width"], generator=gen)).to(device) if c.get("gamma", True) else None
    return x, gamma


def run_rms_norm_case(lib, ctx, c, precision, device, gen, stream):
    """Precision-free: run once, recorded as 'fp32'."""
    rec = _record("rms_norm", c, precision)
    try:
        x, gamma = _rms_inputs(c, device, gen)
        expected = ref.rms_norm(x.double(), None if gamma is None else gamma.double(), c["eps"])
        y = calls.rms_norm(lib, ctx, x.clone() if c.get("inplace") else x, gamma, c["eps"],
                           inplace=bool(c.get("inplace")), stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, expected)
        rec["passed"] = bool(rec["errors"]["y"] <= TOLERANCE["highest"]["rms_norm"] and
                             (y.numel() == 0 or bool(torch.isfinite(y).all())))
    except Exception as exc:
        return _fail(rec, exc)
    return rec


def _rotary_inputs(c, device, gen):
    x = torch.randn(c["B"], c["H"], c["S"], c["D"], generator=gen).to(device)
    rows = max(c["P"], 1)
    positions = torch.randint(0, rows, (c["B"], c["S"]), generator=gen, dtype=torch.int32)
    if c["rotary_dim"] == 0:
        return x, positions, None, None
    cos, sin = ref.rotary_tables(c["P"], c["rotary_dim"])
    return x, positions, cos.to(device), sin.to(device)


def run_rotary_case(lib, ctx, c, precision, device, gen, stream):
    """Precision-free: run once. The features past rotary_dim must be bit-exact copies."""
    rec = _record("rotary", c, precision)
    try:
        x, positions, cos, sin = _rotary_inputs(c, device, gen)
        rd = c["rotary_dim"]
        expected = ref.rotary(x.double(), positions, None if cos is None else cos.double(),
                              None if sin is None else sin.double(), rd, c["interleaved"])
        y = calls.rotary(lib, ctx, x.clone() if c.get("inplace") else x, positions, cos, sin, rd, c["interleaved"],
                         inplace=bool(c.get("inplace")), stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, expected)
        passthrough = bool(torch.equal(y[..., rd:], x[..., rd:]))
        rec["notes"].append(f"features past rotary_dim bit-exact: {passthrough}")
        rec["passed"] = bool(rec["errors"]["y"] <= TOLERANCE["highest"]["rotary"] and passthrough)
    except Exception as exc:
        return _fail(rec, exc)
    return rec


def _nan_padding(t, lens):
    """Rows past lens[b] along dim 2 of t [B, heads, N, *] become NaN (never read by the op)."""
    for b, n in enumerate(lens):
        t[b, :, n:] = math.nan
    return t


def _kv_start(c, device, gen):
    """Caches [B, Hkv, C, D|Dv]: past0[b] random rows, the rest NaN; and the float64 histories."""
    B, Hkv, cap = c["B"], c["Hkv"], c["C"]
    key_cache = torch.full((B, Hkv, cap, c["D"]), math.nan)
    value_cache = torch.full((B, Hkv, cap, c["Dv"]), math.nan)
    hist_k, hist_v = [], []
    for b, p in enumerate(c["past0"]):
        key_cache[b, :, :p] = torch.randn(Hkv, p, c["D"], generator=gen)
        value_cache[b, :, :p] = torch.randn(Hkv, p, c["Dv"], generator=gen)
        hist_k.append(key_cache[b, :, :p].double().to(device))
        hist_v.append(value_cache[b, :, :p].double().to(device))
    return key_cache.to(device), value_cache.to(device), hist_k, hist_v


def _kv_step_inputs(c, n, lens, device, gen):
    q = _nan_padding(torch.randn(c["B"], c["H"], n, c["D"], generator=gen), lens).to(device)
    k = _nan_padding(torch.randn(c["B"], c["Hkv"], n, c["D"], generator=gen), lens).to(device)
    v = _nan_padding(torch.randn(c["B"], c["Hkv"], n, c["Dv"], generator=gen), lens).to(device)
    return q, k, v


def _untouched(cache, lengths):
    """Cache rows at or past each sequence's length are still NaN (dim 2 of [B, Hkv, C, *] or dim 3 of
    [layers, B, Hkv, C, *])."""
    if cache.dim() == 5:
        return all(_untouched(cache[l], lengths) for l in range(cache.shape[0]))
    return all(bool(torch.isnan(cache[b, :, n:]).all()) for b, n in enumerate(lengths))


def run_kv_cache_case(lib, ctx, c, precision, device, gen, stream):
    """Steps over one cache, fed back. Per step: out against float64 attention over the float64 history
    (kv_cache_prompt bound when a step has more than 16 new tokens: the tiled kernels, TF32 under 'high'),
    padding query rows exact zeros, cache rows [0, past + new) bit-exact, rows past them NaN, lengths."""
    rec = _record("kv_cache", c, precision)
    rec["steps"] = []
    try:
        key_cache, value_cache, hist_k, hist_v = _kv_start(c, device, gen)
        past = list(c["past0"])
        scale = c.get("scale", 1.0 / math.sqrt(c["D"]))
        ok = True
        worst = {"out": 0.0, "out prompt": 0.0}
        for step, (n, lens) in enumerate(c["steps"]):
            q, k, v = _kv_step_inputs(c, n, lens, device, gen)
            out, lengths = calls.kv_cache_attention(lib, ctx, q, k, v, key_cache, value_cache, past, lens,
                                                    scale=scale, precision=base_precision(precision), stream=stream)
            _sync()
            expected = torch.zeros(out.shape, dtype=torch.float64, device=out.device)
            cache_exact = True
            for b, m in enumerate(lens):
                hist_k[b] = torch.cat((hist_k[b], k[b, :, :m].double()), dim=1)
                hist_v[b] = torch.cat((hist_v[b], v[b, :, :m].double()), dim=1)
                if m:
                    expected[b, :, :m] = ref.cached_attention(q[b, :, :m].double(), hist_k[b], hist_v[b], scale)
                total = past[b] + m
                cache_exact &= bool(torch.equal(key_cache[b, :, :total].double(), hist_k[b]) and
                                    torch.equal(value_cache[b, :, :total].double(), hist_v[b]))
            want = [p + m for p, m in zip(past, lens)]
            prompt = max(lens) > 16
            tol = TOLERANCE[base_precision(precision)]["kv_cache_prompt" if prompt else "kv_cache"]
            err = ref.rel_error(out, expected)
            pad_zero = all(bool((out[b, :, m:] == 0).all()) for b, m in enumerate(lens))
            untouched = _untouched(key_cache, want) and _untouched(value_cache, want)
            step_ok = err <= tol and pad_zero and cache_exact and untouched and lengths == want
            key = "out prompt" if prompt else "out"
            worst[key] = max(worst[key], err)
            rec["steps"].append(dict(N=n, new=lens, out=err, tol=tol, padding_zero=pad_zero, cache_exact=cache_exact,
                                     rest_untouched=untouched, lengths=lengths, passed=step_ok))
            if not step_ok:
                rec["notes"].append(f"step {step} (N={n}, new={lens}) failed: out {err:.2g} (bound {tol:g}), "
                                    f"padding zero {pad_zero}, cache exact {cache_exact}, rest untouched {untouched}, "
                                    f"lengths {lengths} (want {want})")
            ok &= step_ok
            past = want
        rec["errors"].update({k: v for k, v in worst.items() if v or k == "out"})
        rec["passed"] = bool(ok)
    except Exception as exc:
        return _fail(rec, exc)
    return rec


def decoder_model(c, device, gen):
    """Random weights of decoder case c (float32 on `device`) with its options, as calls.decoder_structs
    and reference.decoder_forward take them; None = absent (gammas 1, betas and biases 0)."""
    E, H, Hkv, D, F, V = c["E"], c["H"], c["Hkv"], c["D"], c["F"], c["V"]

    def w(*shape, scale):
        return (torch.randn(*shape, generator=gen) * scale).to(device)

    def vec(n, center, spread):
        return (center + torch.randn(n, generator=gen) * spread).to(device)

    rms = c["norm"] == "rms"
    layers = []
    for i in range(c["L"]):
        layer = {n: None for n in calls.DECODER_NORM_FIELDS + bc.DECODER_LAYER_TENSORS + calls.DECODER_CROSS_FIELDS}
        layer["norm1_eps"] = layer["norm2_eps"] = c["eps"]
        layer["cross_norm_eps"] = 0.0
        layer["norm1_gamma"] = vec(E, 1.0, 0.2)
        layer["norm1_beta"] = None if rms else vec(E, 0.0, 0.1)
        if not (c["parallel"] and c["shared_norm"]):
            layer["norm2_gamma"] = vec(E, 1.0, 0.2)
            layer["norm2_beta"] = None if rms else vec(E, 0.0, 0.1)
        if c.get("null_terms") and i == 1:  # gamma null = 1, beta null = 0
            layer["norm1_gamma"], layer["norm2_beta"] = None, None
        s_in = 1.0 / math.sqrt(E)
        if c["packed"]:
            layer["qkv_weight"] = w(E, (H + 2 * Hkv) * D, scale=s_in)
            layer["qkv_bias"] = vec((H + 2 * Hkv) * D, 0.0, 0.1) if c["biases"] else None
        else:
            for name, width in (("q", H * D), ("k", Hkv * D), ("v", Hkv * D)):
                layer[f"{name}_weight"] = w(E, width, scale=s_in)
                layer[f"{name}_bias"] = vec(width, 0.0, 0.1) if c["biases"] else None
        layer["out_weight"] = w(H * D, E, scale=1.0 / math.sqrt(H * D))
        layer["up_weight"] = w(E, F, scale=s_in)
        layer["down_weight"] = w(F, E, scale=1.0 / math.sqrt(F))
        if c["gated"]:
            layer["gate_weight"] = w(E, F, scale=s_in)
        if c["biases"]:
            layer["out_bias"], layer["up_bias"], layer["down_bias"] = vec(E, 0, 0.1), vec(F, 0, 0.1), vec(E, 0, 0.1)
            if c["gated"]:
                layer["gate_bias"] = vec(F, 0.0, 0.1)
        if c.get("cross"):
            layer["cross_norm_eps"] = c["eps"]
            layer["cross_norm_gamma"] = vec(E, 1.0, 0.2)
            layer["cross_norm_beta"] = None if rms else vec(E, 0.0, 0.1)
            for name, width in (("cross_q", H * D), ("cross_k", Hkv * D), ("cross_v", Hkv * D)):
                layer[f"{name}_weight"] = w(E, width, scale=s_in)
                layer[f"{name}_bias"] = vec(width, 0.0, 0.1) if c["biases"] else None
            layer["cross_out_weight"] = w(H * D, E, scale=1.0 / math.sqrt(H * D))
            layer["cross_out_bias"] = vec(E, 0.0, 0.1) if c["biases"] else None
        layers.append(layer)
    rotary_dim = c.get("rotary_dim", 0) if c["positions"] == "rotary" else 0
    model = dict(cfg=dict(num_heads=H, num_kv_heads=Hkv, head_dim=D, norm_kind=c["norm"], norm_first=c["norm_first"],
                          parallel=c["parallel"], parallel_shared_norm=c["shared_norm"], activation=c["act"],
                          gated_mlp=c["gated"], has_final_norm=c["final_norm"], lm_head_transposed=c["tied"],
                          rotary_dim=rotary_dim, rotary_interleaved=bool(c.get("interleaved")),
                          attention_scale=c.get("attention_scale", 1.0 / math.sqrt(D)),
                          embedding_scale=c.get("embedding_scale", 1.0), final_norm_eps=c.get("final_eps", c["eps"]),
                          position_offset=c.get("offset", 0)),
                 layers=layers, word_embeddings=w(V, E, scale=0.5), position_embeddings=None, rotary_cos=None,
                 rotary_sin=None, final_norm_gamma=None, final_norm_beta=None, lm_head_bias=None)
    if c["positions"] == "learned":
        model["position_embeddings"] = w(c["P"] + c.get("offset", 0), E, scale=0.3)
    elif c["positions"] == "rotary":
        cos, sin = ref.rotary_tables(c["P"], rotary_dim)
        model["rotary_cos"], model["rotary_sin"] = cos.to(device), sin.to(device)
    if c["final_norm"]:
        model["final_norm_gamma"] = vec(E, 1.0, 0.2)
        model["final_norm_beta"] = None if rms else vec(E, 0.0, 0.1)
    model["lm_head"] = model["word_embeddings"] if c["tied"] else w(E, V, scale=1.0 / math.sqrt(E))
    if c["head_bias"]:
        model["lm_head_bias"] = vec(V, 0.0, 0.1)
    model["cfg"].update(cross_attention=bool(c.get("cross")), has_embedding_norm=bool(c.get("embedding_norm")),
                        embedding_norm_before_positions=bool(c.get("embedding_norm_first")),
                        embedding_norm_eps=c["eps"])
    model["position_bias"] = w(H, c["P"], scale=0.5) if c.get("position_bias") else None
    model["embedding_norm_gamma"] = vec(E, 1.0, 0.2) if c.get("embedding_norm") else None
    model["embedding_norm_beta"] = vec(E, 0.0, 0.1) if c.get("embedding_norm") and not rms else None
    return model


def decoder_source(c, device, gen):
    """Encoder states [B, S, E] (sigma 1) and the source mask [B, S] int32 on the host (None: all real) of
    case c; (None, None) without cross-attention."""
    if not c.get("cross"):
        return None, None
    states = torch.randn(c["B"], c["S"], c["E"], generator=gen).to(device)
    if c.get("source_valid") is None:
        return states, None
    mask = torch.zeros(c["B"], c["S"], dtype=torch.int32)
    for b, real in enumerate(c["source_valid"]):
        mask[b, :real] = 1
    return states, mask


def decoder_cross_caches(c, device):
    """The cross caches [L, B, Hkv, S, D], NaN until a step fills them; (None, None) without."""
    if not c.get("cross"):
        return None, None
    shape = (c["L"], c["B"], c["Hkv"], c["S"], c["D"])
    return torch.full(shape, math.nan, device=device), torch.full(shape, math.nan, device=device)


def model_to_double(model):
    out = {}
    for k, v in model.items():
        if k == "layers":
            out[k] = [{n: (t.double() if isinstance(t, torch.Tensor) else t) for n, t in layer.items()} for layer in v]
        else:
            out[k] = v.double() if isinstance(v, torch.Tensor) else v
    return out


def _decoder_caches(c, device):
    shape = (c["L"], c["B"], c["Hkv"], c["C"], c["D"])
    return torch.full(shape, math.nan, device=device), torch.full(shape, math.nan, device=device)


def _step_ids(c, n, lens, gen):
    ids = torch.randint(0, c["V"], (c["B"], n), generator=gen, dtype=torch.int32)
    for b, m in enumerate(lens):
        ids[b, m:] = -7  # padding ids: never read
    return ids


def _source_of(states, source_mask, b):
    """Sequence b's source for reference.decoder_forward: None without cross-attention."""
    if states is None:
        return None
    return dict(states=states[b].double(),
                valid=None if source_mask is None else source_mask[b].bool().to(states.device))


def run_decoder_case(lib, ctx, c, precision, device, gen, stream):
    """Prefill and decode steps of one decoder over its caches (fed back). Per step: the logits against
    the float64 decoder recomputing each sequence from scratch, rows without a token exact zeros, every
    layer's cache rows [0, length) against the reference's keys/values, rows past them still NaN, the
    lengths. Bound: decoder_stack (3e-5 'highest', 5e-3 'high': TF32 GEMMs and prompt attention, 2e-2
    'medium': bfloat16 GEMMs, TF32 prompt attention)."""
    rec = _record("decoder_stack", c, precision)
    rec["steps"] = []
    try:
        model = decoder_model(c, device, gen)
        model64 = model_to_double(model)
        key_cache, value_cache = _decoder_caches(c, device)
        states, source_mask = decoder_source(c, device, gen)
        cross_key, cross_value = decoder_cross_caches(c, device)
        history = [[] for _ in range(c["B"])]
        kv_ref = [None] * c["B"]  # per sequence: per layer (keys, values) [Hkv, len, D]
        past = [0] * c["B"]
        tol = TOLERANCE[precision]["decoder_stack"]
        ok = True
        worst = {"logits": 0.0, "cache": 0.0}
        if c.get("cross"):
            worst["cross cache"] = 0.0
            want_cross = ref.cross_caches(model64, states.double())
        for step, (n, lens, rows) in enumerate(c["steps"]):
            ids = _step_ids(c, n, lens, gen)
            fill = bool(c.get("cross")) and step == c["fill_step"]
            logits, lengths = calls.decoder_step(lib, ctx, model, ids, past, lens, key_cache, value_cache, rows,
                                                 precision=precision, stream=stream, cross_key_cache=cross_key,
                                                 cross_value_cache=cross_value,
                                                 encoder_states=states if fill else None, source_mask=source_mask)
            _sync()
            expected = torch.zeros(logits.shape, dtype=torch.float64, device=logits.device)
            has_row = torch.zeros(logits.shape[:-1], dtype=torch.bool, device=logits.device)
            for b, m in enumerate(lens):
                if m == 0:
                    continue
                history[b] += ids[b, :m].tolist()
                full, kv_ref[b], _ = ref.decoder_forward(model64, history[b], _source_of(states, source_mask, b))
                if rows == "all":
                    expected[b, :m] = full[past[b]:past[b] + m]
                    has_row[b, :m] = True
                else:
                    expected[b] = full[-1]
                    has_row[b] = True
            want = [p + m for p, m in zip(past, lens)]
            err = ref.rel_error(logits, expected)
            pad_zero = bool((logits[~has_row] == 0).all())
            diffs, norms = 0.0, 0.0
            for b in range(c["B"]):
                if kv_ref[b] is None:
                    continue
                for layer, (k_ref, v_ref) in enumerate(kv_ref[b]):
                    for got, exp in ((key_cache[layer, b, :, :want[b]], k_ref), (value_cache[layer, b, :, :want[b]],
                                                                                   v_ref)):
                        diffs += float(torch.linalg.vector_norm(got.double() - exp)) ** 2
                        norms += float(torch.linalg.vector_norm(exp)) ** 2
            cache_err = math.sqrt(diffs / norms) if norms > 0 else math.sqrt(diffs)
            if math.isnan(cache_err):
                cache_err = math.inf
            untouched = _untouched(key_cache, want) and _untouched(value_cache, want)
            step_ok = err <= tol and cache_err <= tol and pad_zero and untouched and lengths == want
            cross_err = None
            if c.get("cross") and step >= c["fill_step"]:  # filled on fill_step, read as they are after
                cross_err = max(max(ref.rel_error(cross_key[layer], k), ref.rel_error(cross_value[layer], v))
                                for layer, (k, v) in enumerate(want_cross))
                worst["cross cache"] = max(worst["cross cache"], cross_err)
                step_ok = step_ok and cross_err <= tol
            worst["logits"] = max(worst["logits"], err)
            worst["cache"] = max(worst["cache"], cache_err)
            rec["steps"].append(dict(N=n, new=lens, logits_rows=rows, logits=err, cache=cache_err,
                                     cross_cache=cross_err, padding_zero=pad_zero, rest_untouched=untouched,
                                     lengths=lengths, passed=step_ok))
            if not step_ok:
                rec["notes"].append(f"step {step} (N={n}, new={lens}, {rows}) failed: logits {err:.2g}, cache "
                                    f"{cache_err:.2g}, cross cache {cross_err} (bound {tol:g}), padding zero "
                                    f"{pad_zero}, rest untouched {untouched}, lengths {lengths} (want {want})")
            ok &= step_ok
            past = want
        rec["errors"].update(worst)
        rec["passed"] = bool(ok)
    except Exception as exc:
        return _fail(rec, exc)
    return rec


# ---- graph ops (precision-free: run once, recorded as 'fp32') ----

def _layer_norm_inputs(c, device, gen):
    x = (torch.randn(c["rows"], c["width"], generator=gen) * c.get("x_scale", 1.0) + c.get("x_shift", 0.0)).to(device)
    gamma = (1 + 0.3 * torch.randn(c["width"], generator=gen)).to(device) if c.get("gamma", True) else None
    beta = (0.2 * torch.randn(c["width"], generator=gen)).to(device) if c.get("beta", True) else None
    return x, gamma, beta


def run_layer_norm_case(lib, ctx, c, precision, device, gen, stream):
    rec = _record("layer_norm", c, precision)
    try:
        x, gamma, beta = _layer_norm_inputs(c, device, gen)
        d = lambda t: None if t is None else t.double()  # noqa: E731
        expected = ref.layer_norm_op(x.double(), d(gamma), d(beta), c["eps"])
        y = calls.layer_norm(lib, ctx, x.clone() if c.get("inplace") else x, gamma, beta, c["eps"],
                             inplace=bool(c.get("inplace")), stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, expected)
        rec["passed"] = bool(rec["errors"]["y"] <= TOLERANCE["highest"]["layer_norm"] and
                             (y.numel() == 0 or bool(torch.isfinite(y).all())))
    except Exception as exc:
        return _fail(rec, exc)
    return rec


def _embedding_sum_inputs(c, device, gen):
    """Three terms: word rows [V, W] by ids [B, S], position rows [P, W] by s + offset (the same for every
    sequence), one constant row [1, W] (a token-type embedding); row ids [3, B*S] (host int32)."""
    W, B, S = c["width"], c["B"], c["S"]
    word = torch.randn(c["V"], W, generator=gen).to(device)
    positions = (0.5 * torch.randn(c["P"], W, generator=gen)).to(device)
    constant = (0.3 * torch.randn(1, W, generator=gen)).to(device)
    ids = torch.randint(0, c["V"], (B, S), generator=gen, dtype=torch.int32)
    pos = (torch.arange(S, dtype=torch.int32) + c["offset"])[None].expand(B, S)
    row_ids = torch.stack((ids.reshape(-1), pos.reshape(-1), torch.zeros(B * S, dtype=torch.int32)))
    gamma = beta = None
    if c["norm"] and c.get("gamma", True):
        gamma = (1 + 0.3 * torch.randn(W, generator=gen)).to(device)
    if c["norm"] and c.get("beta", True):
        beta = (0.2 * torch.randn(W, generator=gen)).to(device)
    return [word, positions, constant], row_ids.contiguous(), gamma, beta


def run_embedding_sum_case(lib, ctx, c, precision, device, gen, stream):
    rec = _record("embedding_sum", c, precision)
    try:
        tables, row_ids, gamma, beta = _embedding_sum_inputs(c, device, gen)
        d = lambda t: None if t is None else t.double()  # noqa: E731
        eps = c.get("eps", 0.0)
        expected = ref.embedding_sum([t.double() for t in tables], row_ids, c["norm"], d(gamma), d(beta), eps)
        y = calls.embedding_sum(lib, ctx, tables, row_ids, c["B"] * c["S"], norm=c["norm"], gamma=gamma, beta=beta,
                                eps=eps, stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, expected)
        rec["passed"] = bool(rec["errors"]["y"] <= TOLERANCE["highest"]["embedding_sum"] and
                             bool(torch.isfinite(y).all()))
    except Exception as exc:
        return _fail(rec, exc)
    return rec


def _reorder_inputs(c, device, gen):
    shape = (c["L"], c["B"], c["Hkv"], c["C"], c["D"])
    return torch.randn(*shape, generator=gen).to(device), torch.randn(*shape, generator=gen).to(device)


def run_reorder_cache_case(lib, ctx, c, precision, device, gen, stream):
    """Both caches bit-exact against the reorder written out (every position, the rows past the lengths
    included), and the new lengths."""
    rec = _record("reorder_cache", c, precision)
    try:
        keys, values = _reorder_inputs(c, device, gen)
        want_k, want_len = ref.reorder_cache(keys.clone(), c["lengths"], c["sources"])
        want_v, _ = ref.reorder_cache(values.clone(), c["lengths"], c["sources"])
        lengths = calls.reorder_cache(lib, ctx, keys, values, c["lengths"], c["sources"],
                                      inplace_lengths=bool(c.get("inplace_lengths")), stream=stream)
        _sync()
        rec["errors"]["key_cache"] = ref.rel_error(keys, want_k)
        rec["errors"]["value_cache"] = ref.rel_error(values, want_v)
        exact = bool(torch.equal(keys, want_k)) and bool(torch.equal(values, want_v))
        rec["notes"].append(f"caches bit-exact: {exact}; lengths {lengths} (want {want_len})")
        rec["passed"] = bool(exact and lengths == want_len and
                             max(rec["errors"].values()) <= TOLERANCE["highest"]["reorder_cache"])
    except Exception as exc:
        return _fail(rec, exc)
    return rec


# (kind, cases, runner, depends on the precision): the order of the device run. A precision-free kind
# runs under the first precision only and is recorded as 'fp32'. After the precisions, the kinds of
# cases.TF32_V1_KINDS run their 'high' cases again under the previous TF32 forward kernel ('high/v1'), and
# those of cases.MEDIUM_CONVERT_KINDS their 'medium' cases with the GEMM operands converted to bfloat16
# first ('medium/convert'); the caller sets cases.PASS_ENV[label] around each of these passes.
PARITY_KINDS = [
    ("attention", ATTENTION_CASES, run_attention_case, True),
    ("encoder", ENCODER_CASES, run_encoder_case, True),
    ("encoder_stack", ENCODER_STACK_CASES, run_encoder_stack_case, True),
    ("rms_norm", RMS_NORM_CASES, run_rms_norm_case, False),
    ("rotary", ROTARY_CASES, run_rotary_case, False),
    ("kv_cache", KV_CACHE_CASES, run_kv_cache_case, True),
    ("decoder_stack", DECODER_CASES, run_decoder_case, True),
    ("layer_norm", LAYER_NORM_CASES, run_layer_norm_case, False),
    ("embedding_sum", EMBEDDING_SUM_CASES, run_embedding_sum_case, False),
    ("reorder_cache", REORDER_CACHE_CASES, run_reorder_cache_case, False),
]


def parity_plan(precisions, include_v1=True, include_convert=True):
    """The device run's (kind, cases, runner, precision label) passes in order: every kind at each precision
    (a precision-free kind once, as 'fp32'), then, when 'high' is among them, the TF32 v1 pass, and when
    'medium' is, the 'medium/convert' pass."""
    plan = []
    for i, precision in enumerate(precisions):
        for kind, kind_cases, runner, by_precision in PARITY_KINDS:
            if by_precision or i == 0:
                plan.append((kind, kind_cases, runner, precision if by_precision else "fp32"))
    if include_v1 and "high" in precisions:
        plan += [(kind, kind_cases, runner, TF32_V1) for kind, kind_cases, runner, _ in PARITY_KINDS
                 if kind in TF32_V1_KINDS]
    if include_convert and "medium" in precisions:
        plan += [(kind, kind_cases, runner, MEDIUM_CONVERT) for kind, kind_cases, runner, _ in PARITY_KINDS
                 if kind in MEDIUM_CONVERT_KINDS]
    return plan


def run_kind(kind, lib, ctx, c, precision, device, gen, stream):
    runner = {k: r for k, _, r, _ in PARITY_KINDS}[kind]
    return runner(lib, ctx, c, precision, device, gen, stream)


def _workspace_query(lib, fn, *args):
    size = C.c_size_t()
    status, message = lib.status_of(fn, *(list(args) + [C.byref(size)]))
    return status, message, size.value


def _decoding_dry_run(gen, lib):
    """--dry-run for the decoding cases: inputs, structs and float64 references on the CPU; with the library,
    every planned call's arguments through its own validation (the workspace queries, which need no
    device; RMSNorm has none, so its call must get as far as NO_DEVICE)."""
    lines = []

    def check(label, status, message):
        if status != bc.OK:
            raise AssertionError(f"{label}: the library refuses the planned arguments ({status}: {message})")

    for c in RMS_NORM_CASES:
        x, gamma = _rms_inputs(c, "cpu", gen)
        y = ref.rms_norm(x.double(), None if gamma is None else gamma.double(), c["eps"])
        a, keep = calls.rms_struct(x, gamma, x if c.get("inplace") else torch.empty_like(x), c["eps"])
        status = None
        if lib is not None:
            # Validation passed: no device here (NO_DEVICE), or with one the null context is refused.
            status, message = lib.status_of(lib.lib.bt_cuda_rms_norm, None, C.byref(a), None)
            if not (status == bc.NO_DEVICE or (status == bc.INVALID_ARGUMENT and message == "context is null")):
                raise AssertionError(f"rms_norm {c['name']}: validation refused ({status}: {message})")
        lines.append(f"rms_norm {c['name']}: finite={y.numel() == 0 or bool(torch.isfinite(y).all())} "
                     f"library status={status}")
        del keep
    for c in ROTARY_CASES:
        x, positions, cos, sin = _rotary_inputs(c, "cpu", gen)
        y = ref.rotary(x.double(), positions, None if cos is None else cos.double(),
                       None if sin is None else sin.double(), c["rotary_dim"], c["interleaved"])
        a, keep = calls.rotary_struct(x, positions, cos, sin, x, c["rotary_dim"], c["interleaved"])
        ws = None
        if lib is not None:
            status, message, ws = _workspace_query(lib, lib.lib.bt_cuda_rotary_embedding_workspace_bytes, C.byref(a))
            check(f"rotary {c['name']}", status, message)
        kept = bool(torch.equal(y[..., c["rotary_dim"]:].float(), x[..., c["rotary_dim"]:]))
        lines.append(f"rotary {c['name']}: pass-through kept={kept} workspace={ws}")
        del keep
    for c in KV_CACHE_CASES:
        key_cache, value_cache, hist_k, hist_v = _kv_start(c, "cpu", gen)
        past, sizes, finite = list(c["past0"]), [], True
        scale = c.get("scale", 1.0 / math.sqrt(c["D"]))
        for n, lens in c["steps"]:
            q, k, v = _kv_step_inputs(c, n, lens, "cpu", gen)
            out = torch.empty(c["B"], c["H"], n, c["Dv"])
            for precision in ("high", "medium"):
                a, keep = calls.kv_struct(q, k, v, key_cache, value_cache, past, lens, out, scale=scale,
                                          precision=precision)
                if lib is not None:
                    status, message, ws = _workspace_query(
                        lib, lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes, C.byref(a))
                    check(f"kv_cache {c['name']} [{precision}]", status, message)
                    if precision == "high":
                        sizes.append(ws)
            for b, m in enumerate(lens):
                hist_k[b] = torch.cat((hist_k[b], k[b, :, :m].double()), dim=1)
                hist_v[b] = torch.cat((hist_v[b], v[b, :, :m].double()), dim=1)
                if m:
                    finite &= bool(torch.isfinite(ref.cached_attention(q[b, :, :m].double(), hist_k[b], hist_v[b],
                                                                       scale)).all())
            past = [p + m for p, m in zip(past, lens)]
            del keep
        if not finite:
            raise AssertionError(f"kv_cache reference of {c['name']} is not finite")
        lines.append(f"kv_cache {c['name']}: steps={len(c['steps'])} lengths={past} finite={finite} "
                     f"workspace bytes={sizes}")
    for c in DECODER_CASES:
        model = decoder_model(c, "cpu", gen)
        model64 = model_to_double(model)
        key_cache, value_cache = _decoder_caches(c, "cpu")
        states, source_mask = decoder_source(c, "cpu", gen)
        cross_key, cross_value = decoder_cross_caches(c, "cpu")
        past, history, sizes, finite = [0] * c["B"], [[] for _ in range(c["B"])], [], True
        for step, (n, lens, rows) in enumerate(c["steps"]):
            ids = _step_ids(c, n, lens, gen)
            logits = torch.empty((c["B"], n, c["V"]) if rows == "all" else (c["B"], c["V"]))
            fill = bool(c.get("cross")) and step == c["fill_step"]
            for precision in ("highest", "high", "medium"):
                m, s, keep = calls.decoder_structs(model, ids, past, lens, key_cache, value_cache, logits, rows,
                                                   precision=precision, cross_key_cache=cross_key,
                                                   cross_value_cache=cross_value,
                                                   encoder_states=states if fill else None, source_mask=source_mask)
                if lib is not None:
                    status, message, ws = _workspace_query(
                        lib, lib.lib.bt_cuda_transformer_decoder_stack_workspace_bytes, C.byref(m), C.byref(s))
                    check(f"decoder {c['name']}", status, message)
                    if precision == "highest":
                        sizes.append(ws)
                del keep
            for b, m_new in enumerate(lens):
                history[b] += ids[b, :m_new].tolist()
                if m_new:
                    full, _, _ = ref.decoder_forward(model64, history[b], _source_of(states, source_mask, b))
                    finite &= bool(torch.isfinite(full).all())
            past = [p + m_new for p, m_new in zip(past, lens)]
        if not finite:
            raise AssertionError(f"decoder reference of {c['name']} is not finite")
        lines.append(f"decoder {c['name']}: steps={len(c['steps'])} lengths={past} finite={finite} "
                     f"workspace bytes={sizes}")
    return lines


def dry_run_cases(gen, lib=None):
    """--dry-run on the CPU: builds every case's inputs and float64 reference (with gradients), the
    ABI argument structs and the encoder reference, so the harness itself is exercised before a device
    run; the decoding cases also through the library's argument validation when `lib` is given.
    Returns one line per case."""
    lines = []
    for c in ATTENTION_CASES:
        q, k, v, kw = _inputs(c, "cpu", gen)
        out, lse = torch.empty(c["B"], c["H"], c["Sq"], c["Dv"]), torch.empty(c["B"], c["H"], c["Sq"])
        key_limit = calls.key_limit_of(kw["key_valid"]) if "key_valid" in kw else None
        a, _ = calls.attention_struct(q, k, v, out, lse, precision="high", key_limit=key_limit, **kw)
        dout = torch.randn(c["B"], c["H"], c["Sq"], c["Dv"], generator=gen) if c.get("grad") else None
        out_ref, lse_ref, grads = _reference(q, k, v, kw, bool(c.get("grad")), dout)
        empty = int(torch.isneginf(lse_ref).sum())
        finite = bool(torch.isfinite(out_ref).all()) or bool(c.get("nan"))
        sizes = ""
        if lib is not None:  # the planned arguments through the library's validation, every precision
            fwd, bwd = [], []
            for precision in bc.PRECISION:
                a.precision = bc.PRECISION[precision]
                for fn, got in ((lib.lib.bt_cuda_scaled_dot_product_attention_workspace_bytes, fwd),
                                (lib.lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes, bwd)):
                    status, message, ws = _workspace_query(lib, fn, C.byref(a))
                    if status != bc.OK:
                        raise AssertionError(f"{c['name']} [{precision}]: the library refuses the planned "
                                             f"arguments ({status}: {message})")
                    got.append(ws)
            sizes = f" workspace bytes forward={fwd} grad={bwd}"
        lines.append(f"{c['name']}: mask_kind={a.mask_kind} strides={list(a.mask_strides)} empty_rows={empty} "
                     f"grads={0 if grads is None else len(grads)} finite={finite}{sizes}")
        if not finite:
            raise AssertionError(f"reference of {c['name']} is not finite")
    for c in ENCODER_CASES:
        B, S, E, H, F = c["B"], c["S"], c["E"], c["H"], c["F"]
        x = torch.randn(B, S, E, generator=gen, dtype=torch.float64)
        w = {n: t.double() for n, t in encoder_weights(E, F, c["packed"], "cpu", gen).items()}
        valid = key_padding(B, S, "cpu", gen) if c["padding"] else None
        y = ref.encoder_layer(x, w, H, c["norm_first"], c["act"], c["eps"][0], c["eps"][1], c["causal"], valid,
                              1.0 / math.sqrt(E // H))
        zero = valid is None or bool((y[~valid] == 0).all())
        lines.append(f"encoder {c['name']}: finite={bool(torch.isfinite(y).all())} padding_zero={zero}")
    for c in ENCODER_STACK_CASES:
        x = torch.randn(c["B"], c["S"], c["E"], generator=gen)
        layers = _stack_layers(c, "cpu", gen)
        valid = key_padding(c["B"], c["S"], "cpu", gen) if c["padding"] else None
        y = _stack_reference(x, layers, valid)
        structs = [calls.layer_struct(x, w, precision="highest", **o) for w, o in layers]
        zero = valid is None or bool((y[~valid] == 0).all())
        lines.append(f"{c['name']}: layers={len(structs)} finite={bool(torch.isfinite(y).all())} "
                     f"padding_zero={zero}")
    return lines + _decoding_dry_run(gen, lib) + _graph_dry_run(gen, lib)


def _graph_dry_run(gen, lib):
    """--dry-run for the graph ops: inputs and float64 references on the CPU; with the library, the planned
    arguments through its validation (LayerNorm's call must get as far as NO_DEVICE, the others' workspace
    queries must accept them)."""
    lines = []
    for c in LAYER_NORM_CASES:
        x, gamma, beta = _layer_norm_inputs(c, "cpu", gen)
        y = ref.layer_norm_op(x.double(), None if gamma is None else gamma.double(),
                              None if beta is None else beta.double(), c["eps"])
        a, keep = calls.layer_norm_struct(x, gamma, beta, x if c.get("inplace") else torch.empty_like(x), c["eps"])
        status = None
        if lib is not None:
            status, message = lib.status_of(lib.lib.bt_cuda_layer_norm, None, C.byref(a), None)
            if not (status == bc.NO_DEVICE or (status == bc.INVALID_ARGUMENT and message == "context is null")):
                raise AssertionError(f"layer_norm {c['name']}: validation refused ({status}: {message})")
        lines.append(f"layer_norm {c['name']}: finite={y.numel() == 0 or bool(torch.isfinite(y).all())} "
                     f"library status={status}")
        del keep
    for c in EMBEDDING_SUM_CASES:
        tables, row_ids, gamma, beta = _embedding_sum_inputs(c, "cpu", gen)
        y = ref.embedding_sum([t.double() for t in tables], row_ids, c["norm"],
                              None if gamma is None else gamma.double(), None if beta is None else beta.double(),
                              c.get("eps", 0.0))
        out = torch.empty(c["B"] * c["S"], c["width"])
        a, keep = calls.embedding_sum_struct(tables, row_ids, out, norm=c["norm"], gamma=gamma, beta=beta,
                                             eps=c.get("eps", 0.0))
        ws = None
        if lib is not None:
            status, message, ws = _workspace_query(lib, lib.lib.bt_cuda_embedding_sum_workspace_bytes, C.byref(a))
            if status != bc.OK:
                raise AssertionError(f"embedding_sum {c['name']}: the library refuses the planned arguments "
                                     f"({status}: {message})")
        lines.append(f"embedding_sum {c['name']}: finite={bool(torch.isfinite(y).all())} workspace={ws}")
        del keep
    for c in REORDER_CACHE_CASES:
        keys, values = _reorder_inputs(c, "cpu", gen)
        want, lengths = ref.reorder_cache(keys, c["lengths"], c["sources"])
        lengths_h, sources_h = calls._int32s(c["lengths"]), calls._int32s(c["sources"])
        a, keep = calls.reorder_struct(keys, values, lengths_h, sources_h, None)
        ws = None
        if lib is not None:
            status, message, ws = _workspace_query(lib, lib.lib.bt_cuda_reorder_cache_workspace_bytes, C.byref(a))
            if status != bc.OK:
                raise AssertionError(f"reorder_cache {c['name']}: the library refuses the planned arguments "
                                     f"({status}: {message})")
        moved = sum(1 for b, r in enumerate(c["sources"]) if r != b and c["lengths"][r])
        lines.append(f"reorder_cache {c['name']}: rows moved={moved} new lengths={lengths} workspace={ws}")
        del keep
    return lines
