#!/usr/bin/env python3
"""Build llama-cpp-python for this CPU, never with AMX, and cache the wheel.

Why not pip's default: it compiles with GGML_NATIVE=ON, which turns on llama.cpp's AMX
kernels on Sapphire Rapids and newer Xeons, and those die with SIGILL (an upstream bug:
tile instructions run without a tile configuration in worker threads). Turning the AMX
options off while GGML_NATIVE stays on still crashes, so this builds with
GGML_NATIVE=OFF and names each instruction set itself:

  --cpu detected   the sets this CPU reports in /proc/cpuinfo (default; AMX never)
  --cpu portable   x86-64-v3 (AVX2, FMA, F16C, BMI2): runs on any x86-64 from 2013 on,
                   for a venv that is copied to other machines
  --cpu native     pip's default (-march=native): only for measuring, it may crash on AMX

The chosen sets are written beside the venv (``llama-build.json``), so that
``assistant doctor`` and the LLM loader can refuse, in one line, a build that uses an
instruction this CPU lacks (a venv copied to an older machine) instead of dying.

Only the libraries the project loads are built (no multimodal, no tools), on all cores,
and the compile shows what it is doing and for how long. Wheels are cached per version
and flag set in ~/.cache/assistant/wheels, so a new venv reinstalls in seconds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.cpu import cpu_flags  # noqa: E402  (stdlib only: usable before the install)

VERSION = "0.3.36"
# /proc/cpuinfo flag → ggml CMake option, in the order ggml's own x86 variants add them.
FEATURES = (("avx", "GGML_AVX"), ("avx2", "GGML_AVX2"), ("fma", "GGML_FMA"), ("f16c", "GGML_F16C"),
            ("bmi2", "GGML_BMI2"), ("avx_vnni", "GGML_AVX_VNNI"), ("avx512f", "GGML_AVX512"),
            ("avx512vbmi", "GGML_AVX512_VBMI"), ("avx512_vnni", "GGML_AVX512_VNNI"),
            ("avx512_bf16", "GGML_AVX512_BF16"))
PORTABLE = ("avx", "avx2", "fma", "f16c", "bmi2")          # x86-64-v3
COMMON = ("-DLLAVA_BUILD=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",
          "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF",
          "-DLLAMA_BUILD_SERVER=OFF")
BUILD_INFO = "llama-build.json"


def cmake_args(cpu: str) -> tuple[list[str], list[str]]:
    """(CMake arguments, instruction sets the build needs) for a --cpu choice."""
    if cpu == "native":
        return ["-DGGML_NATIVE=ON", *COMMON[:1]], sorted(cpu_flags() & {f for f, _ in FEATURES})
    have = cpu_flags() if cpu == "detected" else set(PORTABLE)
    wanted = [flag for flag, _ in FEATURES if flag in have]
    args = ["-DGGML_NATIVE=OFF", *COMMON]
    args += [f"-D{opt}={'ON' if flag in wanted else 'OFF'}" for flag, opt in FEATURES]
    return args, wanted


def build(args: list[str], out: Path) -> Path:
    """pip wheel of the pinned sdist with ``args``; one status line while it compiles."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": " ".join(args), "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    cmd = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "-w", str(out),
           f"llama-cpp-python=={VERSION}"]
    started, last, log_lines = time.monotonic(), "", []
    tty = sys.stderr.isatty()
    print(f"compiling llama.cpp {VERSION} (C++, usually 4-10 min on 2 cores; flags: "
          f"{' '.join(a[2:] for a in args if a.endswith('=ON'))})", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    # pip -v streams ninja's verbose lines: "[12/140] /usr/bin/g++ ... -c .../ggml-cpu/ops.cpp"
    step = re.compile(r"\[(\d+)/(\d+)\]\s.*\s-c\s+(\S+)")
    shown = 0.0
    assert proc.stdout is not None
    for line in proc.stdout:
        log_lines.append(line)
        m = step.search(line)
        if m:
            last = f"[{m[1]}/{m[2]}] {Path(m[3]).name}"
        now = time.monotonic()
        if now - shown >= (1 if tty else 30):
            elapsed = int(now - started)
            msg = f"  {elapsed // 60}m{elapsed % 60:02d}s  {last or 'configuring'}"
            print(f"\r{msg:<78}" if tty else msg, end="" if tty else "\n", file=sys.stderr, flush=True)
            shown = now
    code = proc.wait()
    if tty:
        print(file=sys.stderr)
    elapsed = int(time.monotonic() - started)
    (out / "build.log").write_text("".join(log_lines))
    if code != 0:
        sys.exit(f"error: compiling llama-cpp-python failed after {elapsed} s; the compiler output is in "
                 f"{out / 'build.log'} (a C++ compiler and cmake are needed: apt-get install build-essential)")
    print(f"compiled llama.cpp in {elapsed // 60}m{elapsed % 60:02d}s", file=sys.stderr, flush=True)
    return next(out.glob("llama_cpp_python-*.whl"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu", choices=("detected", "portable", "native"), default=os.environ.get("LLAMA_CPU", "detected"))
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "assistant" / "wheels")
    ap.add_argument("--venv", type=Path, default=Path(sys.prefix), help="where to write llama-build.json")
    ap.add_argument("--rebuild", action="store_true", help="compile even if a cached wheel fits")
    ap.add_argument("--wheel-only", action="store_true", help="print the wheel's path; install nothing")
    opts = ap.parse_args()
    args, needs = cmake_args(opts.cpu)
    key = hashlib.sha256(f"{VERSION} {' '.join(args)}".encode()).hexdigest()[:12]
    out = opts.cache / f"llama-cpp-python-{VERSION}-{opts.cpu}-{key}"
    wheel = next(out.glob("llama_cpp_python-*.whl"), None) if out.is_dir() else None
    if wheel is None or opts.rebuild:
        for old in out.glob("*.whl") if out.is_dir() else ():
            old.unlink()
        wheel = build(args, out)
    if opts.wheel_only:
        print(wheel)
        return
    recorded = opts.venv / BUILD_INFO
    try:
        same = json.loads(recorded.read_text()).get("wheel") == str(wheel)
    except (OSError, ValueError):
        same = False
    if same and not opts.rebuild and subprocess.run([sys.executable, "-c", "import llama_cpp"],
                                                    capture_output=True).returncode == 0:
        return                                      # this very wheel is installed already
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True)
    info = {"version": VERSION, "cpu": opts.cpu, "needs": needs, "cmake_args": args, "wheel": str(wheel)}
    (opts.venv / BUILD_INFO).write_text(json.dumps(info, indent=1) + "\n")
    print(f"llama-cpp-python {VERSION} installed ({opts.cpu}: {', '.join(needs)})", file=sys.stderr)


if __name__ == "__main__":
    main()
