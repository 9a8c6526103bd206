"""Memory store at scale: synthetic 384-d memories at 10k, 100k (and 1M with --million).

For each size, rows go through the product's MemoryStore (batched writes; the ANN index
is built automatically once the table passes memory.ann_min_rows, with its recall check),
then it reports:

* ingest rows/s (writing rows with ready vectors; embedding is measured separately by
  benchmarks/embedding_speed.py) and the index build time;
* vector search p50/p95 through ``MemoryStore.dense`` (the per-profile filtered search the
  assistant runs), and full hybrid retrieval p50/p95 (vector + BM25 + rerank);
* recall@10 of that search against exact search (``bypass_vector_index``);
* disk size.

Vectors are clustered (2,000 Gaussian clusters on the unit sphere), like real sentence
embeddings and unlike uniform noise, which no ANN index can search well; queries are
stored vectors moved as far away as a question is from its answer (cosine ~0.7). Texts are random words from a 5,000-word vocabulary.

    .venv/bin/python benchmarks/memory_scale.py [--sizes 10000 100000] [--million] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memory.retrieval import RetrievalSettings, search  # noqa: E402
from memory.store import Memory, MemoryStore, StoreSettings  # noqa: E402

DIM = 384
BATCH = 100_000


def synthetic(n: int, rng: np.random.Generator, centres: np.ndarray, vocab: list[str]):
    labels = rng.integers(0, len(centres), n)
    v = centres[labels] + rng.normal(scale=0.06, size=(n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    words = rng.integers(0, len(vocab), (n, 10))
    texts = [" ".join(vocab[w] for w in row) for row in words]
    return v.astype(np.float32), texts


def pct(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 2)


def run(size: int, root: Path, queries: int) -> dict:
    rng = np.random.default_rng(size)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vocab = [f"w{i}x{rng.integers(1000)}" for i in range(5000)]
    db = root / f"scale-{size}"
    # At or past memory.ann_min_rows the index is built when the last batch lands (as the product's
    # rebuild-on-4x-growth rule would leave it); below, the product searches exactly.
    ann_min_rows = size if size >= StoreSettings().ann_min_rows else 10**12
    store = MemoryStore(db, DIM, settings=StoreSettings(background=False, flush_rows=BATCH, ann_min_rows=ann_min_rows))
    ingest_s, index_s, sample_vectors, sample_texts = 0.0, 0.0, [], []
    for start in range(0, size, BATCH):
        n = min(BATCH, size - start)
        vectors, texts = synthetic(n, rng, centres, vocab)
        memories = [Memory(text=t, role="user", session_id=f"s{(start + i) // 50}", seq=(start + i) % 50,
                           ts=1.7e9 + start + i) for i, t in enumerate(texts)]
        sample_vectors.append(vectors[:200])
        sample_texts += texts[:200]
        t = time.perf_counter()
        store.buffer.add(memories, vectors)
        before_ann = bool(store.maintainer.ann)
        store.flush()       # one write; maintenance (FTS, compaction, ANN past the threshold) runs after it
        took = time.perf_counter() - t
        if not before_ann and store.maintainer.ann:
            index_s += store.maintainer.ann.get("build_seconds", 0.0)
            ingest_s += took - store.maintainer.ann.get("build_seconds", 0.0)
        else:
            ingest_s += took
        print(f"  {size}: {start + n} rows written", file=sys.stderr, flush=True)
    t = time.perf_counter()
    store.maintainer.optimize()        # compaction + bring FTS/vector indexes up to date
    optimize_s = time.perf_counter() - t
    qv = np.concatenate(sample_vectors)
    picks = rng.choice(len(qv), size=min(queries, len(qv)), replace=False)
    lat, hybrid_lat, recall = [], [], []
    table = store.table
    for i in picks:
        q = qv[i] + rng.normal(scale=0.05, size=DIM).astype(np.float32)   # cosine ~0.7 to its row
        q /= np.linalg.norm(q)
        t = time.perf_counter()
        got = store.dense(q, 10)
        lat.append((time.perf_counter() - t) * 1000)
        exact = table.search(q).metric("cosine").where(store.where("superseded_by = ''"), prefilter=True) \
            .bypass_vector_index().limit(10).to_arrow().column("id").to_pylist()
        recall.append(len(set(exact) & {r["id"] for r, _ in got}) / 10)
        words = " ".join(sample_texts[i].split()[:3])
        t = time.perf_counter()
        search(store, words, q, RetrievalSettings(k=5, min_relevance=-10.0))
        hybrid_lat.append((time.perf_counter() - t) * 1000)
    disk = sum(p.stat().st_size for p in db.rglob("*") if p.is_file())
    store.close()
    result = {"rows": size, "ingest_rows_per_s": round(size / ingest_s), "index_build_s": round(index_s, 1),
              "optimize_s": round(optimize_s, 1), "ann": store.maintainer.ann or "exact search",
              "search_p50_ms": pct(lat, 50), "search_p95_ms": pct(lat, 95),
              "hybrid_p50_ms": pct(hybrid_lat, 50), "hybrid_p95_ms": pct(hybrid_lat, 95),
              "recall_at_10": round(float(np.mean(recall)), 4), "disk_mb": round(disk / 1e6, 1)}
    print(json.dumps(result), flush=True)
    shutil.rmtree(db, ignore_errors=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--million", action="store_true", help="also 1,000,000 rows (several minutes, ~3 GB disk)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--dir", help="where to build the tables (default: a temporary directory)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    sizes = args.sizes + ([1_000_000] if args.million else [])
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="memory-scale-"))
    results = [run(size, root, args.queries) for size in sizes]
    print(f"{'rows':>9} {'ingest/s':>9} {'index s':>8} {'p50 ms':>7} {'p95 ms':>7} {'hyb p50':>8} {'hyb p95':>8} "
          f"{'R@10':>6} {'disk MB':>8}")
    for r in results:
        print(f"{r['rows']:>9} {r['ingest_rows_per_s']:>9} {r['index_build_s']:>8} {r['search_p50_ms']:>7} "
              f"{r['search_p95_ms']:>7} {r['hybrid_p50_ms']:>8} {r['hybrid_p95_ms']:>8} {r['recall_at_10']:>6} "
              f"{r['disk_mb']:>8}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.dir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
