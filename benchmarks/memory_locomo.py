"""LoCoMo retrieval benchmark through the product's own memory API (no LLM).

Each conversation's turns are stored as memories (one profile per conversation, the
turn's ``dia_id`` kept in ``ref``), then each question is asked; a question's evidence
turns found in the top k give recall@k, all of them in the top 10 gives all@10.
Category 5 (adversarial, no answer) is left out. Hybrid retrieval, dense-only,
BM25-only and the hybrid without the query-time levers (``no-levers``: time, when,
speaker, session, second hop; the store's date keys stay) run on the same store in the
same run, interleaved per question. Latency is end to end: embedding the
question plus the search.

Leave-one-conversation-out (``loo`` in the JSON): the settings named by ``--grid`` are
fitted on all conversations but one (the grid point with the best recall@10 over their
questions) and scored on the one left out; the mean and spread over the folds is the
figure that predicts unseen conversations. Without ``--grid`` nothing is fitted and the
folds are simply the per-conversation figures of the defaults.

    .venv/bin/python benchmarks/memory_locomo.py [--data PATH] [--json OUT.json] [--config TOML]
        [--set NAME=VALUE ...] [--grid NAME=V1,V2 ...] [--cache DIR] [--baselines no] [--date-keys no]
        [--embedding-model DIR] [--conversations 1,2] [--fact-keys KEYS.json] [--context-turns N]
        [--persons as-said|first|both]

``--embedding-model`` tries another sentence-transformers model (as ``memory.embedding_model``
would; it needs the ``[sentence-transformers]`` extra) in place of the bundled MiniLM.
``--fact-keys`` gives the stored turns the facts ``locomo_fact_keys.py`` read out of them
the way the daemon does between turns (``MemoryService.read_fact_keys``, the LLM's
replies taken from the file; ``Memory.keys`` is embedded and full-text indexed, see
memory.fact_keys); only conversations whose every turn was read are asked, so run the
baseline with the same ``--conversations``. ``--context-turns N`` embeds each turn after
the N turns before it in its session, and ``--persons first|both`` embeds each turn with
"I" (and "you") replaced by the names they stand for: store-time levers the product does
not use (measured in docs/architecture.md).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_config  # noqa: E402
from assistant.errors import ModelError  # noqa: E402
from assistant.paths import resolve_paths  # noqa: E402
from memory.embeddings import Embedder  # noqa: E402
from memory.retrieval import LEVERS, RetrievalSettings  # noqa: E402
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
    """The turns as memories, in order."""
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


@dataclass
class Asked:
    """One question's outcome under one setting."""
    conversation: int
    category: int
    r5: float
    r10: float
    lat_ms: float


@dataclass
class Conversation:
    index: int
    store: MemoryStore
    memories: list[Memory]
    questions: list[tuple[dict, set[str]]]      # (question, its evidence ids found in the dialog)
    now: float


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_setting(item: str, many: bool) -> tuple[str, object]:
    """``name=value`` (``--set``) or ``name=v1,v2,...`` (``--grid``), checked against RetrievalSettings."""
    name, sep, value = item.partition("=")
    known = {f.name for f in fields(RetrievalSettings)} - {"k", "min_relevance", "mode", "now"}
    if not sep or name not in known:
        raise SystemExit(f"memory_locomo: bad setting {item!r}; give name=value with name one of {', '.join(sorted(known))}")
    values = [parse_value(v) for v in value.split(",")]
    return name, values if many else values[0]


def cached_vectors(embedder: Embedder, texts: list[str], cache: Path | None, desc: str) -> np.ndarray:
    """The rows' embeddings, reused from ``cache`` when the same model embedded the same texts."""
    key = hashlib.sha256("\n".join([str(embedder.model_dir), embedder.backend, *texts]).encode()).hexdigest()[:24]
    path = cache / f"{key}.npy" if cache else None
    if path and path.exists():
        return np.load(path)
    vectors = embedder.embed_many(texts, progress=True, desc=desc)
    if path:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


