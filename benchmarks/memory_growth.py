"""RSS growth of the memory path alone: store and search N turns in-process, no LLM generation.

Separates native growth in the memory layer (LanceDB, the embedder) from the rest of the
daemon, whose figure `benchmarks/daemon_resources.py` gives:

    .venv/bin/python benchmarks/memory_growth.py [--turns 1000] [--home DIR] [--arenas 2]
        [--lance-caches bounded|default] [--json OUT]

``--lance-caches default`` gives LanceDB its own cache sizes (1 GB metadata, 6 GB index)
instead of the product's bounded ones (memory.caches), to measure what they change.

Prints RSS every 100 turns and the growth per 100 turns after the first 100.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_config  # noqa: E402
from assistant.memtrim import tune_malloc, release_freed_memory  # noqa: E402
from assistant.paths import resolve_paths  # noqa: E402
from assistant.runtime import Runtime  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--home", type=Path, default=None, help="assistant home (default: a fresh temporary one)")
    ap.add_argument("--trim-every", type=int, default=50, metavar="N",
                    help="malloc_trim every N turns, as the daemon does between turns (0: never; default 50)")
    ap.add_argument("--arenas", type=int, default=0, metavar="N",
                    help="cap glibc's malloc arenas at N, as the daemon does (default 0: glibc's own)")
    ap.add_argument("--lance-caches", choices=("bounded", "default"), default="bounded",
                    help="the product's bounded LanceDB caches, or LanceDB's defaults (default: bounded)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = ap.parse_args()
    if args.lance_caches == "default":
        import lancedb
        import memory.caches
        memory.caches.session = lambda index_bytes=0: lancedb.Session()
    if args.arenas:
        tune_malloc(arenas=args.arenas, mmap_threshold=0)
    tmp = tempfile.TemporaryDirectory(prefix="memory-growth-")
    paths = resolve_paths(args.home or Path(tmp.name) / "home")
    paths.ensure()
    runtime = Runtime(load_config(paths.config_file), paths, quiet=True)
    engine, proc = runtime.engine, psutil.Process()
    marks, rows = [], []
    for i in range(args.turns):
        text = f"Tell me something nice about the number {i}."
        engine.retrieve(text, runtime.embedder.embed_one(text))
        engine.remember("user", text)
        engine.remember("assistant", f"The number {i} is a fine number with many friends.")
        if args.trim_every and (i + 1) % args.trim_every == 0:
            release_freed_memory()
        if (i + 1) % 100 == 0:
            marks.append(proc.memory_info().rss / 2**20)
            anon = proc.memory_full_info().uss / 2**20
            print(f"{i + 1:>6} turns  RSS {marks[-1]:.0f} MiB  USS {anon:.0f} MiB", flush=True)
            rows.append({"turn": i + 1, "rss_mib": marks[-1], "uss_mib": anon})
    growth = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else None
    if growth is not None:
        print(f"growth after the first 100 turns: {growth:.1f} MiB per 100 turns")
    if args.json:
        args.json.write_text(json.dumps({"turns": args.turns, "arenas": args.arenas, "trim_every": args.trim_every,
                                         "lance_caches": args.lance_caches,
                                         "rss": rows, "growth_mib_per_100_turns": growth}, indent=2))
    runtime.store.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
