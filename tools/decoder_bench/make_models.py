"""Builds the random decoder models of the text-generation benchmark (npm run bench:generate).

For each model of models.py (gpt2-6l, llama-6l) it draws one seeded set of fp32 weights into the
Transformers TF class, copies the same weights into the PyTorch class, checks TF against PyTorch, and
writes under .deps/bench-decoders/<model>/:

  tfjs/            tfjs graph model (tensorflowjs_converter --input_format=tf_saved_model
                   --output_format=tfjs_graph_model) of a SavedModel whose serving signature is
                   input_ids, attention_mask (int32 [batch, seq], dynamic) -> logits [batch, seq, vocab];
                   position ids are computed inside as max(cumsum(attention_mask) - 1, 0); no past inputs
  onnx/            the same weights exported by optimum (text-generation-with-past) as transformers.js 4.3.1
                   loads a local decoder-only model: config.json, generation_config.json, onnx/model.onnx
                   (input_ids, attention_mask, position_ids, past_key_values.{i}.key/value -> logits,
                   present.{i}.key/value; fp32)
  pytorch/         the PyTorch weights (safetensors) and config the ONNX export was made from
  manifest.json    config, seed, sizes, file hashes, timings and the checks' max differences

Checks: TF vs PyTorch logits (left padding, position ids from the mask), tfjs-node vs TF (right padding),
ONNX Runtime vs PyTorch with an empty past and step by step with past key/values.

  .deps/minilm-venv/bin/python tools/decoder_bench/make_models.py [--models gpt2-6l,llama-6l] [--force]

Idempotent: a model whose manifest.json matches the current recipe is skipped (--force rebuilds it).
Deterministic: the weights come from a seeded numpy generator; nothing is downloaded.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's graph rewrites (e.g. _MklLayerNorm) would reach the converter, which has no tfjs op for them.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_ROOT = os.path.join(ROOT, ".deps", "bench-decoders")
PYDEPS = os.path.join(OUT_ROOT, "pydeps")
CONVERTER = os.path.join(os.path.dirname(sys.executable), "tensorflowjs_converter")
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import models as M  # noqa: E402

# Bump when the recipe changes in a way the manifest's config does not show (export, checks, layout).
RECIPE_VERSION = 1
OPSET = 14
# The check batch: 3 rows of 24 tokens, 24, 17 and 9 real ones.
CHECK_LENGTHS = [24, 17, 9]
CHECK_PREFILL = 12  # ONNX with past: prefill this many positions, then one token per step


def log(message):
    print(f"[decoder_bench] {message}", flush=True)


def recipe(name):
    spec = M.spec_of(name)
    return {"recipe_version": RECIPE_VERSION, "family": spec["family"], "seed": spec["seed"], "sigma": M.SIGMA,
            "config": spec["config"], "opset": OPSET}


def recipe_hash(name):
    return hashlib.sha256(json.dumps(recipe(name), sort_keys=True).encode()).hexdigest()[:16]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=False)
        f.write("\n")


def check_inputs(vocab, padding, seed=7):
    """The check batch: int32 ids and mask, left- or right-padded (pad id 0)."""
    rng = np.random.default_rng(seed)
    longest = max(CHECK_LENGTHS)
    ids = np.zeros((len(CHECK_LENGTHS), longest), np.int32)
    mask = np.zeros_like(ids)
    for row, n in enumerate(CHECK_LENGTHS):
        cols = slice(longest - n, longest) if padding == "left" else slice(0, n)
        ids[row, cols] = rng.integers(0, vocab, size=n)
        mask[row, cols] = 1
    return ids, mask


def hf_position_ids(mask):
    """Transformers' generate(): cumsum(mask) - 1 with padded positions set to 1."""
    pos = np.cumsum(mask, axis=1) - 1
    pos[mask == 0] = 1
    return pos


def masked_max_diff(a, b, mask):
    return float(np.abs(a - b)[mask.astype(bool)].max())


# ---------------------------------------------------------------------------------------------------------
# TF side


