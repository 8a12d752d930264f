"""The issue's targets judged from one device check's records (check.json's parity and timing lists):
each target with its measured ratio (or worst error) and PASS, FAIL or NOT MEASURED. No torch needed.

Speed ratios are PyTorch's time over ours (> 1: ours faster); a target over several configurations
takes the worst of them."""
from cases import MEDIUM_CONVERT, PARITY_TARGET, PRECISIONS, TF32_V1

# Errors that are not against float64 (a one-layer stack against the layer entry point).
NOT_VS_FLOAT64 = ("y vs layer",)


def _ratio(theirs, ours):
    if theirs is None or ours is None or ours <= 0:
        return None
    return theirs / ours


def _speed_target(name, rows, ours_key, theirs_key, bound, label):
    """One target over rows: the worst ratio theirs/ours, PASS when every row has both times and meets it."""
    found = [(r, _ratio(r.get(theirs_key), r.get(ours_key))) for r in rows]
    measured = [(r, x) for r, x in found if x is not None]
    detail = ", ".join(f"{label(r)}: {x:.2f}×" if x is not None else f"{label(r)}: n/a" for r, x in found) or \
        "no configuration timed"
    if not found or len(measured) < len(found):
        status = "NOT MEASURED" if not measured else "FAIL"
        worst = min((x for _, x in measured), default=None)
        if measured:
            detail += " (some configurations not measured)"
    else:
        worst = min(x for _, x in measured)
        status = "PASS" if worst >= bound else "FAIL"
    return dict(target=name, bound=f"≥ {bound}×", measured=None if worst is None else round(worst, 3),
                status=status, detail=detail)


def medium_way(r):
    """The faster of an encoder timing record's two 'medium' ways: ('default', ms) for cuBLASLt's BF16
    compute type on fp32 operands (ours_medium), ('convert', ms) for the operands converted to bfloat16
    first (ours_medium_convert, BT_CUDA_MEDIUM_GEMM=convert); the one measured when only one was; (None,
    None) when neither was."""
    times = [(way, r.get(key)) for way, key in (("default", "ours_medium"), ("convert", "ours_medium_convert"))
             if r.get(key) is not None]
    return min(times, key=lambda t: t[1]) if times else (None, None)


def _with_best_medium(rows):
    """Copies of encoder timing records with 'ours_medium_best' (the faster way's ms) and 'medium_way' (which,
    and whether the other way went untimed)."""
    out = []
    for r in rows:
        way, ms = medium_way(r)
        both = r.get("ours_medium") is not None and r.get("ours_medium_convert") is not None
        out.append(dict(r, ours_medium_best=ms, medium_way=way if way is None or both else f"{way}; the other "
                                                                                          f"way not timed"))
    return out


def parity_worst(parity):
    """Per precision (and 'fp32' for the precision-free ops): the worst error against float64 over every
    record, with the record it came from; records that raised count as failures."""
    out = {}
    for r in parity:
        p = r.get("precision")
        slot = out.setdefault(p, dict(worst=0.0, where=None, records=0, failed=0, raised=0))
        slot["records"] += 1
        slot["failed"] += 0 if r.get("passed") else 1
        if "error" in r:
            slot["raised"] += 1
        for key, value in (r.get("errors") or {}).items():
            if key in NOT_VS_FLOAT64 or value is None:
                continue
            if value > slot["worst"] or value != value:  # NaN counts as the worst
                slot["worst"], slot["where"] = value, f"{r['kind']}: {r['case']} ({key})"
    return out


# The op an error belongs to, and the per-kind bound (cases.TOLERANCE) it is held to.
OP_BOUND = {"attention forward": "forward", "attention backward": "backward", "encoder": "encoder",
            "encoder_stack": "encoder_stack", "rms_norm": "rms_norm", "rotary": "rotary",
            "kv_cache decode": "kv_cache", "kv_cache prompt": "kv_cache_prompt", "decoder_stack": "decoder_stack",
            "layer_norm": "layer_norm", "embedding_sum": "embedding_sum", "reorder_cache": "reorder_cache"}


def op_of(kind, key):
    if kind == "attention":
        return "attention forward" if key in ("out", "lse") else "attention backward"
    if kind == "kv_cache":
        return "kv_cache prompt" if key == "out prompt" else "kv_cache decode"
    return kind


def parity_by_kind(parity):
    """{op: {precision: worst error}} (errors against float64 only; attention split into forward and
    backward, the kv cache into decode steps and prompts)."""
    out = {}
    for r in parity:
        for k, v in (r.get("errors") or {}).items():
            if k in NOT_VS_FLOAT64 or v is None:
                continue
            slot = out.setdefault(op_of(r["kind"], k), {})
            slot[r["precision"]] = max(slot.get(r["precision"], 0.0), v)
    return out


