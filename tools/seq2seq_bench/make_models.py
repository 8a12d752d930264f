"""Builds the random encoder-decoder models of the generation benchmark (npm run bench:generate -- --seq2seq).

For each model of models.py (marian-6l, t5-small) it initialises one seeded set of fp32 weights in the
Transformers PyTorch class, loads the same weights into the TF class (from_pt=True), checks TF against
PyTorch, and writes under .deps/bench-seq2seq/<model>/:

  pytorch/         the PyTorch weights (safetensors) and config both exports are made from
  tfjs/            tfjs graph model (tensorflowjs_converter --input_format=tf_saved_model
                   --output_format=tfjs_graph_model) of a SavedModel whose serving signature is
                   input_ids, attention_mask, decoder_input_ids (int32 [batch, seq], dynamic)
                   -> logits [batch, decoder seq, vocab]; the whole forward, no past inputs
  tfjs_encoder/    (t5-small) the encoder alone, TFT5EncoderModel with the same weights:
                   input_ids, attention_mask -> last_hidden_state [batch, seq, d_model]
  onnx/            the same weights exported by optimum (text2text-generation-with-past) as transformers.js
                   4.3.1 loads a local seq2seq model: config.json, generation_config.json,
                   onnx/encoder_model.onnx (input_ids, attention_mask -> last_hidden_state) and
                   onnx/decoder_model_merged.onnx (input_ids, encoder_attention_mask, encoder_hidden_states,
                   past_key_values.{i}.{decoder,encoder}.{key,value}, use_cache_branch -> logits, present.*)
  manifest.json    config, seed, sizes, file hashes, timings and the checks' differences

Checks (relative = max |difference| / max |reference| over the real positions): TF vs PyTorch, tfjs-node vs
PyTorch, ONNX Runtime vs PyTorch (encoder, merged decoder without past, and step by step with past),
the encoder alone (tfjs-node and ONNX Runtime) vs PyTorch. Each must be within 1e-4 relative.

  .deps/minilm-venv/bin/python tools/seq2seq_bench/make_models.py [--models marian-6l,t5-small] [--force] [--tiny]

Needs tools/minilm/setup.sh (the venv) and tools/decoder_bench/setup.sh (optimum in .deps/bench-decoders/pydeps).
Idempotent: a model whose manifest.json matches the current recipe is skipped (--force rebuilds it).
Deterministic: torch's CPU initialisation under a fixed seed; nothing is downloaded.
"""
import argparse
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's graph rewrites (e.g. _MklLayerNorm) would reach the converter, which has no tfjs op for them.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_ROOT = os.path.join(ROOT, ".deps", "bench-seq2seq")
PYDEPS = os.path.join(ROOT, ".deps", "bench-decoders", "pydeps")  # optimum, installed by tools/decoder_bench/setup.sh
CONVERTER = os.path.join(os.path.dirname(sys.executable), "tensorflowjs_converter")
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import models as M  # noqa: E402

# Bump when the recipe changes in a way the manifest's config does not show (export, checks, layout).
RECIPE_VERSION = 1
OPSET = 14
TOLERANCE = 1e-4  # relative: max |difference| / max |reference|
# The check batch: 3 sources of 24, 17 and 9 real tokens (right-padded), 10 decoder tokens each.
CHECK_LENGTHS = [24, 17, 9]
CHECK_DECODER_LENGTH = 10
CHECK_PREFILL = 4  # ONNX with past: this many decoder positions at once, then one per step


def log(message):
    print(f"[seq2seq_bench] {message}", flush=True)


