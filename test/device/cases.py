"""The device check's cases and tolerances (no torch needed, so --dry-run can
check the plan on any machine)."""

# Relative Frobenius error bounds per precision ('high' = TF32 products, 'medium' = bfloat16 products,
# FP32 accumulation and softmax statistics). A stack's bound allows for the error of each layer carried
# into the next.
TOLERANCE = {
    "highest": {"forward": 1e-5, "backward": 2e-5, "encoder": 1e-5, "encoder_stack": 3e-5,
                "rms_norm": 1e-5, "rotary": 1e-5, "kv_cache": 1e-5, "kv_cache_prompt": 1e-5, "decoder_stack": 3e-5},
    "high": {"forward": 1e-3, "backward": 2e-3, "encoder": 2e-3, "encoder_stack": 5e-3,
             "rms_norm": 1e-5, "rotary": 1e-5, "kv_cache": 1e-5, "kv_cache_prompt": 1e-3, "decoder_stack": 5e-3},
    "medium": {"forward": 2e-2, "backward": 2e-2, "encoder": 2e-2, "encoder_stack": 2e-2,
               "rms_norm": 1e-5, "rotary": 1e-5, "kv_cache": 1e-5, "kv_cache_prompt": 1e-3, "decoder_stack": 2e-2},
}
# The graph ops (LayerNorm, EmbeddingSum, ReorderCache) are FP32 at every precision: run once (recorded
# as 'fp32'), 1e-5 relative; the reorder is a copy and must also be bit-exact.
for _bounds in TOLERANCE.values():
    _bounds.update(layer_norm=1e-5, embedding_sum=1e-5, reorder_cache=1e-5)

# 'high' has two TF32 forward kernels (kernels/cuda/attention_fwd_tf32.cu): v2, the default, and v1, the
# previous one, selected by BT_CUDA_TF32_KERNEL=v1 (read at every launch). Every 'high' case of the kinds
# below runs again under v1, recorded as precision 'high/v1' and held to 'high''s bounds: the attention
# forward (the FP32 backward is not repeated), the encoder layer (variable-length attention straight from
# the packed QKV buffer) and the kv-cache steps (prompts run the tiled TF32 kernel).
TF32_V1 = "high/v1"
TF32_V1_KINDS = ("attention", "encoder", "kv_cache")

# 'medium' GEMMs of the encoder layer run two ways (kernels/cuda/encoder_layer.cu): by default cuBLASLt's
# BF16 compute type on the fp32 operands; with BT_CUDA_MEDIUM_GEMM=convert, each GEMM's activations and
# weight converted to bfloat16 first and a bf16 GEMM with FP32 compute (more workspace). The library reads
# the variable when the workspace is sized and when the layer runs (the two must agree), so it is set
# around both. Every 'medium' encoder-layer and encoder-stack case runs again that way, recorded as
# 'medium/convert' and held to 'medium''s bounds; the BERT-base stack timings time both ways.
MEDIUM_CONVERT = "medium/convert"
MEDIUM_CONVERT_KINDS = ("encoder", "encoder_stack")

# The environment each repeated pass runs under: label -> (variable, value).
PASS_ENV = {TF32_V1: ("BT_CUDA_TF32_KERNEL", "v1"), MEDIUM_CONVERT: ("BT_CUDA_MEDIUM_GEMM", "convert")}


def base_precision(label):
    """The library's precision of a record's label ('high/v1' -> 'high', 'medium/convert' -> 'medium')."""
    return label.split("/")[0]
# The decoding bounds: RMSNorm and rotary are FP32 elementwise/row kernels whatever the precision
# (run once, recorded as precision 'fp32'). Attention over a cache is the FP32 decode kernel for
# steps of up to 16 new tokens per sequence in every precision (bt_cuda.h: "decode steps are FP32"),
# so 1e-5 there; a longer step (a prompt) runs the tiled kernels, TF32 under 'high' and 'medium'
# (the decoding ops take 'medium' for their GEMMs only), hence 'kv_cache_prompt' = the TF32 attention
# forward's bound. The decoder stack's logits and caches pass through several layers of GEMMs (TF32
# under 'high', bfloat16 under 'medium') and norms: the encoder stack's bounds.
# Cache rows the op copies (attention with kv cache) must be bit-exact copies of k and v.

