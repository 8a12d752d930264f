#!/usr/bin/env python3
"""Device check of libbt_cuda (run by test/device/check.sh on a GPU machine).

One run gives: ABI checks, parity against float64 PyTorch references for every
case at every precision ('highest', 'high', 'medium'; attention forward and
backward, encoder layer and stack, and the decoding ops: RMSNorm, rotary,
attention with a kv cache, the decoder stack with encoder-decoder cases; the
graph ops LayerNorm, EmbeddingSum and ReorderCache once; the 'high' attention,
encoder-layer and kv-cache cases again under the previous TF32 kernel as
'high/v1'; the 'medium' encoder-layer and encoder-stack cases again with the
GEMM operands converted to bfloat16 first as 'medium/convert'; failures printed
compactly, the run goes on), the stream-ordering test, timings against PyTorch
on the same GPU (attention forward, 'high' with both TF32 kernels, and backward,
the 12-layer BERT-base encoder stack against nn.TransformerEncoder's fast path,
'medium' both ways), the issue's targets judged from them, and
$OUT/check.json + $OUT/check.md (rewritten after every section). The targets
table is printed last. --dry-run exercises the argument handling, the case plan,
the binding against the library and (when torch is importable) the references
and the whole parity harness on the CPU against an emulated library (bfloat16
and TF32 rounding emulated), without a GPU.
"""
import argparse
import ctypes as C
import json
import math
import os
import platform
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
sys.path.insert(0, HERE)

import bt_cuda_ctypes as bc  # noqa: E402
import targets  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", default=os.path.join(HERE, "..", "..", "kernels", "cuda", "build", "libbt_cuda.so"))
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/bt_cuda_check")
    p.add_argument("--budget-s", type=float, default=270.0,
                   help="wall-clock budget of this script; late cases are skipped and listed in the notes")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--skip-ordering", action="store_true")
    p.add_argument("--only", default="",
                   help="run only the parity cases whose '<kind>: <name>' contains this text ('|' separates "
                        "alternatives); the decoding kinds read 'decoder <kind>: <name>', so --only decoder runs "
                        "the four decoding ops, the graph ops 'graph <kind>: <name>' (kinds: attention, encoder, "
                        "encoder_stack, rms_norm, rotary, kv_cache, decoder_stack, layer_norm, embedding_sum, "
                        "reorder_cache)")
    p.add_argument("--precisions", default="highest,high,medium",
                   help="comma-separated, of highest, high, medium (the parity passes; timings run all three)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dry-run", action="store_true", help="no GPU: plan, binding and reference checks only")
    return p.parse_args(argv)


class Report:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.data = dict(started=time.strftime("%Y-%m-%d %H:%M:%S"), host=platform.node(), parity=[], timing=[],
                         encoder_timing=[], ordering={}, notes=[])

    def save(self):
        with open(os.path.join(self.out_dir, "check.json"), "w") as f:
            json.dump(self.data, f, indent=1, default=str, allow_nan=True)
        with open(os.path.join(self.out_dir, "check.md"), "w") as f:
            f.write(markdown(self.data))