def build_tf(name, work):
    """The TF model with the seeded weights, saved with save_pretrained (for PyTorch's from_tf)."""
    import tensorflow as tf
    import tf_keras
    tf_keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    model = M.tf_model(name)
    model(input_ids=tf.constant([[1, 2, 3]], tf.int32), training=False)
    M.randomise_weights(model, M.spec_of(name)["seed"])
    hf_dir = os.path.join(work, "tf_hf")
    shutil.rmtree(hf_dir, ignore_errors=True)
    model.save_pretrained(hf_dir)
    return model, hf_dir


def serving_function(model):
    import tensorflow as tf
    signature = [tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                 tf.TensorSpec([None, None], tf.int32, name="attention_mask")]

    def serve(input_ids, attention_mask):
        # As generate() does: position ids follow the mask, so a left-padded row starts at position 0.
        # Positive axis (tfjs' Cumsum mishandles a negative one); max(.., 0) keeps padded positions in range.
        position_ids = tf.maximum(tf.math.cumsum(attention_mask, axis=1) - 1, 0)
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    use_cache=False, training=False)
        return {"logits": out.logits}

    return tf.function(serve, input_signature=signature)


def export_tfjs(model, work, out_dir):
    import tensorflow as tf
    function = serving_function(model)
    saved = os.path.join(work, "saved_model")
    shutil.rmtree(saved, ignore_errors=True)
    tf.saved_model.save(model, saved, signatures={"serving_default": function.get_concrete_function()})
    shutil.rmtree(out_dir, ignore_errors=True)
    run = subprocess.run([CONVERTER, "--input_format=tf_saved_model", "--output_format=tfjs_graph_model",
                          "--signature_name=serving_default", "--saved_model_tags=serve", saved, out_dir],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"tensorflowjs_converter failed:\n{run.stderr[-4000:]}")
    return function


def tf_logits(function, ids, mask):
    import tensorflow as tf
    return function(input_ids=tf.constant(ids), attention_mask=tf.constant(mask))["logits"].numpy()


def tfjs_logits(tfjs_dir, ids, mask, work):
    inputs = os.path.join(work, "tfjs_check_inputs.json")
    out = os.path.join(work, "tfjs_check_logits.bin")
    write_json(inputs, {"input_ids": ids.tolist(), "attention_mask": mask.tolist()})
    run = subprocess.run(["node", os.path.join(HERE, "check_tfjs.js"), tfjs_dir, inputs, out], cwd=ROOT,
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"tfjs-node could not run {tfjs_dir}:\n{run.stderr[-4000:]}")
    info = json.loads(run.stdout.strip().splitlines()[-1])
    logits = np.fromfile(out, dtype="<f4").reshape(info["shape"])
    return logits, info


# ---------------------------------------------------------------------------------------------------------
# PyTorch and ONNX side


def build_pt(name, tf_hf_dir, out_dir):
    """The same weights in the PyTorch class (from_tf=True), saved as safetensors."""
    import torch
    model = M.pt_class(name).from_pretrained(tf_hf_dir, from_tf=True, torch_dtype=torch.float32).eval()
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    return model


def pt_logits(model, ids, mask, position_ids):
    import torch
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids.astype(np.int64)),
                    attention_mask=torch.from_numpy(mask.astype(np.int64)),
                    position_ids=torch.from_numpy(position_ids.astype(np.int64)), use_cache=False)
    return out.logits.numpy()


def export_onnx(name, pt_dir, work, out_dir, config):
    """optimum's text-generation-with-past export, laid out as transformers.js loads a local model."""
    sys.path.insert(0, PYDEPS)
    try:
        from optimum.exporters.onnx import main_export
    except ImportError as e:
        raise RuntimeError(f"optimum is not installed in {PYDEPS}: run tools/decoder_bench/setup.sh ({e})")
    tmp = os.path.join(work, "optimum")
    shutil.rmtree(tmp, ignore_errors=True)
    # Validation is done below, against the PyTorch model on padded batches and step by step with past.
    main_export(pt_dir, output=tmp, task="text-generation-with-past", opset=OPSET, device="cpu",
                do_validation=False, legacy=False, no_post_process=False)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "onnx"))
    for f in os.listdir(tmp):
        if f.endswith(".onnx") or f.endswith(".onnx_data"):
            shutil.move(os.path.join(tmp, f), os.path.join(out_dir, "onnx", f))
    shutil.rmtree(tmp)
    # No EOS and no BOS anywhere: transformers.js then adds no EosTokenCriteria and no min-length processor,
    # so every generate() call runs exactly max_new_tokens steps, greedy, with no logits processor.
    cfg = config.to_dict()
    for key in ("eos_token_id", "bos_token_id", "pad_token_id"):
        cfg[key] = None
    cfg["architectures"] = [M.pt_class(name).__name__]
    write_json(os.path.join(out_dir, "config.json"), cfg)
    write_json(os.path.join(out_dir, "generation_config.json"), {
        "bos_token_id": None, "eos_token_id": None, "pad_token_id": None, "do_sample": False,
        "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_length": 0,
        "min_new_tokens": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
    })
    return os.path.join(out_dir, "onnx", "model.onnx")