# The parity targets (relative Frobenius error against float64, every case of every op). The
# per-kind bounds above are what each case must meet; the targets table of check.md also states the
# worst error of each precision against these.
PARITY_TARGET = {"highest": 1e-5, "high": 2e-3, "medium": 2e-2}
PRECISIONS = ("highest", "high", "medium")

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
    # Odd depth (the 'medium' backward's scalar dq atomics; even D takes paired float2 atomics on sm_90),
    # GQA 2, causal Sq > Sk (empty rows), an additive mask broadcast over heads and queries (dmask reduced).
    dict(name="D=63 gqa 2 causal Sq>Sk additive mask [B,1,1,Sk]", B=2, H=4, Hkv=2, Sq=75, Sk=51, D=63, Dv=63,
         causal=True, mask="additive", mask_shape=(2, 1, 1, 51), grad=True),
    # Odd D != Dv, GQA 4, causal Sq < Sk, a full bool mask (row 0 of every head hidden: rows without keys).
    dict(name="D=31 Dv=17 gqa 4 causal Sq<Sk bool mask [B,H,Sq,Sk]", B=1, H=8, Hkv=2, Sq=45, Sk=111, D=31, Dv=17,
         causal=True, mask="bool", mask_shape=(1, 8, 45, 111), grad=True),
    # key_limit of sequence 0 is 120: keys [128, 256) and [256, 300) are whole 128-key blocks past it, where
    # dk and dv must be exact zeros; GQA 4, D != Dv; sequence 2 is all padding (every row empty).
    dict(name="key padding + key_limit, 128-key blocks past it, gqa 4 D=64 Dv=48", B=3, H=4, Hkv=1, Sq=70, Sk=300,
         D=64, Dv=48, padding=True, grad=True),
    # Padded key/value rows hold NaN: they must never be read (D not a multiple of 4: scalar loads in v2).
    dict(name="key padding, NaN in padded rows, D=42 bool mask [B,1,Sq,Sk]", B=3, H=2, Hkv=2, Sq=33, Sk=150, D=42,
         Dv=42, padding=True, nan_padding=True, mask="bool", mask_shape=(3, 1, 33, 150)),
    # q, k and v 4 bytes past a 16-byte boundary: every vector load path falls back to scalar loads.
    dict(name="unaligned q/k/v (scalar loads) causal gqa 2 D=64", B=2, H=4, Hkv=2, Sq=100, Sk=100, D=64, Dv=64,
         causal=True, offset=True, grad=True),
]

