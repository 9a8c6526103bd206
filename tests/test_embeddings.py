"""The ONNX Runtime and NumPy MiniLM give the same vectors as sentence-transformers, without torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

TEXTS = ["When is my sister's birthday?", "hi", "(8 May 2023) Caroline: I went to a LGBTQ support group "
         "yesterday and it was so powerful." * 12, "Ünïcödé café, naïve résumé!", ""]


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_fast_backends_match_sentence_transformers(backend, tmp_path):
    """Against vectors sentence-transformers 6.2.0 (torch 2.13.0 CPU) gave for TEXTS, saved in
    tests/data/minilm_reference.npy: torch is no longer installed by default (issue 18).
    "auto" is ONNX Runtime (memory.minilm_onnx); NumPy is its fallback."""
    from benchmarks.memory_locomo import packaged_model_dir
    from memory.embeddings import Embedder
    from tests.conftest import TEST_DATA
    fast = Embedder(packaged_model_dir(), backend=backend, cache_dir=tmp_path)
    assert fast.backend == ("onnx" if backend == "auto" else "numpy")
    a, b = fast.embed(TEXTS), np.load(TEST_DATA / "minilm_reference.npy")
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9999
    batched = fast.embed_many(TEXTS * 40, batch_size=7)       # batching and padding change nothing
    assert np.allclose(batched[:len(TEXTS)], a, atol=1e-5)


def test_onnx_graph_is_cached_and_a_torn_one_rebuilt(tmp_path):
    """The first load writes the graph to the model cache; the next reads it (no ``onnx``
    import, ~1.5 s); a truncated file is rebuilt, not an error."""
    from benchmarks.memory_locomo import packaged_model_dir
    from memory.embeddings import Embedder
    from memory.minilm_onnx import graph_file
    first = Embedder(packaged_model_dir(), cache_dir=tmp_path)
    path = graph_file(packaged_model_dir(), tmp_path)
    assert first.backend == "onnx" and path.stat().st_size > 80e6
    code = ("import sys; sys.path.insert(0, '.'); from pathlib import Path;"
            "from memory.embeddings import Embedder; from benchmarks.memory_locomo import packaged_model_dir;"
            f"e = Embedder(packaged_model_dir(), cache_dir=Path({str(tmp_path)!r})); e.embed_one('hi');"
            "print(e.backend, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnx", "False"]
    path.write_bytes(path.read_bytes()[:1000])
    again = Embedder(packaged_model_dir(), cache_dir=tmp_path)
    assert again.backend == "onnx" and path.stat().st_size > 80e6
    assert float(again.embed_one("hello there") @ first.embed_one("hello there")) > 0.99999


def test_embedding_a_query_does_not_import_torch():
    code = ("import sys; sys.path.insert(0, '.');"
            "from memory.embeddings import Embedder; from benchmarks.memory_locomo import packaged_model_dir;"
            "Embedder(packaged_model_dir()).embed_one('hello'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
