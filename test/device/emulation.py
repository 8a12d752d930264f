"""--dry-run's stand-in for libbt_cuda, behind the same call signatures as calls.py. Running the
parity harness against it on the CPU shows that the harness passes a correct implementation at
every precision; `broken=True` (causal masking ignored) shows that it fails a wrong one.

Precisions are emulated by rounding the operands of the products, round-to-nearest-even, and
accumulating in float64: 'highest' rounds nothing, 'high' rounds to TF32 (10 mantissa bits),
'medium' to bfloat16 (7). The attention is a flash-style formulation of its own (so it also
checks reference.attention): q, k and v rounded before Q.K^T, the unnormalised probabilities
exp(s - max) rounded before P.V, the softmax statistics exact; its backward rounds dout, P and
dS before their products (dV = P^T.dO, dP = dO.V^T, dQ = dS.K, dK = dS^T.Q) and takes
D = rowsum(dO * O) exactly. The encoder rounds every GEMM's operands and runs that attention. The
decoding ops are emulated by other formulations than reference.py's, so the run also checks the
references against them: RMSNorm written out, rotary by complex multiplication, attention over the
cache with explicit per-row key limits (exact at every precision: decode steps are FP32, prompts
TF32), and the decoder step by step over the float32 caches it is handed (appending in place, as the
library does; its GEMM operands rounded as the precision says; encoder-decoder models: the cross caches
filled from the encoder states by rounded GEMMs, cross-attention over them with the source mask, the
relative position bias by distance, the embedding norm) where the reference recomputes each sequence
from scratch. The graph ops: torch's layer_norm, the sum term by term, the reorder by position masks.
Padded key rows (which may hold NaN) are zeroed before the attention's products, as the library never
reads them. 'high/v1' records are emulated as 'high', 'medium/convert' ones as 'medium' (both ways of the
'medium' GEMMs round their operands to bfloat16 and accumulate in FP32). Broken: RMSNorm ignores gamma, rotary swaps the
pairing, the cache and decoder attention ignore causality among a step's new tokens, LayerNorm ignores
beta, EmbeddingSum drops its last term, the reorder ignores the lengths."""
import math

import torch

import parity
from cases import DECODING_KINDS, GRAPH_KINDS, MEDIUM_CONVERT, MEDIUM_CONVERT_KINDS, PRECISIONS

# Explicit mantissa bits kept by each precision's products (None: exact).
MANTISSA_BITS = {"highest": None, "high": 10, "medium": 7}


def round_mantissa(t, bits):
    """t rounded to `bits` explicit mantissa bits, round-to-nearest-even on float32's bits (7: bfloat16,
    10: TF32; None: t unchanged); NaN and infinities kept, overflow to infinity as the hardware does.
    Returned in t's dtype (float64 values go through float32 first)."""
    if bits is None:
        return t
    f = t.float().contiguous()
    i = f.view(torch.int32)
    drop = 23 - bits
    lsb = torch.bitwise_and(torch.bitwise_right_shift(i, drop), 1)
    r = torch.bitwise_and(i + ((1 << (drop - 1)) - 1) + lsb, ~((1 << drop) - 1))
    return torch.where(torch.isfinite(f), r.view(torch.float32), f).to(t.dtype)


