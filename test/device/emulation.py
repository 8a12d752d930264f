"""--dry-run's stand-in for libbt_cuda: the float64 reference rounded to float32,
behind the same call signatures as calls.py. Running the parity harness against it
on the CPU shows that the harness passes a correct implementation; `broken=True`
(causal masking ignored) shows that it fails a wrong one.

The decoding ops are emulated by other formulations than reference.py's, so the
run also checks the references against them: RMSNorm written out, rotary by
complex multiplication, attention over the cache with explicit per-row key limits,
and the decoder step by step over the float32 caches it is handed (appending in
place, as the library does) where the reference recomputes each sequence from
scratch. Broken: RMSNorm ignores gamma, rotary swaps the pairing, the cache and
decoder attention ignore causality among a step's new tokens."""
import math

import torch

import parity
from cases import DECODING_KINDS


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
    return originals + _install_decoding(broken)


def restore(originals):
    import calls
    calls.attention_forward, calls.attention_backward, calls.encoder_layer, calls.encoder_stack = originals[:4]
    calls.rms_norm, calls.rotary, calls.kv_cache_attention, calls.decoder_step = originals[4:]


def _attend(q, keys, values, scale, past, broken):
    """q [H, n, D] over keys [Hkv, past + n, D]: row i sees keys [0, past + i] (broken: all of them)."""
    group = q.shape[0] // keys.shape[0]
    keys, values = keys.repeat_interleave(group, dim=0), values.repeat_interleave(group, dim=0)
    n, total = q.shape[1], keys.shape[1]
    scores = (q @ keys.transpose(-1, -2)) * scale
    limit = torch.full((n,), total) if broken else past + torch.arange(n) + 1
    hidden = torch.arange(total)[None, :] >= limit[:, None].to(scores.device)
    return torch.softmax(scores.masked_fill(hidden, -math.inf), dim=-1) @ values