_FIRST_PERSON = [(r"\bI'm\b", "{} is"), (r"\bI've\b", "{} has"), (r"\bI'll\b", "{} will"), (r"\bI'd\b", "{} would"),
                 (r"\bI\b", "{}"), (r"\b[Mm]y\b", "{}'s"), (r"\b[Mm]yself\b", "{}"), (r"\b[Mm]e\b", "{}")]
_SECOND_PERSON = [(r"\b[Yy]ou're\b", "{} is"), (r"\b[Yy]ou've\b", "{} has"), (r"\b[Yy]our\b", "{}'s"),
                  (r"\b[Yy]ourself\b", "{}"), (r"\b[Yy]ou\b", "{}")]


def addressee(memories: list[Memory], i: int) -> str:
    """Who a turn speaks to: the nearest other speaker before it in its session, else after."""
    m = memories[i]
    for j in [*range(i - 1, -1, -1), *range(i + 1, len(memories))]:
        p = memories[j]
        if p.session_id == m.session_id and p.speaker != m.speaker:
            return p.speaker
    return ""


def person_resolved(memories: list[Memory], i: int, persons: str) -> Memory:
    """The turn with "I"/"my" as its speaker's name (and, with ``persons="both"``,
    "you"/"your" as its addressee's): "I painted it" embeds like the question "What did
    Melanie paint?". A measured lever, not in the product (docs/architecture.md)."""
    m = memories[i]
    if persons == "as-said" or not m.speaker:
        return m
    text, rules = m.text, [(rx, m.speaker, rep) for rx, rep in _FIRST_PERSON]
    if persons == "both" and (other := addressee(memories, i)):
        rules += [(rx, other, rep) for rx, rep in _SECOND_PERSON]
    for rx, name, rep in rules:
        text = re.sub(rx, rep.format(name), text)
    return replace(m, text=text)


def embedded_text(memories: list[Memory], i: int, context_turns: int, persons: str = "as-said") -> str:
    """What a turn's vector is made from: ``describe`` of it, then the ``context_turns``
    turns before it in its session (a reply like "Yes, last week!" means little alone;
    the turn comes first so that the embedder's 256-token cut falls on the context)."""
    m, before = memories[i], []
    for p in reversed(memories[max(0, i - context_turns):i]):
        if p.session_id != m.session_id:
            break
        before.insert(0, f"{p.speaker}: {p.text}")
    return "\n".join([describe(person_resolved(memories, i, persons)), *before])


def load(data: list[dict], embedder: Embedder, db: Path, captions: bool, cache: Path | None,
         date_keys: bool = True, only: set[int] | None = None,
         fact_keys: dict | None = None, context_turns: int = 0,
         persons: str = "as-said") -> tuple[list[Conversation], float, int]:
    """Store every conversation's turns through the product's store, each in its own
    database (one profile each), so BM25's term statistics are the conversation's own.
    ``only``: these conversation indexes; ``fact_keys``: {index: {dia_id: [facts]}}."""
    out, embed_s, embed_rows = [], 0.0, 0
    for ci, conv in enumerate(data):
        if only is not None and ci not in only:
            continue
        memories = conversation_memories(conv, ci, captions)
        store = MemoryStore(db / f"c{ci}", embedder.dim, profile=f"locomo-{ci}",
                            settings=StoreSettings(background=False, flush_rows=10_000, date_keys=date_keys))
        t0 = time.perf_counter()
        vectors = cached_vectors(embedder, [embedded_text(memories, i, context_turns, persons) for i in range(len(memories))],
                                 cache, f"conversation {ci}")
        embed_s += time.perf_counter() - t0
        embed_rows += len(memories)
        store.add_now(memories, vectors)
        if fact_keys is not None:
            key_stored_turns(store, embedder, memories, fact_keys[str(ci)])
        store.maintainer.optimize()
        refs = {m.ref for m in memories}
        questions = [(q, evidence(q, refs)) for q in conv["qa"] if q.get("category") in CATEGORIES]
        questions = [(q, w) for q, w in questions if w]
        out.append(Conversation(ci, store, memories, questions, max(m.ts for m in memories)))
        print(f"conversation {ci}: {len(memories)} turns, {len(questions)} questions", file=sys.stderr, flush=True)
    return out, embed_s, embed_rows


