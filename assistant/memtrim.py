"""Give freed native memory back to the system (glibc ``malloc_trim``).

A long-lived daemon allocates and frees from many threads (turns, speech, memory
writes, LanceDB's and ONNX Runtime's pools). glibc keeps what each thread's arena freed
for reuse and returns it to the kernel only from the top of the main heap, so RSS
creeps up while Python's own heap (tracemalloc) stays flat. ``malloc_trim(0)`` releases
the free pages of every arena; it takes a few milliseconds, so the daemon calls it
between turns, not during one. Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
_libc = None


def _load():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.malloc_trim.restype = ctypes.c_int
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


def release_freed_memory() -> bool:
    """True if memory was returned to the system."""
    libc = _load()
    return bool(libc and libc.malloc_trim(0))