def rounding_self_check(seed=0):
    """round_mantissa(., 7) against PyTorch's own float32 -> bfloat16 conversion (round-to-nearest-even)
    on random values, exact ties both ways, tiny and huge values, infinities and NaN."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.cat((torch.randn(4096, generator=gen) * 10.0 ** torch.randint(-30, 30, (4096,), generator=gen),
                   torch.tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 3.3895314e38, 1e-40, -0.0,
                                 math.inf, -math.inf])))
    want = x.to(torch.bfloat16).float()
    got = round_mantissa(x, 7)
    same = bool(torch.equal(got, want)) and bool(torch.isnan(round_mantissa(torch.tensor([math.nan]), 7)).all())
    ties = [float(round_mantissa(torch.tensor([v]), 7)) for v in (1 + 2 ** -8, 1 + 3 * 2 ** -8)]
    return dict(bf16_matches_torch=same, ties=ties, passed=same and ties == [1.0, 1 + 2 ** -6])


def _sum_to(t, shape):
    """t [B, H, Sq, Sk] summed over the dimensions a mask of `shape` broadcasts along."""
    full = (1,) * (4 - len(shape)) + tuple(shape)
    dims = [d for d in range(4) if full[d] == 1 and t.shape[d] != 1]
    return (t.sum(dim=dims, keepdim=True) if dims else t).reshape(shape)


def attention(q, k, v, kw, bits, dout=None):
    """The emulated library's attention (module docstring) in float64: (out, lse, grads or None), grads =
    [dq, dk, dv] (+ dmask with an additive mask)."""
    R = lambda t: round_mantissa(t.double(), bits)  # noqa: E731
    b, h, sq, _ = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    group = h // hkv
    if kw.get("key_valid") is not None:  # padded key rows are never read (they may hold NaN)
        k, v = parity.hide_padded_keys(k, v, kw["key_valid"])
    rq, rk, rv = R(q), R(k), R(v)
    kx, vx = rk.repeat_interleave(group, dim=1), rv.repeat_interleave(group, dim=1)
    bool_mask, add = kw.get("bool_mask"), kw.get("add_mask")
    if bool_mask is not None and bool_mask.dim() < 4:
        bool_mask = bool_mask.reshape((1,) * (4 - bool_mask.dim()) + tuple(bool_mask.shape))
    add4 = None
    if add is not None:
        add4 = add.double().reshape((1,) * (4 - add.dim()) + tuple(add.shape))
    vis = parity.ref.visibility(b, h, sq, sk, kw["causal"], kw.get("key_valid"), bool_mask, q.device)
    s = (rq @ kx.transpose(-1, -2)) * kw["scale"]
    if add4 is not None:
        s = s + add4
        vis = vis & ~torch.isneginf(add4).expand(b, h, sq, sk)
    s = s.masked_fill(~vis, -math.inf)
    row_any = vis.any(-1, keepdim=True)
    m = s.amax(-1, keepdim=True) if sk else torch.zeros(b, h, sq, 1, dtype=torch.float64)
    m = torch.where(row_any, m, torch.zeros_like(m))
    e = torch.exp(s - m).masked_fill(~vis, 0.0)
    l = e.sum(-1, keepdim=True)
    safe_l = torch.where(row_any, l, torch.ones_like(l))
    out = torch.where(row_any, (R(e) @ vx) / safe_l, torch.zeros(()).double())
    lse = torch.where(row_any[..., 0], (m + torch.log(safe_l))[..., 0], torch.tensor(-math.inf).double())
    if dout is None:
        return out, lse, None
    p = e / safe_l
    rdo = R(dout)
    dv = (R(p).transpose(-1, -2) @ rdo).reshape(b, hkv, group, sk, -1).sum(2)
    dp = rdo @ vx.transpose(-1, -2)
    delta = (dout.double() * out).sum(-1, keepdim=True)
    ds = (p * (dp - delta)).masked_fill(~vis, 0.0)
    dq = (R(ds) @ kx) * kw["scale"]
    dk = ((R(ds).transpose(-1, -2) @ rq) * kw["scale"]).reshape(b, hkv, group, sk, -1).sum(2)
    grads = [dq, dk, dv] + ([_sum_to(ds, add.shape)] if add is not None else [])
    return out, lse, grads


def encoder_layer(x, w, num_heads, norm_first, act, eps1, eps2, causal, key_valid, scale, bits):
    """reference.encoder_layer with every GEMM's operands rounded and the emulated attention."""
    R = lambda t: round_mantissa(t, bits)  # noqa: E731
    ref = parity.ref
    b, s, e = x.shape
    dh = e // num_heads
    if "qkv_weight" in w:
        wq, wk, wv = w["qkv_weight"].split(e, dim=1)
        bq, bk, bv = w["qkv_bias"].split(e)
    else:
        wq, wk, wv, bq, bk, bv = (w[n] for n in ("q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias"))
    dense = lambda inp, wt, bias: R(inp) @ R(wt) + bias  # noqa: E731

    def attn(inp):
        heads = lambda t: t.view(b, s, num_heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = heads(dense(inp, wq, bq)), heads(dense(inp, wk, bk)), heads(dense(inp, wv, bv))
        o, _, _ = attention(q, k, v, dict(scale=scale, causal=causal, key_valid=key_valid), bits)
        return dense(o.transpose(1, 2).reshape(b, s, e), w["out_weight"], w["out_bias"])

    def ffn(inp):
        hidden = ref.activation(dense(inp, w["ffn_in_weight"], w["ffn_in_bias"]), act)
        return dense(hidden, w["ffn_out_weight"], w["ffn_out_bias"])

    if norm_first:
        h = x + attn(ref.layer_norm(x, w["ln1_gamma"], w["ln1_beta"], eps1))
        y = h + ffn(ref.layer_norm(h, w["ln2_gamma"], w["ln2_beta"], eps2))
    else:
        h = ref.layer_norm(x + attn(x), w["ln1_gamma"], w["ln1_beta"], eps1)
        y = ref.layer_norm(h + ffn(h), w["ln2_gamma"], w["ln2_beta"], eps2)
    if key_valid is not None:
        y = y * key_valid.to(y.dtype)[:, :, None]
    return y


def install(broken=False):
    """Replaces calls.attention_forward/backward, calls.encoder_layer and calls.encoder_stack (and the
    decoding calls); returns the originals."""
    import calls
    originals = (calls.attention_forward, calls.attention_backward, calls.encoder_layer, calls.encoder_stack)

    def kw_of(kw):
        out = dict(kw)
        out.pop("precision", None)
        out.pop("key_limit", None)
        if broken:
            out["causal"] = False
        return out

    def forward(lib, ctx, q, k, v, *, stream=None, out=None, lse=None, workspace=None, precision, **kw):
        o, l, _ = attention(q, k, v, kw_of(kw), MANTISSA_BITS[precision])
        return o.float(), l.float()

    def backward(lib, ctx, q, k, v, dout, out, lse, *, stream=None, grads=None, workspace=None, precision, **kw):
        _, _, g = attention(q, k, v, kw_of(kw), MANTISSA_BITS[precision], dout)
        g = [t.float() for t in g]
        return g[0], g[1], g[2], (g[3] if len(g) > 3 else None)

    def encoder(lib, ctx, x, weights, *, num_heads, norm_first, activation, eps1, eps2, causal, key_valid, scale,
                precision, stream=None):
        w64 = {n: t.double() for n, t in weights.items()}
        return encoder_layer(x.double(), w64, num_heads, norm_first, activation, eps1, eps2, causal and not broken,
                             key_valid, scale, MANTISSA_BITS[precision]).float()

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
    calls.rms_norm, calls.rotary, calls.kv_cache_attention, calls.decoder_step = originals[4:8]
    calls.layer_norm, calls.embedding_sum, calls.reorder_cache = originals[8:]


def _attend(q, keys, values, scale, past, broken, bias=None):
    """q [H, n, D] over keys [Hkv, past + n, D]: row i sees keys [0, past + i] (broken: all of them); bias
    [H, rows]: row i's score of key j gains bias[h, past + i - j] (T5's relative bias, by distance)."""
    group = q.shape[0] // keys.shape[0]
    keys, values = keys.repeat_interleave(group, dim=0), values.repeat_interleave(group, dim=0)
    n, total = q.shape[1], keys.shape[1]
    scores = (q @ keys.transpose(-1, -2)) * scale
    if bias is not None:
        distance = (past + torch.arange(n))[:, None] - torch.arange(total)[None, :]
        scores = scores + bias[:, distance.clamp(min=0, max=bias.shape[1] - 1)]
    limit = torch.full((n,), total) if broken else past + torch.arange(n) + 1
    hidden = torch.arange(total)[None, :] >= limit[:, None].to(scores.device)
    return torch.softmax(scores.masked_fill(hidden, -math.inf), dim=-1) @ values


def _attend_source(q, keys, values, scale, valid):
    """Cross-attention of q [H, n, D] over one sequence's cross cache rows [Hkv, S, D]: every real source
    row (valid [S] bool, None: all), no causal rule."""
    group = q.shape[0] // keys.shape[0]
    keys, values = keys.repeat_interleave(group, dim=0), values.repeat_interleave(group, dim=0)
    scores = torch.einsum("hnd,hsd->hns", q, keys) * scale
    if valid is not None:
        scores = scores.masked_fill(~valid[None, None, :], -math.inf)
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    return torch.einsum("hns,hsd->hnd", weights / weights.sum(-1, keepdim=True), values)


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
                     stream=None, cross_key_cache=None, cross_value_cache=None, encoder_states=None,
                     source_mask=None):
        ref = parity.ref
        bits = MANTISSA_BITS[precision]

        def dense(inp, wt, bias):  # the GEMMs at the precision's operand rounding
            return ref._dense(round_mantissa(inp, bits), round_mantissa(wt, bits), bias)

        m64 = parity.model_to_double(model)
        c = m64["cfg"]
        h_q, h_kv, d, kind = c["num_heads"], c["num_kv_heads"], c["head_dim"], c["norm_kind"]
        b_count, n_max = input_ids.shape
        vocab = m64["word_embeddings"].shape[0]
        logits = torch.zeros((b_count, n_max, vocab) if logits_rows == "all" else (b_count, vocab),
                             dtype=torch.float64)
        cross = bool(c.get("cross_attention"))
        if cross and encoder_states is not None:  # the cross caches filled first, every sequence's
            states = encoder_states.double()
            src = states.shape[1]
            for index, layer in enumerate(m64["layers"]):
                for cache, name in ((cross_key_cache, "cross_k"), (cross_value_cache, "cross_v")):
                    rows = dense(states.reshape(b_count * src, -1), layer[f"{name}_weight"], layer[f"{name}_bias"])
                    cache[index] = rows.reshape(b_count, src, h_kv, d).permute(0, 2, 1, 3).float()
        for b, (p, m) in enumerate(zip(past, new)):
            if m == 0:
                continue
            pos = torch.arange(p, p + m)
            x = m64["word_embeddings"][input_ids[b, :m].long()] * c["embedding_scale"]
            positions = (m64["position_embeddings"][pos + c["position_offset"]]
                         if m64["position_embeddings"] is not None else 0.0)
            if c.get("has_embedding_norm"):
                norm = lambda t: ref._norm(kind, t, m64["embedding_norm_gamma"],  # noqa: E731
                                           m64["embedding_norm_beta"], c["embedding_norm_eps"])
                x = norm(x) + positions if c.get("embedding_norm_before_positions") else norm(x + positions)
            else:
                x = x + positions
            valid = None
            if cross and source_mask is not None:
                valid = source_mask[b].bool()
            for index, layer in enumerate(m64["layers"]):
                pre = c["norm_first"] or c["parallel"]
                h = ref._norm(kind, x, layer["norm1_gamma"], layer["norm1_beta"], layer["norm1_eps"]) if pre else x
                if layer["qkv_weight"] is not None:
                    qkv = dense(h, layer["qkv_weight"], layer["qkv_bias"])
                else:
                    qkv = torch.cat([dense(h, layer[f"{n}_weight"], layer[f"{n}_bias"]) for n in "qkv"], dim=-1)
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
                                   value_cache[index, b, :, :p + m].double(), c["attention_scale"], p, broken,
                                   m64.get("position_bias"))
                attn = x + dense(ctx_rows.transpose(0, 1).reshape(m, h_q * d), layer["out_weight"],
                                      layer["out_bias"])
                if cross:  # x = n1(x + self(x)); x = nc(x + cross(x)) post-norm; x += cross(nc(x)) pre-norm
                    cnorm = lambda t: ref._norm(kind, t, layer["cross_norm_gamma"],  # noqa: E731
                                                layer["cross_norm_beta"], layer["cross_norm_eps"])
                    if not pre:
                        attn = ref._norm(kind, attn, layer["norm1_gamma"], layer["norm1_beta"], layer["norm1_eps"])
                    cin = cnorm(attn) if pre else attn
                    cq = dense(cin, layer["cross_q_weight"], layer["cross_q_bias"]).reshape(m, h_q, d)
                    crow = _attend_source(cq.transpose(0, 1), cross_key_cache[index, b].double(),
                                          cross_value_cache[index, b].double(), c["attention_scale"], valid)
                    attn = attn + dense(crow.transpose(0, 1).reshape(m, h_q * d), layer["cross_out_weight"],
                                        layer["cross_out_bias"])
                    if not pre:
                        attn = cnorm(attn)
                if c["parallel"]:
                    mlp_in = h if c["parallel_shared_norm"] else ref._norm(kind, x, layer["norm2_gamma"],
                                                                           layer["norm2_beta"], layer["norm2_eps"])
                elif c["norm_first"]:
                    mlp_in = ref._norm(kind, attn, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
                elif cross:  # n1 and nc applied above
                    mlp_in = attn
                else:
                    attn = mlp_in = ref._norm(kind, attn, layer["norm1_gamma"], layer["norm1_beta"],
                                              layer["norm1_eps"])
                up = dense(mlp_in, layer["up_weight"], layer["up_bias"])
                if c["gated_mlp"]:
                    up = ref.activation(dense(mlp_in, layer["gate_weight"], layer["gate_bias"]),
                                        c["activation"]) * up
                else:
                    up = ref.activation(up, c["activation"])
                x = attn + dense(up, layer["down_weight"], layer["down_bias"])
                if not pre:
                    x = ref._norm(kind, x, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
            if c["has_final_norm"]:
                x = ref._norm(kind, x, m64["final_norm_gamma"], m64["final_norm_beta"], c["final_norm_eps"])
            head = m64["lm_head"].T if c["lm_head_transposed"] else m64["lm_head"]
            rows = dense(x, head, m64["lm_head_bias"])
            if logits_rows == "all":
                logits[b, :m] = rows
            else:
                logits[b] = rows[-1]
        return logits.float(), [p + m for p, m in zip(past, new)]

    calls.rms_norm, calls.rotary, calls.kv_cache_attention, calls.decoder_step = (
        rms_norm, rotary, kv_cache_attention, decoder_step)
    return originals + _install_graph_ops(broken)


def _install_graph_ops(broken):
    """The graph ops by other formulations than reference.py's: torch's layer_norm in float64, the sum by
    index_select term by term, the reorder by torch.where over position masks (out of place, then copied
    back). Broken: LayerNorm ignores beta, EmbeddingSum drops its last term, the reorder ignores the
    lengths (moves whole rows)."""
    import calls
    originals = (calls.layer_norm, calls.embedding_sum, calls.reorder_cache)
    F = torch.nn.functional

    def ln(x, gamma, beta, eps):
        return F.layer_norm(x.double(), (x.shape[-1],), None if gamma is None else gamma.double(),
                            None if beta is None or broken else beta.double(), eps)

    def layer_norm(lib, ctx, x, gamma, beta, eps, *, inplace=False, stream=None):
        y = ln(x, gamma, beta, eps) if x.numel() else x.double()
        return x.copy_(y) if inplace else y.float()

    def embedding_sum(lib, ctx, tables, row_ids, rows, *, norm=False, gamma=None, beta=None, eps=0.0, stream=None):
        terms = tables[:-1] if broken and len(tables) > 1 else tables
        y = torch.zeros(rows, tables[0].shape[1], dtype=torch.float64)
        for k, t in enumerate(terms):
            y = y + torch.index_select(t.double(), 0, row_ids[k].long())
        return (ln(y, gamma, beta, eps) if norm else y).float()

    def reorder_cache(lib, ctx, key_cache, value_cache, lengths, sources, *, inplace_lengths=False, stream=None):
        capacity = key_cache.shape[3]
        at = torch.arange(capacity)[None, None, :, None]
        for cache in (key_cache, value_cache):
            old = cache.clone()
            for b, r in enumerate(sources):
                n = capacity if broken else lengths[r]
                cache[:, b] = torch.where(at < n, old[:, r], old[:, b])
        return [lengths[r] for r in sources]

    calls.layer_norm, calls.embedding_sum, calls.reorder_cache = layer_norm, embedding_sum, reorder_cache
    return originals



# The kinds whose arithmetic 'medium' changes in the emulation (bfloat16 operands): there its errors
# must be non-zero and larger than 'high''s on the same case.
ROUNDED_KINDS = ("attention", "encoder", "encoder_stack", "decoder_stack")


def _worst(r):
    errs = [v for k, v in (r.get("errors") or {}).items() if k != "y vs layer" and v is not None]
    return max(errs) if errs else 0.0


def run(gen, precisions=PRECISIONS):
    """Both emulations over every parity case at every precision; returns pass counts, the cases that
    failed, the errors of every case of the correct emulation, and the checks that the
    emulated precisions really round ('medium' errors non-zero and above 'high''s on every case that
    computes something) and that the broken library fails every causal attention case at every precision."""
    summary = {}
    records_of = {}
    for broken in (False, True):
        originals = install(broken)
        try:
            records = []
            for kind, kind_cases, runner, label in parity.parity_plan(precisions):
                records += [runner(None, None, c, label, "cpu", gen, None) for c in kind_cases]
        finally:
            restore(originals)
        records_of[broken] = records
        failed = [f"{r['kind']}: {r['case']} [{r['precision']}] {r.get('error', r.get('errors'))} "
                  f"{'; '.join(r.get('notes', []))}" for r in records if not r["passed"]]
        failed_kinds = sorted({r["kind"] for r in records if not r["passed"]})
        summary["broken" if broken else "correct"] = dict(passed=len(records) - len(failed), total=len(records),
                                                          failed=failed, failed_kinds=failed_kinds)
    correct = records_of[False]
    summary["errors"] = [dict(kind=r["kind"], case=r["case"], precision=r["precision"], errors=r.get("errors"))
                         for r in correct]
    by_case = {}
    for r in correct:
        by_case.setdefault((r["kind"], r["case"]), {})[r["precision"]] = _worst(r)
    rounding = []
    if "medium" in precisions and "high" in precisions:
        for (kind, case), errs in by_case.items():
            if kind not in ROUNDED_KINDS or not errs.get("highest", 1.0):
                continue  # nothing computed (Sk=0, a stack of no layers)
            if not (errs["medium"] > 0 and errs["medium"] > errs["high"]):
                rounding.append(f"{kind}: {case}: medium {errs['medium']:.3g} vs high {errs['high']:.3g}")
    summary["medium_not_above_high"] = rounding
    causal = [c["name"] for c in parity.ATTENTION_CASES if c.get("causal")]
    missed = [f"{r['case']} [{r['precision']}]" for r in records_of[True]
              if r["kind"] == "attention" and r["case"] in causal and r["passed"]]
    # Every encoder-decoder case must fail too (its prompts' causality is broken), at every precision.
    seq2seq = [c["name"] for c in parity.DECODER_CASES if c.get("cross")]
    missed += [f"decoder_stack: {r['case']} [{r['precision']}]" for r in records_of[True]
               if r["kind"] == "decoder_stack" and r["case"] in seq2seq and r["passed"]]
    summary["broken_causal_passing"] = missed
    # 'medium/convert' fails exactly where 'medium' fails, on its kinds (same arithmetic, emulated).
    unlike = []
    if "medium" in precisions:
        for recs in records_of.values():
            verdict = {(r["kind"], r["case"], r["precision"]): r["passed"] for r in recs}
            unlike += [f"{kind}: {case}" for (kind, case, p), ok in verdict.items()
                       if p == "medium" and kind in MEDIUM_CONVERT_KINDS and
                       verdict.get((kind, case, MEDIUM_CONVERT)) != ok]
    summary["convert_unlike_medium"] = unlike
    # A correct library passes everything; the broken one fails every causal attention case at every
    # precision, and each decoding kind; the emulated precisions round.
    summary["harness_ok"] = (not summary["correct"]["failed"]) and bool(summary["broken"]["failed"]) and all(
        k in summary["broken"]["failed_kinds"] for k in DECODING_KINDS + GRAPH_KINDS) and not missed and not rounding \
        and not unlike
    return summary
