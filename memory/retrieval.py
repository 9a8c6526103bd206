"""Hybrid retrieval: gather candidates by vector and BM25, then rerank them.

Tuned on LoCoMo (benchmarks/memory_locomo.py), where dense MiniLM alone finds ~51% of the
evidence in the top 10, BM25 ~63%, and RRF with K=60 ~61%: RRF throws away how much
better the best match is. What works (~75%):

1. candidates: the top ``candidates`` rows by cosine and by BM25, plus the turns right
   before and after each (a reply is often the evidence for a question's words);
2. score = w·cosine + (1−w)·BM25 / max(BM25 of this query, floor);
3. add ``neighbour_weight`` × the better neighbour's score: conversation is local;
4. facts get a boost over chatter, newer memories a small recency bonus;
5. drop near-duplicates and anything whose own score (without the neighbour's share) is
   under ``min_relevance``; attach the neighbouring turn as context where a hit alone is
   too short, answers a question or asks one.

Then three levers, each fitted by leave-one-conversation-out (fit on four LoCoMo
conversations, score the fifth; every one of the five improved), which rank but never make
a row relevant: ``time_weight`` for turns said in (or telling of, see memory.timeparse)
the time a question names, ``speaker_weight`` for turns of the person it names, and
``session_weight`` × the best score in the turn's session (the session first, then its
turns). Together with the store's date keys: recall@10 75.2 → 78.5 (leave-one-out
78.5 ± 4.3 over the folds), multi-hop 41 → 47, open-domain 40 → 49, for ~0.3 ms a query.
Measured and left off: ``when_weight`` (+0.1), ``second_hop`` (−0.6, +26 ms). Once a
memory's turns are read for fact keys (memory.fact_keys), ``keyed_neighbour_weight``
replaces ``neighbour_weight``: with both, recall@10 78.5 → 81.3 (leave-one-out 81.8 ± 2.9).

Latency, embedding included: p50 27.7 ms on LoCoMo (2-core AMD EPYC, idle; it was 46.8).
The full-text search overlaps the embedding; candidate vectors are scored as one matrix.
"""
from __future__ import annotations

import calendar
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from . import timeparse
from .store import Hit, MemoryStore, keyed_turn, row_memory

BM25_FLOOR = 4.0    # a lone weak keyword match must not score like a perfect one
# Full-text search runs beside the embedding and the vector search (LanceDB releases
# the GIL): on 2 cores this hides most of its cost.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-fts")


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 4
    min_relevance: float = 0.3
    mode: str = "hybrid"                # "hybrid" | "dense" | "bm25" (baselines)
    candidates: int = 30
    dense_weight: float = 0.7
    neighbour_weight: float = 0.5
    # ...instead, once most people's turns among the candidates were read for fact keys
    # (memory.fact_keys): a keyed turn's score says more truly what it is about, so a turn
    # can lean harder on its neighbour's (a question's answer is often the reply beside the
    # turn that matches its words). Chosen by every leave-one-out fold (memory_locomo.py).
    keyed_neighbour_weight: float = 1.0
    fact_boost: float = 0.1
    recency_weight: float = 0.05
    recency_half_life_days: float = 30.0
    dedup_similarity: float = 0.95
    context: bool = True
    now: float | None = None            # for recency and "last week"; None = the clock
    # Levers measured by leave-one-conversation-out on LoCoMo (benchmarks/memory_locomo.py);
    # 0 turns each off.
    time_weight: float = 0.2            # a turn said (or telling of) the time the question names
    when_weight: float = 0.0            # "when ...?": a turn that says when something happened
    speaker_weight: float = 0.3         # a turn spoken by the person the question names
    session_weight: float = 0.2         # times the best score in the turn's session
    second_hop: int = 0                 # expand by the names in this many top hits (one more BM25 search)
    second_hop_weight: float = 0.5      # a second-hop find's BM25 counts this much of a first-hop one

    @classmethod
    def from_config(cls, m) -> "RetrievalSettings":
        """From the ``[memory]`` section of config.toml."""
        return cls(k=m.top_k, min_relevance=m.min_relevance, candidates=m.candidates,
                   dense_weight=m.dense_weight, neighbour_weight=m.neighbour_weight,
                   keyed_neighbour_weight=m.keyed_neighbour_weight,
                   fact_boost=m.fact_boost, recency_weight=m.recency_weight,
                   recency_half_life_days=m.recency_half_life_days,
                   dedup_similarity=m.dedup_similarity, context=m.neighbour_context,
                   **{k: getattr(m, k) for k in (*LEVERS, "second_hop_weight") if hasattr(m, k)})


LEVERS = ("time_weight", "when_weight", "speaker_weight", "session_weight", "second_hop")
_NAME = re.compile(r"\b([A-Z][a-z]+(?:'s)?)\b")
_NOT_NAMES = set("""I The A An And But So Then It Its This That These Those What When Where Who Why How Which Did
Do Does Is Are Was Were Will Would Could Should Can Has Have Had My Your Our Their His Her He She They We You Me
Hey Hi Oh Yeah Yes No Wow Thanks Thank Sure Well Ok Okay Great Good Nice Just Also Not Lol Haha By In On At For Of
To From With Last Next This Today Yesterday Tomorrow""".split()) | {m for m in calendar.month_name if m} \
    | {d for d in calendar.day_name}


