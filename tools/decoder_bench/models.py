"""The two random decoder models of the generation benchmark, and how their seeded weights are drawn.

Both are built with Transformers' TF classes (the path a user takes to tfjs), filled with weights drawn
from one seeded numpy generator, and the very same weights then go to the PyTorch class (for the ONNX
export that transformers.js runs).
"""
import numpy as np

# Weight scale: N(0, SIGMA) for every matrix, embedding and bias; normalisation gammas are 1 + N(0, SIGMA).
SIGMA = 0.02

MODELS = {
    # distilgpt2's size (6 layers, n_embd 768, 12 heads, vocab 50257, tied head), but 2048 positions instead
    # of 1024 so that ms/token can be measured at position 1024 and beyond.
    "gpt2-6l": {
        "family": "gpt2",
        "seed": 20261205,
        "config": {
            "vocab_size": 50257, "n_positions": 2048, "n_embd": 768, "n_layer": 6, "n_head": 12,
            "activation_function": "gelu_new", "tie_word_embeddings": True,
            "bos_token_id": 50256, "eos_token_id": 50256,
        },
    },
    # A Llama-style decoder with grouped-query attention (RoPE, RMSNorm, SwiGLU) of a similar size. Mistral's
    # classes, because Transformers 4.44 has TF classes for Mistral and not for Llama; with sliding_window
    # None, Mistral is Llama with GQA.
    "llama-6l": {
        "family": "mistral",
        "seed": 20261206,
        "config": {
            "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 6,
            "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 4096,
            "sliding_window": None, "tie_word_embeddings": False, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
            "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
        },
    },
}


# `make_models.py --tiny`: the same recipe at toy size, to smoke-test the tooling in seconds.
TINY = {
    "gpt2": {"vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4},
    "mistral": {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2},
}


def spec_of(name):
    """MODELS[name], or for "<name>-tiny" the toy-size variant."""
    if name.endswith("-tiny") and name[:-5] in MODELS:
        spec = MODELS[name[:-5]]
        return {**spec, "config": {**spec["config"], **TINY[spec["family"]]}}
    return MODELS[name]


def hf_config(name):
    import transformers as T
    spec = spec_of(name)
    cls = {"gpt2": T.GPT2Config, "mistral": T.MistralConfig}[spec["family"]]
    return cls(**spec["config"])


def tf_model(name):
    import transformers as T
    cls = {"gpt2": T.TFGPT2LMHeadModel, "mistral": T.TFMistralForCausalLM}[spec_of(name)["family"]]
    return cls(hf_config(name))


def pt_class(name):
    import transformers as T
    return {"gpt2": T.GPT2LMHeadModel, "mistral": T.MistralForCausalLM}[spec_of(name)["family"]]


def is_norm_gamma(weight_name):
    # GPT-2: ln_1/gamma, ln_2/gamma, ln_f/gamma; Mistral: input_layernorm/weight, post_attention_layernorm/weight,
    # norm/weight (RMSNorm has no beta).
    return weight_name.endswith("gamma:0") or ("norm" in weight_name and weight_name.endswith("weight:0"))


def randomise_weights(model, seed):
    """Draws every weight of a built TF model from one seeded generator, in the model's weight order."""
    rng = np.random.default_rng(seed)
    drawn = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        values = rng.standard_normal(shape, dtype=np.float32) * np.float32(SIGMA)
        if is_norm_gamma(weight.name):
            values += np.float32(1.0)
        weight.assign(values)
        drawn.append((weight.name, shape))
    return drawn