def _install_decoding(broken):
    import calls
    originals = (calls.rms_norm, calls.rotary, calls.kv_cache_attention, calls.decoder_step)

    def rms_norm(lib, ctx, x, gamma, eps, *, inplace=False, stream=None):
        x64 = x.double()
        y = x64 / torch.sqrt(x64.pow(2).sum(-1, keepdim=True) / max(x.shape[-1], 1) + eps)
        if gamma is not None and not broken:
            y = y * gamma.double()
        return x.copy_(y) if inplace else y.float()

    def rotary(lib, ctx, x, positions, cos, sin, rotary_dim, interleaved, *, inplace=False, stream=None):
        y = x.double().clone()
        if rotary_dim:
            half = rotary_dim // 2
            rot = y[..., :rotary_dim]
            pos = positions.long()
            turn = torch.complex(cos.double()[pos], sin.double()[pos])[:, None]  # [B, 1, S, half]
            inter = interleaved != broken
            pairs = rot.reshape(*rot.shape[:-1], half, 2) if inter else torch.stack((rot[..., :half],
                                                                                     rot[..., half:]), dim=-1)
            z = torch.view_as_real(torch.view_as_complex(pairs.contiguous()) * turn)
            y[..., :rotary_dim] = z.flatten(-2) if inter else torch.cat((z[..., 0], z[..., 1]), dim=-1)
        return x.copy_(y) if inplace else y.float()

    def kv_cache_attention(lib, ctx, q, k, v, key_cache, value_cache, past, new, *, scale, precision, stream=None):
        out = torch.zeros(q.shape[0], q.shape[1], q.shape[2], value_cache.shape[3], dtype=torch.float64)
        for b, (p, m) in enumerate(zip(past, new)):
            key_cache[b, :, p:p + m] = k[b, :, :m]
            value_cache[b, :, p:p + m] = v[b, :, :m]
            if m:
                out[b, :, :m] = _attend(q[b, :, :m].double(), key_cache[b, :, :p + m].double(),
                                        value_cache[b, :, :p + m].double(), scale, p, broken)
        return out.float(), [p + m for p, m in zip(past, new)]

    def decoder_step(lib, ctx, model, input_ids, past, new, key_cache, value_cache, logits_rows, *, precision,
                     stream=None):
        ref = parity.ref
        m64 = parity.model_to_double(model)
        c = m64["cfg"]
        h_q, h_kv, d, kind = c["num_heads"], c["num_kv_heads"], c["head_dim"], c["norm_kind"]
        b_count, n_max = input_ids.shape
        vocab = m64["word_embeddings"].shape[0]
        logits = torch.zeros((b_count, n_max, vocab) if logits_rows == "all" else (b_count, vocab),
                             dtype=torch.float64)
        for b, (p, m) in enumerate(zip(past, new)):
            if m == 0:
                continue
            pos = torch.arange(p, p + m)
            x = m64["word_embeddings"][input_ids[b, :m].long()] * c["embedding_scale"]
            if m64["position_embeddings"] is not None:
                x = x + m64["position_embeddings"][pos + c["position_offset"]]
            for index, layer in enumerate(m64["layers"]):
                pre = c["norm_first"] or c["parallel"]
                h = ref._norm(kind, x, layer["norm1_gamma"], layer["norm1_beta"], layer["norm1_eps"]) if pre else x
                if layer["qkv_weight"] is not None:
                    qkv = ref._dense(h, layer["qkv_weight"], layer["qkv_bias"])
                else:
                    qkv = torch.cat([ref._dense(h, layer[f"{n}_weight"], layer[f"{n}_bias"]) for n in "qkv"], dim=-1)
                q = qkv[:, :h_q * d].reshape(m, h_q, d)
                k = qkv[:, h_q * d:(h_q + h_kv) * d].reshape(m, h_kv, d)
                v = qkv[:, (h_q + h_kv) * d:].reshape(m, h_kv, d)
                if c["rotary_dim"]:
                    cos, sin = m64["rotary_cos"][pos][:, None], m64["rotary_sin"][pos][:, None]
                    q = ref.rotate(q, cos, sin, c["rotary_dim"], c["rotary_interleaved"])
                    k = ref.rotate(k, cos, sin, c["rotary_dim"], c["rotary_interleaved"])
                key_cache[index, b, :, p:p + m] = k.transpose(0, 1).float()
                value_cache[index, b, :, p:p + m] = v.transpose(0, 1).float()
                ctx_rows = _attend(q.transpose(0, 1), key_cache[index, b, :, :p + m].double(),
                                   value_cache[index, b, :, :p + m].double(), c["attention_scale"], p, broken)
                attn = x + ref._dense(ctx_rows.transpose(0, 1).reshape(m, h_q * d), layer["out_weight"],
                                      layer["out_bias"])
                if c["parallel"]:
                    mlp_in = h if c["parallel_shared_norm"] else ref._norm(kind, x, layer["norm2_gamma"],
                                                                           layer["norm2_beta"], layer["norm2_eps"])
                elif c["norm_first"]:
                    mlp_in = ref._norm(kind, attn, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
                else:
                    attn = mlp_in = ref._norm(kind, attn, layer["norm1_gamma"], layer["norm1_beta"],
                                              layer["norm1_eps"])
                up = ref._dense(mlp_in, layer["up_weight"], layer["up_bias"])
                if c["gated_mlp"]:
                    up = ref.activation(ref._dense(mlp_in, layer["gate_weight"], layer["gate_bias"]),
                                        c["activation"]) * up
                else:
                    up = ref.activation(up, c["activation"])
                x = attn + ref._dense(up, layer["down_weight"], layer["down_bias"])
                if not pre:
                    x = ref._norm(kind, x, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
            if c["has_final_norm"]:
                x = ref._norm(kind, x, m64["final_norm_gamma"], m64["final_norm_beta"], c["final_norm_eps"])
            head = m64["lm_head"].T if c["lm_head_transposed"] else m64["lm_head"]
            rows = ref._dense(x, head, m64["lm_head_bias"])
            if logits_rows == "all":
                logits[b, :m] = rows
            else:
                logits[b] = rows[-1]
        return logits.float(), [p + m for p, m in zip(past, new)]

    calls.rms_norm, calls.rotary, calls.kv_cache_attention, calls.decoder_step = (
        rms_norm, rotary, kv_cache_attention, decoder_step)
    return originals


def run(gen):
    """Both emulations over every parity case; returns pass counts and the cases that failed."""
    summary = {}
    for broken in (False, True):
        originals = install(broken)
        try:
            records = []
            for i, precision in enumerate(("highest", "high")):
                for kind, kind_cases, runner, by_precision in parity.PARITY_KINDS:
                    if by_precision or i == 0:
                        records += [runner(None, None, c, precision if by_precision else "fp32", "cpu", gen, None)
                                    for c in kind_cases]
        finally:
            restore(originals)
        failed = [f"{r['kind']}: {r['case']} [{r['precision']}] {r.get('error', r.get('errors'))} "
                  f"{'; '.join(r.get('notes', []))}" for r in records if not r["passed"]]
        failed_kinds = sorted({r["kind"] for r in records if not r["passed"]})
        summary["broken" if broken else "correct"] = dict(passed=len(records) - len(failed), total=len(records),
                                                          failed=failed, failed_kinds=failed_kinds)
    # A correct library passes everything; the broken one fails somewhere, and in each decoding kind.
    summary["harness_ok"] = (not summary["correct"]["failed"]) and bool(summary["broken"]["failed"]) and all(
        k in summary["broken"]["failed_kinds"] for k in DECODING_KINDS)
    return summary

