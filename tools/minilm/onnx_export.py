"""The same PyTorch weights exported to ONNX fp32, laid out as transformers.js loads a local model.

transformers.js reads <dir>/config.json, tokenizer.json, tokenizer_config.json
and onnx/model.onnx (dtype 'fp32'). No quantisation: the race compares engines
on the same fp32 weights.
"""
import os
import shutil

import numpy as np
import torch

INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
LAYOUT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class LastHiddenState(torch.nn.Module):
    """BertModel returning only last_hidden_state, the output transformers.js' feature extraction pools."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         return_dict=True).last_hidden_state


def export_onnx(model_dir, out_dir):
    from transformers import BertModel
    bert = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    os.makedirs(os.path.join(out_dir, "onnx"), exist_ok=True)
    for name in LAYOUT_FILES:
        shutil.copy2(os.path.join(model_dir, name), os.path.join(out_dir, name))
    example = torch.ones((2, 8), dtype=torch.int64)
    dynamic = {0: "batch", 1: "sequence"}
    path = os.path.join(out_dir, "onnx", "model.onnx")
    # eval() on the wrapper too: export restores the module's training flag afterwards, and a wrapper left
    # in training mode would switch BERT's dropout back on for the check below.
    torch.onnx.export(LastHiddenState(bert).eval(), (example, example, torch.zeros_like(example)), path,
                      input_names=INPUT_NAMES, output_names=["last_hidden_state"],
                      dynamic_axes={**{n: dynamic for n in INPUT_NAMES}, "last_hidden_state": dynamic},
                      opset_version=14, do_constant_folding=True)
    return bert, path


def check_onnx(bert, path, token_ids):
    """Largest |ONNX Runtime - PyTorch| over a padded batch of the given sentences."""
    import onnxruntime
    longest = max(len(ids) for ids in token_ids)
    ids = np.zeros((len(token_ids), longest), np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(token_ids):
        ids[i, :len(row)], mask[i, :len(row)] = row, 1
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    runtime = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = runtime.run(None, feeds)[0]
    with torch.no_grad():
        want = bert(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    return float(np.abs((got - want) * mask[..., None]).max())
