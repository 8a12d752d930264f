"""Parity of libbt_cuda against the float64 references, every mask kind, odd
sizes, GQA, padding, empty rows, NaN propagation, backward, the encoder layer
and the encoder stack. Each case returns a record; a failure is recorded, never
raised."""
import math
import traceback

import torch

import calls
import reference as ref

from cases import ATTENTION_CASES, ENCODER_CASES, ENCODER_STACK_CASES, TOLERANCE  # noqa: F401


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


def _inputs(c, device, gen):
    def rnd(*shape):
        return torch.randn(*shape, generator=gen).to(device)
    q = rnd(c["B"], c["H"], c["Sq"], c["D"])
    k = rnd(c["B"], c["Hkv"], c["Sk"], c["D"])
    v = rnd(c["B"], c["Hkv"], c["Sk"], c["Dv"])
    if c.get("nan"):
        q[0, 1, 3, :] = math.nan
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
    return q, k, v, kw


def _reference(q, k, v, kw, need_grad, dout=None):
    d = lambda t: None if t is None else t.double()  # noqa: E731
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
    rec = dict(kind="attention", case=c["name"], precision=precision, passed=False, errors={}, notes=[])
    try:
        q, k, v, kw = _inputs(c, device, gen)
        key_limit = calls.key_limit_of(kw["key_valid"]) if "key_valid" in kw else None
        out, lse = calls.attention_forward(lib, ctx, q, k, v, stream=stream, precision=precision,
                                           key_limit=key_limit, **kw)
        _sync()
        need_grad = bool(c.get("grad"))
        dout = torch.randn(out.shape, generator=gen).to(device) if need_grad else None
        out_ref, lse_ref, grads = _reference(q, k, v, kw, need_grad, dout)
        tol = TOLERANCE[precision]
        ok = True
        if c.get("nan"):
            same_nan = bool(torch.equal(torch.isnan(out.cpu()), torch.isnan(out_ref.cpu())))
            rec["notes"].append(f"NaN positions match: {same_nan}")
            ok &= same_nan
        rec["errors"]["out"] = ref.rel_error(out, out_ref)
        ok &= rec["errors"]["out"] <= tol["forward"]
        if not c.get("nan"):
            rec["errors"]["lse"] = ref.rel_error(lse, lse_ref)
            ok &= rec["errors"]["lse"] <= tol["forward"] and bool(torch.isnan(lse).sum() == 0)
        empty = torch.isneginf(lse_ref)
        if bool(empty.any()):
            zero_rows = bool((out[empty.to(out.device)] == 0).all()) and bool(torch.isneginf(lse[empty]).all())
            rec["notes"].append(f"{int(empty.sum())} rows without visible keys; zeros and lse=-inf: {zero_rows}")
            ok &= zero_rows
        if need_grad:
            dq, dk, dv, dmask = calls.attention_backward(lib, ctx, q, k, v, dout, out, lse, stream=stream,
                                                         precision=precision, key_limit=key_limit, **kw)
            _sync()
            names = ["dq", "dk", "dv"] + (["dmask"] if dmask is not None else [])
            mine = [dq, dk, dv] + ([dmask] if dmask is not None else [])
            for name, a, e in zip(names, mine, grads):
                e = e.reshape(a.shape)
                rec["errors"][name] = ref.rel_error(a, e)
                ok &= rec["errors"][name] <= tol["backward"]
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
                                scale=scale, precision=precision, stream=stream)
        _sync()
        w64 = {n: t.double() for n, t in w.items()}
        y_ref = ref.encoder_layer(x.double(), w64, H, c["norm_first"], c["act"], c["eps"][0], c["eps"][1],
                                  c["causal"], valid, scale)
        rec["errors"]["y"] = ref.rel_error(y, y_ref)
        ok = rec["errors"]["y"] <= TOLERANCE[precision]["encoder"]
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
        run = [(w, dict(o, precision=precision)) for w, o in layers]
        y = calls.encoder_stack(lib, ctx, x, run, key_valid=valid, stream=stream)
        _sync()
        rec["errors"]["y"] = ref.rel_error(y, _stack_reference(x, layers, valid))
        ok = rec["errors"]["y"] <= TOLERANCE[precision]["encoder_stack"]
        if valid is not None:
            pad_zero = bool((y[~valid] == 0).all())
            rec["notes"].append(f"padding rows exactly zero: {pad_zero}")
            ok &= pad_zero
        if len(run) == 1:
            y_layer = calls.encoder_layer(lib, ctx, x, run[0][0], key_valid=valid, stream=stream, **run[0][1])
            _sync()
            rec["errors"]["y vs layer"] = ref.rel_error(y, y_layer)
            rec["notes"].append(f"bit-equal to the layer entry point: {bool(torch.equal(y, y_layer))}")
            ok &= rec["errors"]["y vs layer"] <= TOLERANCE[precision]["encoder"]
        rec["passed"] = bool(ok)
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=3)
    return rec


def dry_run_cases(gen):
    """--dry-run on the CPU: builds every case's inputs and float64 reference (with gradients), the
    ABI argument structs and the encoder reference, so the harness itself is exercised before a device
    run. Returns one line per case."""
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
        lines.append(f"{c['name']}: mask_kind={a.mask_kind} strides={list(a.mask_strides)} empty_rows={empty} "
                     f"grads={0 if grads is None else len(grads)} finite={finite}")
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
    return lines
