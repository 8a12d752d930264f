"""The device check's cases and tolerances (no torch needed, so --dry-run can
check the plan on any machine)."""

# Relative Frobenius error bounds per precision ('high' = TF32 products).
# A stack's bound allows for the error of each layer carried into the next.
TOLERANCE = {
    "highest": {"forward": 1e-5, "backward": 2e-5, "encoder": 1e-5, "encoder_stack": 3e-5,
                "rms_norm": 1e-5, "rotary": 1e-5, "kv_cache": 1e-5, "kv_cache_prompt": 1e-5, "decoder_stack": 3e-5},
    "high": {"forward": 1e-3, "backward": 2e-3, "encoder": 2e-3, "encoder_stack": 5e-3,
             "rms_norm": 1e-5, "rotary": 1e-5, "kv_cache": 1e-5, "kv_cache_prompt": 1e-3, "decoder_stack": 5e-3},
}
# The decoding bounds: RMSNorm and rotary are FP32 elementwise/row kernels whatever the precision
# (run once, recorded as precision 'fp32'). Attention over a cache is the FP32 decode kernel for
# steps of up to 16 new tokens per sequence in both precisions (bt_cuda.h: "decode steps are FP32
# in both"), so 1e-5 there; a longer step (a prompt) runs the tiled kernels, TF32 under 'high',
# hence 'kv_cache_prompt' = the attention forward's bound. The decoder stack's logits and caches
# pass through several layers of GEMMs (TF32 under 'high') and norms: the encoder stack's bounds.
# Cache rows the op copies (attention with kv cache) must be bit-exact copies of k and v.

ATTENTION_CASES = [
    dict(name="mha odd sizes", B=2, H=3, Hkv=3, Sq=77, Sk=77, D=64, Dv=64, grad=True),
    dict(name="gqa Sq<Sk D128", B=2, H=8, Hkv=2, Sq=100, Sk=130, D=128, Dv=128, grad=True),
    dict(name="causal Sq<Sk", B=2, H=4, Hkv=4, Sq=50, Sk=97, D=64, Dv=64, causal=True, grad=True),
    dict(name="causal Sq>Sk empty rows", B=1, H=2, Hkv=1, Sq=90, Sk=40, D=32, Dv=32, causal=True, grad=True),
    dict(name="bool mask [B,1,Sq,Sk]", B=2, H=4, Hkv=2, Sq=65, Sk=129, D=64, Dv=64, mask="bool",
         mask_shape=(2, 1, 65, 129), grad=True),
    dict(name="additive mask [1,H,1,Sk] -inf", B=2, H=4, Hkv=4, Sq=40, Sk=129, D=64, Dv=64, mask="additive",
         mask_shape=(1, 4, 1, 129), grad=True),
    dict(name="additive mask full + causal", B=2, H=2, Hkv=1, Sq=33, Sk=70, D=48, Dv=48, mask="additive",
         mask_shape=(2, 2, 33, 70), causal=True, grad=True),
    dict(name="key padding + causal", B=3, H=4, Hkv=2, Sq=70, Sk=70, D=64, Dv=64, padding=True, causal=True,
         grad=True),
    dict(name="key padding + bool mask [Sq,Sk]", B=3, H=2, Hkv=2, Sq=20, Sk=150, D=128, Dv=64, padding=True,
         mask="bool", mask_shape=(20, 150), grad=True),
    dict(name="D=40 Dv=24", B=2, H=2, Hkv=1, Sq=31, Sk=45, D=40, Dv=24, grad=True),
    dict(name="D=1 Dv=3", B=1, H=2, Hkv=2, Sq=9, Sk=11, D=1, Dv=3, grad=True),
    dict(name="D=96", B=1, H=2, Hkv=2, Sq=129, Sk=129, D=96, Dv=96),
    dict(name="Sk=0", B=2, H=2, Hkv=2, Sq=5, Sk=0, D=16, Dv=16),
    dict(name="S=1000 causal padding", B=2, H=4, Hkv=4, Sq=1000, Sk=1000, D=64, Dv=64, causal=True, padding=True,
         grad=True),
    dict(name="NaN in one query row", B=1, H=2, Hkv=2, Sq=20, Sk=20, D=32, Dv=32, nan=True),
]