def fmt(x, digits=3):
    if x is None:
        return "—"
    if isinstance(x, float):
        if math.isinf(x) or math.isnan(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def ratio(a, b):
    return None if a is None or b is None or a <= 0 else b / a


def _tflops(tflop, ms):
    return None if tflop is None or not ms else tflop / (ms / 1000.0)


def _ms_tf(r, key):
    """'ms (TFLOP/s)' of run `key` in timing record r."""
    ms = r.get(key)
    if ms is None:
        return "—"
    tf = _tflops(r.get("tflop"), ms)
    return f"{fmt(ms)} ({tf:.3g})" if tf is not None else fmt(ms)


def _x(r, ours, theirs):
    x = ratio(r.get(ours), r.get(theirs))
    return "—" if x is None else f"{x:.2f}×"


def _faster_medium(r):
    """Which 'medium' way of the encoder's GEMMs was faster: 'default' or 'convert' with the slower one's
    time over the faster one's ('—' when neither ran; the one that ran, so marked, when only one did)."""
    way, _ = targets.medium_way(r)
    a, b = r.get("ours_medium"), r.get("ours_medium_convert")
    if way is None:
        return "—"
    if a is None or b is None:
        return f"{way} ({'convert' if way == 'default' else 'default'} not timed)"
    return f"{way} ({max(a, b) / min(a, b):.2f}×)" if min(a, b) > 0 else way


def markdown(d):
    import cases
    lines = [f"# libbt_cuda device check ({d.get('started')})", ""]
    for k in ("device", "torch", "abi_version", "dry_run", "elapsed_s"):
        if k in d:
            lines.append(f"- {k}: {d[k]}")
    par = d["parity"]
    npass = sum(1 for r in par if r.get("passed"))
    if par:
        by_kind = targets.parity_by_kind(par)
        precs = [p for p in cases.PRECISIONS + (cases.TF32_V1, cases.MEDIUM_CONVERT, "fp32")
                 if any(r["precision"] == p for r in par)]
        lines += ["", "## Parity: worst relative Frobenius error against float64 per op and precision", "",
                  "Each case must meet its op's bound (in brackets). RMSNorm, rotary and the graph ops (LayerNorm, "
                  "EmbeddingSum, ReorderCache) are precision-free (fp32). 'high/v1': the 'high' cases of the "
                  "attention forward, encoder layer and kv cache again under the previous TF32 forward kernel "
                  "(BT_CUDA_TF32_KERNEL=v1), held to 'high''s bounds. 'medium/convert': the 'medium' cases of the "
                  "encoder layer and stack again with each GEMM's operands converted to bfloat16 first "
                  "(BT_CUDA_MEDIUM_GEMM=convert, set around the workspace query and the call), held to "
                  "'medium''s bounds.",
                  "",
                  "| op | " + " | ".join(precs) + " |", "| --- |" + " ---: |" * len(precs)]
        for kind, worst in by_kind.items():
            cells = []
            for p in precs:
                tol = cases.TOLERANCE.get("highest" if p == "fp32" else cases.base_precision(p), {}).get(
                    targets.OP_BOUND.get(kind, ""))
                cells.append("—" if p not in worst else f"{fmt(worst[p], 2)}" + (f" ({tol:g})" if tol else ""))
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", f"## Parity: {npass}/{len(par)} passed", "",
              "| kind | case | precision | pass | errors (rel. Frobenius) | notes |", "| --- | --- | --- | --- | --- | --- |"]
    for r in par:
        errs = ", ".join(f"{k} {fmt(v, 2)}" for k, v in r.get("errors", {}).items())
        notes = "; ".join(r.get("notes", [])) + (f" ERROR {r['error']}" if "error" in r else "")
        lines.append(f"| {r['kind']} | {r['case']} | {r['precision']} | {'yes' if r.get('passed') else '**NO**'} | "
                     f"{errs} | {notes} |")
    o = d.get("ordering") or {}
    if o:
        lines += ["", "## Stream ordering", ""] + [f"- {k}: {v}" for k, v in o.items()]
    fwd = [r for r in d["timing"] if r.get("kind") == "attention_forward"]
    bwd = [r for r in d["timing"] if r.get("kind") == "attention_backward"]
    if fwd:
        lines += ["", "## Attention forward, no mask, fp32 in/out: median ms (TFLOP/s = 4·B·H·S²·D / time)", "",
                  "'ours high' is the default TF32 kernel (v2), 'ours high v1' the previous one "
                  "(BT_CUDA_TF32_KERNEL=v1); 'v2 vs v1' is v1's time over v2's.", "",
                  "| B | H | S | D | ours highest | ours high | ours high v1 | v2 vs v1 | ours medium | torch fp32 | "
                  "torch bf16 + casts | torch bf16 | high vs fp32 | medium vs bf16 + casts | medium vs bf16 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| ---: |"]
        for r in fwd:
            lines.append(f"| {r['B']} | {r['H']} | {r['S']} | {r['D']} | {_ms_tf(r, 'ours_highest')} | "
                         f"{_ms_tf(r, 'ours_high')} | {_ms_tf(r, 'ours_high_v1')} | "
                         f"{_x(r, 'ours_high', 'ours_high_v1')} | "
                         f"{_ms_tf(r, 'ours_medium')} | {_ms_tf(r, 'torch_fp32')} | "
                         f"{_ms_tf(r, 'torch_bf16_casts')} | {_ms_tf(r, 'torch_bf16')} | "
                         f"{_x(r, 'ours_high', 'torch_fp32')} | {_x(r, 'ours_medium', 'torch_bf16_casts')} | "
                         f"{_x(r, 'ours_medium', 'torch_bf16')} |")
    if bwd:
        lines += ["", "## Attention backward, no mask: median ms of the backward alone "
                  "(TFLOP/s = 2.5 × 4·B·H·S²·D / time); torch: autograd.grad through SDPA", "",
                  "| B | H | S | D | ours high | ours medium | torch fp32 | torch bf16 | torch bf16 from fp32 (casts) "
                  "| high vs fp32 | medium vs bf16 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in bwd:
            lines.append(f"| {r['B']} | {r['H']} | {r['S']} | {r['D']} | {_ms_tf(r, 'ours_high')} | "
                         f"{_ms_tf(r, 'ours_medium')} | {_ms_tf(r, 'torch_fp32')} | {_ms_tf(r, 'torch_bf16')} | "
                         f"{_ms_tf(r, 'torch_bf16_casts')} | {_x(r, 'ours_high', 'torch_fp32')} | "
                         f"{_x(r, 'ours_medium', 'torch_bf16')} |")
    enc = [r for r in d["encoder_timing"] if r.get("kind") == "encoder_stack"]
    if enc:
        lines += ["", "## 12-layer BERT-base encoder (E=768, H=12, F=3072, post-norm GELU): median ms", "",
                  "Ours: one `bt_cuda_transformer_encoder_stack` call. PyTorch: `nn.TransformerEncoder` in eval + "
                  "inference_mode with `src_key_padding_mask` (its fast path); bf16: the model in bf16, the fp32 "
                  "input cast in and the output cast back, counted. Padding 50%: lengths spread evenly over "
                  "[0.5, 1.5] × S/2 (B=1: S/2), real tokens first. Errors: each output against the fp32 fast "
                  "path on the real tokens. 'ours medium' runs cuBLASLt's BF16 compute type on the fp32 GEMM "
                  "operands (the default), 'ours medium (convert)' converts each GEMM's operands to bfloat16 "
                  "first (BT_CUDA_MEDIUM_GEMM=convert); 'medium: faster way' names the faster of the two and "
                  "the slower one's time over its; 'medium vs bf16' takes the faster way.", "",
                  "| B | S | pad | ours highest | ours high | ours medium | ours medium (convert) | "
                  "medium: faster way | torch fp32 | torch TF32 | torch bf16 | highest vs fp32 | high vs TF32 | "
                  "medium vs bf16 | error highest / high / medium / medium (convert) / TF32 / bf16 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
                  "| --- |"]
        for r in enc:
            e = r.get("rel_error_vs_torch_fp32") or {}
            errs = " / ".join(fmt(e.get(k), 2) for k in ("ours_highest", "ours_high", "ours_medium",
                                                          "ours_medium_convert", "torch_tf32", "torch_bf16"))
            way, best = targets.medium_way(r)
            lines.append(f"| {r['B']} | {r['S']} | {int(r['pad'] * 100)}% | {fmt(r.get('ours_highest'))} | "
                         f"{fmt(r.get('ours_high'))} | {fmt(r.get('ours_medium'))} | "
                         f"{fmt(r.get('ours_medium_convert'))} | {_faster_medium(r)} | {fmt(r.get('torch_fp32'))} | "
                         f"{fmt(r.get('torch_tf32'))} | {fmt(r.get('torch_bf16'))} | "
                         f"{_x(r, 'ours_highest', 'torch_fp32')} | {_x(r, 'ours_high', 'torch_tf32')} | "
                         f"{_x(dict(best=best, bf16=r.get('torch_bf16')), 'best', 'bf16')} | {errs} |")
    problems = [f"{r['kind']} {dict((k, r[k]) for k in ('B', 'S', 'D', 'pad') if k in r)}: "
                f"skipped {r.get('skipped', [])}, errors {r.get('errors', {})}"
                for r in d["timing"] + d["encoder_timing"] if r.get("skipped") or r.get("errors")]
    if problems:
        lines += ["", "## Timing runs skipped or failed", ""] + [f"- {p}" for p in problems]
    if d.get("fatal"):
        lines += ["", f"## FATAL: {d['fatal']}"]
    if d.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in d["notes"]]
    if d.get("targets"):
        lines += ["", "## Targets (the issue's, on this GPU; speed: PyTorch's time / ours, worst configuration)",
                  ""] + targets.markdown(d["targets"])
    return "\n".join(lines) + "\n"


