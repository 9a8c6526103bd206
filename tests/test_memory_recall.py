"""Recall levers: time words in questions and turns, the person asked about, and the
leave-one-conversation-out fit of benchmarks/memory_locomo.py. Real embedder, LanceDB on disk."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from memory import timeparse
from memory.retrieval import RetrievalSettings
from memory.service import MemoryService
from memory.store import Memory, MemoryStore, StoreSettings, describe

REPO = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2023, 10, 20, 12, 0).timestamp()     # a Friday


def at(y: int, m: int, d: int, hour: int = 12) -> float:
    return dt.datetime(y, m, d, hour).timestamp()


@pytest.fixture(scope="module")
def embedder():
    from benchmarks.memory_locomo import packaged_model_dir
    from memory.embeddings import Embedder
    return Embedder(packaged_model_dir())


def stored(tmp_path: Path, embedder, rows: list[tuple[str, float, str]], **settings) -> MemoryStore:
    store = MemoryStore(tmp_path / "db", embedder.dim, settings=StoreSettings(background=False, **settings))
    memories = [Memory(text=text, role="user", session_id=f"s{i}", speaker=speaker, ts=ts, seq=0)
                for i, (text, ts, speaker) in enumerate(rows)]
    store.add_now(memories, embedder.embed([describe(m) for m in memories]))
    store.maintainer.optimize()
    return store


def test_last_week_resolves_to_the_stored_rows_of_the_week_before(tmp_path, embedder):
    days = [1, 5, 9, 12, 15, 18, 19]
    store = stored(tmp_path, embedder, [(f"I went swimming on October {d}.", at(2023, 10, d), "Sam") for d in days])
    lo, hi = timeparse.query_range("What did I do last week?", NOW)
    inside = sorted(dt.datetime.fromtimestamp(r["ts"]).day for r in store.iter_all() if lo <= r["ts"] < hi)
    assert inside == [9, 12, 15, 18, 19]        # the 14 days before today, today included; not Oct 1 or 5
    store.close()


@pytest.mark.parametrize("question, first, last", [
    ("When did Melanie go camping in June?", "2023-06-01", "2023-06-30"),
    ("What did Joanna watch on 1 May, 2022?", "2022-05-01", "2022-05-01"),
    ("Who did Maria have dinner with on May 3, 2023?", "2023-05-03", "2023-05-03"),
    ("Where was John between August 11 and August 15 2023?", "2023-08-11", "2023-08-15"),
    ("What did I do in 2022?", "2022-01-01", "2022-12-31"),
    ("What did I eat yesterday?", "2023-10-19", "2023-10-19"),
    ("What did we talk about last month?", "2023-09-01", "2023-09-30"),
    ("What may I cook tonight?", None, None),            # "may" the verb is not the month
])
def test_a_question_names_the_dates_it_asks_about(question, first, last):
    got = timeparse.query_range(question, NOW)
    if first is None:
        assert got is None
        return
    day = lambda ts: str(dt.datetime.fromtimestamp(ts).date())  # noqa: E731
    assert (day(got[0]), day(got[1] - 1)) == (first, last)


def test_a_turns_time_words_are_resolved_against_when_it_was_said():
    said = at(2023, 5, 8)
    assert timeparse.date_key("I went to a support group yesterday.", said) == "[on 7 May 2023]"
    assert timeparse.date_key("We went camping last week!", at(2023, 7, 3)) == "[in June 2023 / July 2023]"
    assert timeparse.date_key("I love camping.", said) == ""
    assert timeparse.is_when_question("When did Caroline go to the support group?")
    assert not timeparse.is_when_question("What did Caroline paint?")


def test_a_month_in_the_question_brings_that_months_turns_first(tmp_path, embedder):
    store = stored(tmp_path, embedder, [
        ("Made some lasagna for the family.", at(2023, 5, 10), "Sam"),
        ("I cooked lasagna for the family; I love to cook.", at(2023, 9, 20), "Sam"),
    ])
    ask = lambda **kw: MemoryService(store, embedder, RetrievalSettings(k=2, min_relevance=-1, now=NOW, **kw)).search(  # noqa: E731
        "What did I cook in May?")
    assert ask(time_weight=0.0)[0].memory.ts == at(2023, 9, 20)      # without the lever: the newer one
    assert ask(time_weight=0.2)[0].memory.ts == at(2023, 5, 10)
    store.close()


def test_a_date_key_finds_the_turn_by_the_date_its_yesterday_means(tmp_path, embedder):
    rows = [("I finally went to the support group yesterday.", at(2023, 5, 8), "Caroline"),
            ("The support group meets every week.", at(2023, 5, 7), "Caroline")]
    for keys, first in ((True, "yesterday"), (False, "every week")):
        store = stored(tmp_path / str(keys), embedder, rows, date_keys=keys)
        hits = store.fulltext("support group 7 May 2023", 2)
        assert first in hits[0][0]["text"]
        store.close()


def test_the_person_asked_about_comes_before_the_other_speaker(tmp_path, embedder):
    store = stored(tmp_path, embedder, [
        ("I really love painting sunsets by the lake.", at(2023, 6, 1), "Caroline"),
        ("Painting sunsets by the lake is lovely, I love it too.", at(2023, 6, 1, 13), "Melanie"),
        ("Let's talk soon!", at(2023, 6, 2), "Melanie"),
        ("Bye for now!", at(2023, 6, 2), "Caroline"),
    ])
    ask = lambda w: MemoryService(store, embedder, RetrievalSettings(k=2, min_relevance=-1, now=NOW, speaker_weight=w)).search(  # noqa: E731
        "What does Melanie love to paint?")
    plain, boosted = ask(0.0), ask(0.2)
    assert boosted[0].memory.speaker == "Melanie"
    assert boosted[0].relevance > next(h.relevance for h in plain if h.memory.speaker == "Melanie")
    store.close()


def test_leave_one_out_never_fits_on_the_conversation_it_scores():
    from benchmarks.memory_locomo import Asked, leave_one_out
    # Point A wins on conversations 0-3 and loses on 4; point B the reverse.
    a = [Asked(c, 1, 1.0, 1.0 if c < 4 else 0.0, 1.0) for c in range(5)]
    b = [Asked(c, 1, 1.0, 0.5 if c < 4 else 1.0, 1.0) for c in range(5)]
    loo = leave_one_out([({"w": "A"}, a), ({"w": "B"}, b)], list(range(5)))
    assert [f["fitted"] for f in loo["folds"]] == [{"w": "A"}] * 5       # B never wins four of five
    assert loo["folds"][4]["recall@10"] == 0.0 and loo["recall@10_mean"] == 80.0
    assert loo["fitted_on_all"]["settings"] == {"w": "A"}


def test_the_benchmark_reports_leave_one_out_figures(tmp_path):
    """A tiny LoCoMo-shaped file of our own: three conversations, one question each."""
    def conversation(i: int, thing: str) -> dict:
        turns = [{"speaker": "Ann", "dia_id": "D1:1", "text": f"I bought a {thing} yesterday."},
                 {"speaker": "Bob", "dia_id": "D1:2", "text": "Nice! What colour is it?"},
                 {"speaker": "Ann", "dia_id": "D1:3", "text": "Blue, like the sea."}]
        return {"conversation": {"speaker_a": "Ann", "speaker_b": "Bob",
                                 "session_1_date_time": "1:56 pm on 8 May, 2023", "session_1": turns},
                "qa": [{"question": f"When did Ann buy a {thing}?", "answer": "7 May 2023",
                        "evidence": ["D1:1"], "category": 2}]}
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps([conversation(i, t) for i, t in enumerate(("bike", "kettle", "lamp"))]))
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "benchmarks/memory_locomo.py", "--data", str(data), "--json", str(out),
                          "--baselines", "no", "--grid", "when_weight=0,0.1"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    figures = json.loads(out.read_text())
    assert figures["hybrid"]["recall@10"] == 100.0                       # the old shape is kept
    loo = figures["loo"]
    assert len(loo["folds"]) == 3 and loo["recall@10_mean"] == 100.0 and loo["recall@10_sd"] == 0.0
    assert loo["grid"] == {"when_weight": [0, 0.1]}
    bad = subprocess.run([sys.executable, "benchmarks/memory_locomo.py", "--data", str(tmp_path / "nope.json")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "give a LoCoMo JSON file" in bad.stderr and "Traceback" not in bad.stderr