ENCODER_CASES = [
    dict(name="post-norm gelu packed padding", B=3, S=37, E=64, H=4, F=96, norm_first=False, act="gelu",
         packed=True, padding=True, causal=False, eps=(1e-5, 1e-5)),
    dict(name="pre-norm relu separate causal", B=2, S=29, E=64, H=2, F=128, norm_first=True, act="relu",
         packed=False, padding=False, causal=True, eps=(1e-5, 1e-5)),
    dict(name="post-norm gelu_tanh padding causal eps1e-12", B=4, S=40, E=96, H=3, F=64, norm_first=False,
         act="gelu_tanh", packed=True, padding=True, causal=True, eps=(1e-12, 1e-12)),
    dict(name="pre-norm gelu Dh=128 padding", B=2, S=70, E=256, H=2, F=512, norm_first=True, act="gelu",
         packed=True, padding=True, causal=False, eps=(1e-5, 1e-6)),
]

# Stacks: parity against the float64 reference layer applied in a loop. Layers of one stack share
# E and the head count; everything else may differ per layer.
ENCODER_STACK_CASES = [
    dict(name="stack 3 layers post-norm gelu mixed qkv padding", B=3, S=37, E=64, H=4, padding=True, layers=[
        dict(F=96, norm_first=False, act="gelu", packed=True, causal=False, eps=(1e-5, 1e-5)),
        dict(F=128, norm_first=False, act="gelu", packed=False, causal=False, eps=(1e-12, 1e-12)),
        dict(F=64, norm_first=False, act="gelu", packed=True, causal=False, eps=(1e-5, 1e-6)),
    ]),
    dict(name="stack 2 layers pre-norm relu causal", B=2, S=29, E=64, H=2, padding=False, layers=[
        dict(F=128, norm_first=True, act="relu", packed=False, causal=True, eps=(1e-5, 1e-5)),
        dict(F=96, norm_first=True, act="relu", packed=True, causal=True, eps=(1e-5, 1e-5)),
    ]),
    dict(name="stack 4 layers post/pre-norm gelu_tanh Dh=128 padding", B=2, S=70, E=256, H=2, padding=True, layers=[
        dict(F=512, norm_first=False, act="gelu_tanh", packed=True, causal=False, eps=(1e-5, 1e-5)),
        dict(F=256, norm_first=True, act="gelu", packed=True, causal=False, eps=(1e-5, 1e-5)),
        dict(F=384, norm_first=False, act="relu", packed=False, causal=True, eps=(1e-6, 1e-6)),
        dict(F=512, norm_first=True, act="gelu_tanh", packed=True, causal=False, eps=(1e-5, 1e-5)),
    ]),
    dict(name="stack 1 layer padding", B=3, S=20, E=48, H=3, padding=True, layers=[
        dict(F=64, norm_first=False, act="gelu", packed=True, causal=False, eps=(1e-5, 1e-5)),
    ]),
    dict(name="stack 0 layers padding", B=3, S=20, E=48, H=3, padding=True, layers=[]),
    dict(name="stack 0 layers", B=2, S=9, E=48, H=3, padding=False, layers=[]),
]


# ---- decoding ----
# RMSNorm: rows x width, eps; gamma null = ones; x_scale sizes the inputs (small x: eps matters).
RMS_NORM_CASES = [
    dict(name="rows 37 width 4099 eps 1e-6", rows=37, width=4099, eps=1e-6),
    dict(name="rows 300 width 13 eps 1e-5 no gamma", rows=300, width=13, eps=1e-5, gamma=False),
    dict(name="width 257 small x eps 1e-2 in place", rows=19, width=257, eps=1e-2, x_scale=0.05, inplace=True),
    dict(name="width 1 eps 0", rows=5, width=1, eps=0.0),
    dict(name="width 96 large x eps 1e-5", rows=64, width=96, eps=1e-5, x_scale=300.0),
    dict(name="rows 0", rows=0, width=32, eps=1e-5),
]

