"""Memory: every turn on disk in LanceDB, recalled by a later process."""
from __future__ import annotations

import json

import pytest

from assistant.errors import MemoryStoreError
from memory.store import MemoryStore


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


def _facts(cli) -> list[dict]:
    return json.loads(cli("--json", "memory", "list", "--facts").stdout)


def test_remember_and_forget_by_voice_are_confirmed_and_done(runtime):
    from assistant.engine import Engine
    engine = Engine(runtime.cfg, runtime.llm, runtime.embedder, runtime.store, None)
    reply, _ = engine.ask("Please remember that my sister Anna's birthday is March 14.")
    assert reply == "Okay, I'll remember that your sister Anna's birthday is March 14."
    reply, _ = engine.ask("Actually, remember that her birthday is March 15.")
    assert "updated" in reply and "March 15" in reply
    facts = {m.text: m for m in runtime.store.recent(50, kind="fact")}
    new, old = facts["my sister Anna's birthday is March 15"], facts["my sister Anna's birthday is March 14"]
    assert old.superseded_by == new.id and new.superseded_by == ""          # kept, but marked
    _v, memories, _d = Engine(runtime.cfg, runtime.llm, runtime.embedder, runtime.store, None).retrieve(
        "When is my sister's birthday?")
    assert memories[0].memory.id == new.id and all(h.memory.id != old.id for h in memories)
    reply, _ = engine.ask("Forget what I told you about my sister.")
    assert reply.startswith("Done. I've forgotten 2 things about your sister")
    assert runtime.store.get([new.id, old.id]) == []
    assert runtime.memory.search("my sister's birthday", min_relevance=-10) == [] or all(
        "sister" not in h.memory.text for h in runtime.memory.search("my sister's birthday", min_relevance=-10))


def test_forget_removes_from_search_export_and_disk(cli, tmp_path):
    cli.home.mkdir(parents=True)
    (cli.home / "config.toml").write_text("[memory]\nretention_minutes = 0.0\n")
    assert cli("memory", "add", "my gym locker code is zebracorn 4711").returncode == 0
    assert cli("memory", "add", "my dentist is Dr Alvarez").returncode == 0
    forgot = cli("--json", "memory", "forget", "--query", "gym locker")
    assert forgot.returncode == 0, forgot.stderr
    assert json.loads(forgot.stdout)["forgotten"] == 1
    found = json.loads(cli("--json", "memory", "search", "what is my locker code").stdout)
    assert all("zebracorn" not in m["text"] for m in found)
    cli("memory", "export", str(tmp_path / "out.jsonl"))
    exported = (tmp_path / "out.jsonl").read_text()
    assert "zebracorn" not in exported and "Alvarez" in exported
    on_disk = [p for p in (cli.home / "data" / "memory.lancedb").rglob("*")
               if p.is_file() and b"zebracorn" in p.read_bytes()]
    assert on_disk == []                          # the text is gone from disk, not only hidden


def test_forget_by_id_and_all_needs_yes(cli):
    cli("memory", "add", "my car is a blue Fiat")
    cli("memory", "add", "my bike is a green Brompton")
    [car] = [m for m in _facts(cli) if "car" in m["text"]]
    assert cli("memory", "forget", car["id"][:8]).returncode == 0
    assert [m["text"] for m in _facts(cli)] == ["my bike is a green Brompton"]
    refused = cli("memory", "forget", "--all")
    assert refused.returncode == 1 and "--yes" in refused.stderr and refused.stderr.count("\n") == 1
    assert cli("memory", "forget", "--all", "--yes").returncode == 0
    assert _facts(cli) == []
    missing = cli("memory", "forget", "deadbeef")
    assert missing.returncode == 5 and "no memory with id" in missing.stderr


def test_export_import_round_trip_is_exact(cli, runtime, tmp_path):
    from assistant.engine import Engine
    from memory.store import StoreSettings
    src = MemoryStore(tmp_path / "src", runtime.embedder.dim, settings=StoreSettings(background=False))
    engine = Engine(runtime.cfg, runtime.llm, runtime.embedder, src, None)
    engine.remember("user", "I started learning the cello in September.")
    engine.remember("assistant", "That's lovely, the cello is a beautiful instrument.")
    engine.memory.add_fact("my cello teacher is Ms Okafor")
    engine.memory.add_fact("my cello teacher is Mr Berg")       # supersedes the first
    src.flush()
    first = tmp_path / "first.jsonl"
    assert engine.memory.export(first) == 4
    imported = cli("--json", "memory", "import", str(first))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["added"] == 4
    again = json.loads(cli("--json", "memory", "import", str(first)).stdout)
    assert (again["added"], again["skipped"]) == (0, 4)
    second = tmp_path / "second.jsonl"
    assert cli("memory", "export", str(second)).returncode == 0
    assert second.read_bytes() == first.read_bytes()
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"turn", "fact"} and sum(bool(r["superseded_by"]) for r in rows) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    broken = cli("memory", "import", str(bad))
    assert broken.returncode == 5 and f"{bad}:1" in broken.stderr


def test_memory_stats_and_search_in_another_profile(cli):
    cli("memory", "add", "my favourite colour is teal")
    stats = json.loads(cli("--json", "memory", "stats").stdout)
    assert (stats["profile"], stats["facts"], stats["memories"], stats["unflushed"]) == ("default", 1, 1, 0)
    assert "FTS:doc" in stats["indexes"] and stats["disk_bytes"] > 0
    (cli.home / "config.toml").write_text('[memory]\nprofile = "guest"\n')
    assert json.loads(cli("--json", "memory", "search", "favourite colour").stdout) == []
    assert json.loads(cli("--json", "memory", "stats").stdout)["memories"] == 0
