"""PyTorch weights -> Transformers' TF BERT -> SavedModel -> tensorflowjs_converter.

This is the path a user takes to bring a Hugging Face model to tfjs. The graph
ends at BERT's last_hidden_state: mean pooling and normalisation run in
TypeScript (src/embeddings/pooling.ts), so the transformer blocks are exactly
what BetterTransformer.transform sees.
"""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
CONVERTER = os.path.join(os.path.dirname(sys.executable), "tensorflowjs_converter")


def load_tf_bert(model_dir):
    from transformers import TFBertModel
    return TFBertModel.from_pretrained(str(model_dir), from_pt=True)


def save_serving_model(model, saved_dir):
    """SavedModel with one serving signature: int32 [batch, seq] inputs (both dynamic) -> last_hidden_state."""
    signature = [tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES]

    def serve(input_ids, attention_mask, token_type_ids):
        out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, training=False)
        return {"last_hidden_state": out.last_hidden_state}

    function = tf.function(serve, input_signature=signature)
    tf.saved_model.save(model, saved_dir, signatures={"serving_default": function.get_concrete_function()})
    return function


# The feed-forward output projections (1536 -> 384) of every layer. Their weights have outliers, so one
# uint8 range per tensor is too coarse for them: alone they take the cosine to the PyTorch embeddings from
# 0.9995 down to 0.986 (layer 0). Every other weight (word embeddings included) quantises to uint8 without harm.
FFN_OUTPUT_WEIGHTS = "*layer_._?/output/dense/*"  # "?": one digit, so attention/output/dense is not matched

QUANTIZATION_FLAGS = {
    None: [],
    "uint8": ["--quantize_uint8=*"],
    "float16": ["--quantize_float16=*"],
    # float16 for the feed-forward output projections, uint8 (the converter's fallthrough) for the rest.
    "mixed": [f"--quantize_float16={FFN_OUTPUT_WEIGHTS}", "--quantize_uint8"],
}


def convert_to_tfjs(saved_dir, out_dir, quantization=None):
    """Runs the real tensorflowjs_converter with one of QUANTIZATION_FLAGS' schemes."""
    if quantization not in QUANTIZATION_FLAGS:
        raise ValueError(f"unknown quantization {quantization!r}")
    args = [CONVERTER, "--input_format=tf_saved_model", "--output_format=tfjs_graph_model",
            "--signature_name=serving_default", "--saved_model_tags=serve", saved_dir, out_dir]
    # Quantisation flags last: a bare fallthrough flag would otherwise take the next path as its value.
    subprocess.run(args + QUANTIZATION_FLAGS[quantization], check=True)


def mean_pool_normalise(hidden, mask):
    mask = mask[..., None].astype(np.float32)
    pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def embed_with_tf(function, token_ids):
    """Embeds sentences one by one (no padding) through the serving function."""
    rows = []
    for ids in token_ids:
        ids = np.asarray([ids], np.int32)
        mask = np.ones_like(ids)
        hidden = function(input_ids=tf.constant(ids), attention_mask=tf.constant(mask),
                          token_type_ids=tf.zeros_like(ids))["last_hidden_state"].numpy()
        rows.append(mean_pool_normalise(hidden, mask)[0])
    return np.stack(rows)


def directory_size(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
