"""Timing with CUDA events (warm-up, then the median of several runs) of
libbt_cuda against PyTorch: attention vs scaled_dot_product_attention in
float32 (whatever backend PyTorch picks) and bfloat16, and the encoder layer
vs a PyTorch composition. A time guard skips the remaining (largest) cases."""
import math
import statistics
import time

import torch
import torch.nn.functional as F

import calls
import parity


def median_ms(fn, budget_s=0.25, max_reps=15):
    fn()
    fn()  # warm-up: module load, handles, allocator
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    first = start.elapsed_time(end)
    reps = int(max(3, min(max_reps, budget_s * 1000 / max(first, 1e-3))))
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times)


def padding_lengths(b, s, fraction):
    """Lengths spread evenly around s * (1 - fraction)."""
    if fraction == 0:
        return [s] * b
    mean = s * (1 - fraction)
    lo, hi = mean * 0.5, mean * 1.5
    return [max(1, min(s, round(lo + (hi - lo) * i / max(1, b - 1)))) for i in range(b)]


def time_runs(rec, runs, deadline):
    """Median ms of each run into rec[name]; None, noted under "skipped" or "errors", when it cannot run."""
    for name, fn in runs.items():
        if time.time() > deadline:
            rec[name] = None
            rec.setdefault("skipped", []).append(name)
            continue
        try:
            rec[name] = median_ms(fn)
        except Exception as exc:
            rec[name] = None
            rec.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"[:300]


def time_attention(lib, ctx, cfg, stream, deadline):
    rec = dict(kind="attention", **cfg)
    B, H, S, D = cfg["B"], cfg["H"], cfg["S"], cfg["D"]
    dev = "cuda"
    q, k, v = (torch.randn(B, H, S, D, device=dev) for _ in range(3))
    lengths = padding_lengths(B, S, cfg["pad"])
    valid = torch.arange(S, device=dev)[None, :] < torch.tensor(lengths, device=dev)[:, None]
    kw = dict(scale=1.0 / math.sqrt(D), causal=cfg["causal"])
    if cfg["pad"] > 0:
        kw["key_valid"] = valid
        kw["key_limit"] = calls.key_limit_of(valid)
    # PyTorch: padding (and causal with padding) as a boolean mask; causal alone as is_causal.
    sdpa_mask = None
    if cfg["pad"] > 0:
        sdpa_mask = valid[:, None, None, :]
        if cfg["causal"]:
            sdpa_mask = sdpa_mask & torch.ones(S, S, dtype=torch.bool, device=dev).tril()[None, None]
    sdpa_causal = cfg["causal"] and sdpa_mask is None
    qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()
    out, lse = torch.empty(B, H, S, D, device=dev), torch.empty(B, H, S, device=dev)
    mine = dict(stream=stream, out=out, lse=lse, **kw)
    runs = {
        "ours_highest": lambda: calls.attention_forward(lib, ctx, q, k, v, precision="highest", **mine),
        "ours_high": lambda: calls.attention_forward(lib, ctx, q, k, v, precision="high", **mine),
        "torch_fp32": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=sdpa_mask, is_causal=sdpa_causal),
        "torch_bf16": lambda: F.scaled_dot_product_attention(qb, kb, vb, attn_mask=sdpa_mask, is_causal=sdpa_causal),
    }
    time_runs(rec, runs, deadline)
    flops = 4.0 * B * H * S * S * D * (0.5 if cfg["causal"] else 1.0)
    rec["dense_tflop"] = flops / 1e12
    return rec


def torch_encoder(x, w, H, valid):
    B, S, E = x.shape
    dh = E // H
    heads = lambda t: t.view(B, S, H, dh).transpose(1, 2)  # noqa: E731
    qkv = F.linear(x, w["qkv_weight"].t(), w["qkv_bias"])
    q, k, v = (heads(t) for t in qkv.split(E, dim=-1))
    mask = valid[:, None, None, :]
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B, S, E)
    h = F.layer_norm(x + F.linear(a, w["out_weight"].t(), w["out_bias"]), (E,), w["ln1_gamma"], w["ln1_beta"])
    f = F.linear(F.gelu(F.linear(h, w["ffn_in_weight"].t(), w["ffn_in_bias"])), w["ffn_out_weight"].t(),
                 w["ffn_out_bias"])
    return F.layer_norm(h + f, (E,), w["ln2_gamma"], w["ln2_beta"])


def time_encoder(lib, ctx, cfg, stream, deadline, gen):
    rec = dict(kind="encoder", **cfg)
    B, S, E, H, Fd = cfg["B"], cfg["S"], cfg["E"], cfg["H"], cfg["F"]
    x = torch.randn(B, S, E, device="cuda")
    w = parity.encoder_weights(E, Fd, True, "cuda", gen)
    lengths = padding_lengths(B, S, cfg["pad"])
    valid = torch.arange(S, device="cuda")[None, :] < torch.tensor(lengths, device="cuda")[:, None]
    kv = valid.to("cpu", torch.uint8) if cfg["pad"] > 0 else None
    common = dict(num_heads=H, norm_first=False, activation="gelu", eps1=1e-12, eps2=1e-12, causal=False,
                  key_valid=kv, scale=1.0 / math.sqrt(E // H), stream=stream)
    runs = {
        "ours_highest": lambda: calls.encoder_layer(lib, ctx, x, w, precision="highest", **common),
        "ours_high": lambda: calls.encoder_layer(lib, ctx, x, w, precision="high", **common),
        "torch_fp32": lambda: torch_encoder(x, w, H, valid),
    }
    time_runs(rec, runs, deadline)
    if time.time() <= deadline:
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            rec["torch_tf32"] = median_ms(lambda: torch_encoder(x, w, H, valid))
        finally:
            torch.backends.cuda.matmul.allow_tf32 = False
    return rec