def abi_checks(lib, report, have_gpu):
    """Validation paths that need no kernels: bad arguments give INVALID_ARGUMENT with a message."""
    a = bc.Attention(batch=1, heads=3, kv_heads=2, q_seq=4, k_seq=4, depth=8, value_depth=8, scale=1.0)
    st, msg = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention, None, C.byref(a), None, 0, None)
    ok = st == bc.INVALID_ARGUMENT and msg
    a = bc.Attention(batch=1, heads=2, kv_heads=2, q_seq=4, k_seq=4, depth=8, value_depth=8, scale=1.0,
                     q=1, k=1, v=1, out=1)
    st2, msg2 = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention, None, C.byref(a), None, 0, None)
    # Without a GPU: NO_DEVICE. With one: the null context is refused before any pointer is touched.
    ok2 = st2 == (bc.INVALID_ARGUMENT if have_gpu else bc.NO_DEVICE)
    medium = medium_abi_checks(lib, have_gpu)
    # A stack whose second layer's heads do not divide E: refused, the layer named.
    # Dummy non-null weight pointers: only the workspace query runs, which reads none of them.
    weights = {n: 1 for n in bc.ENCODER_TENSORS if n not in ("x", "q_weight", "k_weight", "v_weight", "q_bias",
                                                                "k_bias", "v_bias")}
    layers = (bc.Encoder * 2)(*[bc.Encoder(batch=1, seq=4, embed=12, ffn=16, num_heads=h, eps1=1e-5, eps2=1e-5,
                                           scale=0.5, **weights) for h in (3, 5)])
    s = bc.EncoderStack(batch=1, seq=4, embed=12, num_layers=2, x=1, y=1, layers=layers)
    size = C.c_size_t()
    st3, msg3 = lib.status_of(lib.lib.bt_cuda_transformer_encoder_stack_workspace_bytes, C.byref(s), C.byref(size))
    ok3 = st3 == bc.INVALID_ARGUMENT and msg3.startswith("layers[1]: ")
    decoding = decoding_abi_checks(lib, have_gpu)
    decoding.update(graph_abi_checks(lib, have_gpu))
    passed = bool(ok and ok2 and ok3 and all(r["ok"] for r in decoding.values()) and
                  all(r["ok"] for r in medium.values()))
    report.data["abi_checks"] = dict(bad_heads=[st, msg], valid_shapes_no_context=[st2, msg2],
                                     stack_bad_layer=[st3, msg3], decoding=decoding, medium=medium, passed=passed)
    print(f"ABI checks: {'ok' if passed else 'FAILED'} ({msg!r}; {msg2!r}; {msg3!r})")
    bad = [f"{k}: {r}" for k, r in decoding.items() if not r["ok"]]
    print(f"decoding ABI checks: {len(decoding) - len(bad)}/{len(decoding)} ok" +
          ("; " + "; ".join(bad) if bad else ""))
    bad = [f"{k}: {r}" for k, r in medium.items() if not r["ok"]]
    print(f"precision ABI checks: {len(medium) - len(bad)}/{len(medium)} ok" + ("; " + "; ".join(bad) if bad else ""))