# Rotary over x [B, H, S, D] at random per-row positions into tables of P rows.
ROTARY_CASES = [
    dict(name="rotate-half full D 64", B=2, H=3, S=7, D=64, rotary_dim=64, P=64, interleaved=False),
    dict(name="interleaved partial 16 of D 40", B=2, H=2, S=9, D=40, rotary_dim=16, P=50, interleaved=True),
    dict(name="rotate-half partial 24 of D 72 in place", B=1, H=4, S=11, D=72, rotary_dim=24, P=33,
         interleaved=False, inplace=True),
    dict(name="interleaved full D 128 in place", B=3, H=2, S=5, D=128, rotary_dim=128, P=4096, interleaved=True,
         inplace=True),
    dict(name="interleaved 32 of odd D 33", B=2, H=1, S=6, D=33, rotary_dim=32, P=20, interleaved=True),
    dict(name="rotary_dim 0 copies", B=1, H=2, S=3, D=16, rotary_dim=0, P=0, interleaved=False),
]

# Attention with a kv cache: a cache of capacity C (past0 rows already there per sequence, the
# rest NaN: never read), then steps (N, new_lengths): k/v/q rows past new_lengths are NaN (never
# read). After each step: out against float64 attention over the float64 history, the cache rows
# [0, past + new) bit-exact, the rows past them still NaN, the lengths, padding query rows zero.
KV_CACHE_CASES = [
    dict(name="gqa 8/2 D 64 ragged prefill then single steps", B=3, H=8, Hkv=2, D=64, Dv=64, C=40,
         past0=[0, 0, 0], steps=[(12, [12, 5, 0]), (1, [1, 1, 1]), (1, [1, 0, 1]), (3, [3, 1, 2]), (1, [1, 1, 1])]),
    dict(name="mha head_dim 40 value_dim 24 prompt 37 (tiled) then steps", B=2, H=3, Hkv=3, D=40, Dv=24, C=64,
         past0=[0, 0], steps=[(37, [37, 20]), (1, [1, 1]), (1, [1, 1]), (2, [0, 2])], scale=0.3),
    dict(name="gqa 4/1 D 128 past 1000 (flash-decoding splits, empty splits)", B=2, H=4, Hkv=1, D=128, Dv=128,
         C=1100, past0=[0, 0], steps=[(1000, [1000, 9]), (1, [1, 1]), (2, [2, 2]), (1, [1, 1])]),
    dict(name="gqa 16/4 D 32 group x tokens > 16 rows, prefilled past 600 (splits x row chunks)", B=2, H=16,
         Hkv=4, D=32, Dv=32, C=640, past0=[600, 7], steps=[(5, [5, 5]), (1, [1, 1]), (5, [4, 5]), (1, [0, 0])]),
    dict(name="D 16 Dv 64 one sequence long prompt", B=1, H=2, Hkv=1, D=16, Dv=64, C=80,
         past0=[3], steps=[(70, [70]), (1, [1]), (1, [1])]),
]

