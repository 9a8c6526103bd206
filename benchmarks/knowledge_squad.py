"""Retrieval over the user's files, measured on SQuAD v1.1 (half the dev set), no LLM.

Each article is written as one Markdown file (``# title`` then its paragraphs) and
ingested through the product's own path (``memory.knowledge``: parse, chunk, embed in
batches, LanceDB with FTS). Every question is then asked against the whole index; a hit
is a chunk of the gold paragraph's file whose character span overlaps that paragraph.
Reports recall@1/5/10 and MRR@10 for ``hybrid`` (the product's), ``bm25`` and ``dense``
in the same run, with latency (embedding the question + search, after a warm-up).

``--tune`` also picks ``dense_weight`` by cross-validation over articles: the weight
with the best recall@5 on the even-numbered articles' questions is scored on the odd
ones, and the other way round (a held-out half of SQuAD exists elsewhere: do not fit
to this one). It also shows, for relevance floors, how many answerable questions keep
their best hit and how many everyday questions that no article answers get none.

    .venv/bin/python benchmarks/knowledge_squad.py [--data FILE] [--json OUT] [--limit N] [--tune]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_config  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402
from memory.knowledge.index import Indexer  # noqa: E402
from memory.knowledge.search import KnowledgeSettings, search  # noqa: E402
from memory.knowledge.store import KnowledgeStore  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "squad" / "squad_dev_half.json"
# Everyday questions that no Wikipedia article of the set answers: what the floor is for.
UNANSWERABLE = [
    "What did the boiler engineer say about the pressure?", "When is my dentist appointment?",
    "How long do I bake the sourdough?", "What is the wifi password?", "Where did I park the car?",
    "What's my sister's phone number?", "How do I reset the dishwasher?", "What time is the bin collection?",
    "What did the doctor say about my knee?", "Which plants need watering twice a week?",
    "How much did the plumber charge?", "What is the code for the garage door?",
    "When does my passport expire?", "What did we decide about the holiday?", "How do I descale the kettle?",
    "What is in the lasagne recipe?", "Who is coming to dinner on Friday?", "What size are my running shoes?",
    "When did I last service the bike?", "What's the landlord's email?",
]


def packaged_model_dir() -> Path:
    import importlib.util

    from models.registry import EMBEDDINGS
    spec = importlib.util.find_spec(EMBEDDINGS.files[0].package)
    return Path(spec.origin).parent / "model"


def write_articles(data: dict, folder: Path) -> tuple[list[dict], dict[str, list[tuple[int, int]]]]:
    """One .md per article; returns the questions (with gold file and span) and each file's paragraph spans."""
    questions, spans = [], {}
    for ai, article in enumerate(data["data"]):
        title = article["title"].replace("_", " ")
        path = folder / f"{article['title'][:80].replace('/', '-')}.md"
        text, paras = f"# {title}\n\n", []
        for pi, p in enumerate(article["paragraphs"]):
            ctx = " ".join(p["context"].split())
            paras.append((len(text), len(text) + len(ctx)))
            text += ctx + "\n\n"
            for qa in p["qas"]:
                questions.append({"q": qa["question"], "path": str(path.resolve()), "span": paras[-1], "article": ai})
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        spans[str(path.resolve())] = paras
    return questions, spans


def is_gold(hit_row: tuple[str, int, int], q: dict) -> bool:
    path, start, end = hit_row
    return path == q["path"] and start < q["span"][1] and end > q["span"][0]


