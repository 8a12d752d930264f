"""Timing with CUDA events (warm-up, then the median of several runs) of libbt_cuda against PyTorch on
the same GPU and stream: the attention forward against scaled_dot_product_attention in float32 (the
backend PyTorch picks), bfloat16 with the fp32->bf16->fp32 casts counted, and bfloat16 alone; the
attention backward against autograd through SDPA; the 12-layer BERT-base encoder through one
bt_cuda_transformer_encoder_stack call ('medium' both ways: the default and BT_CUDA_MEDIUM_GEMM=convert)
against nn.TransformerEncoder's fast path (eval, inference_mode, src_key_padding_mask) in float32, TF32
and bfloat16. Every run stops at the time
guard: what it skips is listed in the record ("skipped")."""
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

import calls
import reference as ref

PRECISIONS = ("highest", "high", "medium")
DEVICE = "cuda"


def median_ms(fn, budget_s=0.25, max_reps=15, min_reps=3):
    """Median of CUDA-event times of fn after two warm-up calls; the number of timed runs follows from the
    first one (budget_s of GPU time, min_reps..max_reps). Returns (median ms, timed runs)."""
    fn()
    fn()  # warm-up: module load, handles, allocator, autotuning
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    first = start.elapsed_time(end)
    reps = int(max(min_reps, min(max_reps, budget_s * 1000 / max(first, 1e-3))))
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times), reps


def padding_lengths(b, s, fraction):
    """Lengths of b sequences padded to s with `fraction` padding on average: spread evenly over
    [0.5, 1.5] x s * (1 - fraction) (a single sequence: exactly s * (1 - fraction)), the real tokens
    first."""
    if fraction == 0:
        return [s] * b
    mean = s * (1 - fraction)
    if b == 1:
        return [max(1, round(mean))]
    lo, hi = mean * 0.5, mean * 1.5
    return [max(1, min(s, round(lo + (hi - lo) * i / (b - 1)))) for i in range(b)]


def time_runs(rec, runs, deadline):
    """Median ms of each run into rec[name] (timed runs into rec["reps"]); None, noted under "skipped" or
    "errors", when it cannot run."""
    for name, fn in runs.items():
        if time.time() > deadline:
            rec[name] = None
            rec.setdefault("skipped", []).append(name)
            continue
        try:
            rec[name], rec.setdefault("reps", {})[name] = median_ms(fn)
        except Exception as exc:
            rec[name] = None
            rec.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"[:300]
        torch.cuda.synchronize()


def time_attention(lib, ctx, cfg, stream, deadline):
    """Forward, no mask: ours at every precision and 'high' again under the previous TF32 kernel
    (ours_high_v1, BT_CUDA_TF32_KERNEL=v1); SDPA fp32, bf16 with casts, bf16."""
    rec = dict(kind="attention_forward", **cfg)
    B, H, S, D = cfg["B"], cfg["H"], cfg["S"], cfg["D"]
    dev = DEVICE
    q, k, v = (torch.randn(B, H, S, D, device=dev) for _ in range(3))
    kw = dict(scale=1.0 / math.sqrt(D), causal=False)
    out, lse = torch.empty(B, H, S, D, device=dev), torch.empty(B, H, S, device=dev)
    qb, kb, vb = q.bfloat16(), k.bfloat16(), v.bfloat16()

    def ours(precision):
        ws = calls.attention_workspace(lib, q, k, v, precision=precision, **kw)
        rec.setdefault("workspace_bytes", {})[precision] = ws[1]
        return lambda: calls.attention_forward(lib, ctx, q, k, v, stream=stream, out=out, lse=lse, workspace=ws,
                                               precision=precision, **kw)

    runs = {f"ours_{p}": ours(p) for p in PRECISIONS}
    high = runs["ours_high"]

    def high_v1():  # the previous TF32 kernel: the library reads BT_CUDA_TF32_KERNEL at every launch
        os.environ["BT_CUDA_TF32_KERNEL"] = "v1"
        try:
            return high()
        finally:
            os.environ.pop("BT_CUDA_TF32_KERNEL", None)

    runs["ours_high_v1"] = high_v1
    runs.update({
        "torch_fp32": lambda: F.scaled_dot_product_attention(q, k, v),
        "torch_bf16_casts": lambda: F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16()).float(),
        "torch_bf16": lambda: F.scaled_dot_product_attention(qb, kb, vb),
    })
    time_runs(rec, runs, deadline)
    rec["tflop"] = 4.0 * B * H * S * S * D / 1e12
    return rec


