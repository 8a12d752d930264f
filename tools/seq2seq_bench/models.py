"""The two random encoder-decoder models of the generation benchmark's seq2seq part (issue 15, item 7).

Both are built with Transformers' PyTorch classes from a config, their weights initialised by the classes' own
_init_weights under a fixed torch seed (deterministic on CPU), saved as safetensors, and loaded into the TF
classes with from_pt=True, so the tfjs graph model and the ONNX export carry the very same weights.
"""

MODELS = {
    # opus-mt-en-de's shape: 6 + 6 layers, d_model 512, 8 heads, FFN 2048, swish, vocab 58101, tied and scaled
    # embeddings, sinusoidal positions, pad = decoder start = 58100, EOS 0.
    "marian-6l": {
        "family": "marian",
        "seed": 20261207,
        "config": {
            "vocab_size": 58101, "decoder_vocab_size": 58101, "d_model": 512,
            "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8, "decoder_attention_heads": 8,
            "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048, "activation_function": "swish",
            "max_position_embeddings": 512, "scale_embedding": True, "share_encoder_decoder_embeddings": True,
            "tie_word_embeddings": True, "pad_token_id": 58100, "decoder_start_token_id": 58100,
            "eos_token_id": 0, "bos_token_id": 0, "forced_eos_token_id": 0, "init_std": 0.02,
            "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0,
        },
    },
    # t5-small's shape (T5 v1.0): 6 + 6 layers, d_model 512, 8 heads of 64, d_ff 2048 (ReLU), 32 relative-position
    # buckets, tied head (decoder output scaled by d_model^-0.5), vocab 32128, pad = decoder start = 0, EOS 1.
    "t5-small": {
        "family": "t5",
        "seed": 20261208,
        "config": {
            "vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
            "num_decoder_layers": 6, "num_heads": 8, "relative_attention_num_buckets": 32,
            "relative_attention_max_distance": 128, "feed_forward_proj": "relu", "tie_word_embeddings": True,
            "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "decoder_start_token_id": 0, "eos_token_id": 1,
            "dropout_rate": 0.1, "initializer_factor": 1.0,
        },
    },
}

# `make_models.py --tiny`: the same recipe at toy size, to smoke-test the tooling in seconds.
TINY = {
    "marian": {"vocab_size": 1000, "decoder_vocab_size": 1000, "d_model": 64, "encoder_layers": 2,
               "decoder_layers": 2, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
               "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "pad_token_id": 999, "decoder_start_token_id": 999},
    "t5": {"vocab_size": 1000, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_decoder_layers": 2,
           "num_heads": 4},
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
    cls = {"marian": T.MarianConfig, "t5": T.T5Config}[spec["family"]]
    return cls(**spec["config"])


def pt_class(name):
    import transformers as T
    return {"marian": T.MarianMTModel, "t5": T.T5ForConditionalGeneration}[spec_of(name)["family"]]


def tf_class(name):
    import transformers as T
    return {"marian": T.TFMarianMTModel, "t5": T.TFT5ForConditionalGeneration}[spec_of(name)["family"]]


def tf_encoder_class(name):
    """The encoder alone (for the encoder benchmark), where Transformers has a TF class for it."""
    import transformers as T
    return {"t5": T.TFT5EncoderModel}.get(spec_of(name)["family"])
