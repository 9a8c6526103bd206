"""Give memory back to the system: freed native memory (glibc ``malloc_trim``), the
pages of a mapped model file that were copied elsewhere at load (``madvise``), and fewer
malloc arenas to fragment (``mallopt``).

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
import os

log = logging.getLogger(__name__)
_libc = None


def _load():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.malloc_trim.restype = ctypes.c_int
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            libc.madvise.restype = ctypes.c_int
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.mallopt.restype = ctypes.c_int
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


def release_freed_memory() -> bool:
    """True if memory was returned to the system."""
    libc = _load()
    return bool(libc and libc.malloc_trim(0))


M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
# Arenas for a long-lived process. glibc's default is 8 per core; on 2 cores the daemon's
# threads (LanceDB's pool, ONNX Runtime, llama.cpp, turns) spread small allocations over
# up to 16 arenas, and each keeps its own freed holes. Measured, the memory path alone
# (benchmarks/memory_growth.py, 1,000 turns): 6.1 MiB per 100 turns with the default,
# 2.2 with 2 arenas, with malloc_trim every 50 turns in both.
DAEMON_ARENAS = int(os.environ.get("ASSISTANT_MALLOC_ARENAS", "2"))
# Blocks this big or bigger get their own mapping, returned whole when freed. glibc starts
# at 128 KiB but raises the bar to the size of each such block freed (up to 32 MiB), so
# after a while the per-turn buffers (Whisper's, the sampler's 1.8 MB, audio) come from
# the heap and leave holes between long-lived objects: RSS that never comes back.
DAEMON_MMAP_THRESHOLD = int(os.environ.get("ASSISTANT_MMAP_THRESHOLD", str(256 * 1024)))


def tune_malloc(arenas: int = DAEMON_ARENAS, mmap_threshold: int = DAEMON_MMAP_THRESHOLD) -> bool:
    """Fewer arenas and a fixed mmap threshold, for a process that runs for weeks. Call
    before the threads start (arenas made earlier stay). 0 leaves glibc's default for that
    setting. True if every setting asked for was applied; elsewhere than glibc, nothing."""
    libc = _load()
    if not libc:
        return False
    ok = True
    if arenas > 0:
        ok &= libc.mallopt(M_ARENA_MAX, arenas) == 1
    if mmap_threshold > 0:
        ok &= libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    return bool(ok)


MADV_DONTNEED = 4


def drop_mapped_pages(path: str) -> int:
    """Unmap the resident pages of every mapping of ``path``; bytes dropped.

    llama.cpp maps the GGUF and then copies most weights into its own buffers (on
    AVX2/AVX-512, repacked for faster matrix products), yet every page it read stays in
    the process's RSS: 1.1 GB for the 1.5B that no kernel ever uses again. The mapping is
    read-only and shared, so dropping its pages loses nothing: a weight still used from
    it (the embedding and output table) comes back from the page cache on first touch.
    Measured: RSS 1.91 → 1.23 GB after a reply, the same anonymous memory."""
    libc = _load()
    if not libc:
        return 0
    dropped = 0
    try:
        with open("/proc/self/maps") as maps:
            ranges = [line.split()[0] for line in maps if line.rstrip().endswith(path)]
    except OSError:
        return 0
    for span in ranges:
        start, end = (int(x, 16) for x in span.split("-"))
        if libc.madvise(start, end - start, MADV_DONTNEED) == 0:
            dropped += end - start
        else:
            log.debug("madvise(%s) failed: errno %d", span, ctypes.get_errno())
    return dropped