def recipe(name):
    spec = M.spec_of(name)
    return {"recipe_version": RECIPE_VERSION, "family": spec["family"], "seed": spec["seed"],
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


def check_inputs(config, seed=7):
    """The check batch: int32 source ids and mask (right-padded with the pad id), decoder ids starting with the
    decoder start token."""
    rng = np.random.default_rng(seed)
    vocab = config.vocab_size
    pad = config.pad_token_id
    longest = max(CHECK_LENGTHS)
    ids = np.full((len(CHECK_LENGTHS), longest), pad, np.int32)
    mask = np.zeros_like(ids)
    for row, n in enumerate(CHECK_LENGTHS):
        ids[row, :n] = rng.integers(2, vocab - 1, size=n)
        mask[row, :n] = 1
    dec = rng.integers(2, vocab - 1, size=(len(CHECK_LENGTHS), CHECK_DECODER_LENGTH)).astype(np.int32)
    dec[:, 0] = config.decoder_start_token_id
    return ids, mask, dec


def rel_diff(a, b):
    """max |a - b| / max |b| (b: the reference)."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def masked_rel_diff(a, b, mask):
    m = mask.astype(bool)
    return float(np.abs(a - b)[m].max() / np.abs(b[m]).max())


# ---------------------------------------------------------------------------------------------------------
# PyTorch


def build_pt(name, out_dir):
    """The PyTorch model, initialised by the class under a fixed seed, saved as safetensors."""
    import torch
    torch.manual_seed(M.spec_of(name)["seed"])
    model = M.pt_class(name)(M.hf_config(name)).eval()
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    return model


def pt_logits(model, ids, mask, dec):
    import torch
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids.astype(np.int64)),
                    attention_mask=torch.from_numpy(mask.astype(np.int64)),
                    decoder_input_ids=torch.from_numpy(dec.astype(np.int64)), use_cache=False)
    return out.logits.numpy(), out.encoder_last_hidden_state.numpy()


# ---------------------------------------------------------------------------------------------------------
# TF and tfjs


class _Patch:
    def __init__(self, *triples):
        self.triples = triples
        self.saved = []

    def __enter__(self):
        for owner, attr, value in self.triples:
            self.saved.append((owner, attr, owner.__dict__[attr]))
            setattr(owner, attr, value)
        return self

    def __exit__(self, *exc):
        for owner, attr, value in reversed(self.saved):
            setattr(owner, attr, value)
        self.saved = []


def _marian_patches():
    """TFMarianDecoder.call chooses its self-attention mask with `if input_shape[-1] > 1:` on a dynamic length,
    which exports as Switch/Merge; tfjs then feeds the branch's control input into a stack op ("All tensors
    passed to stack must have matching dtypes", /work/shared/notes/converter-pitfalls.md). The patched call is
    the same source with that test replaced by True: the causal branch, which a full forward always takes (for
    one token the causal mask is all zeros anyway). _make_causal_mask builds its mask from tf.range comparisons
    (no MatrixBandPart)."""
    from transformers.models.marian import modeling_tf_marian as TM
    original = TM.TFMarianDecoder.call
    source = textwrap.dedent(inspect.getsource(original))
    test = "if input_shape[-1] > 1:"
    if source.count(test) != 1:
        raise RuntimeError(f"TFMarianDecoder.call no longer has exactly one '{test}': review the export patch")
    namespace = {}
    exec(compile(source.replace(test, "if True:"), TM.__file__, "exec"), vars(TM), namespace)
    return _Patch((TM.TFMarianDecoder, "call", namespace["call"]))


def export_patches(name):
    return _marian_patches() if M.spec_of(name)["family"] == "marian" else _Patch()


def build_tf(name, pt_dir):
    import tensorflow as tf
    import tf_keras
    tf_keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    return M.tf_class(name).from_pretrained(pt_dir, from_pt=True)


def seq2seq_serving(model):
    import tensorflow as tf
    signature = [tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                 tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
                 tf.TensorSpec([None, None], tf.int32, name="decoder_input_ids")]

    def serve(input_ids, attention_mask, decoder_input_ids):
        out = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                    use_cache=False, training=False)
        return {"logits": out.logits}

    return tf.function(serve, input_signature=signature)


def encoder_serving(model):
    import tensorflow as tf
    signature = [tf.TensorSpec([None, None], tf.int32, name="input_ids"),
                 tf.TensorSpec([None, None], tf.int32, name="attention_mask")]

    def serve(input_ids, attention_mask):
        out = model(input_ids=input_ids, attention_mask=attention_mask, training=False)
        return {"last_hidden_state": out.last_hidden_state}

    return tf.function(serve, input_signature=signature)


def export_tfjs(model, function, work, out_dir):
    import tensorflow as tf
    saved = os.path.join(work, "saved_model")
    shutil.rmtree(saved, ignore_errors=True)
    tf.saved_model.save(model, saved, signatures={"serving_default": function.get_concrete_function()})
    shutil.rmtree(out_dir, ignore_errors=True)
    run = subprocess.run([CONVERTER, "--input_format=tf_saved_model", "--output_format=tfjs_graph_model",
                          "--signature_name=serving_default", "--saved_model_tags=serve", saved, out_dir],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"tensorflowjs_converter failed:\n{run.stderr[-4000:]}")
    shutil.rmtree(saved, ignore_errors=True)


def run_tf(function, feeds):
    import tensorflow as tf
    out = function(**{k: tf.constant(v) for k, v in feeds.items()})
    return next(iter(out.values())).numpy()


def run_tfjs(tfjs_dir, feeds, output, work):
    inputs = os.path.join(work, "tfjs_check_inputs.json")
    out = os.path.join(work, "tfjs_check_output.bin")
    write_json(inputs, {k: v.tolist() for k, v in feeds.items()})
    run = subprocess.run(["node", os.path.join(HERE, "check_tfjs.js"), tfjs_dir, inputs, output, out], cwd=ROOT,
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"tfjs-node could not run {tfjs_dir}:\n{run.stderr[-4000:]}")
    info = json.loads(run.stdout.strip().splitlines()[-1])
    return np.fromfile(out, dtype="<f4").reshape(info["shape"]), info


# ---------------------------------------------------------------------------------------------------------
# ONNX


def export_onnx(name, pt_dir, work, out_dir, config):
    """optimum's text2text-generation-with-past export, laid out as transformers.js loads a local seq2seq model."""
    sys.path.insert(0, PYDEPS)
    try:
        from optimum.exporters.onnx import main_export
    except ImportError as e:
        raise RuntimeError(f"optimum is not installed in {PYDEPS}: run tools/decoder_bench/setup.sh ({e})")
    tmp = os.path.join(work, "optimum")
    shutil.rmtree(tmp, ignore_errors=True)
    # Validation is done below, against the PyTorch model on a padded batch and step by step with past.
    main_export(pt_dir, output=tmp, task="text2text-generation-with-past", opset=OPSET, device="cpu",
                do_validation=False, legacy=False, no_post_process=False)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "onnx"))
    kept = []
    for f in sorted(os.listdir(tmp)):
        # transformers.js loads encoder_model and decoder_model_merged; the unmerged decoders are not needed.
        if f.startswith(("encoder_model.onnx", "decoder_model_merged.onnx")):
            shutil.move(os.path.join(tmp, f), os.path.join(out_dir, "onnx", f))
            kept.append(f)
    if "decoder_model_merged.onnx" not in kept:
        raise RuntimeError(f"optimum made no decoder_model_merged.onnx: {sorted(os.listdir(tmp))}")
    shutil.rmtree(tmp)
    # No EOS anywhere and no logits processor: transformers.js then adds no EosTokenCriteria, so every generate()
    # call runs exactly max_new_tokens steps; the decoder start token stays (it begins every decoder sequence).
    cfg = config.to_dict()
    for key in ("eos_token_id", "bos_token_id", "forced_eos_token_id", "forced_bos_token_id", "bad_words_ids"):
        cfg[key] = None
    cfg["architectures"] = [M.pt_class(name).__name__]
    write_json(os.path.join(out_dir, "config.json"), cfg)
    write_json(os.path.join(out_dir, "generation_config.json"), {
        "decoder_start_token_id": config.decoder_start_token_id, "pad_token_id": config.pad_token_id,
        "bos_token_id": None, "eos_token_id": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
        "bad_words_ids": None, "do_sample": False, "num_beams": 1, "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0, "min_length": 0, "min_new_tokens": None, "max_length": 512,
    })
    return os.path.join(out_dir, "onnx")


