"""What writing one turn's fact keys costs against the length of its session.

``MemoryStore.set_keys`` rewrites the whole session in one commit so that a turn's
neighbours stay at the adjacent row ids (see its docstring). The daemon keys one turn per
call, so a long session is rewritten once per keyed turn. This times that call on a real
LanceDB store for sessions of several lengths, against the baseline of writing one new
turn to the same store (``add_now``), the two interleaved call by call. No model is
loaded: vectors are random, which changes nothing in the write.

    .venv/bin/python benchmarks/fact_keys_write.py [--sizes 50,200,400,800] [--calls 10] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memory.store import Memory, MemoryStore, StoreSettings  # noqa: E402

DIM = 384


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def one_size(n: int, calls: int, rng: np.random.Generator) -> dict:
    with tempfile.TemporaryDirectory() as home:
        store = MemoryStore(Path(home), DIM, settings=StoreSettings(background=False))
        start = time.time() - 86400
        turns = [Memory(text=f"turn {i}: something said about a trip, a book and a dog", role="user",
                        session_id="day", ts=start + i, seq=i, speaker="Ana") for i in range(n)]
        store.add_now(turns, rng.standard_normal((n, DIM)).astype(np.float32))
        keys_ms, add_ms = [], []
        for j in range(calls):
            turn = turns[n - 1 - j % n]
            t = time.perf_counter()
            store.set_keys("day", {turn.id: ("Ana talked about a trip", rng.standard_normal(DIM))})
            keys_ms.append((time.perf_counter() - t) * 1000)
            extra = Memory(text=f"another turn {j}", role="user", session_id="other", ts=start + n + j, seq=j)
            t = time.perf_counter()
            store.add_now([extra], rng.standard_normal((1, DIM)).astype(np.float32))
            add_ms.append((time.perf_counter() - t) * 1000)
        store.close()
    row = {"session_turns": n, "set_keys_p50_ms": pct(keys_ms, 0.5), "set_keys_p95_ms": pct(keys_ms, 0.95),
           "add_one_p50_ms": pct(add_ms, 0.5), "add_one_p95_ms": pct(add_ms, 0.95)}
    row["ratio_p50"] = round(statistics.median(keys_ms) / max(statistics.median(add_ms), 1e-6), 2)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,200,400,800", help="session lengths, comma-separated")
    ap.add_argument("--calls", type=int, default=10, help="set_keys calls per size")
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
        if not sizes or min(sizes) < 1 or args.calls < 1:
            raise ValueError
    except ValueError:
        print(f"fact_keys_write: --sizes {args.sizes!r} / --calls {args.calls}: give positive integers, "
              "e.g. --sizes 50,400 --calls 10", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    rows = [one_size(n, args.calls, rng) for n in sizes]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} calls per size")
    print("session turns | set_keys p50 / p95 ms | one new turn p50 / p95 ms | ratio (p50)")
    for r in rows:
        print(f"{r['session_turns']:>13} | {r['set_keys_p50_ms']:>8} / {r['set_keys_p95_ms']:<8} | "
              f"{r['add_one_p50_ms']:>9} / {r['add_one_p95_ms']:<9} | {r['ratio_p50']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average": os.getloadavg(), "calls": args.calls,
                                               "sizes": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