def key_stored_turns(store: MemoryStore, embedder: Embedder, memories: list[Memory], keys: dict) -> None:
    """Give the stored turns their fact keys as the daemon does between turns
    (``MemoryService.read_fact_keys``: session by session, each turn embedded again and
    its session rewritten), with the LLM's replies taken from the keys file."""
    from collections import deque

    from memory.fact_keys import MAX_FACTS
    replies: dict[str, deque] = defaultdict(deque)
    for m in memories:
        facts = keys[m.ref][:MAX_FACTS]
        replies[f"{m.speaker}: {m.text}"].append("\n".join(f"- {f}" for f in facts) or "- none")

    def complete(messages: list[dict]) -> str | None:
        line = messages[-1]["content"].split("Last line, ", 1)[1].removesuffix("\nFacts:")
        return replies[line].popleft() if replies.get(line) else None

    service, t0, done = MemoryService(store, embedder), time.perf_counter(), 0
    while n := service.read_fact_keys(complete, limit=10_000):
        done += n
    if done < len(memories):
        raise SystemExit(f"memory_locomo: only {done} of {len(memories)} turns were keyed")
    print(f"  keys written for {done} turns in {time.perf_counter() - t0:.1f} s (embedding and session rewrites)",
          file=sys.stderr, flush=True)


def ask_all(convs: list[Conversation], embedder: Embedder, modes: dict[str, RetrievalSettings]) -> dict[str, list[Asked]]:
    """Every question under every setting, the settings interleaved per question so that
    a change in the machine's load falls on all of them alike."""
    out: dict[str, list[Asked]] = {mode: [] for mode in modes}
    for conv in convs:
        services = {mode: MemoryService(conv.store, embedder, replace(s, now=conv.now)) for mode, s in modes.items()}
        for q, wanted in conv.questions:
            for mode, service in services.items():
                t = time.perf_counter()
                hits = service.search(q["question"])        # embeds the question, then searches
                lat = (time.perf_counter() - t) * 1000
                got = [h.memory.ref for h in hits]
                out[mode].append(Asked(conv.index, q["category"], len(wanted & set(got[:5])) / len(wanted),
                                       len(wanted & set(got[:10])) / len(wanted), lat))
    return out


def pct(values) -> float:
    return round(100 * float(np.mean(values)), 1) if len(values) else 0.0


def summary(asked: list[Asked]) -> dict:
    by_cat, by_conv = defaultdict(list), defaultdict(list)
    for a in asked:
        by_cat[a.category].append(a.r10)
        by_conv[a.conversation].append(a.r10)
    lat = [a.lat_ms for a in asked]
    return {"recall@5": pct([a.r5 for a in asked]), "recall@10": pct([a.r10 for a in asked]),
            "all@10": pct([a.r10 == 1.0 for a in asked]),
            "recall@10_by_category": {CATEGORIES[c]: pct(v) for c, v in sorted(by_cat.items())},
            "recall@10_by_conversation": {str(c): pct(v) for c, v in sorted(by_conv.items())},
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1)}


