"""Float64 PyTorch references with the package's semantics (README.md, API):
bottom-right causal alignment, all masks combined, rows with no visible key
give zeros (and lse = -inf), padding rows of the encoder layer are zeros."""
import math

import torch


def visibility(b, h, sq, sk, causal, key_valid, bool_mask, device):
    vis = torch.ones(b, h, sq, sk, dtype=torch.bool, device=device)
    if causal:
        i = torch.arange(sq, device=device)[:, None]
        j = torch.arange(sk, device=device)[None, :]
        vis &= (j <= i + (sk - sq))
    if key_valid is not None:
        vis &= key_valid.bool()[:, None, None, :]
    if bool_mask is not None:
        vis &= bool_mask.bool().expand(b, h, sq, sk)
    return vis


def attention(q, k, v, scale, causal=False, bool_mask=None, add_mask=None, key_valid=None):
    """Differentiable float64 attention; returns (out, lse). Inputs are upcast copies."""
    b, h, sq, _ = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    group = h // hkv
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if add_mask is not None:
        s = s + add_mask
    vis = visibility(b, h, sq, sk, causal, key_valid, bool_mask, q.device)
    if add_mask is not None:
        vis = vis & (torch.isneginf(add_mask.detach()).logical_not().expand(b, h, sq, sk))
    row_any = vis.any(-1, keepdim=True)
    # Hidden entries -> -inf; rows with nothing visible are softmaxed over zeros and then zeroed,
    # so no NaN enters the graph (a NaN in the forward would poison autograd's backward).
    s = s.masked_fill(~vis, -math.inf).masked_fill(~row_any, 0.0)
    p = torch.softmax(s, dim=-1) * row_any
    out = torch.matmul(p, v)
    lse = torch.logsumexp(s, dim=-1).masked_fill(~row_any[..., 0], -math.inf)
    return out, lse


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def activation(x, kind):
    if kind == "relu":
        return torch.relu(x)
    if kind == "silu":
        return x * torch.sigmoid(x)
    if kind == "gelu_tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def encoder_layer(x, w, num_heads, norm_first, act, eps1, eps2, causal, key_valid, scale):
    """One encoder layer in float64 over the padded batch; padding rows are zeroed at the end.
    Padding keys are hidden through key_valid, which gives the real rows the same values as
    running each sequence over its real tokens only."""
    b, s, e = x.shape
    dh = e // num_heads
    if "qkv_weight" in w:
        wq, wk, wv = w["qkv_weight"].split(e, dim=1)
        bq, bk, bv = w["qkv_bias"].split(e)
    else:
        wq, wk, wv, bq, bk, bv = (w[n] for n in ("q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias"))

    def attn(inp):
        heads = lambda t: t.view(b, s, num_heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = heads(inp @ wq + bq), heads(inp @ wk + bk), heads(inp @ wv + bv)
        o, _ = attention(q, k, v, scale, causal=causal, key_valid=key_valid)
        return o.transpose(1, 2).reshape(b, s, e) @ w["out_weight"] + w["out_bias"]

    def ffn(inp):
        return activation(inp @ w["ffn_in_weight"] + w["ffn_in_bias"], act) @ w["ffn_out_weight"] + w["ffn_out_bias"]

    if norm_first:
        h = x + attn(layer_norm(x, w["ln1_gamma"], w["ln1_beta"], eps1))
        y = h + ffn(layer_norm(h, w["ln2_gamma"], w["ln2_beta"], eps2))
    else:
        h = layer_norm(x + attn(x), w["ln1_gamma"], w["ln1_beta"], eps1)
        y = layer_norm(h + ffn(h), w["ln2_gamma"], w["ln2_beta"], eps2)
    if key_valid is not None:
        y = y * key_valid.to(y.dtype)[:, :, None]
    return y


def encoder_stack(x, layers, key_valid):
    """Layers applied in order in float64, each as encoder_layer (padding rows zero after each).
    layers: (w, num_heads, norm_first, act, eps1, eps2, causal, scale) per layer; none: x with
    padding rows zeroed."""
    y = x if key_valid is None else x * key_valid.to(x.dtype)[:, :, None]
    for w, num_heads, norm_first, act, eps1, eps2, causal, scale in layers:
        y = encoder_layer(y, w, num_heads, norm_first, act, eps1, eps2, causal, key_valid, scale)
    return y


# ---- decoding (bt_cuda.h's decoding section; the CPU core's btk.h functions of the same names) ----

def rms_norm(x, gamma, eps):
    """x / sqrt(mean(x^2) + eps) * gamma over the last dimension; gamma None = ones."""
    y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
    return y if gamma is None else y * gamma


def rotary_tables(rows, rotary_dim, base=10000.0, dtype=torch.float32):
    """Hugging Face's tables, cos and sin [rows, rotary_dim / 2] (angle = p / base^(2i / rotary_dim), computed
    in float64), in float32 unless told."""
    half = rotary_dim // 2
    inv = 1.0 / (base ** (torch.arange(half, dtype=torch.float64) * 2.0 / max(rotary_dim, 1)))
    angle = torch.arange(rows, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(angle).to(dtype), torch.sin(angle).to(dtype)


def rotate(x, cos, sin, rotary_dim, interleaved):
    """Hugging Face's formulation (rotate_half for GPT-NeoX/Llama, rotate_every_two for GPT-J) on the
    first rotary_dim features of x [..., D]; cos/sin broadcast against x[..., :rotary_dim / 2]."""
    if rotary_dim == 0:
        return x.clone()
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    if interleaved:
        c, s = cos.repeat_interleave(2, dim=-1), sin.repeat_interleave(2, dim=-1)
        turned = torch.stack((-rot[..., 1::2], rot[..., 0::2]), dim=-1).flatten(-2)
    else:
        half = rotary_dim // 2
        c, s = torch.cat((cos, cos), dim=-1), torch.cat((sin, sin), dim=-1)
        turned = torch.cat((-rot[..., half:], rot[..., :half]), dim=-1)
    return torch.cat((rot * c + turned * s, rest), dim=-1)


def rotary(x, positions, cos, sin, rotary_dim, interleaved):
    """The op RotaryEmbedding: x [B, H, S, D] at positions [B, S] (int, any device)."""
    if rotary_dim == 0:
        return x.clone()
    pos = positions.long().to(cos.device)
    return rotate(x, cos[pos][:, None], sin[pos][:, None], rotary_dim, interleaved)


def cached_attention(q, keys, values, scale):
    """One sequence's new queries q [H, n, D] over its cached rows keys [Hkv, L, D], values [Hkv, L, Dv]
    (the n new rows last): query i sees rows [0, L - n + i] (bottom-right causal), GQA."""
    out, _ = attention(q[None], keys[None], values[None], scale, causal=True)
    return out[0]


def _norm(kind, x, gamma, beta, eps):
    if kind == "rms":
        return rms_norm(x, gamma, eps)
    return layer_norm(x, 1.0 if gamma is None else gamma, 0.0 if beta is None else beta, eps)


def _dense(x, w, b):
    y = x @ w
    return y if b is None else y + b


def cross_caches(model, states):
    """Per layer the cross keys and values [B, Hkv, S, D] of encoder states [B, S, E] (float64)."""
    c = model["cfg"]
    h_kv, d = c["num_kv_heads"], c["head_dim"]
    b, s, _ = states.shape
    out = []
    for layer in model["layers"]:
        k = _dense(states, layer["cross_k_weight"], layer["cross_k_bias"]).reshape(b, s, h_kv, d).transpose(1, 2)
        v = _dense(states, layer["cross_v_weight"], layer["cross_v_bias"]).reshape(b, s, h_kv, d).transpose(1, 2)
        out.append((k, v))
    return out


def decoder_forward(model, ids, source=None):
    """A decoder (model: cfg + float64 weights, as parity.decoder_model builds them) run from scratch over
    one sequence's token ids (all of its tokens so far): returns the logits of every position [len, V], per
    layer the (keys, values) [Hkv, len, D] after rotary (what a cache holds) and per layer the cross
    (keys, values) [Hkv, S, D] (empty without cross-attention). source: None, or dict(states [S, E] float64,
    valid [S] bool or None) of this sequence for an encoder-decoder model. No cache and no packing: full
    causal attention over the sequence."""
    c = model["cfg"]
    h_q, h_kv, d = c["num_heads"], c["num_kv_heads"], c["head_dim"]
    ids_t = torch.tensor(ids, dtype=torch.long, device=model["word_embeddings"].device)
    n = len(ids)
    pos = torch.arange(n, device=ids_t.device)
    kind = c["norm_kind"]
    x = model["word_embeddings"][ids_t] * c["embedding_scale"]
    positions = (model["position_embeddings"][pos + c["position_offset"]]
                 if model["position_embeddings"] is not None else None)
    if c.get("has_embedding_norm"):
        g, b_ = model["embedding_norm_gamma"], model["embedding_norm_beta"]
        if c.get("embedding_norm_before_positions"):  # BlenderbotSmall: norm(word) + position
            x = _norm(kind, x, g, b_, c["embedding_norm_eps"])
            if positions is not None:
                x = x + positions
        else:  # BART: norm(word + position)
            x = _norm(kind, x if positions is None else x + positions, g, b_, c["embedding_norm_eps"])
    elif positions is not None:
        x = x + positions
    bias = None
    if model.get("position_bias") is not None:  # T5: score(i, j) += bias[h, i - j] for j <= i
        distance = (pos[:, None] - pos[None, :]).clamp(min=0)
        bias = model["position_bias"][:, distance][None]  # [1, H, n, n]; j > i is hidden by causality
    caches, crosses = [], []
    for layer in model["layers"]:
        h = (_norm(kind, x, layer["norm1_gamma"], layer["norm1_beta"], layer["norm1_eps"])
             if c["norm_first"] or c["parallel"] else x)
        if layer["qkv_weight"] is not None:
            q, k, v = _dense(h, layer["qkv_weight"], layer["qkv_bias"]).split([h_q * d, h_kv * d, h_kv * d], dim=-1)
        else:
            q = _dense(h, layer["q_weight"], layer["q_bias"])
            k = _dense(h, layer["k_weight"], layer["k_bias"])
            v = _dense(h, layer["v_weight"], layer["v_bias"])
        q, k, v = q.reshape(n, h_q, d), k.reshape(n, h_kv, d), v.reshape(n, h_kv, d)
        if c["rotary_dim"] > 0:
            cos, sin = model["rotary_cos"][pos][:, None], model["rotary_sin"][pos][:, None]
            q = rotate(q, cos, sin, c["rotary_dim"], c["rotary_interleaved"])
            k = rotate(k, cos, sin, c["rotary_dim"], c["rotary_interleaved"])
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [heads, n, d]
        caches.append((k, v))
        ctx, _ = attention(q[None], k[None], v[None], c["attention_scale"], causal=True, add_mask=bias)
        ctx = ctx[0].transpose(0, 1).reshape(n, h_q * d)
        attn = x + _dense(ctx, layer["out_weight"], layer["out_bias"])
        post_norm = not c["norm_first"] and not c["parallel"]
        if post_norm:
            attn = _norm(kind, attn, layer["norm1_gamma"], layer["norm1_beta"], layer["norm1_eps"])
        if c.get("cross_attention"):
            # pre-norm: attn += cross(nc(attn)); post-norm: attn = nc(attn + cross(attn)). No causality, no bias.
            cin = (_norm(kind, attn, layer["cross_norm_gamma"], layer["cross_norm_beta"], layer["cross_norm_eps"])
                   if c["norm_first"] else attn)
            (ck, cv), = cross_caches(dict(cfg=c, layers=[layer]), source["states"][None])
            ck, cv = ck[0], cv[0]  # [Hkv, S, D]
            crosses.append((ck, cv))
            cq = _dense(cin, layer["cross_q_weight"], layer["cross_q_bias"]).reshape(n, h_q, d).transpose(0, 1)
            valid = None if source["valid"] is None else source["valid"][None]
            cctx, _ = attention(cq[None], ck[None], cv[None], c["attention_scale"], key_valid=valid)
            attn = attn + _dense(cctx[0].transpose(0, 1).reshape(n, h_q * d), layer["cross_out_weight"],
                                 layer["cross_out_bias"])
            if post_norm:
                attn = _norm(kind, attn, layer["cross_norm_gamma"], layer["cross_norm_beta"], layer["cross_norm_eps"])
        if c["parallel"]:
            mlp_in = h if c["parallel_shared_norm"] else _norm(kind, x, layer["norm2_gamma"], layer["norm2_beta"],
                                                              layer["norm2_eps"])
        elif c["norm_first"]:
            mlp_in = _norm(kind, attn, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
        else:
            mlp_in = attn
        up = _dense(mlp_in, layer["up_weight"], layer["up_bias"])
        if c["gated_mlp"]:
            hidden = activation(_dense(mlp_in, layer["gate_weight"], layer["gate_bias"]), c["activation"]) * up
        else:
            hidden = activation(up, c["activation"])
        x = attn + _dense(hidden, layer["down_weight"], layer["down_bias"])
        if post_norm:
            x = _norm(kind, x, layer["norm2_gamma"], layer["norm2_beta"], layer["norm2_eps"])
    if c["has_final_norm"]:
        x = _norm(kind, x, model["final_norm_gamma"], model["final_norm_beta"], c["final_norm_eps"])
    head = model["lm_head"].T if c["lm_head_transposed"] else model["lm_head"]
    return _dense(x, head, model["lm_head_bias"]), caches, crosses


# ---- graph ops ----

def layer_norm_op(x, gamma, beta, eps):
    """The op LayerNorm over the last dimension (biased variance; gamma/beta None: ones/zeros)."""
    return _norm("layer", x, gamma, beta, eps)


def embedding_sum(tables, row_ids, norm=False, gamma=None, beta=None, eps=0.0):
    """sum_k tables[k][row_ids[k]] in term order (row_ids [num_terms, rows]), then LayerNorm when norm."""
    y = sum(t[row_ids[k].long().to(t.device)] for k, t in enumerate(tables))
    return layer_norm_op(y, gamma, beta, eps) if norm else y


def reorder_cache(cache, lengths, sources):
    """Beam search's reorder of a cache [L, B, Hkv, C, D]: row b takes row sources[b]'s first
    lengths[sources[b]] positions, keeps the rest of its own; returns (new cache, new lengths)."""
    out = cache.clone()
    for b, r in enumerate(sources):
        n = lengths[r]
        out[:, b, :, :n] = cache[:, r, :, :n]
    return out, [lengths[r] for r in sources]


def rel_error(actual, expected):
    """Relative Frobenius error; inf when actual has a NaN/Inf that expected does not."""
    a = actual.double()
    e = expected.double()
    bad = ~torch.isfinite(a) & torch.isfinite(e)
    if bool(bad.any()):
        return math.inf
    both = torch.isfinite(e)
    diff = torch.linalg.vector_norm((a - e)[both])
    ref = torch.linalg.vector_norm(e[both])
    return float(diff / ref) if float(ref) > 0 else float(diff)


def _naive_attention(q, k, v, scale, causal, bool_mask, add_mask, key_valid):
    """Loop-by-loop version of `attention`, for --dry-run's self-check only."""
    b, h, sq, _ = q.shape
    hkv, sk, dv = k.shape[1], k.shape[2], v.shape[3]
    out = torch.zeros(b, h, sq, dv, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            kh = hi // (h // hkv)
            for i in range(sq):
                scores, vals = [], []
                for j in range(sk):
                    if causal and j > i + (sk - sq):
                        continue
                    if key_valid is not None and not bool(key_valid[bi, j]):
                        continue
                    if bool_mask is not None and not bool(bool_mask.expand(b, h, sq, sk)[bi, hi, i, j]):
                        continue
                    s = float(q[bi, hi, i] @ k[bi, kh, j]) * scale
                    if add_mask is not None:
                        s += float(add_mask.expand(b, h, sq, sk)[bi, hi, i, j])
                    if s == -math.inf:
                        continue
                    scores.append(s)
                    vals.append(v[bi, kh, j])
                if scores:
                    m = max(scores)
                    w = [math.exp(s - m) for s in scores]
                    out[bi, hi, i] = sum(wi * vi for wi, vi in zip(w, vals)) / sum(w)
    return out


def _naive_rotary_row(head, position, cos, sin, rotary_dim, interleaved):
    """One head's features rotated by loops over the pairs (the JS reference's form), for self_check."""
    out = head.clone()
    half = rotary_dim // 2
    for i in range(half):
        ia, ib = (2 * i, 2 * i + 1) if interleaved else (i, i + half)
        c, s = float(cos[position, i]), float(sin[position, i])
        out[ia] = head[ia] * c - head[ib] * s
        out[ib] = head[ib] * c + head[ia] * s
    return out


def decoding_self_check(seed=0):
    """The decoding references against other formulations on small CPU cases: RMSNorm against
    torch.nn.functional.rms_norm, rotary (both pairings, partial) against per-pair loops and complex
    multiplication (and pair norms kept), the cache attention step by step against one causal attention
    over the whole sequence, and the decoder's causality (logits of a prefix unchanged by later tokens,
    cached keys of a prefix likewise). Returns the largest relative error per check."""
    gen = torch.Generator().manual_seed(seed)
    f64 = dict(generator=gen, dtype=torch.float64)
    res = {}
    x = torch.randn(7, 33, **f64) * 3
    gamma = torch.randn(33, **f64)
    res["rms_norm vs F.rms_norm"] = max(rel_error(rms_norm(x, gamma, 1e-3),
                                                  torch.nn.functional.rms_norm(x, (33,), gamma, 1e-3)),
                                        rel_error(rms_norm(x, None, 0.5),
                                                  torch.nn.functional.rms_norm(x, (33,), None, 0.5)))
    cos, sin = rotary_tables(12, 10, dtype=torch.float64)  # float64: pair norms kept to rounding
    for interleaved in (False, True):
        xr = torch.randn(2, 3, 4, 13, **f64)
        positions = torch.randint(0, 12, (2, 4), generator=gen)
        got = rotary(xr, positions, cos, sin, 10, interleaved)
        loops = torch.stack([torch.stack([torch.stack([
            _naive_rotary_row(xr[b, h, t], int(positions[b, t]), cos, sin, 10, interleaved) for t in range(4)])
            for h in range(3)]) for b in range(2)])
        # Complex form: pair (a, b) as a + ib times e^(i angle).
        rot = xr[..., :10]
        pairs = rot.reshape(2, 3, 4, 5, 2) if interleaved else torch.stack((rot[..., :5], rot[..., 5:]), dim=-1)
        turned = torch.view_as_real(torch.view_as_complex(pairs.contiguous()) *
                                    torch.complex(cos[positions][:, None], sin[positions][:, None]))
        flat = turned.flatten(-2) if interleaved else torch.cat((turned[..., 0], turned[..., 1]), dim=-1)
        complex_form = torch.cat((flat, xr[..., 10:]), dim=-1)
        norms = rel_error(pairs.norm(dim=-1), turned.norm(dim=-1))
        label = "interleaved" if interleaved else "rotate-half"
        res[f"rotary {label} vs loops"] = rel_error(got, loops)
        res[f"rotary {label} vs complex"] = rel_error(got, complex_form)
        res[f"rotary {label} pair norms"] = norms
    # A cache filled in chunks (a prompt, single tokens, a few tokens) against one causal attention.
    h_q, h_kv, total = 4, 2, 12
    q = torch.randn(h_q, total, 5, **f64)
    k = torch.randn(h_kv, total, 5, **f64)
    v = torch.randn(h_kv, total, 3, **f64)
    whole = cached_attention(q, k, v, 0.4)
    pieces, at = [], 0
    for n in (5, 1, 3, 1, 2):
        pieces.append(cached_attention(q[:, at:at + n], k[:, :at + n], v[:, :at + n], 0.4))
        at += n
    res["cache attention in steps vs whole"] = rel_error(torch.cat(pieces, dim=1), whole)
    naive = _naive_attention(q[None], k[None], v[None], 0.4, True, None, None, None)[0]
    res["cache attention vs loops"] = rel_error(whole, naive)
    # Decoder causality, on a small random rotary + learned-position model.
    e, d, vocab = 8, 4, 11
    rnd = lambda *s: torch.randn(*s, **f64) * 0.4  # noqa: E731
    layer = {n: None for n in ("qkv_weight", "qkv_bias", "gate_weight", "gate_bias", "norm1_beta", "norm2_beta")}
    layer.update(norm1_gamma=1 + rnd(e), norm2_gamma=1 + rnd(e), norm1_eps=1e-5, norm2_eps=1e-5,
                 q_weight=rnd(e, 2 * d), q_bias=rnd(2 * d), k_weight=rnd(e, d), k_bias=None, v_weight=rnd(e, d),
                 v_bias=rnd(d), out_weight=rnd(2 * d, e), out_bias=None, up_weight=rnd(e, 16), up_bias=rnd(16),
                 down_weight=rnd(16, e), down_bias=rnd(e))
    cos, sin = (t.double() for t in rotary_tables(16, 4))
    model = dict(cfg=dict(num_heads=2, num_kv_heads=1, head_dim=d, norm_kind="rms", norm_first=True, parallel=False,
                          parallel_shared_norm=False, activation="silu", gated_mlp=False, has_final_norm=True,
                          lm_head_transposed=True, rotary_dim=4, rotary_interleaved=False, attention_scale=0.5,
                          embedding_scale=1.5, final_norm_eps=1e-5, position_offset=1),
                 word_embeddings=rnd(vocab, e), position_embeddings=rnd(17, e), rotary_cos=cos, rotary_sin=sin,
                 final_norm_gamma=1 + rnd(e), final_norm_beta=None, lm_head_bias=rnd(vocab), layers=[layer, layer])
    model["lm_head"] = model["word_embeddings"]
    ids = torch.randint(0, vocab, (9,), generator=gen).tolist()
    full, caches, _ = decoder_forward(model, ids)
    prefix, prefix_caches, _ = decoder_forward(model, ids[:5])
    res["decoder prefix logits unchanged"] = rel_error(full[:5], prefix)
    res["decoder prefix cache unchanged"] = max(rel_error(a[0][:, :5], b[0]) + rel_error(a[1][:, :5], b[1])
                                                for a, b in zip(caches, prefix_caches))
    res["passed"] = all(err <= 1e-12 for err in res.values())
    return res


def self_check(seed=0):
    """The vectorised reference against the naive loops on small CPU cases (GQA, causal both ways,
    masks with -inf and empty rows, key padding); returns the largest relative error per case."""
    gen = torch.Generator().manual_seed(seed)
    results = {}
    for name, (b, h, hkv, sq, sk, causal) in {
        "gqa causal Sq<Sk": (2, 4, 2, 5, 9, True),
        "causal Sq>Sk": (1, 2, 1, 7, 3, True),
        "plain": (2, 2, 2, 6, 6, False),
    }.items():
        q = torch.randn(b, h, sq, 4, generator=gen, dtype=torch.float64)
        k = torch.randn(b, hkv, sk, 4, generator=gen, dtype=torch.float64)
        v = torch.randn(b, hkv, sk, 3, generator=gen, dtype=torch.float64)
        bool_mask = torch.rand(b, 1, sq, sk, generator=gen) < 0.7
        add = torch.randn(1, h, 1, sk, generator=gen, dtype=torch.float64)
        add[torch.rand(1, h, 1, sk, generator=gen) < 0.2] = -math.inf
        valid = torch.rand(b, sk, generator=gen) < 0.8
        got, _ = attention(q, k, v, 0.5, causal=causal, bool_mask=bool_mask, add_mask=add, key_valid=valid)
        want = _naive_attention(q, k, v, 0.5, causal, bool_mask, add, valid)
        results[name] = rel_error(got, want)
    results["passed"] = all(e <= 1e-12 for e in results.values())
    return results
