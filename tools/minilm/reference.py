"""Reference embeddings and token ids from sentence-transformers (PyTorch)."""
import numpy as np


def load_sentence_transformer(model_dir):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(model_dir), device="cpu")


def reference_embeddings(st_model, sentences):
    """Mean-pooled, L2-normalised embeddings exactly as sentence-transformers computes them."""
    return np.asarray(st_model.encode(sentences, batch_size=32, convert_to_numpy=True, normalize_embeddings=False),
                      np.float32)


def reference_token_ids(st_model, sentences):
    """The ids sentence-transformers feeds the model: its tokenizer, truncated at max_seq_length."""
    features = st_model.tokenize(sentences)
    ids, mask = features["input_ids"].numpy(), features["attention_mask"].numpy()
    return [[int(t) for t in row[m.astype(bool)]] for row, m in zip(ids, mask)]


def rounded(values, digits=7):
    """Floats with `digits` significant digits: float32 precision, half the JSON size."""
    return [float(f"{float(v):.{digits}g}") for v in values]