# Decoder stacks: weights random (sigma ~ 1/sqrt(fan-in)); steps (N, new_lengths, logits rows) from
# empty caches (NaN: never read), the caches fed back; ids past new_lengths are -7 (never read).
# Each step's logits against a float64 decoder recomputing each sequence from scratch, the caches
# against its keys/values, padding logits rows exact zeros, untouched cache rows still NaN.
DECODER_CASES = [
    dict(name="llama rms pre-norm gqa rotary gated silu 3 layers untied", L=3, E=64, H=4, Hkv=2, D=16, F=80, V=101,
         norm="rms", norm_first=True, parallel=False, shared_norm=False, act="silu", gated=True, packed=False,
         biases=False, tied=False, head_bias=False, final_norm=True, positions="rotary", rotary_dim=16,
         interleaved=False, P=64, eps=1e-6, B=3, C=40,
         steps=[(20, [20, 7, 0], "last"), (1, [1, 1, 1], "last"), (1, [1, 1, 1], "last"), (3, [3, 0, 2], "all"),
                (1, [1, 1, 1], "last")]),
    dict(name="gpt2 layer-norm learned positions offset 2 tied gelu packed 2 layers", L=2, E=48, H=4, Hkv=4, D=12,
         F=96, V=83, norm="layer", norm_first=True, parallel=False, shared_norm=False, act="gelu", gated=False,
         packed=True, biases=True, tied=True, head_bias=False, final_norm=True, positions="learned", offset=2,
         P=32, eps=1e-5, B=2, C=24,
         steps=[(6, [6, 3], "all"), (1, [1, 1], "all"), (1, [0, 1], "last"), (2, [2, 2], "all")]),
    dict(name="gptj parallel shared norm interleaved rotary 16 of 32 gelu_tanh head bias", L=2, E=64, H=2, Hkv=2,
         D=32, F=128, V=64, norm="layer", norm_first=True, parallel=True, shared_norm=True, act="gelu_tanh",
         gated=False, packed=False, biases=True, tied=False, head_bias=True, final_norm=True, positions="rotary",
         rotary_dim=16, interleaved=True, P=40, eps=1e-5, B=2, C=16,
         steps=[(9, [9, 9], "last"), (1, [1, 1], "last"), (1, [1, 1], "all")]),
    dict(name="opt post-norm relu gqa learned positions no final norm embedding scale null terms", L=2, E=32, H=2,
         Hkv=1, D=16, F=64, V=50, norm="layer", norm_first=False, parallel=False, shared_norm=False, act="relu",
         gated=False, packed=True, biases=True, tied=True, head_bias=False, final_norm=False, positions="learned",
         offset=0, P=16, eps=1e-5, embedding_scale=2.0, null_terms=True, B=3, C=12,
         steps=[(4, [4, 2, 1], "all"), (1, [1, 1, 1], "last"), (1, [1, 1, 0], "last")]),
    dict(name="neox parallel two norms rms rotate-half 8 of 16 gelu gated D 64 heads", L=2, E=128, H=2, Hkv=1, D=64,
         F=96, V=70, norm="rms", norm_first=True, parallel=True, shared_norm=False, act="gelu", gated=True,
         packed=True, biases=True, tied=False, head_bias=False, final_norm=True, positions="rotary", rotary_dim=8,
         interleaved=False, P=32, eps=1e-5, final_eps=1e-6, attention_scale=0.2, B=2, C=24,
         steps=[(17, [17, 11], "all"), (1, [1, 1], "last"), (1, [1, 1], "last")]),
    dict(name="tiny rotary prompt 300 then steps (flash-decoding splits in the stack)", L=2, E=32, H=2, Hkv=1, D=16,
         F=32, V=40, norm="rms", norm_first=True, parallel=False, shared_norm=False, act="silu", gated=True,
         packed=True, biases=False, tied=True, head_bias=False, final_norm=True, positions="rotary", rotary_dim=16,
         interleaved=False, P=320, eps=1e-5, B=2, C=320,
         steps=[(300, [300, 40], "last"), (1, [1, 1], "last"), (2, [2, 1], "all")]),
]

DECODING_KINDS = ("rms_norm", "rotary", "kv_cache", "decoder_stack")
KINDS = [("attention", ATTENTION_CASES), ("encoder", ENCODER_CASES), ("encoder_stack", ENCODER_STACK_CASES),
         ("rms_norm", RMS_NORM_CASES), ("rotary", ROTARY_CASES), ("kv_cache", KV_CACHE_CASES),
         ("decoder_stack", DECODER_CASES)]


