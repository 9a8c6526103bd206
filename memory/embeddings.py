"""Sentence embeddings (all-MiniLM-L6-v2 by default), normalised so dot = cosine."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from assistant.errors import ModelError


class Embedder:
    def __init__(self, model_dir: Path, threads: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
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
        vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
