"""Fact keys: facts read out of a turn are indexed with it, and the turn comes back in its own words.

Real LanceDB on disk, the real embedder and the bundled LLM.
"""
from __future__ import annotations

import datetime as dt

import lancedb
import numpy as np
import pyarrow as pa

from memory import fact_keys
from memory.retrieval import RetrievalSettings
from memory.service import MemoryService
from memory.store import Memory, MemoryStore, StoreSettings, describe

SCREENPLAY = "Wow, that looks great Joanna! Is that your third one?"
CHAT = [
    ("Joanna", "Hey Nate, I finally finished the draft I was telling you about!"),
    ("Nate", SCREENPLAY),
    ("Joanna", "Thanks! I'm so relieved, it took months of late nights."),
    ("Nate", "My turtles kept me up last night too, they were so active."),
    ("Joanna", "Ha, I love your turtles. How is the gaming going?"),
    ("Nate", "Great, I won a tournament last weekend and got some prize money."),
]
QUESTION = "How many screenplays has Joanna written?"


def chat(keys: dict[int, str]) -> list[Memory]:
    start = dt.datetime(2023, 5, 8, 13, 0).timestamp()
    return [Memory(text=t, role="user", session_id="s1", speaker=who, seq=j, ts=start + j, ref=f"D1:{j}",
                   keys=keys.get(j, "")) for j, (who, t) in enumerate(CHAT)]


def search(store: MemoryStore, embedder) -> list:
    """Each turn on its own score: no share of its neighbours' (which would carry the keys' gain to them)."""
    settings = RetrievalSettings(k=2, min_relevance=-10.0, context=False, neighbour_weight=0.0)
    return MemoryService(store, embedder, settings).search(QUESTION)


def test_a_reply_is_parsed_into_at_most_three_new_facts():
    reply = ("Here are the facts:\n- Nate has three turtles.\n- none\n- Ben started painting again\n"
             "* Nate likes turtles\n- nate has three turtles\n- Nate won a tournament\n- Nate got prize money")
    assert fact_keys.parse(reply) == ["Nate has three turtles", "Nate likes turtles", "Nate won a tournament"]
    assert fact_keys.parse("- none") == [] and fact_keys.keys_text([]) == fact_keys.NO_FACTS
    assert fact_keys.indexed(fact_keys.NO_FACTS) == "" and fact_keys.indexed("") == ""
    # the turn before is in the prompt, so "your third one" can be resolved
    said = fact_keys.messages("Nate", SCREENPLAY, ("Joanna", "Here is my new screenplay"))[-1]["content"]
    assert "Joanna: Here is my new screenplay" in said and said.endswith(f"Nate: {SCREENPLAY}\nFacts:")


def test_a_turn_is_found_by_its_fact_keys_and_returned_in_its_own_words(runtime, tmp_path):
    embedder = runtime.embedder
    keyed = {1: "Joanna has written a third screenplay; Nate likes Joanna's screenplay"}
    found = {}
    for name, keys in (("plain", {}), ("keyed", keyed)):
        store = MemoryStore(tmp_path / name, embedder.dim, settings=StoreSettings(background=False))
        memories = chat(keys)
        store.add_now(memories, embedder.embed([describe(m) for m in memories]))
        found[name] = search(store, embedder)
        store.close()
    assert "D1:1" not in [h.memory.ref for h in found["plain"]]    # the turn alone does not answer the question
    top = found["keyed"][0].memory
    assert top.ref == "D1:1" and top.text == SCREENPLAY      # its keys do; it comes back as said
    assert top.keys == keyed[1]


def test_a_table_made_before_fact_keys_gains_the_column_and_keeps_its_rows(runtime, tmp_path):
    embedder = runtime.embedder
    old = chat({})[:3]
    vectors = embedder.embed([describe(m) for m in old])
    rows = [{"id": m.id, "profile": m.profile, "session_id": m.session_id, "role": m.role, "kind": m.kind,
             "text": m.text, "ts": m.ts, "speaker": m.speaker, "seq": m.seq, "ref": m.ref, "subject": "",
             "superseded_by": "", "doc": describe(m), "vector": v.tolist()} for m, v in zip(old, vectors)]
    schema = pa.schema([pa.field(k, pa.float64() if k == "ts" else pa.int64() if k == "seq" else pa.string())
                        for k in rows[0] if k != "vector"] + [pa.field("vector", pa.list_(pa.float32(), embedder.dim))])
    lancedb.connect(str(tmp_path / "db")).create_table("memories", pa.Table.from_pylist(rows, schema=schema))

    store = MemoryStore(tmp_path / "db", embedder.dim, settings=StoreSettings(background=False))
    assert "keys" in store.table.schema.names
    new = chat({1: "Joanna has written a third screenplay"})[1:2]
    store.add_now(new, embedder.embed([describe(m) for m in new]))
    got = {h.memory.ref: h.memory for h in MemoryService(store, embedder, RetrievalSettings(
        k=10, min_relevance=-10.0, context=False)).search("Joanna screenplay draft")}
    assert got["D1:0"].keys == "" and got["D1:0"].text == CHAT[0][1]        # the old rows read as before
    assert got["D1:1"].keys == "Joanna has written a third screenplay"
    assert store.count() == 4
    store.close()


def test_the_bundled_llm_reads_the_facts_out_of_a_turn(runtime):
    llm = runtime.llm

    def complete(messages: list[dict]) -> str:
        return "".join(llm.stream(messages, max_tokens=fact_keys.MAX_TOKENS, temperature=0.0))

    keys = fact_keys.extract(complete, "Caroline", "I went to a LGBTQ support group yesterday and it was so powerful.",
                             ("Melanie", "Hey Caroline! How have you been?"))
    assert keys != fact_keys.NO_FACTS and "Caroline" in keys and "support group" in keys.lower()
