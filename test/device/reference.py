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