class _env:
    """Sets (value None: unsets) one environment variable for a with-block, restoring it after."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.saved = os.environ.get(self.name)
        if self.value is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.value

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.saved


def medium_abi_checks(lib, have_gpu):
    """ABI 4: precision 2 ('medium') accepted by every op that takes a precision (their workspace queries,
    which need no device and read no pointer), 3 refused; the forward's workspace empty except at
    'medium', where it holds at least bfloat16 copies of q, k and v; a medium forward with a too small
    workspace refused (before the device is looked for)."""
    out = {}
    size = C.c_size_t()

    def record(name, status, message, ok, **extra):
        out[name] = dict(status=status, message=message, ok=bool(ok), **extra)

    shape = dict(batch=2, heads=4, kv_heads=2, q_seq=33, k_seq=70, depth=64, value_depth=48, scale=0.125,
                 q=1, k=1, v=1, out=1, lse=1)
    fwd = lib.lib.bt_cuda_scaled_dot_product_attention_workspace_bytes
    for name, p in bc.PRECISION.items():
        st, msg = lib.status_of(fwd, C.byref(bc.Attention(precision=p, **shape)), C.byref(size))
        copies = 2 * (2 * 4 * 33 * 64 + 2 * 2 * 70 * 64 + 2 * 2 * 70 * 48)
        ok = st == bc.OK and (size.value >= copies if name == "medium" else size.value == 0)
        record(f"forward workspace at {name}", st, msg, ok, bytes=size.value,
               **({"bf16_copies_bytes": copies} if name == "medium" else {}))
    st, msg = lib.status_of(fwd, C.byref(bc.Attention(precision=3, **shape)), C.byref(size))
    record("forward workspace at precision 3 refused", st, msg, st == bc.INVALID_ARGUMENT and "precision" in msg)
    a = bc.Attention(precision=bc.PRECISION["medium"], **shape)
    st, msg = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention, None, C.byref(a), None, 0, None)
    record("medium forward without its workspace refused", st, msg,
           st == bc.INVALID_ARGUMENT and "workspace" in msg)
    st, msg = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention_grad_workspace_bytes,
                            C.byref(bc.Attention(precision=bc.PRECISION["medium"], **shape)), C.byref(size))
    record("grad workspace at medium", st, msg, st == bc.OK, bytes=size.value)
    weights = {n: 1 for n in bc.ENCODER_TENSORS if n not in ("x", "q_weight", "k_weight", "v_weight", "q_bias",
                                                                "k_bias", "v_bias")}
    for p in (2, 3):
        e = bc.Encoder(batch=2, seq=8, embed=32, ffn=64, num_heads=2, eps1=1e-5, eps2=1e-5, scale=0.25, precision=p,
                       **weights)
        one = bc.Encoder.from_buffer_copy(e)
        one.x, one.y = 1, 1
        st, msg = lib.status_of(lib.lib.bt_cuda_transformer_encoder_layer_workspace_bytes, C.byref(one),
                                C.byref(size))
        record(f"encoder layer precision {p}", st, msg, st == (bc.OK if p == 2 else bc.INVALID_ARGUMENT))
        layers = (bc.Encoder * 2)(e, e)
        s = bc.EncoderStack(batch=2, seq=8, embed=32, num_layers=2, x=1, y=1, layers=layers)
        st, msg = lib.status_of(lib.lib.bt_cuda_transformer_encoder_stack_workspace_bytes, C.byref(s), C.byref(size))
        record(f"encoder stack precision {p}", st, msg, st == (bc.OK if p == 2 else bc.INVALID_ARGUMENT))
    # BT_CUDA_MEDIUM_GEMM=convert is read by the workspace queries: more workspace at 'medium' (the bf16
    # copies of a GEMM's operands), the same at 'high'.
    for p in ("high", "medium"):
        e = bc.Encoder(batch=2, seq=8, embed=32, ffn=64, num_heads=2, eps1=1e-5, eps2=1e-5, scale=0.25,
                       precision=bc.PRECISION[p], **weights)
        one = bc.Encoder.from_buffer_copy(e)
        one.x, one.y = 1, 1
        s = bc.EncoderStack(batch=2, seq=8, embed=32, num_layers=2, x=1, y=1, layers=(bc.Encoder * 2)(e, e))
        for what, fn, arg in (("layer", lib.lib.bt_cuda_transformer_encoder_layer_workspace_bytes, one),
                              ("stack", lib.lib.bt_cuda_transformer_encoder_stack_workspace_bytes, s)):
            got = {}
            for env in (None, "convert"):
                with _env("BT_CUDA_MEDIUM_GEMM", env):
                    st, msg = lib.status_of(fn, C.byref(arg), C.byref(size))
                got[env or "default"] = (st, msg, size.value)
            (st0, msg0, n0), (st1, msg1, n1) = got["default"], got["convert"]
            grows = n1 > n0 if p == "medium" else n1 == n0
            record(f"encoder {what} workspace at {p} {'larger' if p == 'medium' else 'unchanged'} under "
                   f"BT_CUDA_MEDIUM_GEMM=convert", st1 if st0 == bc.OK else st0, msg1 or msg0,
                   st0 == bc.OK and st1 == bc.OK and grows, bytes_default=n0, bytes_convert=n1)
    i32 = lambda *v: (C.c_int32 * len(v))(*v)  # noqa: E731
    past, new, lengths = i32(3, 10), i32(2, 1), i32(0, 0)
    kv = dict(batch=2, heads=4, kv_heads=2, new_len=2, capacity=12, head_dim=16, value_dim=16, scale=0.25,
              q=1, k=1, v=1, key_cache=1, value_cache=2, out=1, past_lengths_host=C.cast(past, C.c_void_p),
              new_lengths_host=C.cast(new, C.c_void_p), lengths_host=C.cast(lengths, C.c_void_p))
    for p in (2, 3):
        st, msg = lib.status_of(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes,
                                C.byref(bc.KvCache(precision=p, **kv)), C.byref(size))
        record(f"kv cache precision {p}", st, msg, st == (bc.OK if p == 2 else bc.INVALID_ARGUMENT))
    layer = dict(norm1_eps=1e-5, norm2_eps=1e-5, q_weight=1, k_weight=1, v_weight=1, out_weight=1, up_weight=1,
                 down_weight=1)
    dlayers = (bc.DecoderLayer * 1)(bc.DecoderLayer(**layer))
    ids, dpast, dnew, dlen = i32(4, 7), i32(0), i32(2), i32(0)
    step = bc.DecoderStep(batch=1, new_len=2, capacity=8, logits_rows=bc.LOGITS_ROWS["last"], key_cache=1,
                          value_cache=2, logits=1, input_ids_host=C.cast(ids, C.c_void_p),
                          past_lengths_host=C.cast(dpast, C.c_void_p), new_lengths_host=C.cast(dnew, C.c_void_p),
                          lengths_host=C.cast(dlen, C.c_void_p))
    for p in (2, 3):
        m = bc.Decoder(num_layers=1, vocab_size=10, embed_dim=16, num_heads=2, num_kv_heads=2, head_dim=8, ffn_dim=32,
                       norm_kind=bc.NORM_KIND["layer"], norm_first=1, activation=bc.ACTIVATION["gelu"],
                       precision=p, attention_scale=0.35, embedding_scale=1.0, final_norm_eps=1e-5,
                       word_embeddings=1, lm_head=1, position_embeddings=1, position_rows=8, layers=dlayers)
        st, msg = lib.status_of(lib.lib.bt_cuda_transformer_decoder_stack_workspace_bytes, C.byref(m), C.byref(step),
                                C.byref(size))
        record(f"decoder stack precision {p}", st, msg, st == (bc.OK if p == 2 else bc.INVALID_ARGUMENT))
    return out


def decoding_abi_checks(lib, have_gpu):
    """Argument errors of the decoding entry points, refused with INVALID_ARGUMENT and a message naming
    the problem before any pointer is touched (workspace queries and RMSNorm validate without a device;
    the weight and tensor pointers are dummies). Rotary, the kv cache and the decoder each have a passing
    control: the same arguments with the error removed give OK."""
    out = {}
    i32 = lambda *v: (C.c_int32 * len(v))(*v)  # noqa: E731

    def record(name, status, message, want_status, want_text):
        out[name] = dict(status=status, message=message,
                         ok=bool(status == want_status and (want_text in message if want_text else True)))

    def query(fn, *structs):
        size = C.c_size_t()
        return lib.status_of(fn, *[C.byref(x) for x in structs], C.byref(size))

    # RMSNorm: validation runs before the device is looked for.
    a = bc.RmsNormArgs(rows=4, width=8, eps=-1.0, x=1, y=1)
    record("rms_norm negative eps", *lib.status_of(lib.lib.bt_cuda_rms_norm, None, C.byref(a), None),
           bc.INVALID_ARGUMENT, "eps")
    a = bc.RmsNormArgs(rows=4, width=8, eps=1e-5, x=None, y=1)
    record("rms_norm null x", *lib.status_of(lib.lib.bt_cuda_rms_norm, None, C.byref(a), None),
           bc.INVALID_ARGUMENT, "null")
    # Rotary: odd rotary_dim, a position outside the tables, and the control.
    positions = i32(0, 3, 5, 1)
    rot = dict(batch=2, heads=3, seq=2, head_dim=8, table_rows=6, x=1, y=1, cos=1, sin=1,
               positions_host=C.cast(positions, C.c_void_p))
    record("rotary odd rotary_dim", *query(lib.lib.bt_cuda_rotary_embedding_workspace_bytes,
                                           bc.RotaryArgs(rotary_dim=3, **rot)), bc.INVALID_ARGUMENT, "rotary_dim")
    record("rotary rotary_dim > head_dim", *query(lib.lib.bt_cuda_rotary_embedding_workspace_bytes,
                                                  bc.RotaryArgs(rotary_dim=10, **rot)), bc.INVALID_ARGUMENT,
           "rotary_dim")
    record("rotary control", *query(lib.lib.bt_cuda_rotary_embedding_workspace_bytes,
                                    bc.RotaryArgs(rotary_dim=8, **rot)), bc.OK, "")
    positions[2] = 6
    record("rotary position past the tables", *query(lib.lib.bt_cuda_rotary_embedding_workspace_bytes,
                                                     bc.RotaryArgs(rotary_dim=8, **rot)), bc.INVALID_ARGUMENT,
           "positions[2] = 6")
    # Attention with a kv cache: lengths against the capacity and N, GQA heads, workspace size.
    past, new, lengths = i32(3, 10), i32(2, 1), i32(0, 0)
    kv = dict(batch=2, heads=4, kv_heads=2, new_len=2, capacity=12, head_dim=16, value_dim=16, scale=0.25,
              q=1, k=1, v=1, key_cache=1, value_cache=2, out=1, past_lengths_host=C.cast(past, C.c_void_p),
              new_lengths_host=C.cast(new, C.c_void_p), lengths_host=C.cast(lengths, C.c_void_p))
    record("kv_cache control", *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes, bc.KvCache(**kv)),
           bc.OK, "")
    past[1] = 12
    record("kv_cache past + new > capacity", *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes,
                                                    bc.KvCache(**kv)), bc.INVALID_ARGUMENT,
           "past_lengths[1] + new_lengths[1] = 13 exceeds the cache capacity C = 12")
    past[1], new[0] = 10, 3
    record("kv_cache new_lengths > N", *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes,
                                              bc.KvCache(**kv)), bc.INVALID_ARGUMENT, "new_lengths[0] = 3")
    new[0] = 2
    record("kv_cache heads not a multiple of kv_heads",
           *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes, bc.KvCache(**dict(kv, kv_heads=3))),
           bc.INVALID_ARGUMENT, "")
    record("kv_cache one buffer for both caches",
           *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes, bc.KvCache(**dict(kv, value_cache=1))),
           bc.INVALID_ARGUMENT, "same buffer")
    record("kv_cache head_dim 130 unsupported",
           *query(lib.lib.bt_cuda_attention_with_kv_cache_workspace_bytes, bc.KvCache(**dict(kv, head_dim=130))),
           bc.UNSUPPORTED, "128")
    # The plan needs a workspace (the lengths tables): a null one of 0 bytes is refused before the device.
    a = bc.KvCache(**kv)
    record("kv_cache workspace too small",
           *lib.status_of(lib.lib.bt_cuda_attention_with_kv_cache, None, C.byref(a), None, 0, None),
           bc.INVALID_ARGUMENT, "workspace is smaller")
    # Valid arguments: no device here gives NO_DEVICE; with one, the null context is refused.
    record("kv_cache valid, null context",
           *lib.status_of(lib.lib.bt_cuda_attention_with_kv_cache, None, C.byref(a), C.c_void_p(1), 1 << 20, None),
           bc.INVALID_ARGUMENT if have_gpu else bc.NO_DEVICE, "context is null" if have_gpu else "")
    # Decoder stack: a 2-layer gated model; a missing gate in layers[1], a token id outside the vocabulary,
    # a position past the learned rows, and the control.
    layer = dict(norm1_eps=1e-5, norm2_eps=1e-5, q_weight=1, k_weight=1, v_weight=1, out_weight=1, gate_weight=1,
                 up_weight=1, down_weight=1)
    layers = (bc.DecoderLayer * 2)(bc.DecoderLayer(**layer), bc.DecoderLayer(**layer))
    model = dict(num_layers=2, vocab_size=50, embed_dim=16, num_heads=4, num_kv_heads=2, head_dim=4, ffn_dim=32,
                 norm_kind=bc.NORM_KIND["rms"], norm_first=1, activation=bc.ACTIVATION["silu"], gated_mlp=1,
                 attention_scale=0.5, embedding_scale=1.0, final_norm_eps=1e-5, word_embeddings=1, lm_head=1,
                 position_embeddings=1, position_rows=8, position_offset=2, layers=layers)
    ids, dpast, dnew, dlen = i32(4, 7, 1, 9, 49, -1), i32(0, 3), i32(3, 2), i32(0, 0)
    step = dict(batch=2, new_len=3, capacity=8, logits_rows=bc.LOGITS_ROWS["last"], key_cache=1, value_cache=2,
                logits=1, input_ids_host=C.cast(ids, C.c_void_p), past_lengths_host=C.cast(dpast, C.c_void_p),
                new_lengths_host=C.cast(dnew, C.c_void_p), lengths_host=C.cast(dlen, C.c_void_p))
    fn = lib.lib.bt_cuda_transformer_decoder_stack_workspace_bytes
    record("decoder control (padding id -1 never read)", *query(fn, bc.Decoder(**model), bc.DecoderStep(**step)),
           bc.OK, "")
    layers[1].gate_weight = None
    record("decoder layers[1] without gate", *query(fn, bc.Decoder(**model), bc.DecoderStep(**step)),
           bc.INVALID_ARGUMENT, "layers[1]: gate_weight")
    layers[1].gate_weight = 1
    ids[4] = 50
    record("decoder token id outside the vocabulary", *query(fn, bc.Decoder(**model), bc.DecoderStep(**step)),
           bc.INVALID_ARGUMENT, "input_ids[1, 1] = 50")
    ids[4] = 49
    dpast[1] = 5  # positions 5, 6 + offset 2 = row 8 of 8
    record("decoder position past the learned rows", *query(fn, bc.Decoder(**model), bc.DecoderStep(**step)),
           bc.INVALID_ARGUMENT, "position 6 of sequence 1")
    dpast[1] = 3
    record("decoder kv_heads not dividing heads", *query(fn, bc.Decoder(**dict(model, num_kv_heads=3)),
                                                         bc.DecoderStep(**step)), bc.INVALID_ARGUMENT, "num_kv_heads")
    record("decoder logits_rows 2", *query(fn, bc.Decoder(**model), bc.DecoderStep(**dict(step, logits_rows=2))),
           bc.INVALID_ARGUMENT, "logits_rows")
    return out


def graph_abi_checks(lib, have_gpu):
    """Argument errors of the graph ops, refused before any pointer is touched (LayerNorm's call and the
    workspace queries validate without a device; pointers are dummies), each with a passing control."""
    out = {}
    i32 = lambda *v: (C.c_int32 * len(v))(*v)  # noqa: E731

    def record(name, got, want_status, want_text):
        status, message = got
        out[name] = dict(status=status, message=message,
                         ok=bool(status == want_status and (want_text in message if want_text else True)))

    def query(fn, struct):
        size = C.c_size_t()
        return lib.status_of(fn, C.byref(struct), C.byref(size))

    ln = dict(rows=4, width=8, eps=1e-5, x=1, y=1 << 20)
    record("layer_norm negative eps",
           lib.status_of(lib.lib.bt_cuda_layer_norm, None, C.byref(bc.LayerNormArgs(**dict(ln, eps=-1.0))), None),
           bc.INVALID_ARGUMENT, "eps")
    record("layer_norm y overlapping x",
           lib.status_of(lib.lib.bt_cuda_layer_norm, None, C.byref(bc.LayerNormArgs(**dict(ln, y=5))), None),
           bc.INVALID_ARGUMENT, "overlap")
    record("layer_norm valid, null context",
           lib.status_of(lib.lib.bt_cuda_layer_norm, None, C.byref(bc.LayerNormArgs(**ln)), None),
           bc.INVALID_ARGUMENT if have_gpu else bc.NO_DEVICE, "context is null" if have_gpu else "")
    tables = (C.c_void_p * 2)(1 << 20, 1 << 24)
    table_rows = (C.c_int64 * 2)(10, 4)
    ids = i32(0, 9, 3, 0, 1, 3)  # [2 terms, 3 rows]
    es = dict(rows=3, width=8, num_terms=2, y=1 << 28, tables_host=C.cast(tables, C.c_void_p),
              table_rows_host=C.cast(table_rows, C.c_void_p), row_ids_host=C.cast(ids, C.c_void_p))
    fn = lib.lib.bt_cuda_embedding_sum_workspace_bytes
    record("embedding_sum control", query(fn, bc.EmbeddingSumArgs(**es)), bc.OK, "")
    ids[5] = 4
    record("embedding_sum row id outside its table", query(fn, bc.EmbeddingSumArgs(**es)), bc.INVALID_ARGUMENT,
           "row_ids_host[1, 2] = 4")
    ids[5] = 3
    record("embedding_sum no terms", query(fn, bc.EmbeddingSumArgs(**dict(es, num_terms=0))), bc.INVALID_ARGUMENT,
           "num_terms")
    lengths, sources = i32(2, 5, 0), i32(1, 1, 0)
    rc = dict(num_layers=2, batch=3, kv_heads=2, capacity=5, head_dim=4, key_cache=1 << 20, value_cache=1 << 24,
              lengths_host=C.cast(lengths, C.c_void_p), source_rows_host=C.cast(sources, C.c_void_p))
    fn = lib.lib.bt_cuda_reorder_cache_workspace_bytes
    record("reorder_cache control", query(fn, bc.ReorderCacheArgs(**rc)), bc.OK, "")
    sources[2] = 3
    record("reorder_cache source row outside the batch", query(fn, bc.ReorderCacheArgs(**rc)), bc.INVALID_ARGUMENT,
           "")
    sources[2], lengths[1] = 0, 6
    record("reorder_cache length past the capacity", query(fn, bc.ReorderCacheArgs(**rc)), bc.INVALID_ARGUMENT, "")
    lengths[1] = 5
    record("reorder_cache one buffer for both caches",
           query(fn, bc.ReorderCacheArgs(**dict(rc, value_cache=1 << 20))), bc.INVALID_ARGUMENT, "distinct")
    return out


def ordering_test(lib, torch, report, gen):
    """TensorFlow's situation, emulated: inputs are produced on another stream whose handle we
    do not get. bt_cuda_wait_device + our stream + bt_cuda_synchronize must see them complete."""
    import calls
    import reference as ref
    dev = "cuda"
    res = {}
    ctx = lib.context(0)
    try:
        B, H, S, D = 2, 4, 256, 64
        src = [torch.randn(B, H, S, D, generator=gen).to(dev) for _ in range(3)]
        expected, _ = ref.attention(*(t.double() for t in src), 1.0 / math.sqrt(D))
        big = torch.randn(8192, 8192, device=dev)
        producer = torch.cuda.Stream()

        def produce(dst):
            torch.cuda.synchronize()
            for t in dst:
                t.fill_(math.nan)
            torch.cuda.synchronize()
            with torch.cuda.stream(producer):
                acc = big
                for _ in range(12):  # keep the producer stream busy for a while
                    acc = torch.tanh(acc @ big * 1e-4)
                for t, s in zip(dst, src):
                    t.copy_(s + acc[0, 0] * 0)

        for label, wait in (("with wait_device", True), ("without wait_device (negative control)", False)):
            dst = [torch.empty(B, H, S, D, device=dev) for _ in range(3)]
            produce(dst)
            t0 = time.time()
            if wait:
                lib.check(lib.lib.bt_cuda_wait_device(ctx), "wait_device")
            out, _ = calls.attention_forward(lib, ctx, *dst, stream=None, scale=1.0 / math.sqrt(D), causal=False,
                                             precision="highest")
            lib.check(lib.lib.bt_cuda_synchronize(ctx), "synchronize")
            host_ms = (time.time() - t0) * 1000
            # The consumer on the producer's stream, queued right after our synchronize (as TensorFlow would).
            with torch.cuda.stream(producer):
                consumed = out * 1.0
            producer.synchronize()
            err = ref.rel_error(consumed, expected)
            res[label] = dict(rel_error=err, correct=err <= 1e-5, host_ms=round(host_ms, 3))
            torch.cuda.synchronize()
        res["passed"] = bool(res["with wait_device"]["correct"])
        res["negative_control_raced"] = not res["without wait_device (negative control)"]["correct"]
    except Exception as exc:
        res["error"] = f"{type(exc).__name__}: {exc}"
        res["passed"] = False
    finally:
        lib.lib.bt_cuda_context_destroy(ctx)
    report.data["ordering"] = res
    print(f"stream ordering: {res}")


def dry_run(args, report):
    report.data["dry_run"] = True
    import cases
    plan = cases.describe()
    report.data["plan"] = plan
    precisions = parse_precisions(args.precisions)
    t = plan["timing"]
    print(f"plan: {len(plan['attention'])} attention cases, {len(plan['encoder'])} encoder cases, "
          f"{len(plan['encoder_stack'])} encoder stack cases, x{len(precisions)} precisions {precisions}; decoding: "
          f"{len(plan['rms_norm'])} rms_norm + {len(plan['rotary'])} rotary cases (once), {len(plan['kv_cache'])} "
          f"kv_cache + {len(plan['decoder_stack'])} decoder_stack cases x{len(precisions)} "
          f"({len(cases.SEQ2SEQ_DECODER_CASES)} encoder-decoder); graph ops (once): {len(plan['layer_norm'])} "
          f"layer_norm + {len(plan['embedding_sum'])} embedding_sum + {len(plan['reorder_cache'])} reorder_cache; "
          f"'high' again under the TF32 v1 kernel ({cases.TF32_V1}): {', '.join(cases.TF32_V1_KINDS)}; 'medium' "
          f"again with the GEMM operands converted first ({cases.MEDIUM_CONVERT}): "
          f"{', '.join(cases.MEDIUM_CONVERT_KINDS)}; timings: {len(t['attention_forward'])} attention forward "
          f"(v1 too), {len(t['attention_backward'])} backward, {len(t['encoder_stack'])} 12-layer encoder "
          f"configurations ('medium' both ways)")
    est = cases.estimate_s(precisions)
    print(f"time estimate of the device run's Python part (s, rough; the build adds ~60): {est}")
    lib = None
    if os.path.exists(args.lib):
        lib = bc.Library(args.lib)
        report.data["abi_version"] = lib.abi_version
        abi_checks(lib, report, have_gpu=False)
    else:
        report.data["notes"].append(f"library {args.lib} not built: binding checks skipped")
        print(f"library {args.lib} not built: binding checks skipped")
    picked = [f"{kind}: {c['name']}" for kind, kind_cases in cases.KINDS for c in kind_cases
              if cases.selected(args.only, kind, c["name"])]
    print(f"--only {args.only!r} selects {len(picked)} parity cases")
    try:
        import torch  # noqa: F401
    except ImportError:
        report.data["notes"].append("torch not importable here: reference self-checks skipped")
        print("torch not importable: reference self-checks skipped")
        return
    import reference
    report.data["reference_selfcheck"] = reference.self_check()
    print(f"reference self-check: {report.data['reference_selfcheck']}")
    report.data["decoding_reference_selfcheck"] = reference.decoding_self_check()
    print(f"decoding reference self-check: {report.data['decoding_reference_selfcheck']}")
    if not (report.data["reference_selfcheck"]["passed"] and report.data["decoding_reference_selfcheck"]["passed"]):
        raise AssertionError("a float64 reference disagrees with its other formulation")
    import parity
    lines = parity.dry_run_cases(torch.Generator().manual_seed(args.seed), lib)
    report.data["dry_run_cases"] = lines
    print("\n".join(lines))
    import timing
    print("timing padding lengths (50%): " + "; ".join(
        f"B={c['B']} S={c['S']}: {timing.padding_lengths(c['B'], c['S'], c['pad'])}"
        for c in cases.encoder_configs() if c["pad"] > 0 and c["B"] <= 8))
    report.data["bert_mapping_selfcheck"] = timing.bert_mapping_self_check()
    print(f"nn.TransformerEncoder (fast path, CPU) vs the float64 stack over the weights handed to the library: "
          f"{report.data['bert_mapping_selfcheck']}")
    if not (report.data["bert_mapping_selfcheck"]["rel_error"] <= 1e-5 and
            report.data["bert_mapping_selfcheck"]["padding_rows_zero"]):
        raise AssertionError("the encoder timing would not compare the same computation")
    import emulation
    report.data["rounding_selfcheck"] = emulation.rounding_self_check()
    print(f"bfloat16 rounding of the emulation: {report.data['rounding_selfcheck']}")
    if not report.data["rounding_selfcheck"]["passed"]:
        raise AssertionError("the emulation's bfloat16 rounding is not round-to-nearest-even")
    emu = emulation.run(torch.Generator().manual_seed(args.seed), precisions)
    report.data["emulated_parity"] = emu
    print(f"harness against an emulated correct library ({', '.join(precisions)}): "
          f"{emu['correct']['passed']}/{emu['correct']['total']} passed {emu['correct']['failed']}")
    def bound(op, p):
        return cases.TOLERANCE["highest" if p == "fp32" else cases.base_precision(p)][targets.OP_BOUND[op]]
    print("emulated worst error per op (bound): " + "; ".join(
        f"{op} " + ", ".join(f"{p} {e:.2g} ({bound(op, p):g})" for p, e in worst.items())
        for op, worst in targets.parity_by_kind(emu["errors"]).items()))
    print(f"'medium' errors non-zero and above 'high''s on every rounded case: "
          f"{not emu['medium_not_above_high']} {emu['medium_not_above_high']}")
    print(f"harness against an emulated broken library (causal ignored; decoding: gamma ignored, rotary pairing "
          f"swapped, causality among new tokens ignored; graph ops: LayerNorm beta ignored, EmbeddingSum's last "
          f"term dropped, reorder lengths ignored): {emu['broken']['passed']}/{emu['broken']['total']} "
          f"passed; failing: {len(emu['broken']['failed'])}, in kinds {emu['broken']['failed_kinds']}; causal "
          f"attention and encoder-decoder cases passing (must be none): {emu['broken_causal_passing']}")
    conv = [e for e in emu["errors"] if e["precision"] == cases.MEDIUM_CONVERT]
    broken_conv = [f for f in emu["broken"]["failed"] if f"[{cases.MEDIUM_CONVERT}]" in f]
    print(f"{cases.MEDIUM_CONVERT} (emulated as 'medium'): {len(conv)} records, all passing the correct library: "
          f"{not any(f'[{cases.MEDIUM_CONVERT}]' in f for f in emu['correct']['failed'])}; failing the broken one: "
          f"{len(broken_conv)}; cases where it and 'medium' disagree (must be none): {emu['convert_unlike_medium']}")
    if not emu["harness_ok"]:
        raise AssertionError("the parity harness does not separate a correct from a broken library, or the "
                             "emulated precisions do not round")
    # The targets table from the emulated parity records and made-up timings (the code path only).
    fake = dict(parity=[], timing=[], encoder_timing=[])
    for cfg in cases.attention_configs():
        fake["timing"].append(dict(kind="attention_forward", **cfg, ours_medium=1.0, torch_bf16_casts=0.8,
                                   ours_high=1.0, torch_fp32=1.3, tflop=1.0))
    for cfg in cases.backward_configs():
        fake["timing"].append(dict(kind="attention_backward", **cfg, ours_medium=1.0, torch_bf16=0.6))
    # 'medium' encoder: the default way too slow with padding, the converted way fast enough (the targets
    # must judge the faster of the two, and name it).
    for cfg in cases.encoder_configs():
        fake["encoder_timing"].append(dict(kind="encoder_stack", **cfg, ours_medium=1.0 if cfg["pad"] == 0 else 1.5,
                                           ours_medium_convert=1.2 if cfg["pad"] == 0 else 1.0, ours_high=1.0,
                                           torch_bf16=1.1 if cfg["pad"] == 0 else 2.1, torch_tf32=1.05))
    fake["parity"] = [dict(kind="attention", case="x", precision=p, passed=True, errors=dict(out=0.5 * b))
                      for p, b in cases.PARITY_TARGET.items()]
    fake["parity"].append(dict(kind="encoder", case="x", precision=cases.MEDIUM_CONVERT, passed=True,
                               errors=dict(y=0.5 * cases.PARITY_TARGET["medium"])))
    rows = targets.evaluate(fake)
    if [r["status"] for r in rows] != ["PASS"] * len(rows) or \
            not any("BT_CUDA_MEDIUM_GEMM=convert" in r["target"] for r in rows if r["target"].startswith("parity")):
        raise AssertionError(f"targets table of made-up passing numbers: {rows}")
    medium_rows = [r for r in rows if r["target"].startswith("12-layer encoder 'medium'")]
    if len(medium_rows) != 2 or "(default)" not in medium_rows[0]["detail"] or \
            "(convert)" not in medium_rows[1]["detail"] or medium_rows[1]["measured"] != 2.1:
        raise AssertionError(f"the 'medium' encoder targets do not judge the faster way: {medium_rows}")
    table = markdown(dict(fake, started="-"))
    if "| convert (1.50×) |" not in table or "| default (1.20×) |" not in table:
        raise AssertionError("the encoder table does not name the faster 'medium' way")
    fake["timing"][0]["ours_medium"] = None
    if targets.evaluate(fake)[0]["status"] != "FAIL":
        raise AssertionError("a target with a configuration not measured must not pass")
    print(f"targets table: {len(rows)} targets, code path checked on made-up numbers (the 'medium' encoder "
          f"targets on the faster way: {medium_rows[0]['detail']}; {medium_rows[1]['detail']})")


def parse_precisions(text):
    precisions = [p for p in text.split(",") if p]
    bad = [p for p in precisions if p not in bc.PRECISION]
    if bad or not precisions:
        raise SystemExit(f"--precisions: unknown {bad}; known: {list(bc.PRECISION)}")
    return precisions


def main(argv):
    args = parse_args(argv)
    t_start = time.time()
    deadline = t_start + args.budget_s
    report = Report(args.out)
    if args.dry_run:
        try:
            dry_run(args, report)
        finally:
            report.data["elapsed_s"] = round(time.time() - t_start, 1)
            report.save()
        print(markdown(report.data))
        return 0 if report.data.get("abi_checks", {}).get("passed", True) else 1

    try:
        return run_on_device(args, report, t_start, deadline)
    except Exception as exc:  # still write what was gathered, with the reason
        report.data["fatal"] = f"{type(exc).__name__}: {exc}"
        report.data["fatal_traceback"] = traceback.format_exc()
        traceback.print_exc()
        return 2
    finally:
        report.data["elapsed_s"] = round(time.time() - t_start, 1)
        try:
            report.data["targets"] = targets.evaluate(report.data)
            report.data["parity_worst_by_op"] = targets.parity_by_kind(report.data["parity"])
        except Exception as exc:
            report.data["notes"].append(f"targets not evaluated: {type(exc).__name__}: {exc}")
        report.save()
        print(markdown(report.data))


def run_on_device(args, report, t_start, deadline):
    """Parity (every precision), ordering, then the timings in a fixed order, each section stopping at the
    time guard (what it skips is listed in the notes), and the targets last."""
    import torch
    import cases
    import parity
    import timing
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report.data["torch"] = torch.__version__
    report.data["device"] = torch.cuda.get_device_name(0)
    report.data["budget_s"] = args.budget_s
    precisions = parse_precisions(args.precisions)
    gen = torch.Generator().manual_seed(args.seed)
    lib = bc.Library(args.lib)
    report.data["abi_version"] = lib.abi_version
    abi_checks(lib, report, have_gpu=True)
    report.save()

    # Everything of ours and of PyTorch's runs on one dedicated stream (its handle is never 0,
    # which the ABI reads as "the context's stream").
    stream_obj = torch.cuda.Stream()
    torch.cuda.set_stream(stream_obj)
    stream = C.c_void_p(stream_obj.cuda_stream)
    ctx = lib.context(0)
    failures = []
    sections = report.data.setdefault("section_s", {})
    t0 = time.time()
    done = None
    # Each precision's kinds in order (precision-free kinds once, as 'fp32'), then the 'high' cases of
    # cases.TF32_V1_KINDS again with BT_CUDA_TF32_KERNEL=v1 (the library reads it at every launch) and the
    # 'medium' cases of cases.MEDIUM_CONVERT_KINDS with BT_CUDA_MEDIUM_GEMM=convert (read by the workspace
    # query and the call, both inside the runner): cases.PASS_ENV, set around the whole pass.
    for kind, kind_cases, runner, label in parity.parity_plan(precisions):
        if label != "fp32":
            if done not in (None, label):
                print(f"parity {done}: done ({time.time() - t_start:.0f} s)")
            done = label
        picked = [c for c in kind_cases if cases.selected(args.only, kind, c["name"])]
        env = cases.PASS_ENV.get(label)
        if env:
            os.environ[env[0]] = env[1]
        try:
            for case in picked:
                if time.time() > deadline:
                    report.data["notes"].append(f"time guard: skipped parity {kind} {case['name']} [{label}]")
                    continue
                rec = runner(lib, ctx, case, label, "cuda", gen, stream)
                report.data["parity"].append(rec)
                if not rec["passed"]:
                    failures.append(rec)
                    print(f"FAIL {kind} {case['name']} [{label}] {rec.get('errors')} {rec.get('notes')} "
                          f"{rec.get('error', '')}")
        finally:
            if env:
                os.environ.pop(env[0], None)
        report.save()
    print(f"parity {done}: done ({time.time() - t_start:.0f} s)")
    sections["parity"] = round(time.time() - t0, 1)
    print(f"parity: {len(report.data['parity']) - len(failures)}/{len(report.data['parity'])} passed "
          f"({time.time() - t_start:.0f} s)")
    if not args.skip_ordering:
        t0 = time.time()
        torch.cuda.set_stream(torch.cuda.default_stream())
        ordering_test(lib, torch, report, gen)
        torch.cuda.set_stream(stream_obj)
        sections["ordering"] = round(time.time() - t0, 1)
        report.save()

    if not args.skip_timing:
        plan = [("attention forward", cases.attention_configs(), timing.time_attention, "timing"),
                ("attention backward", cases.backward_configs(), timing.time_attention_backward, "timing"),
                ("encoder stack", cases.encoder_configs(), timing.time_encoder_stack, "encoder_timing")]
        for section, configs, fn, slot in plan:
            t0 = time.time()
            for cfg in configs:
                if time.time() > deadline:
                    report.data["notes"].append(f"time guard: skipped {section} timing {cfg}")
                    continue
                try:
                    rec = fn(lib, ctx, cfg, stream, deadline)
                except Exception as exc:
                    rec = dict(kind=section.replace(" ", "_"), **cfg, error=f"{type(exc).__name__}: {exc}"[:300])
                    rec.setdefault("errors", {})["setup"] = rec["error"]
                if rec.get("skipped"):
                    report.data["notes"].append(f"time guard: {section} {cfg}: skipped {rec['skipped']}")
                report.data[slot].append(rec)
                print(f"{section} {cfg}: " + ", ".join(f"{k}={fmt(v)}" for k, v in rec.items()
                                                       if k.startswith(("ours_", "torch_")) and
                                                       not isinstance(v, dict)))
                torch.cuda.empty_cache()
                report.save()
            sections[f"timing {section}"] = round(time.time() - t0, 1)
    lib.lib.bt_cuda_context_destroy(ctx)
    ok = not failures and report.data["abi_checks"]["passed"]
    return 0 if ok and (args.skip_ordering or report.data["ordering"].get("passed")) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:
        traceback.print_exc()
        sys.exit(2)