def onnx_io(path):
    import onnx
    model = onnx.load(path, load_external_data=False)

    def describe(values):
        return [{"name": v.name, "elem_type": v.type.tensor_type.elem_type,
                 "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]} for v in values]

    return describe(model.graph.input), describe(model.graph.output)


def check_onnx(onnx_dir, ids, mask, dec, want_logits, want_hidden):
    """ONNX Runtime vs PyTorch: the encoder; the merged decoder without past on the whole decoder input; then
    CHECK_PREFILL decoder positions and one per step with past key/values."""
    import onnxruntime
    opts = dict(providers=["CPUExecutionProvider"])
    enc = onnxruntime.InferenceSession(os.path.join(onnx_dir, "encoder_model.onnx"), **opts)
    decoder = onnxruntime.InferenceSession(os.path.join(onnx_dir, "decoder_model_merged.onnx"), **opts)
    hidden = enc.run(["last_hidden_state"], {"input_ids": ids.astype(np.int64),
                                             "attention_mask": mask.astype(np.int64)})[0]
    inputs = {i.name: i for i in decoder.get_inputs()}
    past_names = [n for n in inputs if n.startswith("past_key_values.")]
    heads = inputs[past_names[0]].shape[1]
    head_dim = inputs[past_names[0]].shape[3]
    batch = ids.shape[0]
    out_names = [o.name for o in decoder.get_outputs()]

    def run(step_ids, past, use_cache):
        feeds = {"input_ids": step_ids.astype(np.int64), "encoder_hidden_states": hidden,
                 "encoder_attention_mask": mask.astype(np.int64), "use_cache_branch": np.array([use_cache])}
        feeds.update(past)
        feeds = {k: v for k, v in feeds.items() if k in inputs}
        outs = dict(zip(out_names, decoder.run(out_names, feeds)))
        present = {}
        for n, v in outs.items():
            if n.startswith("present"):
                key = n.replace("present", "past_key_values")
                # As transformers.js does: the encoder (cross-attention) keys/values of later steps are the first's.
                present[key] = past[key] if (use_cache and ".encoder." in n) else v
        return outs["logits"], present

    empty = {n: np.zeros((batch, heads, 0, head_dim), np.float32) for n in past_names}
    full, _ = run(dec, empty, False)
    prefill, past = run(dec[:, :CHECK_PREFILL], empty, False)
    steps = [prefill]
    for t in range(CHECK_PREFILL, dec.shape[1]):
        logits, past = run(dec[:, t:t + 1], past, True)
        steps.append(logits)
    stepped = np.concatenate(steps, axis=1)
    return {
        "onnx_encoder_vs_pytorch": masked_rel_diff(hidden, want_hidden, mask),
        "onnx_vs_pytorch_no_past": rel_diff(full, want_logits),
        "onnx_vs_pytorch_with_past": rel_diff(stepped, want_logits),
        "onnx_with_past_argmax_equal": f"{int((stepped.argmax(-1) == want_logits.argmax(-1)).sum())}/{stepped.shape[0] * stepped.shape[1]}",
    }


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

    log(f"{name}: PyTorch model, seeded initialisation")
    pt_dir = os.path.join(out, "pytorch")
    pt_model = build_pt(name, pt_dir)
    config = pt_model.config
    params = int(sum(p.numel() for p in pt_model.parameters()))
    seconds["pytorch"] = time.time() - t0

    ids, mask, dec = check_inputs(config)
    want_logits, want_hidden = pt_logits(pt_model, ids, mask, dec)
    feeds = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}
    checks = {"max_abs_logit": float(np.abs(want_logits).max())}

    t = time.time()
    log(f"{name}: TF model from the PyTorch weights (from_pt=True), SavedModel -> tensorflowjs_converter")
    tfjs_dir = os.path.join(out, "tfjs")
    with export_patches(name):
        tf_model = build_tf(name, pt_dir)
        function = seq2seq_serving(tf_model)
        checks["tf_vs_pytorch"] = rel_diff(run_tf(function, feeds), want_logits)
        export_tfjs(tf_model, function, work, tfjs_dir)
    seconds["tfjs_export"] = time.time() - t

    t = time.time()
    log(f"{name}: check tfjs-node vs PyTorch")
    js_logits, js_info = run_tfjs(tfjs_dir, feeds, "logits", work)
    checks["tfjs_vs_pytorch"] = rel_diff(js_logits, want_logits)
    checks["tfjs_argmax_equal"] = f"{int((js_logits.argmax(-1) == want_logits.argmax(-1)).sum())}/{dec.size}"
    seconds["tfjs_check"] = time.time() - t

    encoder_entry = None
    if M.tf_encoder_class(name) is not None:
        t = time.time()
        log(f"{name}: the encoder alone ({M.tf_encoder_class(name).__name__}, same weights) -> tfjs")
        enc_dir = os.path.join(out, "tfjs_encoder")
        enc_model = M.tf_encoder_class(name).from_pretrained(pt_dir, from_pt=True)
        enc_function = encoder_serving(enc_model)
        enc_feeds = {"input_ids": ids, "attention_mask": mask}
        checks["tf_encoder_vs_pytorch"] = masked_rel_diff(run_tf(enc_function, enc_feeds), want_hidden, mask)
        export_tfjs(enc_model, enc_function, work, enc_dir)
        js_hidden, enc_info = run_tfjs(enc_dir, enc_feeds, "last_hidden_state", work)
        checks["tfjs_encoder_vs_pytorch"] = masked_rel_diff(js_hidden, want_hidden, mask)
        encoder_entry = {"dir": "tfjs_encoder", "bytes": dir_bytes(enc_dir), "inputs": enc_info["inputs"],
                         "outputs": enc_info["outputs"], "signature_output": "last_hidden_state",
                         "model_json_sha256": sha256(os.path.join(enc_dir, "model.json"))}
        seconds["tfjs_encoder"] = time.time() - t

    t = time.time()
    log(f"{name}: ONNX export (optimum, text2text-generation-with-past)")
    onnx_dir = os.path.join(out, "onnx")
    onnx_files = export_onnx(name, pt_dir, work, onnx_dir, config)
    seconds["onnx_export"] = time.time() - t
    t = time.time()
    log(f"{name}: checks ONNX Runtime vs PyTorch")
    checks.update(check_onnx(onnx_files, ids, mask, dec, want_logits, want_hidden))
    seconds["onnx_checks"] = time.time() - t
    enc_in, enc_out = onnx_io(os.path.join(onnx_files, "encoder_model.onnx"))
    dec_in, dec_out = onnx_io(os.path.join(onnx_files, "decoder_model_merged.onnx"))

    failed = {k: v for k, v in checks.items() if isinstance(v, float) and k != "max_abs_logit" and not v <= TOLERANCE}
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
        "tolerance": TOLERANCE,
        "check_batch": {"source_lengths": CHECK_LENGTHS, "decoder_length": CHECK_DECODER_LENGTH,
                        "onnx_prefill": CHECK_PREFILL},
        "tfjs": {"dir": "tfjs", "bytes": dir_bytes(tfjs_dir), "inputs": js_info["inputs"],
                 "outputs": js_info["outputs"], "signature_output": "logits",
                 "model_json_sha256": sha256(os.path.join(tfjs_dir, "model.json"))},
        "tfjs_encoder": encoder_entry,
        "onnx": {"dir": "onnx", "bytes": dir_bytes(onnx_dir),
                 "encoder_model": {"inputs": enc_in, "outputs": enc_out,
                                   "sha256": sha256(os.path.join(onnx_files, "encoder_model.onnx"))},
                 "decoder_model_merged": {"inputs": dec_in, "outputs": dec_out,
                                          "sha256": sha256(os.path.join(onnx_files, "decoder_model_merged.onnx"))}},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "versions": {"tensorflow": tf.__version__, "transformers": transformers.__version__,
                     "torch": torch.__version__.split("+")[0], "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "optimum": optimum_version()},
        "complete": not failed,
    }
    write_json(manifest_path, manifest)
    if failed:
        raise RuntimeError(f"{name}: checks above {TOLERANCE} relative: {failed} (manifest left incomplete)")
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
    if unknown:
        parser.error(f"unknown models {unknown}; known: {list(M.MODELS)}")
    if args.tiny:
        names = [n + "-tiny" for n in names]
    os.makedirs(OUT_ROOT, exist_ok=True)
    summary = {}
    for name in names:
        summary[name] = build_model(name, args.force)["checks"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