def names(text: str) -> set[str]:
    """Capitalised words that are not sentence openers, months or days: "Caroline", "Valorant"."""
    return {w.removesuffix("'s") for w in _NAME.findall(text)} - _NOT_NAMES


def keyed(pool: dict[str, dict]) -> bool:
    """Whether at least half of the people's turns among these rows were read for fact
    keys ("-" counts: read, and nothing to add). A memory the daemon has had time with is
    all read but its newest turns; a fresh import, or one with memory.fact_keys off, none."""
    read = [bool(r.get("keys")) for r in pool.values() if keyed_turn(r)]
    return bool(read) and 2 * sum(read) >= len(read)


def _vec(row: dict) -> np.ndarray:
    return np.asarray(row["vector"], np.float32)


def candidates(store, text: str, vector: np.ndarray | Callable[[str], np.ndarray], mode: str,
               n: int) -> tuple[np.ndarray, dict[str, dict], dict[str, float], dict[str, float]]:
    """(query vector, rows by id, cosine by id, BM25 by id) from ``n`` nearest vectors and
    ``n`` best full-text hits; the full-text search runs while the query is embedded when
    ``vector`` is the function that makes it. ``store`` has ``dense`` and ``fulltext``
    (memory's store, and knowledge's)."""
    fts = _POOL.submit(store.fulltext, text, n) if mode in ("hybrid", "bm25") else None
    vector = np.asarray(vector(text) if callable(vector) else vector, np.float32)
    pool: dict[str, dict] = {}
    cos: dict[str, float] = {}
    bm25: dict[str, float] = {}
    if mode in ("hybrid", "dense"):
        for row, c in store.dense(vector, n):
            pool[row["id"]], cos[row["id"]] = row, c
    if fts is not None:
        for row, b in fts.result():
            pool.setdefault(row["id"], row)
            bm25[row["id"]] = b
    return vector, pool, cos, bm25


def search(store: MemoryStore, text: str, vector: np.ndarray | Callable[[str], np.ndarray], s: RetrievalSettings,
           exclude_ids: frozenset[str] | set[str] = frozenset()) -> list[Hit]:
    """``vector`` is the query's embedding, or the function that makes it (then the
    embedding and the full-text search overlap)."""
    if s.k <= 0:
        return []
    n = max(s.candidates, s.k)
    vector, pool, cos, bm25 = candidates(store, text, vector, s.mode, n)
    if s.mode == "hybrid" and pool and s.second_hop > 0:
        _second_hop(store, text, vector, pool, cos, bm25, n, s)
    if s.mode == "hybrid" and pool:
        for row in store.neighbours(list(pool.values())):
            pool.setdefault(row["id"], row)
    order = list(pool)
    matrix = np.stack([_vec(pool[i]) for i in order]) if order else np.zeros((0, len(vector)), np.float32)
    for i, c in zip(order, (matrix @ vector).tolist()):
        cos.setdefault(i, c)

    if s.mode == "dense":
        score = own = dict(cos)
    elif s.mode == "bm25":
        score = own = {i: bm25.get(i, 0.0) for i in pool if i in bm25}
    else:
        if keyed(pool):
            s = replace(s, neighbour_weight=s.keyed_neighbour_weight)
        top_b = max(bm25.values(), default=0.0)
        base = {i: s.dense_weight * cos[i] + (1 - s.dense_weight) * bm25.get(i, 0.0) / max(top_b, BM25_FLOOR)
                for i in pool}
        at = {(r["session_id"], r["seq"]): i for i, r in pool.items() if r["kind"] == "turn"}
        now = s.now if s.now is not None else time.time()
        extra = _lever_bonus(text, pool, base, now, s)
        score, own = {}, {}
        for i, row in pool.items():
            value = base[i]
            if row["kind"] == "fact":
                value += s.fact_boost
            if s.recency_weight:
                age_days = max(0.0, now - row["ts"]) / 86400
                value += s.recency_weight * math.pow(0.5, age_days / s.recency_half_life_days)
            own[i] = value
            value += extra.get(i, 0.0)      # the levers rank; they do not make a row relevant
            if row["kind"] == "turn":
                near = [base[at[k]] for k in ((row["session_id"], row["seq"] - 1), (row["session_id"], row["seq"] + 1))
                        if k in at]
                value += s.neighbour_weight * max(near, default=0.0)
            else:
                value += s.neighbour_weight * base[i]   # a fact is its own context: equal footing
            score[i] = value

    ranked = sorted((i for i in score if i not in exclude_ids), key=lambda i: -score[i])
    hits: list[Hit] = []
    kept: list[np.ndarray] = []
    seen_text: set[str] = set()
    for i in ranked:
        if len(hits) >= s.k:
            break
        if own[i] < s.min_relevance:
            continue        # raised only by its neighbour: it may come as context, not alone
        row = pool[i]
        v = _vec(row)
        norm = " ".join(row["text"].lower().split())
        if norm in seen_text or any(float(v @ u) >= s.dedup_similarity for u in kept):
            continue        # a near-duplicate of a better hit
        seen_text.add(norm)
        kept.append(v)
        hits.append(Hit(row_memory(row), float(score[i])))
    if s.context and s.mode == "hybrid" and hits:
        hits = _with_context(hits, pool, _near_copies(order, matrix, kept, s.dedup_similarity))
    return hits