def metrics(ranks: list[int | None]) -> dict:
    n = max(len(ranks), 1)
    r = lambda k: round(100 * sum(1 for x in ranks if x is not None and x < k) / n, 1)  # noqa: E731
    mrr = sum(1 / (x + 1) for x in ranks if x is not None and x < 10) / n
    return {"recall@1": r(1), "recall@5": r(5), "recall@10": r(10), "mrr@10": round(mrr, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--limit", type=int, default=0, help="ask only every n-th question (quick runs)")
    ap.add_argument("--tune", action="store_true", help="cross-validate dense_weight and show the floor")
    ap.add_argument("--config", metavar="TOML", help="a config file whose [knowledge] settings to try")
    ap.add_argument("--workdir", metavar="DIR", help="keep the articles and index here: a rerun re-embeds nothing "
                    "(the product's sync finds every file unchanged)")
    args = ap.parse_args()

    data = json.loads(Path(args.data).read_text())
    cfg = load_config(Path(args.config), required=True) if args.config else load_config(None)
    k = cfg.knowledge
    product = KnowledgeSettings(k=10, min_relevance=-10.0, candidates=k.candidates, dense_weight=k.dense_weight)
    modes = {"hybrid": product, "bm25": replace(product, mode="bm25"), "dense": replace(product, mode="dense")}
    started = time.perf_counter()
    embedder = Embedder(packaged_model_dir())
    embedder.warm()
    print(f"embedder: {embedder.backend}, loaded in {time.perf_counter() - started:.2f} s; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.workdir or tmp
        folder = Path(tmp) / "articles"
        folder.mkdir(parents=True, exist_ok=True)
        questions, _ = write_articles(data, folder)
        store = KnowledgeStore(Path(tmp) / "db", embedder.dim, "squad")
        from tqdm import tqdm
        bar = tqdm(desc="indexing", unit=" chunks", file=sys.stderr, mininterval=1.0)

        def progress(p) -> None:
            bar.total = p.chunks_total
            bar.n = p.chunks_done
            bar.set_postfix_str(f"{p.files_done}/{p.files_total} files", refresh=False)
            bar.refresh()
        indexer = Indexer(store, embedder, k.chunk_settings(), int(k.max_file_mb * 1e6))
        report = indexer.sync([folder], progress=progress)
        bar.close()
        chunks = store.count()
        figures.update(chunks=chunks, files=report.files, ingest_seconds=round(report.seconds, 1),
                       ingest_chunks_per_s=round(chunks / report.seconds, 1),
                       ingest_files_per_s=round(report.files / report.seconds, 2),
                       disk_mb=round(store.disk_bytes() / 1e6, 1))
        print(f"indexed {report.files} articles as {chunks} chunks in {report.seconds:.1f} s", flush=True)
        if args.limit > 1:
            questions = questions[::args.limit]
        for q in questions[:20]:                          # warm-up
            search(store, q["q"], embedder.embed_one, product)
        ranks: dict[str, list] = {m: [] for m in modes}
        lat: dict[str, list] = {m: [] for m in modes}
        embed_lat: list[float] = []     # the baseline inside every figure: embedding the question alone
        pools = []
        for qi, q in enumerate(questions):
            t = time.perf_counter()
            embedder.embed_one(q["q"])
            embed_lat.append((time.perf_counter() - t) * 1000)
            for mode, s in modes.items():
                t = time.perf_counter()
                hits = search(store, q["q"], embedder.embed_one, s)
                lat[mode].append((time.perf_counter() - t) * 1000)
                found = [i for i, h in enumerate(hits) if is_gold((h.chunk.path, h.chunk.start, h.chunk.end), q)]
                ranks[mode].append(found[0] if found else None)
            if args.tune:
                wide = search(store, q["q"], embedder.embed_one, replace(product, k=2 * product.candidates))
                pools.append([(h.cosine, h.bm25, is_gold((h.chunk.path, h.chunk.start, h.chunk.end), q))
                              for h in wide])
            if qi % 500 == 0:
                print(f"  {qi}/{len(questions)} questions", file=sys.stderr, flush=True)
        figures["questions"] = len(questions)
        print(f"{'method':<8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7}")
        for mode in modes:
            row = {**metrics(ranks[mode]), "p50_ms": round(float(np.percentile(lat[mode], 50)), 1),
                   "p95_ms": round(float(np.percentile(lat[mode], 95)), 1)}
            figures[mode] = row
            print(f"{mode:<8} {row['recall@1']:>6} {row['recall@5']:>6} {row['recall@10']:>6} {row['mrr@10']:>7} "
                  f"{row['p50_ms']:>7} {row['p95_ms']:>7}")
        figures["embedding_p50_ms"] = round(float(np.percentile(embed_lat, 50)), 1)
        figures["embedding_p95_ms"] = round(float(np.percentile(embed_lat, 95)), 1)
        print(f"{'(embed)':<8} {'':>6} {'':>6} {'':>6} {'':>7} {figures['embedding_p50_ms']:>7} "
              f"{figures['embedding_p95_ms']:>7}   the question's embedding alone, included above")
        if args.tune:
            figures["tuning"] = tune(pools, questions, store, embedder, product)
        print(f"questions: {len(questions)}; chunks: {chunks}; ingest {figures['ingest_chunks_per_s']} chunks/s, "
              f"{figures['ingest_files_per_s']} files/s; disk {figures['disk_mb']} MB; "
              f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def fused(pool, w: float) -> list[float]:
    top_b = max((b for _, b, _ in pool), default=0.0)
    return [w * c + (1 - w) * b / max(top_b, 4.0) for c, b, _ in pool]


def recall5(pools, w: float) -> float:
    hit = 0
    for pool in pools:
        scores = fused(pool, w)
        order = sorted(range(len(pool)), key=lambda i: -scores[i])[:5]
        hit += any(pool[i][2] for i in order)
    return hit / max(len(pools), 1)


def tune(pools, questions, store, embedder, product) -> dict:
    """Cross-validated dense_weight (halves by article) and the relevance floor's effect."""
    grid = [round(x, 2) for x in np.arange(0.2, 0.95, 0.05)]
    halves = {"even": [p for p, q in zip(pools, questions) if q["article"] % 2 == 0],
              "odd": [p for p, q in zip(pools, questions) if q["article"] % 2 == 1]}
    out = {}
    for fit, held in (("even", "odd"), ("odd", "even")):
        best = max(grid, key=lambda w: recall5(halves[fit], w))
        out[f"fit_{fit}"] = {"dense_weight": best, f"recall@5_{fit}": round(100 * recall5(halves[fit], best), 1),
                             f"recall@5_{held}_held_out": round(100 * recall5(halves[held], best), 1)}
        print(f"dense_weight tuned on {fit} articles: {best} (R@5 {out[f'fit_{fit}'][f'recall@5_{fit}']}); "
              f"on {held} articles: {out[f'fit_{fit}'][f'recall@5_{held}_held_out']}")
    w = product.dense_weight
    top_answerable = [max(fused(p, w), default=-1.0) for p in pools]
    gold_top = [max((s for s, (_, _, g) in zip(fused(p, w), p) if g), default=-1.0) for p in pools]
    top_unanswerable = []
    for text in UNANSWERABLE:
        hits = search(store, text, embedder.embed_one, replace(product, k=1))
        top_unanswerable.append(hits[0].relevance if hits else -1.0)
        if hits:
            print(f"  everyday: {text!r} → {Path(hits[0].chunk.path).stem} fused {hits[0].relevance:.3f} "
                  f"cos {hits[0].cosine:.3f} bm25 {hits[0].bm25:.1f}")
    floors = {}
    for floor in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75):
        floors[str(floor)] = {
            "answerable_with_gold_kept_%": round(100 * float(np.mean([g >= floor for g in gold_top])), 1),
            "answerable_with_notes_%": round(100 * float(np.mean([t >= floor for t in top_answerable])), 1),
            "unanswerable_with_notes_%": round(100 * float(np.mean([t >= floor for t in top_unanswerable])), 1)}
        print(f"floor {floor}: gold kept {floors[str(floor)]['answerable_with_gold_kept_%']}%, "
              f"everyday questions given notes {floors[str(floor)]['unanswerable_with_notes_%']}%")
    out["floors"] = floors
    out["unanswerable_top_scores"] = [round(x, 3) for x in top_unanswerable]
    return out


if __name__ == "__main__":
    sys.exit(main())
