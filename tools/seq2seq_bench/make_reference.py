"""Python's generate() on a built seq2seq model, as a reference for the benchmark's engines and its beam search.

For each model in .deps/bench-seq2seq/<model>/ (made by make_models.py) it runs the PyTorch model's generate()
(Transformers 4.44) on a few seeded sources without EOS, greedy and with 4 beams, and writes reference.json:

  {"sources": [[...], ...], "new_tokens": N,
   "greedy": [[...], ...], "beams": {"4": [[...], ...]}}   # new tokens only, decoder start token excluded

The generation config is given in full (no EOS, no forced EOS, no bad words, length penalty 1, no early
stopping), so the model's own config changes nothing; every row gets exactly N new tokens.
npm run bench:generate -- --seq2seq runs every engine on these sources first and reports its agreement.

  .deps/minilm-venv/bin/python tools/seq2seq_bench/make_reference.py [--models marian-6l,t5-small] [--tiny]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_ROOT = os.path.join(ROOT, ".deps", "bench-seq2seq")
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import models as M  # noqa: E402

SOURCES = 3
SOURCE_LENGTH = 16
NEW_TOKENS = 16
BEAMS = [4]


def reference(name):
    import torch
    from transformers import GenerationConfig
    model_dir = os.path.join(OUT_ROOT, name)
    model = M.pt_class(name).from_pretrained(os.path.join(model_dir, "pytorch"), torch_dtype=torch.float32).eval()
    config = model.config
    rng = np.random.default_rng(11)
    sources = rng.integers(2, config.vocab_size - 2, size=(SOURCES, SOURCE_LENGTH))
    ids = torch.from_numpy(sources.astype(np.int64))
    mask = torch.ones_like(ids)

    def run(beams):
        gc = GenerationConfig(decoder_start_token_id=config.decoder_start_token_id, pad_token_id=config.pad_token_id,
                              eos_token_id=None, bos_token_id=None, forced_eos_token_id=None, forced_bos_token_id=None,
                              bad_words_ids=None, num_beams=beams, do_sample=False, max_new_tokens=NEW_TOKENS,
                              min_new_tokens=0, length_penalty=1.0, early_stopping=False, no_repeat_ngram_size=0,
                              repetition_penalty=1.0, use_cache=True)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gc)
        tokens = out[:, 1:].tolist()  # drop the decoder start token
        assert all(len(t) == NEW_TOKENS for t in tokens), [len(t) for t in tokens]
        return tokens

    result = {"model": name, "sources": sources.tolist(), "new_tokens": NEW_TOKENS, "greedy": run(1),
              "beams": {str(k): run(k) for k in BEAMS}}
    with open(os.path.join(model_dir, "reference.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(f"[seq2seq_bench] {name}: reference.json ({SOURCES} sources of {SOURCE_LENGTH}, {NEW_TOKENS} new tokens, "
          f"greedy and {BEAMS} beams)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(M.MODELS))
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    for name in [n for n in args.models.split(",") if n]:
        reference(name + "-tiny" if args.tiny else name)


if __name__ == "__main__":
    main()
