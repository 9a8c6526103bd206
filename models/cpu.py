"""The instruction sets this CPU reports (x86 /proc/cpuinfo flags); stdlib only, so that
scripts/build_llama.py can use it before anything else is installed."""
from __future__ import annotations

from pathlib import Path


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.partition(":")[2].split())