ENCODER_CASES = [
    dict(name="post-norm gelu packed padding", B=3, S=37, E=64, H=4, F=96, norm_first=False, act="gelu",
         packed=True, padding=True, causal=False, eps=(1e-5, 1e-5)),
    # Head dim 21 (odd; the packed QKV rows 3E = 189 floats apart: odd strides through seq_offsets).
    dict(name="pre-norm gelu packed Dh=21 odd strides padding", B=3, S=45, E=63, H=3, F=80, norm_first=True,
         act="gelu", packed=True, padding=True, causal=False, eps=(1e-5, 1e-5)),
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

# Encoder-decoder decoders (absent keys = decoder-only): cross: cross-attention over S source rows per
# sequence; source_valid: [B] real source rows (the rest padding, source_mask given), None = no
# source_mask; fill_step: the step whose call passes encoder_states (the cross caches start as NaN and are
# filled then; later steps read them); position_bias: T5's relative bias [H, P]; embedding_norm,
# embedding_norm_first (norm before the positions are added). positions "none": neither learned positions
# nor rotary (T5). Besides the decoder checks, the cross caches against the float64 projections of the
# encoder states once filled. T5 folds its attention scale into trained weights (scale 1); with these random
# weights 0.35 keeps the scores moderate (at 1.0 the emulated 'medium' logits error reaches the 2e-2 bound).
SEQ2SEQ_DECODER_CASES = [
    dict(name="t5 rms pre-norm relative position bias cross gqa source mask prompt 20 gated gelu_tanh", L=2, E=64,
         H=4, Hkv=2, D=16, F=96, V=97, norm="rms", norm_first=True, parallel=False, shared_norm=False,
         act="gelu_tanh", gated=True, packed=False, biases=False, tied=True, head_bias=False, final_norm=True,
         positions="none", P=32, eps=1e-6, attention_scale=0.35, B=2, C=32,
         cross=True, S=7, source_valid=[7, 4], fill_step=0, position_bias=True,
         steps=[(20, [20, 9], "last"), (1, [1, 1], "last"), (3, [3, 0], "all"), (1, [1, 1], "last")]),
    dict(name="bart layer post-norm learned positions offset 2 embedding norm cross filled without tokens", L=2,
         E=48, H=4, Hkv=4, D=12, F=96, V=83, norm="layer", norm_first=False, parallel=False, shared_norm=False,
         act="gelu", gated=False, packed=False, biases=True, tied=True, head_bias=True, final_norm=False,
         positions="learned", offset=2, P=24, eps=1e-5, embedding_scale=2.0, B=2, C=16,
         cross=True, S=5, source_valid=None, fill_step=0, embedding_norm=True,
         steps=[(1, [0, 0], "last"), (6, [6, 3], "all"), (1, [1, 1], "last"), (1, [0, 1], "last")]),
    dict(name="blenderbot-small norm before positions cross Hkv 1 source 600 half padding (cross splits)", L=1,
         E=32, H=2, Hkv=1, D=16, F=64, V=50, norm="layer", norm_first=True, parallel=False, shared_norm=False,
         act="relu", gated=False, packed=True, biases=True, tied=False, head_bias=False, final_norm=True,
         positions="learned", offset=0, P=24, eps=1e-5, B=2, C=24,
         cross=True, S=600, source_valid=[600, 300], fill_step=0, embedding_norm=True, embedding_norm_first=True,
         steps=[(18, [18, 5], "all"), (1, [1, 1], "last"), (2, [2, 1], "all")]),
]
DECODER_CASES += SEQ2SEQ_DECODER_CASES


# ---- graph ops (precision-free: FP32 at every precision; run once) ----
# LayerNorm over rows x width; gamma/beta False = null (ones / zeros); x_scale, x_shift size the inputs.
LAYER_NORM_CASES = [
    dict(name="rows 33 width 768 eps 1e-12", rows=33, width=768, eps=1e-12),
    dict(name="rows 17 width 1023 eps 1e-5 shifted x", rows=17, width=1023, eps=1e-5, x_shift=3.0),
    dict(name="rows 40 width 5 gamma and beta null", rows=40, width=5, eps=1e-5, gamma=False, beta=False),
    dict(name="rows 9 width 4099 beta null in place", rows=9, width=4099, eps=1e-6, beta=False, inplace=True),
    dict(name="rows 70 width 129 small x eps 1e-2", rows=70, width=129, eps=1e-2, x_scale=0.05),
    dict(name="rows 0", rows=0, width=64, eps=1e-5),
]

# EmbeddingSum: y[b, s] = word[ids[b, s]] + positions[s + offset] + constant row (3 terms, in that order),
# then LayerNorm when norm. V word rows, P position rows.
EMBEDDING_SUM_CASES = [
    dict(name="word [B,S] + positions [S] offset 2 + constant, norm, width 768", B=2, S=13, V=101, P=20, offset=2,
         width=768, norm=True, eps=1e-12),
    dict(name="word [B,S] + positions [S] + constant, no norm, width 33", B=3, S=7, V=50, P=7, offset=0, width=33,
         norm=False),
    dict(name="word [B,S] + positions [S] + constant, norm gamma/beta null, width 1023", B=1, S=5, V=9, P=8,
         offset=3, width=1023, norm=True, eps=1e-5, gamma=False, beta=False),
]

# ReorderCache over caches [L, B, Hkv, C, D] (every row random, past the lengths too): new row b = old row
# sources[b] over its first lengths[sources[b]] positions, the rest of row b as it was; the new lengths
# (into the lengths table itself when inplace_lengths).
REORDER_CACHE_CASES = [
    dict(name="repeats, a row that stays, a source overwritten first", L=2, B=4, Hkv=2, C=10, D=8,
         lengths=[5, 10, 0, 7], sources=[1, 1, 2, 0]),
    dict(name="cycle with a zero-length source, lengths in place", L=3, B=3, Hkv=1, C=6, D=5,
         lengths=[3, 0, 6], sources=[2, 0, 1], inplace_lengths=True),
    dict(name="all rows from one, D 64", L=1, B=5, Hkv=3, C=33, D=64, lengths=[4, 33, 1, 0, 20],
         sources=[1, 1, 1, 1, 1]),
    dict(name="identity (nothing moves)", L=2, B=2, Hkv=2, C=4, D=4, lengths=[2, 4], sources=[0, 1]),
]

DECODING_KINDS = ("rms_norm", "rotary", "kv_cache", "decoder_stack")
GRAPH_KINDS = ("layer_norm", "embedding_sum", "reorder_cache")
KINDS = [("attention", ATTENTION_CASES), ("encoder", ENCODER_CASES), ("encoder_stack", ENCODER_STACK_CASES),
         ("rms_norm", RMS_NORM_CASES), ("rotary", ROTARY_CASES), ("kv_cache", KV_CACHE_CASES),
         ("decoder_stack", DECODER_CASES), ("layer_norm", LAYER_NORM_CASES), ("embedding_sum", EMBEDDING_SUM_CASES),
         ("reorder_cache", REORDER_CACHE_CASES)]


def selector_text(kind, name):
    """What --only matches: 'decoder <kind>: <name>' for the decoding ops (so --only decoder selects
    the four), 'graph <kind>: <name>' for the graph ops (--only graph), '<kind>: <name>' for the others."""
    if kind in DECODING_KINDS:
        return f"decoder {kind}: {name}"
    return f"graph {kind}: {name}" if kind in GRAPH_KINDS else f"{kind}: {name}"


def selected(only, kind, name):
    """--only: '|'-separated alternatives, each a substring of selector_text; empty = all."""
    text = selector_text(kind, name)
    return not only or any(part and part in text for part in only.split("|"))


# ---- timings (check_cuda.py runs them in this order after parity and ordering) ----
# Attention forward, no mask, B=8 H=16: ours at each precision against PyTorch SDPA fp32 (its default
# backend), bf16 with the fp32->bf16->fp32 casts counted, and bf16 alone.
def attention_configs():
    return [dict(B=8, H=16, S=s, D=d) for s in (2048, 8192) for d in (64, 128)]


# Attention backward (after a forward at the same precision; the backward alone is timed), ours 'high'
# and 'medium' against autograd through SDPA in fp32 and bf16.
def backward_configs():
    return [dict(B=8, H=16, S=2048, D=64), dict(B=8, H=16, S=2048, D=128), dict(B=8, H=16, S=8192, D=64)]


# The 12-layer BERT-base encoder (post-norm, exact GELU, LayerNorm eps 1e-12) through one
# bt_cuda_transformer_encoder_stack call against nn.TransformerEncoder's fast path. pad: the mean
# fraction of padding tokens (timing.padding_lengths).
BERT_BASE = dict(E=768, H=12, F=3072, layers=12)


def encoder_configs():
    return [dict(B=b, S=s, pad=p, **BERT_BASE) for b, s in ((1, 128), (32, 128), (8, 512)) for p in (0.0, 0.5)]


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
                layer_norm=[c["name"] for c in LAYER_NORM_CASES],
                embedding_sum=[c["name"] for c in EMBEDDING_SUM_CASES],
                reorder_cache=[c["name"] for c in REORDER_CACHE_CASES],
                tf32_v1=dict(label=TF32_V1, kinds=list(TF32_V1_KINDS)),
                medium_convert=dict(label=MEDIUM_CONVERT, kinds=list(MEDIUM_CONVERT_KINDS)), estimate_s=estimate_s(),
                timing=dict(attention_forward=attention_configs(), attention_backward=backward_configs(),
                            encoder_stack=encoder_configs()),
                tolerance=TOLERANCE, parity_target=PARITY_TARGET)


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
        if c.get("cross") and (c["parallel"] or c["S"] < 1 or not 0 <= c["fill_step"] < len(c["steps"]) or
                               (c.get("source_valid") and not all(1 <= v <= c["S"] for v in c["source_valid"]))):
            raise ValueError(f"bad encoder-decoder case {c['name']}")
    for c in LAYER_NORM_CASES:
        if c["rows"] < 0 or c["width"] < 1 or c["eps"] < 0:
            raise ValueError(f"bad layer_norm case {c['name']}")
    for c in EMBEDDING_SUM_CASES:
        if c["S"] + c["offset"] > c["P"] or min(c["B"], c["S"], c["V"], c["width"]) < 1:
            raise ValueError(f"bad embedding_sum case {c['name']}")
    for c in REORDER_CACHE_CASES:
        if len(c["lengths"]) != c["B"] or len(c["sources"]) != c["B"] or \
                not all(0 <= n <= c["C"] for n in c["lengths"]) or not all(0 <= r < c["B"] for r in c["sources"]):
            raise ValueError(f"bad reorder_cache case {c['name']}")


