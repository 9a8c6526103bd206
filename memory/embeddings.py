"""Sentence embeddings (all-MiniLM-L6-v2 by default), normalised so dot = cosine.

Three interchangeable backends give the same vectors. For a BERT + mean-pooling model (the
default is one) the weights are read by ``memory.minilm`` and run by ONNX Runtime
(``memory.minilm_onnx``: a question in ~12 ms against NumPy's ~28), or by that NumPy
pass if ONNX Runtime cannot; sentence-transformers runs anything else. Neither fast path
imports torch, which makes every command that embeds start ~6 s sooner; see
benchmarks/embedding_speed.py.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from assistant.errors import ModelError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "numpy", "sentence-transformers")


def limit_blas_threads(threads: int) -> None:
    """Sets the process's NumPy BLAS threads (a global: it also computes Whisper's features).

    OpenBLAS threads spin-wait: with the 2 cores also busy (the LLM, TTS, another
    process), a 2-thread query measured 100-130 ms against 12-14 ms on one thread. The
    runtime sets it once when it starts, because the thread count changes the features'
    rounding and so, now and then, a transcribed word: results must not depend on which
    model happened to load first. Only BLAS: CTranslate2 and llama.cpp set their own."""
    import numpy  # noqa: F401  (threadpoolctl limits only libraries already loaded)
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads, user_api="blas")


class Embedder:
    def __init__(self, model_dir: Path, threads: int = 1, backend: str = "auto",
                 cache_dir: Path | None = None) -> None:
        """``cache_dir`` (the model cache) keeps the ONNX graph built from the weights."""
        from . import minilm
        self.model_dir = Path(model_dir)
        if backend in ("onnx", "numpy") or (backend == "auto" and minilm.supports(self.model_dir)):
            limit_blas_threads(threads)
            onnx_error = ""
            if backend in ("auto", "onnx"):
                try:
                    from .minilm_onnx import OnnxBert
                    self._fast, self.backend = OnnxBert(self.model_dir, threads, cache_dir), "onnx"
                    self.dim = self._fast.dim
                    return
                except Exception as e:
                    onnx_error = str(e).splitlines()[0][:120] if str(e) else e.__class__.__name__
                    if backend == "onnx":
                        raise ModelError(f"cannot run embedding model {model_dir} in ONNX Runtime "
                                         f"({onnx_error}); set memory.embedding_backend = \"numpy\"") from None
            try:
                self._fast = minilm.NumpyBert(self.model_dir)
            except Exception as e:
                raise ModelError(f"cannot load embedding model from {model_dir} with NumPy "
                                 f"({str(e).splitlines()[0][:120]}); set memory.embedding_backend = "
                                 "\"sentence-transformers\" or check the model directory") from None
            if onnx_error:
                log.warning("embedding in NumPy: ONNX Runtime could not run %s (%s)", model_dir, onnx_error)
            self.backend, self.dim = "numpy", self._fast.dim
            return
        self._fast = None
        self.backend = "sentence-transformers"
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ModelError(f"the embedding model {model_dir} needs sentence-transformers, an optional "
                             "extra: install it with  pip install -e '.[sentence-transformers]'  "
                             "(torch 2.13.0 CPU), or set memory.embedding_model = \"\" for the default") from None
        hf_logging.disable_progress_bar()   # "Loading weights" bars on every start
        torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except Exception as e:
            raise ModelError(f"cannot load embedding model from {model_dir} "
                             f"({str(e).splitlines()[0][:120]}); set memory.embedding_model to a "
                             "sentence-transformers directory or \"\" for the default")
        self.dim: int = self.model.get_embedding_dimension()

    def warm(self) -> None:
        self.embed(["warm up"])

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if self._fast is not None:
            return self._fast.encode(texts, batch_size)
        vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_many(self, texts: list[str], batch_size: int = 64, progress: bool = False,
                   desc: str = "embedding", on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed a large list in chunks, with a progress bar on stderr when asked."""
        out = np.zeros((len(texts), self.dim), np.float32)
        chunk = max(batch_size * 8, 256)
        bar = None
        if progress and texts:
            from tqdm import tqdm
            bar = tqdm(total=len(texts), desc=desc, unit=" texts", leave=False)
        for start in range(0, len(texts), chunk):
            part = texts[start:start + chunk]
            out[start:start + len(part)] = self.embed(part, batch_size)
            if bar:
                bar.update(len(part))
            if on_batch:
                on_batch(start + len(part))
        if bar:
            bar.close()
        return out
