#!/usr/bin/env python3
"""Device check of libbt_cuda (run by test/device/check.sh on a GPU machine).

One run gives: ABI checks, parity against float64 PyTorch references for every
case and precision (attention, encoder layer and stack, and the decoding ops:
RMSNorm, rotary, attention with a kv cache, the decoder stack; failures printed
compactly, the run goes on), the
stream-ordering test, timings against PyTorch, and $OUT/check.json +
$OUT/check.md (the JSON is rewritten after every section). The table is
printed last. --dry-run exercises the argument handling, the case plan, the
binding against the library and (when torch is importable) the references on
the CPU, without a GPU.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bt_cuda_ctypes as bc  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", default=os.path.join(HERE, "..", "..", "kernels", "cuda", "build", "libbt_cuda.so"))
    p.add_argument("--out", default=os.environ.get("OUT") or "/tmp/bt_cuda_check")
    p.add_argument("--budget-s", type=float, default=270.0, help="wall-clock budget; late timing cases are skipped")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--skip-ordering", action="store_true")
    p.add_argument("--only", default="",
                   help="run only the parity cases whose '<kind>: <name>' contains this text ('|' separates "
                        "alternatives); the decoding kinds read 'decoder <kind>: <name>', so --only decoder runs "
                        "the four decoding ops (kinds: attention, encoder, encoder_stack, rms_norm, rotary, "
                        "kv_cache, decoder_stack)")
    p.add_argument("--precisions", default="highest,high")
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


def markdown(d):
    lines = [f"# libbt_cuda device check ({d.get('started')})", ""]
    for k in ("device", "torch", "abi_version", "dry_run", "elapsed_s"):
        if k in d:
            lines.append(f"- {k}: {d[k]}")
    par = d["parity"]
    npass = sum(1 for r in par if r.get("passed"))
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
    if d["timing"]:
        lines += ["", "## Attention forward, median ms (B=8, H=16)", "",
                  "| S | D | causal | pad | ours highest | ours high | torch fp32 | torch bf16 | high vs fp32 | "
                  "high vs bf16 | highest vs fp32 |", "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in d["timing"]:
            lines.append(f"| {r['S']} | {r['D']} | {r['causal']} | {r['pad']} | {fmt(r.get('ours_highest'))} | "
                         f"{fmt(r.get('ours_high'))} | {fmt(r.get('torch_fp32'))} | {fmt(r.get('torch_bf16'))} | "
                         f"{fmt(ratio(r.get('ours_high'), r.get('torch_fp32')))}× | "
                         f"{fmt(ratio(r.get('ours_high'), r.get('torch_bf16')))}× | "
                         f"{fmt(ratio(r.get('ours_highest'), r.get('torch_fp32')))}× |")
    if d["encoder_timing"]:
        lines += ["", "## Encoder layer, median ms (BERT-base shape, post-norm GELU)", "",
                  "| B | S | pad | ours highest | ours high | torch fp32 | torch tf32 |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in d["encoder_timing"]:
            lines.append(f"| {r['B']} | {r['S']} | {r['pad']} | {fmt(r.get('ours_highest'))} | {fmt(r.get('ours_high'))} | "
                         f"{fmt(r.get('torch_fp32'))} | {fmt(r.get('torch_tf32'))} |")
    if d.get("fatal"):
        lines += ["", f"## FATAL: {d['fatal']}"]
    if d.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in d["notes"]]
    return "\n".join(lines) + "\n"


def abi_checks(lib, report, have_gpu):
    """Validation paths that need no kernels: bad arguments give INVALID_ARGUMENT with a message."""
    a = bc.Attention(batch=1, heads=3, kv_heads=2, q_seq=4, k_seq=4, depth=8, value_depth=8, scale=1.0)
    st, msg = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention, None, C.byref(a), None)
    ok = st == bc.INVALID_ARGUMENT and msg
    a = bc.Attention(batch=1, heads=2, kv_heads=2, q_seq=4, k_seq=4, depth=8, value_depth=8, scale=1.0,
                     q=1, k=1, v=1, out=1)
    st2, msg2 = lib.status_of(lib.lib.bt_cuda_scaled_dot_product_attention, None, C.byref(a), None)
    # Without a GPU: NO_DEVICE. With one: the null context is refused before any pointer is touched.
    ok2 = st2 == (bc.INVALID_ARGUMENT if have_gpu else bc.NO_DEVICE)
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
    passed = bool(ok and ok2 and ok3 and all(r["ok"] for r in decoding.values()))
    report.data["abi_checks"] = dict(bad_heads=[st, msg], valid_shapes_no_context=[st2, msg2],
                                     stack_bad_layer=[st3, msg3], decoding=decoding, passed=passed)
    print(f"ABI checks: {'ok' if passed else 'FAILED'} ({msg!r}; {msg2!r}; {msg3!r})")
    bad = [f"{k}: {r}" for k, r in decoding.items() if not r["ok"]]
    print(f"decoding ABI checks: {len(decoding) - len(bad)}/{len(decoding)} ok" +
          ("; " + "; ".join(bad) if bad else ""))


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
    print(f"plan: {len(plan['attention'])} attention cases, {len(plan['encoder'])} encoder cases, "
          f"{len(plan['encoder_stack'])} encoder stack cases, {len(plan['timing'])} timing configs, x2 precisions; "
          f"decoding: {len(plan['rms_norm'])} rms_norm + {len(plan['rotary'])} rotary cases (once), "
          f"{len(plan['kv_cache'])} kv_cache + {len(plan['decoder_stack'])} decoder_stack cases x2 precisions")
    lib = None
    if os.path.exists(args.lib):
        lib = bc.Library(args.lib)
        report.data["abi_version"] = lib.abi_version
        abi_checks(lib, report, have_gpu=False)
    else:
        report.data["notes"].append(f"library {args.lib} not built: binding checks skipped")
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
    print(f"timing padding lengths (S=512, 50%): {timing.padding_lengths(8, 512, 0.5)}")
    import emulation
    emu = emulation.run(torch.Generator().manual_seed(args.seed))
    report.data["emulated_parity"] = emu
    print(f"harness against an emulated correct library: {emu['correct']['passed']}/{emu['correct']['total']} "
          f"passed {emu['correct']['failed']}")
    print(f"harness against an emulated broken library (causal ignored; decoding: gamma ignored, rotary pairing "
          f"swapped, causality among new tokens ignored): {emu['broken']['passed']}/{emu['broken']['total']} "
          f"passed; failing: {len(emu['broken']['failed'])}, in kinds {emu['broken']['failed_kinds']}")
    if not emu["harness_ok"]:
        raise AssertionError("the parity harness does not separate a correct from a broken library")


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
        report.save()
        print(markdown(report.data))


def run_on_device(args, report, t_start, deadline):
    import torch
    import cases
    import parity
    import timing
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    report.data["torch"] = torch.__version__
    report.data["device"] = torch.cuda.get_device_name(0)
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
    for i, precision in enumerate(args.precisions.split(",")):
        for kind, kind_cases, runner, by_precision in parity.PARITY_KINDS:
            if not by_precision and i > 0:
                continue  # precision-free (RMSNorm, rotary): once
            for case in [c for c in kind_cases if cases.selected(args.only, kind, c["name"])]:
                label = precision if by_precision else "fp32"
                if kind in cases.DECODING_KINDS and time.time() > deadline:
                    report.data["notes"].append(f"time guard: skipped {kind} {case['name']} [{label}]")
                    continue
                rec = runner(lib, ctx, case, label, "cuda", gen, stream)
                report.data["parity"].append(rec)
                if not rec["passed"]:
                    failures.append(rec)
                    print(f"FAIL {kind} {case['name']} [{label}] {rec.get('errors')} {rec.get('notes')} "
                          f"{rec.get('error', '')}")
            report.save()
    print(f"parity: {len(report.data['parity']) - len(failures)}/{len(report.data['parity'])} passed "
          f"({time.time() - t_start:.0f} s)")
    if not args.skip_ordering:
        torch.cuda.set_stream(torch.cuda.default_stream())
        ordering_test(lib, torch, report, gen)
        torch.cuda.set_stream(stream_obj)
        report.save()

    if not args.skip_timing:
        for cfg in cases.attention_configs():
            if time.time() > deadline:
                report.data["notes"].append(f"time guard: skipped attention timing from {cfg}")
                break
            try:
                rec = timing.time_attention(lib, ctx, cfg, stream, deadline)
            except Exception as exc:
                rec = dict(kind="attention", **cfg, error=f"{type(exc).__name__}: {exc}"[:300])
            report.data["timing"].append(rec)
            print(f"timing {cfg}: " + ", ".join(f"{k}={fmt(rec.get(k))}" for k in
                                                 ("ours_highest", "ours_high", "torch_fp32", "torch_bf16")))
            torch.cuda.empty_cache()
            report.save()
        for cfg in cases.encoder_configs():
            if time.time() > deadline + 30:  # the encoder rows are short: a little past the guard
                report.data["notes"].append(f"time guard: skipped encoder timing {cfg}")
                continue
            try:
                rec = timing.time_encoder(lib, ctx, cfg, stream, deadline + 30, gen)
            except Exception as exc:
                rec = dict(kind="encoder", **cfg, error=f"{type(exc).__name__}: {exc}"[:300])
            report.data["encoder_timing"].append(rec)
            report.save()
    lib.lib.bt_cuda_context_destroy(ctx)
    ok = not failures and report.data["abi_checks"]["passed"]
    return 0 if ok and (args.skip_ordering or report.data["ordering"].get("passed")) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:
        traceback.print_exc()
        sys.exit(2)
