"""The device check's cases and tolerances (no torch needed, so --dry-run can
check the plan on any machine)."""

# Relative Frobenius error bounds per precision ('high' = TF32 products).
# A stack's bound allows for the error of each layer carried into the next.
TOLERANCE = {
    "highest": {"forward": 1e-5, "backward": 2e-5, "encoder": 1e-5, "encoder_stack": 3e-5},
    "high": {"forward": 1e-3, "backward": 2e-3, "encoder": 2e-3, "encoder_stack": 5e-3},
}

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
    return dict(attention=[c["name"] for c in ATTENTION_CASES], encoder=[c["name"] for c in ENCODER_CASES],
                encoder_stack=[c["name"] for c in ENCODER_STACK_CASES],
                timing=attention_configs() + encoder_configs(), tolerance=TOLERANCE)