# ---- time estimate of one device run (seconds, on an H200; check.sh adds the build, ~60 s) ----
# Rough per-record costs, not measured (the last device run kept no per-section times; check.json's
# section_s has them from the next run on): the float64 reference and the call, Python-bound at these
# sizes; decoders by their steps (the reference recomputes every sequence per step), cross-attention by
# its source length. With these costs the plan before the TF32 v1 pass, the new attention/encoder cases,
# the encoder-decoder cases and the graph ops came to ~130 s (about 3 minutes with the build).
# timing_encoder_convert: the 'medium/convert' run of one BERT-base configuration (its own workspace,
# warm-up and up to 15 timed stack calls of a few to ~20 ms).
COST_S = dict(attention=0.35, attention_grad=0.6, encoder=0.5, encoder_stack_layer=0.35, rms_norm=0.1, rotary=0.1,
              kv_cache_step=0.15, decoder_step=0.35, decoder_step_source=0.1, layer_norm=0.1, embedding_sum=0.1,
              reorder_cache=0.1, startup=15.0, ordering=3.0, timing_forward=10.0, timing_forward_v1=1.5,
              timing_backward=10.0, timing_encoder=15.0, timing_encoder_convert=0.5)


def estimate_s(precisions=PRECISIONS):
    """A rough plan of the Python part of the device run: per section, seconds (and the total)."""
    n = len(precisions)
    c = COST_S
    attention = sum(c["attention_grad"] if x.get("grad") else c["attention"] for x in ATTENTION_CASES)
    decoder = sum(len(x["steps"]) * (c["decoder_step"] + (c["decoder_step_source"] * x["S"] / 100 if x.get("cross")
                                                          else 0.0)) for x in DECODER_CASES)
    kv = sum(len(x["steps"]) * c["kv_cache_step"] for x in KV_CACHE_CASES)
    encoder = len(ENCODER_CASES) * c["encoder"]
    stacks = sum(0.2 + len(x["layers"]) * c["encoder_stack_layer"] for x in ENCODER_STACK_CASES)
    out = dict(startup=c["startup"],
               parity_by_precision=round(n * (attention + encoder + stacks + kv + decoder), 1),
               parity_precision_free=round(c["rms_norm"] * len(RMS_NORM_CASES) + c["rotary"] * len(ROTARY_CASES) +
                                           c["layer_norm"] * len(LAYER_NORM_CASES) +
                                           c["embedding_sum"] * len(EMBEDDING_SUM_CASES) +
                                           c["reorder_cache"] * len(REORDER_CACHE_CASES), 1),
               parity_tf32_v1=round((len(ATTENTION_CASES) * c["attention"] + encoder + kv)
                                    if "high" in precisions else 0.0, 1),
               parity_medium_convert=round(encoder + stacks if "medium" in precisions else 0.0, 1),
               ordering=c["ordering"],
               timing=round(c["timing_forward"] + c["timing_forward_v1"] * len(attention_configs()) +
                            c["timing_backward"] + c["timing_encoder"] +
                            c["timing_encoder_convert"] * len(encoder_configs()), 1))
    out["total"] = round(sum(out.values()), 1)
    return out
