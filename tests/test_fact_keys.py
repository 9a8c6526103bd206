"""Fact keys: facts read out of a turn are indexed with it, and the turn comes back in its own words.

Real LanceDB on disk, the real embedder and the bundled LLM.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

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
    settings = RetrievalSettings(k=2, min_relevance=-10.0, context=False, neighbour_weight=0.0,
                                 keyed_neighbour_weight=0.0)
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


def test_a_memory_read_for_fact_keys_is_ranked_by_the_keyed_neighbour_weight(runtime, tmp_path):
    """memory.keyed_neighbour_weight applies once most people's turns found were read
    ("-": read, no facts), and only then."""
    embedder = runtime.embedder
    every = {j: fact_keys.NO_FACTS for j in range(len(CHAT))} | {1: "Joanna has written a third screenplay"}
    as_set = RetrievalSettings(k=6, min_relevance=-10.0, context=False, neighbour_weight=0.0,
                               keyed_neighbour_weight=1.0)
    ranked = {}
    for name, keys in (("unread", {}), ("one read", {1: every[1]}), ("all read", every)):
        store = MemoryStore(tmp_path / name.replace(" ", "-"), embedder.dim, settings=StoreSettings(background=False))
        memories = chat(keys)
        store.add_now(memories, embedder.embed([describe(m) for m in memories]))
        for label, settings in (("as set", as_set), ("no share", replace(as_set, keyed_neighbour_weight=0.0)),
                                ("full share", replace(as_set, neighbour_weight=1.0))):
            hits = MemoryService(store, embedder, settings).search(QUESTION)
            ranked[name, label] = [(h.memory.ref, round(h.relevance, 6)) for h in hits]
        store.close()
    for name in ("unread", "one read"):          # most turns unread: neighbour_weight
        assert ranked[name, "as set"] == ranked[name, "no share"] != ranked[name, "full share"]
    assert ranked["all read", "as set"] == ranked["all read", "full share"] != ranked["all read", "no share"]


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


def test_keys_read_between_turns_keep_the_conversation_read_and_yield_to_a_turn(runtime):
    """The daemon reads keys with the model that answers: the conversation's prompt,
    read ahead by ``prefill``, must still be in its cache afterwards (or the next turn
    reads it all again), and a waiting turn stops the reading at once."""
    from assistant.prompt import HistoryTurn, build_messages, prefix_messages
    llm, cfg = runtime.llm, runtime.cfg.llm
    history = [HistoryTurn("user", "My brother Tom moved to Porto.", "m1"),
               HistoryTurn("assistant", "Porto is a lovely city to live in.", "m2")]
    llm.prefill(prefix_messages(cfg, history))
    conversation = list(llm.llm._input_ids)
    assert len(conversation) > 20
    turn = fact_keys.messages("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful.",
                              ("Melanie", "Hey Caroline! How have you been?"))

    keys = fact_keys.keys_text(fact_keys.parse(llm.complete_aside(turn, 32, prefix_key="fact_keys")))
    assert "Caroline" in keys and "support group" in keys.lower()
    assert list(llm.llm._input_ids) == conversation          # the conversation's prompt is back in place

    checks = []
    assert llm.complete_aside(turn, fact_keys.MAX_TOKENS, lambda: checks.append(1) or len(checks) > 2) is None
    assert list(llm.llm._input_ids) == conversation          # stopped part-way: put back as well
    with llm._lock:                                            # a turn holds the model: no waiting for it
        assert llm.complete_aside(turn, fact_keys.MAX_TOKENS) is None

    question = build_messages(cfg, "Where does Tom live?", history, [], [])
    assert llm.prompt_reuse(question)[1] >= len(conversation)
    assert "Porto" in "".join(llm.stream(question, max_tokens=8, temperature=0.0))   # and it is the real state
    llm.llm.reset()                                            # the next test finds an empty cache


def test_keys_read_later_are_written_with_their_turn_and_the_session_stays_together(runtime, tmp_path):
    """``MemoryService.read_fact_keys``, what the daemon runs between turns, on a real
    store. The LLM's replies are fixed here (the model's own reading is tested above):
    this is about what is written, and what a forget meanwhile leaves."""
    from memory.store import READ_COLUMNS, arrow_rows
    embedder = runtime.embedder
    store = MemoryStore(tmp_path / "db", embedder.dim, settings=StoreSettings(background=False))
    memories = chat({})
    store.add_now(memories, embedder.embed([describe(m) for m in memories]))
    asked = []

    def complete(messages: list[dict]) -> str:
        asked.append(messages[-1]["content"])
        if len(asked) == 1:
            store.delete([memories[0].id])                # forgotten while the LLM reads
        return "- Joanna has written a third screenplay" if f"Nate: {SCREENPLAY}\nFacts" in asked[-1] else "- none"

    service = MemoryService(store, embedder)
    assert (service.stats()["turns_keyed"], service.stats()["turns_to_key"]) == (0, 6)
    assert service.read_fact_keys(complete, limit=10) == 5          # the forgotten turn is not revived
    assert (service.stats()["turns_keyed"], service.stats()["turns_to_key"]) == (5, 0)   # memory stats shows it
    assert CHAT[5][1] in asked[0]                                     # newest first
    assert f"Earlier, Joanna: {CHAT[0][1]}\nLast line, Nate: {SCREENPLAY}" in asked[4]
    assert store.count() == 5 and store.session_to_key() == [] and service.read_fact_keys(complete) == 0

    top = search(store, embedder)[0].memory
    assert top.ref == "D1:1" and top.text == SCREENPLAY and top.keys == "Joanna has written a third screenplay"
    assert {m.ref: m.keys for m in store.session_turns("s1")}["D1:3"] == fact_keys.NO_FACTS
    # The rewritten turns still sit side by side: each finds its neighbours.
    rows = arrow_rows(store.reads.search().where("seq = 2").with_row_id(True).select(READ_COLUMNS).to_arrow())
    assert sorted(r["seq"] for r in store.neighbours(rows)) == [1, 3]
    store.close()


def test_a_turn_stored_after_none_were_left_is_read_without_waiting_out_the_retry(own_runtime, tmp_path):
    """The voice loop looks for unread turns again only FACT_KEYS_RETRY_S after finding
    none, so that an idle daemon does not query the store every second; a turn stored
    meanwhile is read as soon as the room is quiet, not a minute later."""
    from assistant.voice_loop import VoiceLoop
    from audio.capture import FileSource
    from audio.playback import WavSink
    from audio.wavio import write_wav
    rt = own_runtime
    silence = tmp_path / "silence.wav"
    write_wav(silence, np.zeros(1600, np.float32), 16000)
    loop = VoiceLoop(rt, FileSource(silence), WavSink(str(tmp_path / "out.wav"), rt.tts.sample_rate))
    rt.cfg.memory.fact_keys_after_s = 0.0
    rt.engine                                    # built on first use, which counts as a turn

    assert loop._fact_keys_due()
    loop._read_fact_keys()                       # an empty memory: nothing to read, so look later
    assert not loop._fact_keys_due()

    rt.engine.remember("user", "My brother Tom moved to Porto in March.")
    rt.store.flush()
    assert loop._fact_keys_due()
    loop._read_fact_keys()
    [turn] = rt.store.session_turns(rt.engine.session_id)
    assert "Porto" in turn.keys, turn.keys
    loop._read_fact_keys()
    assert not loop._fact_keys_due()             # all read: back to waiting
