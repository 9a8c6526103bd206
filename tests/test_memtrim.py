"""The daemon caps glibc's malloc arenas, so threads share a few heaps instead of each
keeping its own freed holes (the soak's slow RSS growth)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Eight threads malloc at once; glibc's malloc_info then lists one <heap> per arena.
PROBE = textwrap.dedent("""
    import ctypes, os, sys, tempfile, threading
    sys.path.insert(0, {repo!r})
    from assistant.memtrim import tune_malloc
    if {cap}:
        assert tune_malloc(arenas={cap}, mmap_threshold=0)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
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
    path = os.path.join(tempfile.mkdtemp(), "info.xml")
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(open(path).read().count("<heap nr="))
""")


def arenas(cap: int) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE.format(repo=str(REPO), cap=cap)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_arena_cap_keeps_threads_to_two_heaps():
    assert arenas(0) > 2            # glibc's default: a heap per thread, up to 8 per core
    assert arenas(2) <= 2



# A 1 MiB block freed, then a 512 KiB one asked for: where does the second come from?
MMAP_PROBE = textwrap.dedent("""
    import ctypes, os, re, sys, tempfile
    sys.path.insert(0, {repo!r})
    from assistant.memtrim import tune_malloc
    if {threshold}:
        assert tune_malloc(arenas=0, mmap_threshold={threshold})
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    def mapped():
        path = os.path.join(tempfile.mkdtemp(), "info.xml")
        fp = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        return int(re.findall(r'<total type="mmap" count="(\\d+)"', open(path).read())[-1])
    libc.free(libc.malloc(1 << 20))
    before = mapped()
    kept = libc.malloc(512 << 10)
    print(mapped() - before)
""")


def mapped_blocks(threshold: int) -> int:
    out = subprocess.run([sys.executable, "-c", MMAP_PROBE.format(repo=str(REPO), threshold=threshold)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_fixed_mmap_threshold_keeps_big_buffers_out_of_the_heap():
    assert mapped_blocks(0) == 0                 # glibc raised its bar to 1 MiB: the heap served it
    assert mapped_blocks(256 << 10) == 1         # its own mapping, given back whole when freed
