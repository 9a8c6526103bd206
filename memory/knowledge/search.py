"""Hybrid search over the user's files, ranked like conversation memory.

Candidates are the top ``candidates`` chunks by cosine and by BM25; each gets
``w·cosine + (1−w)·BM25 / max(top BM25, 4)`` (``memory.retrieval``'s fused score, without
the conversation-only terms: neighbouring turns, facts, recency). Chunks under
``min_relevance`` are dropped, so a question no note answers brings no notes.
``dense_weight`` 0.6 was cross-validated on benchmarks/knowledge_squad.py (articles in two
halves: 0.55 tuned on one gave recall@5 96.4 on the other, 0.65 the other way 96.3); the
floor 0.55 keeps the gold passage for 93% of SQuAD questions while 2 of 20 everyday
questions no article answers still get a passage (0.5: 96% and 8 of 20).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from memory.retrieval import BM25_FLOOR, candidates

from .chunker import Chunk
from .store import KnowledgeStore, row_chunk


@dataclass(frozen=True)
class KnowledgeSettings:
    k: int = 2
    min_relevance: float = 0.55
    mode: str = "hybrid"                # "hybrid" | "dense" | "bm25" (baselines)
    candidates: int = 30
    dense_weight: float = 0.6


@dataclass(frozen=True)
class KnowledgeHit:
    chunk: Chunk
    relevance: float
    cosine: float
    bm25: float

    def as_dict(self) -> dict:
        c = self.chunk
        return {"path": c.path, "source": c.source, "title": c.title, "heading": c.heading, "seq": c.seq,
                "start": c.start, "end": c.end, "text": c.text, "relevance": round(self.relevance, 4),
                "cosine": round(self.cosine, 4), "bm25": round(self.bm25, 3)}


def search(store: KnowledgeStore, text: str, vector: np.ndarray | Callable[[str], np.ndarray],
           s: KnowledgeSettings) -> list[KnowledgeHit]:
    """``vector`` is the query's embedding or the function that makes it (then embedding
    and full-text search overlap, as in ``memory.retrieval.search``)."""
    if s.k <= 0:
        return []
    vector, pool, cos, bm25 = candidates(store, text, vector, s.mode, max(s.candidates, s.k))
    for i, row in pool.items():
        if i not in cos:
            cos[i] = float(np.asarray(row["vector"], np.float32) @ vector)
    if s.mode == "dense":
        score = dict(cos)
    elif s.mode == "bm25":
        score = {i: bm25[i] for i in bm25}
    else:
        top_b = max(bm25.values(), default=0.0)
        score = {i: s.dense_weight * cos[i] + (1 - s.dense_weight) * bm25.get(i, 0.0) / max(top_b, BM25_FLOOR)
                 for i in pool}
    ranked = sorted(score, key=lambda i: -score[i])
    return [KnowledgeHit(row_chunk(pool[i]), float(score[i]), cos[i], bm25.get(i, 0.0))
            for i in ranked if score[i] >= s.min_relevance][:s.k]


_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("""a an the of to in on at for and or is are was were be been it its this that what which who whom
when where why how do does did i you my your me we our with from by as about there their they he she his her
say said tell""".split())


def query_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def matching_sentences(text: str, query: str, budget_chars: int | None = None) -> list[str]:
    """The chunk's sentences that share words with the query, best first (the CLI's
    matching lines; the prompt's excerpt when a whole chunk is over its budget)."""
    words = query_words(query)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    scored = sorted(range(len(sentences)),
                    key=lambda i: -len(words & set(_WORD.findall(sentences[i].lower()))))
    picked = [i for i in scored if words & set(_WORD.findall(sentences[i].lower()))]
    if budget_chars is None:
        return [sentences[i] for i in picked]
    out, used = [], 0
    for i in picked or scored:
        if used + len(sentences[i]) > budget_chars and out:
            break
        out.append(i)
        used += len(sentences[i]) + 1
    return [sentences[i] for i in sorted(out)]