def _lever_bonus(text: str, pool: dict[str, dict], base: dict[str, float], now: float,
                 s: RetrievalSettings) -> dict[str, float]:
    """What the time, speaker and session levers add to each candidate's score."""
    bonus: dict[str, float] = {}

    def add(i: str, v: float) -> None:
        bonus[i] = bonus.get(i, 0.0) + v

    if s.time_weight:
        asked = timeparse.query_range(text, now)
        if asked:
            for i, row in pool.items():
                if timeparse.overlaps(asked, (row["ts"], row["ts"] + 1)) or \
                        timeparse.overlaps(asked, timeparse.event_range(row["text"], row["ts"])):
                    add(i, s.time_weight)
    if s.when_weight and timeparse.is_when_question(text):
        for i, row in pool.items():
            if timeparse.says_when(row["text"]):
                add(i, s.when_weight)
    if s.speaker_weight:
        speakers = {r["speaker"] for r in pool.values() if r["speaker"]}
        named = {p for p in speakers if re.search(rf"\b{re.escape(p)}\b", text, re.I)}
        if named and named != speakers:
            for i, row in pool.items():
                if row["speaker"] in named:
                    add(i, s.speaker_weight)
    if s.session_weight:
        best: dict[str, float] = {}
        for i, row in pool.items():
            sid = row["session_id"]
            if base[i] > best.get(sid, 0.0):
                best[sid] = base[i]
        for i, row in pool.items():
            bonus[i] = bonus.get(i, 0.0) + s.session_weight * best.get(row["session_id"], 0.0)
    return bonus


def _second_hop(store: MemoryStore, text: str, vector: np.ndarray, pool: dict[str, dict], cos: dict[str, float],
                bm25: dict[str, float], n: int, s: RetrievalSettings) -> None:
    """Search again by the names the best first hits mention that the question does not
    ("the adoption agency" turn names "Bright Futures"): multi-hop evidence shares them."""
    top_b = max(bm25.values(), default=0.0)
    first = sorted(pool, key=lambda i: -(s.dense_weight * cos.get(i, 0.0)
                                         + (1 - s.dense_weight) * bm25.get(i, 0.0) / max(top_b, BM25_FLOOR)))
    speakers = {r["speaker"] for r in pool.values()}
    asked = names(text) | speakers
    found: list[str] = []
    for i in first[:s.second_hop]:
        found += [w for w in names(pool[i]["text"]) if w not in asked and w not in found]
    if not found:
        return
    ceiling = max(top_b, BM25_FLOOR)
    for row, b in store.fulltext(text + " " + " ".join(found), n):
        scaled = s.second_hop_weight * b * ceiling / max(b, ceiling)
        if row["id"] not in pool:
            pool[row["id"]] = row
            bm25[row["id"]] = scaled
        else:
            bm25[row["id"]] = max(bm25.get(row["id"], 0.0), scaled)


def _near_copies(order: list[str], matrix: np.ndarray, kept: list[np.ndarray], dedup: float) -> set[str]:
    """Ids of the candidates (rows of ``matrix``) as close as a duplicate to a shown hit."""
    if not kept or not len(order):
        return set()
    close = (matrix @ np.stack(kept).T >= dedup).any(axis=1)
    return {order[j] for j in np.flatnonzero(close)}


def _with_context(hits: list[Hit], pool: dict[str, dict], copies: set[str]) -> list[Hit]:
    """Add the neighbouring turn where the hit alone is unclear: it answers a question,
    asks one, or is too short to stand alone. Never a copy of something already shown."""
    by_place = {(r["session_id"], r["seq"]): r for r in pool.values()}
    shown = {h.memory.id for h in hits} | copies
    out = []
    for h in hits:
        m = h.memory
        if m.kind != "turn":
            out.append(h)
            continue
        prev = by_place.get((m.session_id, m.seq - 1))
        nxt = by_place.get((m.session_id, m.seq + 1))
        context = []
        if prev and prev["id"] not in shown and (prev["text"].rstrip().endswith("?") or len(m.text.split()) < 8):
            context.append(row_memory(prev))
        if nxt and nxt["id"] not in shown and m.text.rstrip().endswith("?"):
            context.append(row_memory(nxt))
        out.append(replace(h, context=tuple(context)) if context else h)
    return out
