"""llama.cpp builds side by side: prefill tok/s and decode ms/token of each, in one run.

Each build is a llama-cpp-python wheel made by scripts/build_llama.py (``--cpu detected``,
``portable``, ``native``); each is unpacked into its own folder once, and every round
runs benchmarks/llm_speed.py once per build in a fresh process (one library per process),
builds taking turns, so a change in the machine's load hits them alike.

    .venv/bin/python benchmarks/llama_builds.py NAME=WHEEL... [--model NAME] [--rounds N] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def unpack(wheel: Path, into: Path) -> Path:
    target = into / wheel.parent.name
    if not (target / "llama_cpp").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        str(wheel)], check=True)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", metavar="NAME=WHEEL")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    work = Path(tempfile.gettempdir()) / "llama-builds"
    builds = {}
    for item in args.builds:
        name, _, wheel = item.partition("=")
        builds[name] = unpack(Path(wheel), work)
    raw: dict[str, dict[str, list[float]]] = {n: {"prefill": [], "decode": []} for n in builds}
    for r in range(args.rounds):
        for name, path in builds.items():
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                env = {**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{REPO}"}
                subprocess.run([sys.executable, str(REPO / "benchmarks" / "llm_speed.py"), "--variant",
                                f"{name}:model={args.model}", "--rounds", "1", "--tokens", str(args.tokens),
                                "--json", out.name], check=True, env=env, capture_output=True, text=True)
                s = json.loads(Path(out.name).read_text())["summary"][name]
            raw[name]["prefill"].append(s["prefill_tok_s"])
            raw[name]["decode"].append(s["decode_ms_per_token"])
            print(f"  round {r + 1} {name:<10} prefill {s['prefill_tok_s']:6.0f} tok/s  "
                  f"decode {s['decode_ms_per_token']:6.1f} ms/token", flush=True)
    base = next(iter(builds))
    summary = {}
    print(f"\n{'build':<12}{'prefill tok/s':>15}{'decode ms/tok':>15}{'x prefill':>11}{'x decode':>10}")
    for name in builds:
        pf, dc = statistics.median(raw[name]["prefill"]), statistics.median(raw[name]["decode"])
        bpf, bdc = statistics.median(raw[base]["prefill"]), statistics.median(raw[base]["decode"])
        summary[name] = {"prefill_tok_s": pf, "decode_ms_per_token": dc, "prefill_ratio": round(pf / bpf, 3),
                         "decode_ratio": round(dc / bdc, 3)}
        print(f"{name:<12}{pf:>15.0f}{dc:>15.1f}{pf / bpf:>11.2f}{dc / bdc:>10.2f}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "summary": summary, "raw": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
