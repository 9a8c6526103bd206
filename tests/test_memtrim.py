"""The daemon tunes glibc's malloc for a process that runs for weeks: few arenas, and big
buffers in their own mappings, so freed memory leaves no holes that RSS keeps (the
soak's slow growth). Each probe runs in a fresh interpreter, since the settings only
affect what is allocated after them."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Applies the settings, then gives the probe libc's allocator and malloc_info's report.
PRELUDE = textwrap.dedent("""
    import ctypes, os, re, sys, tempfile, threading
    sys.path.insert(0, {repo!r})
    from assistant.memtrim import tune_malloc
    if {arenas} or {threshold}:
        assert tune_malloc(arenas={arenas}, mmap_threshold={threshold})
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    def malloc_info():
        path = os.path.join(tempfile.mkdtemp(), "info.xml")
        fp = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        return open(path).read()
""")

# Eight threads malloc at once; malloc_info lists one <heap> per arena.
ARENAS = """
start, done = threading.Barrier(8), threading.Barrier(8)
def work():
    start.wait()
    blocks = [libc.malloc(4096) for _ in range(64)]
    done.wait()
    for b in blocks:
        libc.free(b)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(malloc_info().count("<heap nr="))
"""

# A 1 MiB block freed, then a 512 KiB one asked for: does the second get its own mapping?
MAPPED = """
def mapped():
    return int(re.findall(r'<total type="mmap" count="(\\d+)"', malloc_info())[-1])
libc.free(libc.malloc(1 << 20))
before = mapped()
kept = libc.malloc(512 << 10)
print(mapped() - before)
"""


def probe(body: str, arenas: int = 0, threshold: int = 0) -> int:
    src = PRELUDE.format(repo=str(REPO), arenas=arenas, threshold=threshold) + body
    out = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


@glibc
def test_the_arena_cap_keeps_threads_to_two_heaps():
    assert probe(ARENAS) > 2                  # glibc's default: a heap per thread, up to 8 per core
    assert probe(ARENAS, arenas=2) <= 2


@glibc
def test_a_fixed_mmap_threshold_keeps_big_buffers_out_of_the_heap():
    assert probe(MAPPED) == 0                         # glibc raised its bar to 1 MiB: the heap served it
    assert probe(MAPPED, threshold=256 << 10) == 1    # its own mapping, given back whole when freed
