"""A NumPy forward pass for BERT-style sentence-transformers models with mean pooling.

Why: importing torch + sentence-transformers costs ~6 s on this 2-core CPU, while the same
six-layer MiniLM in NumPy loads in ~0.7 s with the same vectors (cosine > 0.9999, checked
by tests/test_embeddings.py and benchmarks/embedding_speed.py). It also reads the weights
that memory.minilm_onnx turns into the ONNX Runtime graph, which embeds a question in
~12 ms against this pass's ~28 (2-core AMD EPYC, one thread); this pass is the fallback.
Models it does not understand are left to sentence-transformers (see ``supports``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def supports(model_dir: Path) -> bool:
    """True for a BERT encoder + mean pooling model in safetensors, like all-MiniLM-L6-v2."""
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    return (cfg.get("model_type") == "bert" and cfg.get("hidden_act") == "gelu"
            and cfg.get("position_embedding_type", "absolute") == "absolute"
            and kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and pooling.get("pooling_mode_mean_tokens") is True
            and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                                  "pooling_mode_mean_sqrt_len_tokens"))
            and (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists())


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), in NumPy.

    scipy.special.erf was the only use of SciPy (~100 MB of the venv); this stays below
    float32 resolution for GELU, so the embeddings agree with sentence-transformers to
    the same tolerance as before (tests/test_embeddings.py).
    """
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    r = 1.0 - t * np.exp(poly)
    return np.where(x >= 0, r, -r).astype(x.dtype, copy=False)


def load_tokenizer(model_dir: Path):
    """(tokenizer without padding, truncating at the model's max length; that length)."""
    from tokenizers import Tokenizer
    cfg = json.loads((model_dir / "config.json").read_text())
    st_cfg_file = model_dir / "sentence_bert_config.json"
    st_cfg = json.loads(st_cfg_file.read_text()) if st_cfg_file.exists() else {}
    max_len = min(int(st_cfg.get("max_seq_length", 512)), int(cfg["max_position_embeddings"]))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_len)
    return tokenizer, max_len


class MeanPooledEncoder:
    """Tokenise, batch by length, run ``_forward`` (ids, mask → mean-pooled states), normalise.

    Shared by the NumPy pass here and the ONNX Runtime one (memory.minilm_onnx)."""
    tokenizer: object
    dim: int
    batch_cap = 1 << 30         # a backend whose padding costs more batches smaller

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length embeddings; texts are batched by length so padding stays small."""
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        batch_size = max(1, min(batch_size, self.batch_cap))
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            n = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), n), np.int64)
            mask = np.zeros((len(chunk), n), np.float32)
            for row, i in enumerate(chunk):
                e = encodings[i].ids
                ids[row, :len(e)], mask[row, :len(e)] = e, 1.0
            pooled = self._forward(ids, mask)
            out[chunk] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


class NumpyBert(MeanPooledEncoder):
    """Same arithmetic as transformers' BertModel (exact erf GELU), then mean pooling."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        self._erf = erf
        cfg = json.loads((model_dir / "config.json").read_text())
        self.tokenizer, self.max_len = load_tokenizer(model_dir)
        self.heads, self.eps = int(cfg["num_attention_heads"]), float(cfg["layer_norm_eps"])
        self.dim = int(cfg["hidden_size"])
        w = {k.removeprefix("bert."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        self.word, self.pos = f32(w["embeddings.word_embeddings.weight"]), f32(w["embeddings.position_embeddings.weight"])
        self.type0 = f32(w["embeddings.token_type_embeddings.weight"][0])
        self.emb_ln = (f32(w["embeddings.LayerNorm.weight"]), f32(w["embeddings.LayerNorm.bias"]))
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(tuple(f32(a) for a in (
                qkv_w, qkv_b,
                w[p + "attention.output.dense.weight"].T, w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                w[p + "intermediate.dense.weight"].T, w[p + "intermediate.dense.bias"],
                w[p + "output.dense.weight"].T, w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])))

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        h, d = self.heads, self.dim // self.heads
        x = self.word[ids] + self.pos[:n] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = ((1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(d))
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(b, n, 3, h, d).transpose(2, 0, 3, 1, 4)
            scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, self.dim)
            x = _layer_norm(ctx @ o_w + o_b + x, ln1_w, ln1_b, self.eps)
            inner = x @ i_w + i_b
            inner = 0.5 * inner * (1.0 + self._erf(inner * np.float32(1 / np.sqrt(2))))
            x = _layer_norm(inner @ f_w + f_b + x, ln2_w, ln2_b, self.eps)
        m = mask[:, :, None]
        return (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