def time_attention_backward(lib, ctx, cfg, stream, deadline):
    """Backward alone, no mask: ours 'high' and 'medium' (after a forward at the same precision) against
    torch.autograd.grad through SDPA in fp32, in bf16, and in bf16 from fp32 leaves (casts counted)."""
    rec = dict(kind="attention_backward", **cfg)
    B, H, S, D = cfg["B"], cfg["H"], cfg["S"], cfg["D"]
    dev = DEVICE
    q, k, v, dout = (torch.randn(B, H, S, D, device=dev) for _ in range(4))
    kw = dict(scale=1.0 / math.sqrt(D), causal=False)
    grads = tuple(torch.empty(B, H, S, D, device=dev) for _ in range(3))
    runs = {}
    for p in ("high", "medium"):
        out, lse = calls.attention_forward(lib, ctx, q, k, v, stream=stream, precision=p, **kw)
        ws = calls.attention_grad_workspace(lib, q, k, v, out, lse, precision=p, **kw)
        rec.setdefault("workspace_bytes", {})[p] = ws[1]
        runs[f"ours_{p}"] = (lambda out=out, lse=lse, ws=ws, p=p: calls.attention_backward(
            lib, ctx, q, k, v, dout, out, lse, stream=stream, grads=grads, workspace=ws, precision=p, **kw))
    leaves32 = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out32 = F.scaled_dot_product_attention(*leaves32)
    leaves16 = [t.bfloat16().requires_grad_(True) for t in (q, k, v)]
    out16, dout16 = F.scaled_dot_product_attention(*leaves16), dout.bfloat16()
    leaves_c = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out_c = F.scaled_dot_product_attention(*(t.bfloat16() for t in leaves_c)).float()
    runs.update({
        "torch_fp32": lambda: torch.autograd.grad(out32, leaves32, dout, retain_graph=True),
        "torch_bf16": lambda: torch.autograd.grad(out16, leaves16, dout16, retain_graph=True),
        "torch_bf16_casts": lambda: torch.autograd.grad(out_c, leaves_c, dout, retain_graph=True),
    })
    time_runs(rec, runs, deadline)
    rec["tflop"] = 2.5 * 4.0 * B * H * S * S * D / 1e12
    return rec


_BERT = {}


