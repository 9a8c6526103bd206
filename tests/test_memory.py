"""Memory: every turn on disk in LanceDB, recalled by a later process."""
from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.errors import MemoryStoreError
from memory.store import Memory, MemoryStore


def test_facts_told_in_one_process_are_recalled_in_another(cli):
    told = cli("ask", "My sister Anna's birthday is on March 14.")
    assert told.returncode == 0, told.stderr
    answer = cli("--json", "ask", "When is my sister's birthday?")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert "march 14" in result["reply"].lower(), result
    assert any("Anna" in m["text"] and m["role"] == "user" for m in result["memories"])

    listed = json.loads(cli("--json", "memory", "list").stdout)
    assert {m["role"] for m in listed} == {"user", "assistant"}
    assert len(listed) == 4                                    # two turns, both sides
    assert len({m["session_id"] for m in listed}) == 2         # two processes, two sessions
    found = json.loads(cli("--json", "memory", "search", "birthday of Anna").stdout)
    assert "Anna" in found[0]["text"]


def test_turns_already_in_the_prompt_are_not_retrieved_again(runtime):
    engine = runtime.engine
    engine.remember("user", "My favourite tea is jasmine green tea.")
    _vector, memories, _docs = engine.retrieve("What is my favourite tea?")
    assert all("jasmine" not in h.memory.text for h in memories)   # it is in the history


def test_profiles_are_isolated(tmp_path):
    a = MemoryStore(tmp_path / "db", 4, profile="alice")
    b = MemoryStore(tmp_path / "db", 4, profile="bob")
    a.add([Memory("alice's secret", "user", "s1", profile="alice")], np.ones((1, 4), np.float32))
    assert a.count() == 1 and b.count() == 0
    assert b.search(np.ones(4, np.float32), 5) == []


def test_a_database_path_that_is_a_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "memory.lancedb"
    bogus.write_text("not a database")
    with pytest.raises(MemoryStoreError, match="is a file"):
        MemoryStore(bogus, 4)
    assert bogus.read_text() == "not a database"     # nothing of the user's was touched


def test_skill_docs_are_indexed_once_and_reindexed_when_changed(runtime, tmp_path):
    from skills.index import SkillIndex
    from memory.store import open_db
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "weather.md").write_text("---\nname: Weather\ndescription: I cannot tell the weather.\n"
                                     "examples:\n  - What's the weather like?\n---\n# Weather\nNo forecasts.\n")
    index = SkillIndex(open_db(tmp_path / "db"), runtime.embedder, [docs])
    first = index.sync()
    assert (first.added, first.unchanged) == (1, 0)
    assert index.sync().unchanged == 1 and index.sync().added == 0      # nothing re-embedded
    (docs / "weather.md").write_text((docs / "weather.md").read_text() + "Really none.\n")
    assert index.sync().updated == 1
    hits = index.search(runtime.embedder.embed_one("will it rain tomorrow, what's the weather"), 1, 0.3)
    assert hits and hits[0].doc.title == "Weather"
    (docs / "weather.md").unlink()
    assert index.sync().removed == 1


def test_capabilities_doc_is_retrieved_for_what_can_you_do(runtime):
    _v, _m, docs = runtime.engine.retrieve("What can you do?")
    assert docs and docs[0].doc.title == "What I can do"
    _v, _m, docs = runtime.engine.retrieve("What is the capital of France?")
    assert docs == []