def selector_text(kind, name):
    """What --only matches: 'decoder <kind>: <name>' for the decoding ops (so --only decoder selects
    the four), '<kind>: <name>' for the others."""
    return f"decoder {kind}: {name}" if kind in DECODING_KINDS else f"{kind}: {name}"


def selected(only, kind, name):
    """--only: '|'-separated alternatives, each a substring of selector_text; empty = all."""
    text = selector_text(kind, name)
    return not only or any(part and part in text for part in only.split("|"))


def attention_configs():
    out = []
    for s in (512, 2048, 8192):
        for d in (64, 128):
            for causal in (False, True):
                for pad in (0.0, 0.5):
                    out.append(dict(B=8, H=16, S=s, D=d, causal=causal, pad=pad))
    return out


def encoder_configs():
    return [dict(B=8, S=512, E=768, H=12, F=3072, pad=p) for p in (0.0, 0.5)]



def _broadcasts(shape, target):
    return len(shape) <= 4 and all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def describe():
    """The plan, after checking every case is well formed; raises ValueError otherwise."""
    for c in ATTENTION_CASES:
        if c["H"] % c["Hkv"] or max(c["D"], c["Dv"]) > 128 or min(c["D"], c["H"], c["Hkv"]) < 1:
            raise ValueError(f"bad attention case {c['name']}")
        if "mask_shape" in c and not _broadcasts(c["mask_shape"], (c["B"], c["H"], c["Sq"], c["Sk"])):
            raise ValueError(f"mask of {c['name']} does not broadcast")
    for c in ENCODER_CASES + ENCODER_STACK_CASES:
        if c["E"] % c["H"] or c["E"] // c["H"] > 128:
            raise ValueError(f"bad encoder case {c['name']}")
    _check_decoding()
    return dict(attention=[c["name"] for c in ATTENTION_CASES], encoder=[c["name"] for c in ENCODER_CASES],
                encoder_stack=[c["name"] for c in ENCODER_STACK_CASES],
                rms_norm=[c["name"] for c in RMS_NORM_CASES], rotary=[c["name"] for c in ROTARY_CASES],
                kv_cache=[c["name"] for c in KV_CACHE_CASES], decoder_stack=[c["name"] for c in DECODER_CASES],
                timing=attention_configs() + encoder_configs(), tolerance=TOLERANCE)


def _check_steps(c, past0):
    past = list(past0)
    for n, lens, *_ in c["steps"]:
        if len(lens) != c["B"] or any(x < 0 or x > n for x in lens):
            raise ValueError(f"bad step lengths in {c['name']}")
        past = [p + x for p, x in zip(past, lens)]
        if max(past) > c["C"]:
            raise ValueError(f"{c['name']} overflows its cache")
    return past


def _check_decoding():
    for c in RMS_NORM_CASES:
        if c["rows"] < 0 or c["width"] < 1 or c["eps"] < 0:
            raise ValueError(f"bad rms_norm case {c['name']}")
    for c in ROTARY_CASES:
        rd = c["rotary_dim"]
        if rd % 2 or rd > c["D"] or (rd > 0 and c["P"] < 1):
            raise ValueError(f"bad rotary case {c['name']}")
    for c in KV_CACHE_CASES:
        if c["H"] % c["Hkv"] or max(c["D"], c["Dv"]) > 128 or len(c["past0"]) != c["B"]:
            raise ValueError(f"bad kv_cache case {c['name']}")
        _check_steps(c, c["past0"])
    for c in DECODER_CASES:
        if c["H"] % c["Hkv"] or c["D"] > 128 or c.get("rotary_dim", 0) > c["D"] or c.get("rotary_dim", 0) % 2:
            raise ValueError(f"bad decoder case {c['name']}")
        if c["steps"][0][2] not in ("last", "all") or any(s[2] not in ("last", "all") for s in c["steps"]):
            raise ValueError(f"bad logits rows in {c['name']}")
        reach = max(_check_steps(c, [0] * c["B"]))
        if reach > c["P"]:
            raise ValueError(f"{c['name']} runs past its position tables")