def bert_base(cfg, gen_seed=1234, device="cuda"):
    """nn.TransformerEncoder with cfg's sizes (post-norm, exact GELU, eps 1e-12, batch first), random
    weights per layer, in eval mode on `device`, and a bfloat16 copy; built once per run. Returns
    (model, model_bf16, layers): layers in calls.encoder_stack's form (weights transposed to x @ W),
    options without the precision."""
    key = (cfg["E"], cfg["H"], cfg["F"], cfg["layers"], device)
    if key in _BERT:
        return _BERT[key]
    E, H, Fd, L, _ = key
    layer = torch.nn.TransformerEncoderLayer(d_model=E, nhead=H, dim_feedforward=Fd, dropout=0.0,
                                             activation="gelu", layer_norm_eps=1e-12, batch_first=True,
                                             norm_first=False)
    model = torch.nn.TransformerEncoder(layer, num_layers=L, enable_nested_tensor=True).to(device).eval()
    gen = torch.Generator(device=device).manual_seed(gen_seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, device=device, generator=gen))
            else:
                p.copy_(0.05 * torch.randn(p.shape, device=device, generator=gen))
    layers = []
    for m in model.layers:
        w = dict(qkv_weight=m.self_attn.in_proj_weight.detach().t().contiguous(),
                 qkv_bias=m.self_attn.in_proj_bias.detach(),
                 out_weight=m.self_attn.out_proj.weight.detach().t().contiguous(),
                 out_bias=m.self_attn.out_proj.bias.detach(),
                 ln1_gamma=m.norm1.weight.detach(), ln1_beta=m.norm1.bias.detach(),
                 ln2_gamma=m.norm2.weight.detach(), ln2_beta=m.norm2.bias.detach(),
                 ffn_in_weight=m.linear1.weight.detach().t().contiguous(), ffn_in_bias=m.linear1.bias.detach(),
                 ffn_out_weight=m.linear2.weight.detach().t().contiguous(), ffn_out_bias=m.linear2.bias.detach())
        layers.append((w, dict(num_heads=H, norm_first=False, activation="gelu", eps1=1e-12, eps2=1e-12,
                               causal=False, scale=1.0 / math.sqrt(E // H))))
    import copy
    model_bf16 = copy.deepcopy(model).to(torch.bfloat16).eval()
    _BERT[key] = (model, model_bf16, layers)
    return _BERT[key]


def time_encoder_stack(lib, ctx, cfg, stream, deadline):
    """The 12-layer encoder: one stack call per precision, and 'medium' again with each GEMM's operands
    converted to bfloat16 first (ours_medium_convert, BT_CUDA_MEDIUM_GEMM=convert: set around the workspace
    query and every call, since the library reads it at both), against nn.TransformerEncoder (eval,
    inference_mode, src_key_padding_mask: its fast path, nested tensors) in fp32 (allow_tf32 off), TF32
    (allow_tf32 on) and bf16 (the model in bf16; the fp32 input cast in and the output cast back, counted).
    Also records each output's relative error against the fp32 fast path on the real tokens."""
    rec = dict(kind="encoder_stack", **cfg)
    B, S, E = cfg["B"], cfg["S"], cfg["E"]
    model, model_bf16, layers = bert_base(cfg, device=DEVICE)
    x = torch.randn(B, S, E, device=DEVICE)
    lengths = padding_lengths(B, S, cfg["pad"])
    rec["lengths"] = lengths if B <= 8 else f"{min(lengths)}..{max(lengths)}, mean {sum(lengths) / B:.1f}"
    valid = torch.arange(S, device=DEVICE)[None, :] < torch.tensor(lengths, device=DEVICE)[:, None]
    pad_mask = ~valid  # nn: True = padding
    kv = valid.to("cpu", torch.uint8) if cfg["pad"] > 0 else None
    outputs = {}
    runs = {}
    for p in PRECISIONS:
        run, y = calls.encoder_stack_runner(lib, ctx, x, [(w, dict(o, precision=p)) for w, o in layers],
                                            key_valid=kv, stream=stream)
        runs[f"ours_{p}"], outputs[f"ours_{p}"] = run, y
    medium = [(w, dict(o, precision="medium")) for w, o in layers]
    os.environ["BT_CUDA_MEDIUM_GEMM"] = "convert"
    try:  # the workspace sized with the bf16 copies of the GEMM operands
        convert, outputs["ours_medium_convert"] = calls.encoder_stack_runner(lib, ctx, x, medium, key_valid=kv,
                                                                              stream=stream)
    except Exception as exc:  # the other runs still go
        convert = None
        rec["ours_medium_convert"] = None
        rec.setdefault("errors", {})["ours_medium_convert"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        os.environ.pop("BT_CUDA_MEDIUM_GEMM", None)

    def medium_convert():
        os.environ["BT_CUDA_MEDIUM_GEMM"] = "convert"
        try:
            return convert()
        finally:
            os.environ.pop("BT_CUDA_MEDIUM_GEMM", None)

    if convert is not None:
        runs["ours_medium_convert"] = medium_convert

    def torch_fp32():
        with torch.inference_mode():
            outputs["torch_fp32"] = model(x, src_key_padding_mask=pad_mask)

    def torch_tf32():
        with torch.inference_mode():
            outputs["torch_tf32"] = model(x, src_key_padding_mask=pad_mask)

    def torch_bf16():
        with torch.inference_mode():
            outputs["torch_bf16"] = model_bf16(x.bfloat16(), src_key_padding_mask=pad_mask).float()

    runs["torch_fp32"] = torch_fp32
    time_runs(rec, runs, deadline)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        time_runs(rec, {"torch_tf32": torch_tf32}, deadline)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    time_runs(rec, {"torch_bf16": torch_bf16}, deadline)
    # Same computation: every output against the fp32 fast path on the real tokens; the fast path's
    # padding rows come back as zeros from its nested tensors (a sign that it ran).
    base = outputs.get("torch_fp32")
    if base is not None:
        rec["rel_error_vs_torch_fp32"] = {n: ref.rel_error(o[valid], base[valid]) for n, o in outputs.items()
                                          if n != "torch_fp32" and o is not None}
        if cfg["pad"] > 0:
            rec["torch_padding_rows_zero"] = bool((base[pad_mask] == 0).all())
    return rec


def bert_mapping_self_check():
    """On the CPU: a small nn.TransformerEncoder (2 layers, its fast path with a padding mask) against the
    float64 reference stack over the weights as bert_base hands them to the library; the largest relative
    error on the real tokens (float32 against float64: ~1e-6 when the mapping is right)."""
    cfg = dict(E=64, H=4, F=96, layers=2)
    model, _, layers = bert_base(cfg, device="cpu")
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 10, 64, generator=gen)
    valid = torch.arange(10)[None, :] < torch.tensor([10, 6, 3])[:, None]
    with torch.inference_mode():
        y = model(x, src_key_padding_mask=~valid)
    want = ref.encoder_stack(x.double(), [({n: t.double() for n, t in w.items()}, o["num_heads"], o["norm_first"],
                                           o["activation"], o["eps1"], o["eps2"], o["causal"], o["scale"])
                                          for w, o in layers], valid)
    return dict(rel_error=ref.rel_error(y[valid], want[valid]), padding_rows_zero=bool((y[~valid] == 0).all()))