def evaluate(data):
    """The targets table: a list of dicts (target, bound, measured, status, detail)."""
    fwd = [r for r in data.get("timing", []) if r.get("kind") == "attention_forward"]
    bwd = [r for r in data.get("timing", []) if r.get("kind") == "attention_backward"]
    enc = _with_best_medium([r for r in data.get("encoder_timing", []) if r.get("kind") == "encoder_stack"])
    shape = lambda r: f"S={r['S']} D={r['D']}"  # noqa: E731
    bert = lambda r: f"B={r['B']} S={r['S']} pad {int(r['pad'] * 100)}%"  # noqa: E731
    bert_way = lambda r: f"{bert(r)} ({r['medium_way'] or 'no way timed'})"  # noqa: E731
    rows = [
        _speed_target("'medium' attention forward vs PyTorch bf16 SDPA with casts, S ≥ 2048",
                      [r for r in fwd if r["S"] >= 2048], "ours_medium", "torch_bf16_casts", 0.7, shape),
        _speed_target("'medium' attention backward vs PyTorch bf16 backward", bwd, "ours_medium", "torch_bf16",
                      0.5, shape),
        _speed_target("'high' attention forward vs PyTorch fp32 SDPA, D=64", [r for r in fwd if r["D"] == 64],
                      "ours_high", "torch_fp32", 1.2, shape),
        _speed_target("'high' attention forward vs PyTorch fp32 SDPA, D=128", [r for r in fwd if r["D"] == 128],
                      "ours_high", "torch_fp32", 1.2, shape),
        _speed_target("12-layer encoder 'medium' (the faster of default and convert, named per configuration) "
                      "vs fast path bf16, no padding", [r for r in enc if r["pad"] == 0],
                      "ours_medium_best", "torch_bf16", 1.0, bert_way),
        _speed_target("12-layer encoder 'medium' (the faster of default and convert, named per configuration) "
                      "vs fast path bf16, 50% padding", [r for r in enc if r["pad"] == 0.5],
                      "ours_medium_best", "torch_bf16", 2.0, bert_way),
        _speed_target("12-layer encoder 'high' vs fast path TF32, B=32 S=128 no padding",
                      [r for r in enc if r["B"] == 32 and r["S"] == 128 and r["pad"] == 0], "ours_high",
                      "torch_tf32", 1.0, bert),
    ]
    worst = parity_worst(data.get("parity", []))
    for p in PRECISIONS:
        bound = PARITY_TARGET[p]
        w = worst.get(p)
        if not w:
            rows.append(dict(target=f"parity '{p}', every case", bound=f"≤ {bound:g}", measured=None,
                             status="NOT MEASURED", detail="no records"))
            continue
        ok = w["worst"] <= bound and w["raised"] == 0
        rows.append(dict(target=f"parity '{p}', every case", bound=f"≤ {bound:g}", measured=w["worst"],
                         status="PASS" if ok else "FAIL",
                         detail=f"worst {w['where']}; {w['records']} records, {w['failed']} failing their "
                                f"per-kind bound, {w['raised']} raised"))
    w = worst.get(TF32_V1)
    if w:  # the previous TF32 forward kernel on the same 'high' cases (not one of the targets)
        ok = w["worst"] <= PARITY_TARGET["high"] and w["raised"] == 0 and w["failed"] == 0
        rows.append(dict(target="parity 'high' under the previous TF32 kernel (BT_CUDA_TF32_KERNEL=v1)",
                         bound=f"≤ {PARITY_TARGET['high']:g}", measured=w["worst"], status="PASS" if ok else "FAIL",
                         detail=f"worst {w['where']}; {w['records']} records, {w['failed']} failing their per-kind "
                                f"bound, {w['raised']} raised"))
    w = worst.get(MEDIUM_CONVERT)
    if w:  # the 'medium' encoder cases with the GEMM operands converted first (not one of the targets)
        ok = w["worst"] <= PARITY_TARGET["medium"] and w["raised"] == 0 and w["failed"] == 0
        rows.append(dict(target="parity 'medium' encoder layer and stack with the GEMM operands converted to "
                                "bfloat16 first (BT_CUDA_MEDIUM_GEMM=convert)",
                         bound=f"≤ {PARITY_TARGET['medium']:g}", measured=w["worst"], status="PASS" if ok else "FAIL",
                         detail=f"worst {w['where']}; {w['records']} records, {w['failed']} failing their per-kind "
                                f"bound, {w['raised']} raised"))
    w = worst.get("fp32")
    if w:
        ok = w["worst"] <= PARITY_TARGET["highest"] and w["raised"] == 0
        rows.append(dict(target="parity of the precision-free ops (RMSNorm, rotary, LayerNorm, EmbeddingSum, "
                                "ReorderCache)",
                         bound=f"≤ {PARITY_TARGET['highest']:g}", measured=w["worst"],
                         status="PASS" if ok else "FAIL", detail=f"worst {w['where']}; {w['records']} records"))
    return rows


def markdown(rows):
    lines = ["| target | bound | measured | status | detail |", "| --- | --- | ---: | --- | --- |"]
    for r in rows:
        measured = r["measured"]
        if measured is not None and r["bound"].startswith("≤"):
            text = f"{measured:.2g}"
        elif measured is not None:
            text = f"{measured:.3g}×"
        else:
            text = "—"
        status = r["status"] if r["status"] == "PASS" else f"**{r['status']}**"
        lines.append(f"| {r['target']} | {r['bound']} | {text} | {status} | {r['detail']} |")
    return lines