def onnx_io(path):
    import onnx
    model = onnx.load(path, load_external_data=False)

    def describe(values):
        return [{"name": v.name, "elem_type": v.type.tensor_type.elem_type,
                 "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]} for v in values]

    return describe(model.graph.input), describe(model.graph.output)


def check_onnx(path, pt_model, config, ids, mask):
    """ONNX Runtime vs PyTorch: one run with an empty past, then prefill + one token per step with past."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    past_names = [n for n in inputs if n.startswith("past_key_values.")]
    kv_heads = inputs[past_names[0]].shape[1]
    head_dim = inputs[past_names[0]].shape[3]
    batch = ids.shape[0]
    want = pt_logits(pt_model, ids, mask, hf_position_ids(mask))

    def run(step_ids, step_mask, past):
        pos = hf_position_ids(step_mask)[:, -step_ids.shape[1]:]
        feeds = {"input_ids": step_ids.astype(np.int64), "attention_mask": step_mask.astype(np.int64),
                 "position_ids": pos.astype(np.int64)}
        feeds.update(past)
        feeds = {k: v for k, v in feeds.items() if k in inputs}
        names = [o.name for o in session.get_outputs()]
        outs = dict(zip(names, session.run(names, feeds)))
        present = {n.replace("present", "past_key_values"): v for n, v in outs.items() if n.startswith("present")}
        return outs["logits"], present

    empty = {n: np.zeros((batch, kv_heads, 0, head_dim), np.float32) for n in past_names}
    full, _ = run(ids, mask, empty)
    no_past = masked_max_diff(full, want, mask)

    prefill, past = run(ids[:, :CHECK_PREFILL], mask[:, :CHECK_PREFILL], empty)
    steps = [prefill]
    for t in range(CHECK_PREFILL, ids.shape[1]):
        logits, past = run(ids[:, t:t + 1], mask[:, :t + 1], past)
        steps.append(logits)
    stepped = np.concatenate(steps, axis=1)
    with_past = masked_max_diff(stepped, want, mask)
    greedy_same = int((stepped.argmax(-1) == want.argmax(-1))[mask.astype(bool)].sum())
    return {"onnx_vs_pytorch_no_past": no_past, "onnx_vs_pytorch_with_past": with_past,
            "onnx_with_past_argmax_equal": f"{greedy_same}/{int(mask.sum())}",
            "max_abs_logit": float(np.abs(want[mask.astype(bool)]).max())}


# ---------------------------------------------------------------------------------------------------------


def build_model(name, force):
    out = os.path.join(OUT_ROOT, name)
    manifest_path = os.path.join(out, "manifest.json")
    if not force and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("recipe_hash") == recipe_hash(name) and manifest.get("complete"):
            log(f"{name}: up to date ({manifest_path}); --force rebuilds it")
            return manifest
    os.makedirs(out, exist_ok=True)
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    seconds = {}
    t0 = time.time()

    log(f"{name}: TF model, seeded weights")
    tf_model, tf_hf_dir = build_tf(name, work)
    config = tf_model.config
    params = int(sum(np.prod(w.shape) for w in tf_model.weights))
    seconds["tf_build"] = time.time() - t0

    t = time.time()
    log(f"{name}: PyTorch model from the TF weights (from_tf=True)")
    pt_dir = os.path.join(out, "pytorch")
    pt_model = build_pt(name, tf_hf_dir, pt_dir)
    seconds["pytorch"] = time.time() - t

    t = time.time()
    log(f"{name}: SavedModel -> tensorflowjs_converter")
    tfjs_dir = os.path.join(out, "tfjs")
    function = export_tfjs(tf_model, work, tfjs_dir)
    seconds["tfjs_export"] = time.time() - t

    checks = {}
    t = time.time()
    log(f"{name}: checks TF vs PyTorch, tfjs-node vs TF")
    ids, mask = check_inputs(config.vocab_size, "left")
    tf_left = tf_logits(function, ids, mask)
    pt_left = pt_logits(pt_model, ids, mask, hf_position_ids(mask))
    checks["tf_vs_pytorch"] = masked_max_diff(tf_left, pt_left, mask)
    rids, rmask = check_inputs(config.vocab_size, "right")
    tf_right = tf_logits(function, rids, rmask)
    js_right, js_info = tfjs_logits(tfjs_dir, rids, rmask, work)
    checks["tfjs_vs_tf"] = masked_max_diff(js_right, tf_right, rmask)
    pt_right = pt_logits(pt_model, rids, rmask, hf_position_ids(rmask))
    checks["tfjs_vs_pytorch"] = masked_max_diff(js_right, pt_right, rmask)
    # Left padding gives the same logits as right padding for the same real tokens (positions follow the mask).
    checks["tf_left_vs_right_padding"] = max(
        float(np.abs(tf_left[r, mask[r] == 1] - tf_right[r, rmask[r] == 1]).max()) for r in range(len(CHECK_LENGTHS)))
    seconds["tf_checks"] = time.time() - t

    t = time.time()
    log(f"{name}: ONNX export (optimum, text-generation-with-past)")
    onnx_dir = os.path.join(out, "onnx")
    onnx_path = export_onnx(name, pt_dir, work, onnx_dir, pt_model.config)
    seconds["onnx_export"] = time.time() - t
    t = time.time()
    log(f"{name}: checks ONNX Runtime vs PyTorch")
    checks.update(check_onnx(onnx_path, pt_model, config, ids, mask))
    seconds["onnx_checks"] = time.time() - t
    onnx_inputs, onnx_outputs = onnx_io(onnx_path)

    shutil.rmtree(work, ignore_errors=True)
    import tensorflow as tf
    import torch
    import onnx
    import onnxruntime
    import transformers
    manifest = {
        "model": name,
        "recipe_hash": recipe_hash(name),
        **recipe(name),
        "model_type": config.model_type,
        "parameters": params,
        "checks": checks,
        "check_batch": {"lengths": CHECK_LENGTHS, "onnx_prefill": CHECK_PREFILL},
        "tfjs": {"dir": "tfjs", "bytes": dir_bytes(tfjs_dir), "inputs": js_info["inputs"],
                 "outputs": js_info["outputs"], "signature_output": "logits",
                 "model_json_sha256": sha256(os.path.join(tfjs_dir, "model.json"))},
        "onnx": {"dir": "onnx", "bytes": dir_bytes(onnx_dir), "inputs": onnx_inputs, "outputs": onnx_outputs,
                 "model_onnx_sha256": sha256(onnx_path)},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "versions": {"tensorflow": tf.__version__, "transformers": transformers.__version__,
                     "torch": torch.__version__.split("+")[0], "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "optimum": optimum_version()},
        "complete": True,
    }
    write_json(manifest_path, manifest)
    log(f"{name}: done in {time.time() - t0:.0f} s; checks {json.dumps(checks)}")
    return manifest


def optimum_version():
    sys.path.insert(0, PYDEPS)
    from optimum.version import __version__
    return __version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(M.MODELS), help="comma-separated, from: " + ", ".join(M.MODELS))
    parser.add_argument("--tiny", action="store_true", help="toy-size variants (<model>-tiny), to smoke-test the tooling")
    parser.add_argument("--force", action="store_true", help="rebuild even when the manifest is up to date")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in M.MODELS]
    if args.tiny:
        names = [n + "-tiny" for n in names]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {list(M.MODELS)}")
    os.makedirs(OUT_ROOT, exist_ok=True)
    summary = {}
    for name in names:
        summary[name] = build_model(name, args.force)["checks"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