def leave_one_out(grid_runs: list[tuple[dict, list[Asked]]], conversations: list[int]) -> dict:
    """Fit on four conversations (the grid point with the best recall@10 over their
    questions), score the fifth; the mean and spread over folds is what generalises."""
    folds, held = [], []
    for out in conversations:
        def fit_score(run):
            train = [a.r10 for a in run[1] if a.conversation != out]
            return float(np.mean(train)) if train else 0.0
        point, asked = max(grid_runs, key=fit_score)        # first (default-most) point wins ties
        scored = [a for a in asked if a.conversation == out]
        held += scored
        folds.append({"held_out": out, "fitted": point, "fit_recall@10": pct([a.r10 for a in asked if a.conversation != out]),
                      "recall@10": pct([a.r10 for a in scored]), "questions": len(scored)})
    per_fold = [f["recall@10"] for f in folds]
    best_all = max(grid_runs, key=lambda run: float(np.mean([a.r10 for a in run[1]])))
    return {"folds": folds, "recall@10_mean": round(float(np.mean(per_fold)), 1),
            "recall@10_sd": round(float(np.std(per_fold)), 1),
            "recall@10_min": min(per_fold), "recall@10_max": max(per_fold),
            "pooled": summary(held),
            "fitted_on_all": {"settings": best_all[0], "recall@10": pct([a.r10 for a in best_all[1]])}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--no-captions", action="store_true", help="leave out the photo captions of image turns")
    ap.add_argument("--config", metavar="TOML", help="a config file whose [memory] settings to try")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override one retrieval setting (e.g. time_weight=0.2); repeatable")
    ap.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                    help="values to fit by leave-one-conversation-out (hybrid); repeatable, all combinations")
    ap.add_argument("--no-loo", action="store_true", help="skip the leave-one-conversation-out figures")
    ap.add_argument("--baselines", choices=("yes", "no"), default="yes", help="also run dense-only and BM25-only")
    ap.add_argument("--date-keys", choices=("yes", "no"), default="yes",
                    help="index turns also under the dates their time words mean (memory.store.document)")
    ap.add_argument("--cache", metavar="DIR", help="keep the turns' embeddings here and reuse them next run")
    ap.add_argument("--persons", choices=("as-said", "first", "both"), default="as-said",
                    help="embed each turn with I/my (first) and also you/your (both) replaced by "
                         "the names they stand for (store time; not in the product)")
    ap.add_argument("--context-turns", type=int, default=0, metavar="N",
                    help="embed each turn after the N turns before it in its session (store time)")
    ap.add_argument("--conversations", metavar="I,J", help="only these conversations (indexes from 0)")
    ap.add_argument("--fact-keys", metavar="KEYS", type=Path,
                    help="facts read out of each turn (locomo_fact_keys.py), indexed with it")
    ap.add_argument("--embedding-model", metavar="DIR", type=Path,
                    help="a sentence-transformers model directory (default: the bundled MiniLM)")
    args = ap.parse_args()

    path = Path(args.data)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        print(f"memory_locomo: cannot read {path} ({e.__class__.__name__}); give a LoCoMo JSON file with --data",
              file=sys.stderr)
        return 2
    only = None
    if args.conversations:
        try:
            only = {int(x) for x in args.conversations.split(",")}
        except ValueError:
            print(f"memory_locomo: bad --conversations {args.conversations!r}; give indexes like 1,2", file=sys.stderr)
            return 2
    keys = None
    if args.fact_keys:
        try:
            keys = json.loads(args.fact_keys.read_text())
        except (OSError, ValueError) as e:
            print(f"memory_locomo: cannot read {args.fact_keys} ({e.__class__.__name__}); give the --out file "
                  "of benchmarks/locomo_fact_keys.py", file=sys.stderr)
            return 2
        complete = {ci for ci, conv in enumerate(data) if str(ci) in keys
                    and {m.ref for m in conversation_memories(conv, ci, False)} <= set(keys[str(ci)])}
        only = complete if only is None else only & complete
        if not only:
            print(f"memory_locomo: {args.fact_keys} has keys for every turn of none of the conversations asked; "
                  "finish them with benchmarks/locomo_fact_keys.py", file=sys.stderr)
            return 2
        print(f"fact keys: conversations {sorted(only)}", flush=True)
    overrides = dict(parse_setting(x, False) for x in args.set)
    grid = dict(parse_setting(x, True) for x in args.grid)
    started = time.perf_counter()
    try:
        embedder = Embedder(args.embedding_model or packaged_model_dir(), cache_dir=resolve_paths().model_cache)
    except ModelError as e:
        print(f"memory_locomo: {e}", file=sys.stderr)
        return 2
    embedder.warm()
    print(f"embedder: {embedder.backend}, loaded in {time.perf_counter() - started:.2f} s", flush=True)
    # The product's defaults (config.toml [memory]), but k=10 and no relevance cut-off.
    cfg = load_config(Path(args.config), required=True) if args.config else load_config(None)
    product = replace(RetrievalSettings.from_config(cfg.memory), k=10, min_relevance=-10.0, **overrides)
    modes = {"hybrid": product}
    if args.baselines == "yes":
        modes |= {"dense": replace(product, mode="dense"), "bm25": replace(product, mode="bm25"),
                  "no-levers": replace(product, **{k: 0 for k in LEVERS})}
    with tempfile.TemporaryDirectory() as tmp:
        convs, embed_s, embed_rows = load(data, embedder, Path(tmp) / "db", not args.no_captions,
                                          Path(args.cache) if args.cache else None, args.date_keys == "yes",
                                          only, keys, args.context_turns, args.persons)
        results = ask_all(convs, embedder, modes)
        grid_runs = [({}, results["hybrid"])]
        for values in itertools.product(*grid.values()):
            point = dict(zip(grid, values))
            if all(getattr(product, k) == v for k, v in point.items()):
                grid_runs[0] = (point, results["hybrid"])
                continue
            print(f"grid point {point}", file=sys.stderr, flush=True)
            grid_runs.append((point, ask_all(convs, embedder, {"point": replace(product, **point)})["point"]))
        for conv in convs:
            conv.store.close()

    figures = {"embedding_rows_per_s": round(embed_rows / max(embed_s, 1e-9), 1),
               "questions": len(results["hybrid"]), "settings": {k: v for k, v in asdict(product).items() if k != "now"},
               "date_keys": args.date_keys == "yes", "context_turns": args.context_turns, "persons": args.persons, "fact_keys": str(args.fact_keys or ""),
               "conversations": sorted(c.index for c in convs), "load_average": [round(x, 2) for x in os.getloadavg()]}
    header = f"{'method':<9} {'R@5':>6} {'R@10':>6} {'all@10':>7} " + " ".join(f"{v:>11}" for v in CATEGORIES.values()) \
        + f" {'p50 ms':>7} {'p95 ms':>7}"
    print(header)

    def line(name: str, row: dict) -> str:  # noqa: E306
        cats = row["recall@10_by_category"]
        return (f"{name:<9} {row['recall@5']:>6} {row['recall@10']:>6} {row['all@10']:>7} "
                + " ".join(f"{cats.get(v, 0):>11}" for v in CATEGORIES.values()) + f" {row['p50_ms']:>7} {row['p95_ms']:>7}")

    for mode, asked in results.items():
        figures[mode] = summary(asked)
        print(line(mode, figures[mode]))
    if not args.no_loo and len(convs) > 1:
        loo = leave_one_out(grid_runs, [c.index for c in convs])
        loo["grid"] = grid
        loo["grid_points"] = [{"settings": point, **summary(asked)} for point, asked in grid_runs]
        figures["loo"] = loo
        # With no --grid nothing is fitted: the "folds" are the defaults scored per
        # conversation, so they are named that way and no pooled row repeats the hybrid's.
        if grid:
            print(line("LOO", loo["pooled"]) + "   (held-out questions of all folds, pooled)")
        what = "leave-one-conversation-out recall@10" if grid else "recall@10 per conversation (defaults; --grid fits)"
        unit = "fold" if grid else "conversation"
        print(f"{what}: {loo['recall@10_mean']} ± {loo['recall@10_sd']} (sd over "
              f"{len(loo['folds'])} {unit}s; min {loo['recall@10_min']}, max {loo['recall@10_max']}); per {unit}: "
              + ", ".join(f"{f['held_out']}:{f['recall@10']}" + (f" {f['fitted']}" if f["fitted"] else "") for f in loo["folds"]))
        if grid:
            print(f"fitted on all {len(convs)}: {loo['fitted_on_all']['settings']} -> recall@10 {loo['fitted_on_all']['recall@10']}")
    print(f"questions: {figures['questions']}; embedding throughput: {figures['embedding_rows_per_s']} rows/s "
          f"({embedder.backend}); load average {figures['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
