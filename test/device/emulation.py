"""--dry-run's stand-in for libbt_cuda: the float64 reference rounded to float32,
behind the same call signatures as calls.py. Running the parity harness against it
on the CPU shows that the harness passes a correct implementation; `broken=True`
(causal masking ignored) shows that it fails a wrong one."""
import torch

import parity


def install(broken=False):
    """Replaces calls.attention_forward/backward, calls.encoder_layer and calls.encoder_stack;
    returns the originals."""
    import calls
    originals = (calls.attention_forward, calls.attention_backward, calls.encoder_layer, calls.encoder_stack)

    def kw_of(kw):
        out = dict(kw)
        out.pop("precision", None)
        out.pop("key_limit", None)
        if broken:
            out["causal"] = False
        return out

    def forward(lib, ctx, q, k, v, *, stream=None, out=None, lse=None, **kw):
        o, l, _ = parity._reference(q, k, v, kw_of(kw), False)
        return o.float(), l.float()

    def backward(lib, ctx, q, k, v, dout, out, lse, *, stream=None, **kw):
        _, _, grads = parity._reference(q, k, v, kw_of(kw), True, dout)
        grads = [g.float() for g in grads]
        dmask = grads[3].reshape(kw["add_mask"].shape) if len(grads) > 3 else None
        return grads[0], grads[1], grads[2], dmask

    def encoder(lib, ctx, x, weights, *, num_heads, norm_first, activation, eps1, eps2, causal, key_valid, scale,
                precision, stream=None):
        w64 = {n: t.double() for n, t in weights.items()}
        return parity.ref.encoder_layer(x.double(), w64, num_heads, norm_first, activation, eps1, eps2,
                                        causal and not broken, key_valid, scale).float()

    def stack(lib, ctx, x, layers, *, key_valid, stream=None):
        y = x.double() if key_valid is None else x.double() * key_valid.to(torch.float64)[:, :, None]
        for weights, options in layers:
            y = encoder(lib, ctx, y, weights, key_valid=key_valid, stream=stream, **options).double()
        return y.float()

    calls.attention_forward, calls.attention_backward, calls.encoder_layer, calls.encoder_stack = (
        forward, backward, encoder, stack)
    return originals


def restore(originals):
    import calls
    calls.attention_forward, calls.attention_backward, calls.encoder_layer, calls.encoder_stack = originals


def run(gen):
    """Both emulations over every parity case; returns pass counts and the cases that failed."""
    summary = {}
    for broken in (False, True):
        originals = install(broken)
        try:
            records = []
            for precision in ("highest", "high"):
                records += [parity.run_attention_case(None, None, c, precision, "cpu", gen, None)
                            for c in parity.ATTENTION_CASES]
                records += [parity.run_encoder_case(None, None, c, precision, "cpu", gen, None)
                            for c in parity.ENCODER_CASES]
                records += [parity.run_encoder_stack_case(None, None, c, precision, "cpu", gen, None)
                            for c in parity.ENCODER_STACK_CASES]
        finally:
            restore(originals)
        failed = [f"{r['case']} [{r['precision']}] {r.get('error', r.get('errors'))}" for r in records
                  if not r["passed"]]
        summary["broken" if broken else "correct"] = dict(passed=len(records) - len(failed), total=len(records),
                                                          failed=failed)
    summary["harness_ok"] = (not summary["correct"]["failed"]) and bool(summary["broken"]["failed"])
    return summary

