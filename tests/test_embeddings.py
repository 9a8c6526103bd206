"""The NumPy MiniLM gives the same vectors as sentence-transformers, without torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from tests.conftest import REPO

TEXTS = ["When is my sister's birthday?", "hi", "(8 May 2023) Caroline: I went to a LGBTQ support group "
         "yesterday and it was so powerful." * 12, "Ünïcödé café, naïve résumé!", ""]


def test_numpy_backend_matches_sentence_transformers():
    """Against vectors sentence-transformers 6.2.0 (torch 2.13.0 CPU) gave for TEXTS, saved in
    tests/data/minilm_reference.npy: torch is no longer installed by default (issue 18)."""
    from benchmarks.memory_locomo import packaged_model_dir
    from memory.embeddings import Embedder
    from tests.conftest import TEST_DATA
    fast = Embedder(packaged_model_dir(), backend="auto")
    assert fast.backend == "numpy"
    a, b = fast.embed(TEXTS), np.load(TEST_DATA / "minilm_reference.npy")
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9999
    batched = fast.embed_many(TEXTS * 40, batch_size=7)       # batching and padding change nothing
    assert np.allclose(batched[:len(TEXTS)], a, atol=1e-5)


def test_embedding_a_query_does_not_import_torch():
    code = ("import sys; sys.path.insert(0, '.');"
            "from memory.embeddings import Embedder; from benchmarks.memory_locomo import packaged_model_dir;"
            "Embedder(packaged_model_dir()).embed_one('hello'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
