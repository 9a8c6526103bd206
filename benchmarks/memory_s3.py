"""Memory on a shared S3 store (a real SeaweedFS) against local disk, in one run.

For each size the same synthetic 384-d memories (clustered like sentence embeddings, as
in benchmarks/memory_scale.py) are written through the product's MemoryStore to a local
directory and to ``s3://bench/<size>`` on SeaweedFS; compaction and indexes (the ANN
index past memory.ann_min_rows) are built as the product builds them. Then, with queries
interleaved between the two stores so that machine load hits both alike:

* vector search p50/p95 (``MemoryStore.dense``) and hybrid retrieval p50/p95
  (vector + BM25 + rerank, ``memory.retrieval.search``): what a turn waits for;
* the ratio S3 / local;
* a batched write (16 rows, as memory.flush_rows) p50, local and S3;
* cross-device delay: rows flushed by one store, seen by a second store opened with
  ``refresh_seconds``; measured from the flush to the first read that finds them.

    .venv/bin/python benchmarks/memory_s3.py [--sizes 10000 [100000]] [--queries 60] [--json OUT]

Starts SeaweedFS itself (tests/servers.py, bound to 127.0.0.1) and stops it after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memory.location import Location  # noqa: E402
from memory.retrieval import RetrievalSettings, search  # noqa: E402
from memory.store import Memory, MemoryStore, StoreSettings  # noqa: E402
from tests.servers import SeaweedFS  # noqa: E402

DIM = 384
BATCH = 50_000


def synthetic(n: int, rng, centres, vocab):
    labels = rng.integers(0, len(centres), n)
    v = centres[labels] + rng.normal(scale=0.06, size=(n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    words = rng.integers(0, len(vocab), (n, 10))
    return v.astype(np.float32), [" ".join(vocab[w] for w in row) for row in words]


def pct(values, p: float) -> float:
    return round(float(np.percentile(values, p)), 2)


def fill(store: MemoryStore, size: int, seed: int) -> tuple[np.ndarray, list[str], float]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vocab = [f"w{i}x{rng.integers(1000)}" for i in range(5000)]
    sample_v, sample_t = [], []
    started = time.perf_counter()
    for start in range(0, size, BATCH):
        n = min(BATCH, size - start)
        vectors, texts = synthetic(n, rng, centres, vocab)
        store.buffer.add([Memory(text=t, role="user", session_id=f"s{(start + i) // 50}", seq=(start + i) % 50,
                                 ts=1.7e9 + start + i) for i, t in enumerate(texts)], vectors)
        store.flush()
        sample_v.append(vectors[:200])
        sample_t += texts[:200]
    store.maintainer.optimize()
    return np.concatenate(sample_v), sample_t, time.perf_counter() - started


def run(size: int, server: SeaweedFS, root: Path, queries: int) -> dict:
    ann_min_rows = size if size >= StoreSettings().ann_min_rows else 10**12
    settings = StoreSettings(background=False, flush_rows=BATCH, ann_min_rows=ann_min_rows)
    local = MemoryStore(root / f"local-{size}", DIM, settings=settings)
    loc = Location(f"s3://bench/{size}", server.storage_options(), root / f"cache-{size}", 5.0)
    remote = MemoryStore(loc, DIM, settings=settings)
    stores = {"local": local, "s3": remote}
    built = {}
    for name, store in stores.items():
        qv, qt, took = fill(store, size, seed=size)
        built[name] = round(took, 1)
        print(f"  {size} rows written to {name} in {took:.1f} s", file=sys.stderr, flush=True)
    rng = np.random.default_rng(1)
    lat = {n: {"dense": [], "hybrid": [], "write": []} for n in stores}
    for i in rng.choice(len(qv), size=min(queries, len(qv)), replace=False):
        q = qv[i] + rng.normal(scale=0.05, size=DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        words = " ".join(qt[i].split()[:3])
        for name, store in stores.items():      # interleaved: load hits both alike
            t = time.perf_counter()
            store.dense(q, 10)
            lat[name]["dense"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            search(store, words, q, RetrievalSettings(k=5, min_relevance=-10.0))
            lat[name]["hybrid"].append((time.perf_counter() - t) * 1000)
    for _ in range(8):                           # batched writes, as a session's turns
        v = rng.normal(size=(16, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        for name, store in stores.items():
            store.buffer.add([Memory(text=f"turn {j}", role="user", session_id="w") for j in range(16)], v)
            t = time.perf_counter()
            store.flush()
            lat[name]["write"].append((time.perf_counter() - t) * 1000)
    # cross-device: a second device with the product's default refresh_seconds
    other = MemoryStore(Location(loc.uri, loc.options, root / f"cache-other-{size}", 5.0), DIM,
                        settings=StoreSettings(ann_min_rows=10**12))     # its maintenance thread refreshes
    other.count()
    marker = Memory(text="cross-device marker", role="user", session_id="x")
    remote.buffer.add([marker], rng.normal(size=(1, DIM)).astype(np.float32))
    remote.flush()
    t = time.perf_counter()
    while not other.existing_ids([marker.id]) and time.perf_counter() - t < 60:
        time.sleep(0.05)
    seen_after = time.perf_counter() - t
    result = {"rows": size, "ann": remote.maintainer.ann or "exact search", "build_s": built}
    for name in stores:
        for what in ("dense", "hybrid", "write"):
            result[f"{name}_{what}_p50_ms"] = pct(lat[name][what], 50)
            result[f"{name}_{what}_p95_ms"] = pct(lat[name][what], 95)
    for what in ("dense", "hybrid", "write"):
        result[f"{what}_p50_ratio_s3_vs_local"] = round(result[f"s3_{what}_p50_ms"] / result[f"local_{what}_p50_ms"], 2)
    result["cross_device_seen_after_s"] = round(seen_after, 2)
    result["refresh_seconds"] = 5.0
    for store in (*stores.values(), other):
        store.close()
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="memory-s3-"))
    server = SeaweedFS(root / "weed").start()
    try:
        server.make_bucket("bench")
        os.environ.update(server.env())
        results = [run(size, server, root, args.queries) for size in args.sizes]
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    print(f"{'rows':>8} {'':>6} {'dense p50':>10} {'p95':>7} {'hybrid p50':>11} {'p95':>7} {'write p50':>10}")
    for r in results:
        for name in ("local", "s3"):
            print(f"{r['rows']:>8} {name:>6} {r[f'{name}_dense_p50_ms']:>10} {r[f'{name}_dense_p95_ms']:>7} "
                  f"{r[f'{name}_hybrid_p50_ms']:>11} {r[f'{name}_hybrid_p95_ms']:>7} {r[f'{name}_write_p50_ms']:>10}")
        print(f"{'':>8} {'ratio':>6} {r['dense_p50_ratio_s3_vs_local']:>10} {'':>7} "
              f"{r['hybrid_p50_ratio_s3_vs_local']:>11} {'':>7} {r['write_p50_ratio_s3_vs_local']:>10}"
              f"   cross-device seen after {r['cross_device_seen_after_s']} s (refresh_seconds 5)")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "loadavg": load}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
