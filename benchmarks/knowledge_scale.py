"""Knowledge index at scale: synthetic passages at 1k, 10k, 100k chunks (1M with --million).

For each size, chunks with ready vectors go through the product's ``KnowledgeStore``
(appends of 2,000 rows, then ``maintain()``: FTS, compaction, and past
``knowledge.ann_min_rows`` the HNSW-SQ index with its recall check). Reported:

* write chunks/s and files/s (10 chunks a file) without embedding, and the index build time;
  embedding is the real bottleneck and is measured on its own: real passages of ~120
  words through the bundled MiniLM (``--embed-sample``), chunks/s;
* search p50/p95 through ``memory.knowledge.search.search`` (hybrid: vector + BM25 +
  fused rank), including embedding a real question;
* recall@10 of the vector search against exact search, and disk use;
* with ``--during-indexing``: search latency while a SCHED_IDLE thread (as the daemon's
  watcher) embeds and indexes a folder, against idle, interleaved in the same run;
* with ``--turns N``: whole text turns (the product's runtime: retrieval, prompt, the
  default LLM to the first sentence and to the end), N with indexing held and N while the
  daemon's watcher indexes a folder of ``--turn-files`` notes, alternately, in one process.

Vectors are clustered on the unit sphere like real sentence embeddings; texts are random
words from a 5,000-word vocabulary.

    .venv/bin/python benchmarks/knowledge_scale.py [--sizes 1000 10000 100000] [--million]
        [--during-indexing N] [--turns N] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memory.embeddings import Embedder  # noqa: E402
from memory.knowledge.chunker import Chunk  # noqa: E402
from memory.knowledge.index import Indexer  # noqa: E402
from memory.knowledge.search import KnowledgeSettings, search  # noqa: E402
from memory.knowledge.store import KnowledgeStore, KnowledgeStoreSettings  # noqa: E402
from memory.knowledge.watch import lowest_priority  # noqa: E402

DIM = 384
QUESTIONS = ["What did the boiler engineer say about the pressure?", "How long do I bake the bread?",
             "When is the car due for its service?", "What is the wifi password?"]


def packaged_model_dir() -> Path:
    import importlib.util

    from models.registry import EMBEDDINGS
    return Path(importlib.util.find_spec(EMBEDDINGS.files[0].package).origin).parent / "model"


def pct(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 1)


def synthetic(n: int, start: int, rng, centres, vocab):
    labels = rng.integers(0, len(centres), n)
    v = centres[labels] + rng.normal(scale=0.06, size=(n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    chunks = []
    for i in range(n):
        words = " ".join(vocab[w] for w in rng.integers(0, len(vocab), 60))
        j = start + i
        chunks.append(Chunk(f"/notes/f{j // 10}.md", f"file {j // 10}", f"f{j // 10} notes", ("Section",),
                            j % 10, 0, 400, words))
    return chunks, v.astype(np.float32)


def run(size: int, root: Path, embedder, queries: int) -> dict:
    rng = np.random.default_rng(size)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vocab = [f"w{i}x{rng.integers(1000)}" for i in range(5000)]
    store = KnowledgeStore(root / f"scale-{size}", DIM, "bench", KnowledgeStoreSettings(retention_minutes=0))
    write_s = 0.0
    for start in range(0, size, 20_000):
        chunks, vectors = synthetic(min(20_000, size - start), start, rng, centres, vocab)
        t = time.perf_counter()
        for i in range(0, len(chunks), 2000):
            store.add(chunks[i:i + 2000], ["h"] * len(chunks[i:i + 2000]), [(0, 0)] * len(chunks[i:i + 2000]),
                      vectors[i:i + 2000])
        write_s += time.perf_counter() - t
    t = time.perf_counter()
    store.maintain()
    build_s = time.perf_counter() - t
    s = KnowledgeSettings(k=5, min_relevance=-10.0)
    for q in QUESTIONS:
        search(store, q, embedder.embed_one, s)
    lat, embed = [], []
    for i in range(queries):         # interleaved: the query's embedding alone, then the whole search
        text = QUESTIONS[i % len(QUESTIONS)] + f" {vocab[i]}"
        t = time.perf_counter()
        embedder.embed_one(text)
        embed.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        search(store, text, embedder.embed_one, s)
        lat.append((time.perf_counter() - t) * 1000)
    recall = None
    if store.ann:
        recall = store.ann.get("recall_at_10")
    row = {"chunks": size, "index": store.ann.get("index", "exact (flat)") if store.ann else "exact (flat)",
           "write_chunks_per_s": round(size / write_s), "write_files_per_s": round(size / 10 / write_s),
           "index_build_s": round(build_s, 1), "search_p50_ms": pct(lat, 50), "search_p95_ms": pct(lat, 95),
           "embedding_alone_p50_ms": pct(embed, 50),
           "ann_recall_at_10": recall, "disk_mb": round(store.disk_bytes() / 1e6, 1)}
    print(json.dumps(row), flush=True)
    return row


def embed_rate(embedder, n: int) -> dict:
    rng = np.random.default_rng(0)
    words = "the boiler pressure engineer said should read bar when heating cold top filling loop under".split()
    texts = [" ".join(rng.choice(words, 120)) for _ in range(n)]
    t = time.perf_counter()
    embedder.embed(texts, 32)
    s = time.perf_counter() - t
    return {"passages": n, "words_each": 120, "chunks_per_s": round(n / s, 1)}


def during_indexing(embedder, root: Path, rounds: int) -> dict:
    """Search latency (a turn's retrieval) while a thread at the watcher's priority indexes."""
    folder = root / "folder"
    folder.mkdir()
    rng = np.random.default_rng(1)
    vocab = "pressure boiler kitchen garden recipe flour oven valve pump timer window door roof".split()
    for i in range(400):
        (folder / f"n{i}.md").write_text("# Note\n\n" + " ".join(rng.choice(vocab, 110)) + ".\n")
    store = KnowledgeStore(root / "during", DIM, "bench")
    indexer = Indexer(store, embedder)
    (folder.parent / "seed").mkdir()
    (folder.parent / "seed" / "a.md").write_text("# Boiler\n\nThe pressure should read 1.5 bar.\n")
    indexer.sync([folder.parent / "seed"])
    s = KnowledgeSettings(k=2, min_relevance=-10.0)

    def lat(n):
        out = []
        for i in range(n):
            t = time.perf_counter()
            search(store, QUESTIONS[i % 4], embedder.embed_one, s)
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.2)
        return out
    done, halt = threading.Event(), threading.Event()

    def index():
        lowest_priority()                # as the daemon's watcher thread
        indexer.sync([folder.parent / "seed", folder], pause=halt.is_set)   # held for good once measured
        done.set()
    idle = lat(rounds)
    threading.Thread(target=index, daemon=True).start()
    time.sleep(1.0)
    busy = lat(rounds)
    finished = done.is_set()
    halt.set()
    return {"idle_p50_ms": pct(idle, 50), "idle_p95_ms": pct(idle, 95), "indexing_p50_ms": pct(busy, 50),
            "indexing_p95_ms": pct(busy, 95), "ratio_p50": round(pct(busy, 50) / max(pct(idle, 50), 1e-9), 2),
            "indexing_finished_before_measuring_ended": finished}


TURN_QUESTIONS = ["What is the capital of France?", "What did the boiler engineer say about the pressure?",
                  "How long do I bake the bread?", "What is seven times six?"]


def turns_during_indexing(root: Path, turns: int, files: int) -> dict:
    """Text turns through the real runtime, alternately with indexing held and running.

    Alternating matters: each turn adds to the history, so later turns read longer
    prompts; measuring all idle turns first would charge that growth to indexing. The
    watcher is the daemon's (``KnowledgeWatcher`` with the runtime's pause), plus a hold
    this benchmark sets for the idle turns."""
    import logging

    from assistant.config import load_config
    from assistant.engine import Sentence
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    from memory.knowledge.watch import KnowledgeWatcher, settled
    logging.basicConfig(level=logging.WARNING)
    folder = root / "turn-notes"
    folder.mkdir()
    rng = np.random.default_rng(2)
    vocab = ("pressure boiler kitchen garden recipe flour oven valve pump timer window door roof "
             "engineer service bread dough tyres insurance dentist passport").split()
    for i in range(files):
        (folder / f"n{i}.md").write_text(f"# Note {i}\n\n" + " ".join(rng.choice(vocab, 110)) + ".\n")
    rt = Runtime(load_config(None), resolve_paths(root / "turn-home"), quiet=True)
    engine, kb = rt.engine, rt.knowledge
    hold = threading.Event()
    hold.set()
    busy = settled(engine.busy)
    embedded = [0]

    def progress(p) -> None:
        embedded[0] = p.chunks_done
    watcher = KnowledgeWatcher(lambda: kb.sync([folder], progress, pause=lambda: hold.is_set() or busy()),
                               [folder], 0)

    def turn(i: int) -> tuple[float, float]:
        t = time.perf_counter()
        first = None
        for event in engine.respond(TURN_QUESTIONS[i % len(TURN_QUESTIONS)]):
            if isinstance(event, Sentence) and first is None:
                first = (time.perf_counter() - t) * 1000
        done = (time.perf_counter() - t) * 1000
        return (first if first is not None else done), done
    turn(0)                               # warm: model pages, prompt cache
    watcher.start()
    idle: list[tuple[float, float]] = []
    busy_turns: list[tuple[float, float]] = []
    for i in range(2 * turns):
        indexing = i % 2 == 1
        (hold.clear if indexing else hold.set)()
        time.sleep(2.5)                   # the user listens, then speaks again (indexing runs meanwhile)
        (busy_turns if indexing else idle).append(turn(i // 2))
    hold.set()
    finished = watcher.syncs > 0
    watcher.stop()
    chunks = kb.store.count()
    rt.store.close()                      # before the caller removes the folder
    first_idle, first_busy = [a for a, _ in idle], [a for a, _ in busy_turns]
    done_idle, done_busy = [b for _, b in idle], [b for _, b in busy_turns]
    row = {"turns_each": turns, "files": files, "gap_s": 2.5,
           "idle_first_sentence_p50_ms": pct(first_idle, 50), "idle_first_sentence_p95_ms": pct(first_idle, 95),
           "indexing_first_sentence_p50_ms": pct(first_busy, 50),
           "indexing_first_sentence_p95_ms": pct(first_busy, 95),
           "ratio_first_sentence_p50": round(pct(first_busy, 50) / max(pct(first_idle, 50), 1e-9), 2),
           "idle_whole_turn_p50_ms": pct(done_idle, 50), "indexing_whole_turn_p50_ms": pct(done_busy, 50),
           "ratio_whole_turn_p50": round(pct(done_busy, 50) / max(pct(done_idle, 50), 1e-9), 2),
           "indexing_finished": finished, "chunks_embedded_meanwhile": embedded[0],
           "chunks_stored_at_end": chunks}
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--million", action="store_true", help="also 1,000,000 chunks (hours on 2 cores)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--embed-sample", type=int, default=64)
    ap.add_argument("--during-indexing", type=int, default=0, metavar="N", help="N searches idle and N while indexing")
    ap.add_argument("--turns", type=int, default=0, metavar="N",
                    help="N whole text turns idle and N while the runtime's watcher indexes")
    ap.add_argument("--turn-files", type=int, default=1000, help="notes in the folder indexed during --turns")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    embedder = Embedder(packaged_model_dir())
    embedder.warm()
    figures: dict = {"load_average_at_start": round(os.getloadavg()[0], 1)}
    figures["embedding"] = embed_rate(embedder, args.embed_sample)
    print(json.dumps(figures["embedding"]), flush=True)
    sizes = args.sizes + ([1_000_000] if args.million else [])
    root = Path(tempfile.mkdtemp(prefix="knowledge-scale-"))
    try:
        figures["sizes"] = [run(n, root, embedder, args.queries) for n in sizes]
        if args.during_indexing:
            figures["during_indexing"] = during_indexing(embedder, root, args.during_indexing)
            print(json.dumps(figures["during_indexing"]))
        if args.turns:
            figures["turns_during_indexing"] = turns_during_indexing(root, args.turns, args.turn_files)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures["load_average_at_end"] = round(os.getloadavg()[0], 1)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
