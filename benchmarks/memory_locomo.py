"""LoCoMo retrieval benchmark through the product's own memory API (no LLM).

Each conversation's turns are stored as memories (one profile per conversation, the
turn's ``dia_id`` kept in ``ref``), then each question is asked; a question's evidence
turns found in the top k give recall@k, all of them in the top 10 gives all@10.
Category 5 (adversarial, no answer) is left out. Hybrid retrieval, dense-only and
BM25-only run on the same store in the same run. Latency is end to end: embedding the
question plus the search.

    .venv/bin/python benchmarks/memory_locomo.py [--data PATH] [--json OUT.json] [--config TOML]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_config  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402
from memory.retrieval import RetrievalSettings  # noqa: E402
from memory.service import MemoryService  # noqa: E402
from memory.store import Memory, MemoryStore, StoreSettings, describe  # noqa: E402
from models.registry import EMBEDDINGS  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "locomo" / "locomo_dev.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


def packaged_model_dir() -> Path:
    import importlib.util
    spec = importlib.util.find_spec(EMBEDDINGS.files[0].package)
    return Path(spec.origin).parent / "model"


def conversation_memories(conv: dict, index: int, captions: bool) -> list[Memory]:
    c, out, n = conv["conversation"], [], 1
    while f"session_{n}" in c:
        when = dt.datetime.strptime(c[f"session_{n}_date_time"], "%I:%M %p on %d %B, %Y")
        for j, turn in enumerate(c[f"session_{n}"]):
            text = turn["text"]
            if captions and turn.get("blip_caption"):
                text += f" [shares a photo of {turn['blip_caption']}]"
            out.append(Memory(text=text, role="user", session_id=f"c{index}-s{n}", profile=f"locomo-{index}",
                              ts=when.timestamp() + j, speaker=turn["speaker"], seq=j, ref=turn["dia_id"]))
        n += 1
    return out


def evidence(q: dict, refs: set[str]) -> set[str]:
    found = set()
    for e in q.get("evidence", []):
        for part in re.split(r"[;,\s]+", str(e)):
            if part.strip() in refs:
                found.add(part.strip())
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--no-captions", action="store_true", help="leave out the photo captions of image turns")
    ap.add_argument("--config", metavar="TOML", help="a config file whose [memory] settings to try")
    args = ap.parse_args()

    data = json.loads(Path(args.data).read_text())
    started = time.perf_counter()
    embedder = Embedder(packaged_model_dir())
    embedder.warm()
    print(f"embedder: {embedder.backend}, loaded in {time.perf_counter() - started:.2f} s", flush=True)
    # The product's defaults (config.toml [memory]), but k=10 and no relevance cut-off.
    cfg = load_config(Path(args.config), required=True) if args.config else load_config(None)
    product = replace(RetrievalSettings.from_config(cfg.memory), k=10, min_relevance=-10.0)
    modes = {"hybrid": product, "dense": replace(product, mode="dense"), "bm25": replace(product, mode="bm25")}
    results = {m: {"r5": [], "r10": [], "all10": [], "cat": defaultdict(list), "lat": []} for m in modes}
    embed_rows, embed_s = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for ci, conv in enumerate(data):
            memories = conversation_memories(conv, ci, not args.no_captions)
            store = MemoryStore(Path(tmp) / "db", embedder.dim, profile=f"locomo-{ci}",
                                settings=StoreSettings(background=False, flush_rows=10_000))
            t0 = time.perf_counter()
            vectors = embedder.embed_many([describe(m) for m in memories], progress=True, desc=f"conversation {ci}")
            embed_s += time.perf_counter() - t0
            embed_rows += len(memories)
            store.add_now(memories, vectors)
            store.maintainer.optimize()
            refs = {m.ref for m in memories}
            now = max(m.ts for m in memories)
            questions = [q for q in conv["qa"] if q.get("category") in CATEGORIES]
            for q in questions:
                wanted = evidence(q, refs)
                if not wanted:
                    continue
                for mode, settings in modes.items():
                    service = MemoryService(store, embedder, replace(settings, now=now))
                    t = time.perf_counter()
                    hits = service.search(q["question"])        # embeds the question, then searches
                    results[mode]["lat"].append((time.perf_counter() - t) * 1000)
                    got = [h.memory.ref for h in hits]
                    r10 = len(wanted & set(got[:10])) / len(wanted)
                    res = results[mode]
                    res["r5"].append(len(wanted & set(got[:5])) / len(wanted))
                    res["r10"].append(r10)
                    res["all10"].append(float(r10 == 1.0))
                    res["cat"][q["category"]].append(r10)
            store.close()
            print(f"conversation {ci}: {len(memories)} turns, {len(questions)} questions", file=sys.stderr, flush=True)

    figures = {"embedding_rows_per_s": round(embed_rows / embed_s, 1), "questions": len(results["hybrid"]["r10"])}
    header = f"{'method':<8} {'R@5':>6} {'R@10':>6} {'all@10':>7} " + " ".join(f"{v:>11}" for v in CATEGORIES.values()) \
        + f" {'p50 ms':>7} {'p95 ms':>7}"
    print(header)
    for mode, res in results.items():
        cats = {CATEGORIES[c]: round(100 * float(np.mean(v)), 1) for c, v in sorted(res["cat"].items())}
        row = {"recall@5": round(100 * float(np.mean(res["r5"])), 1), "recall@10": round(100 * float(np.mean(res["r10"])), 1),
               "all@10": round(100 * float(np.mean(res["all10"])), 1), "recall@10_by_category": cats,
               "p50_ms": round(float(np.percentile(res["lat"], 50)), 1),
               "p95_ms": round(float(np.percentile(res["lat"], 95)), 1)}
        figures[mode] = row
        print(f"{mode:<8} {row['recall@5']:>6} {row['recall@10']:>6} {row['all@10']:>7} "
              + " ".join(f"{cats.get(v, 0):>11}" for v in CATEGORIES.values())
              + f" {row['p50_ms']:>7} {row['p95_ms']:>7}")
    print(f"questions: {figures['questions']}; embedding throughput: {figures['embedding_rows_per_s']} rows/s "
          f"({embedder.backend})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
