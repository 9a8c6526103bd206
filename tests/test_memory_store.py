"""The memory store under load: many memories, many writes, two processes, broken disks.

Real LanceDB on disk, the real embedder, real processes; bounds are on files and bytes,
never on wall-clock time.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from memory.retrieval import RetrievalSettings
from memory.service import MemoryService
from memory.store import Memory, MemoryStore, StoreSettings
from tests.conftest import REPO, run_cli
from tests.distractors import embed as embed_distractors, memories as distractor_memories


def service(store: MemoryStore, embedder, **kw) -> MemoryService:
    return MemoryService(store, embedder, RetrievalSettings(**kw), "User", "Juniper")


@pytest.fixture(scope="module")
def distractor_vectors(runtime, distractor_job) -> tuple[list[Memory], np.ndarray]:
    """10,000 chatty distractors and their real embeddings, made while earlier tests ran."""
    vectors = distractor_job.result(runtime.embedder) if distractor_job else embed_distractors(runtime.embedder)
    assert vectors.shape == (10_000, runtime.embedder.dim)
    return distractor_memories(), vectors


@pytest.mark.slow
def test_a_fact_is_found_among_10000_distractors(runtime, tmp_path, distractor_vectors):
    store = MemoryStore(tmp_path / "db", runtime.embedder.dim, settings=StoreSettings(background=False))
    memories, vectors = distractor_vectors
    store.add_now(memories, vectors)
    svc = service(store, runtime.embedder, k=3)
    fact, _ = svc.add_fact("my sister Anna's birthday is March 14")
    store.flush()
    assert store.count() == 10_001
    for question in ("When is my sister's birthday?", "When was Anna born?", "what's Anna's birthday"):
        hits = svc.search(question)
        assert hits and hits[0].memory.id == fact.id, (question, [h.memory.text for h in hits])


def test_unflushed_turns_are_searchable_and_written_on_close(runtime, tmp_path):
    store = MemoryStore(tmp_path / "db", runtime.embedder.dim, settings=StoreSettings(flush_rows=100, flush_seconds=3600))
    svc = service(store, runtime.embedder)
    m = svc.store_memory(svc.new_memory("user", "My bike is a green Brompton.", "s1"))
    assert store.table.count_rows() == 0 and len(store.buffer) == 1         # not written yet
    assert svc.search("what bike do I have")[0].memory.id == m.id           # but found
    store.close()
    assert MemoryStore(tmp_path / "db", runtime.embedder.dim).get([m.id])[0].text == m.text


def test_3000_single_turns_stay_within_bounded_files(runtime, tmp_path, distractor_vectors):
    """3,000 one-row appends without batching left 3,000 data files and 395 MB; here the
    buffer batches them and maintenance compacts, so the files stay few and small."""
    db = tmp_path / "db"
    store = MemoryStore(db, runtime.embedder.dim, settings=StoreSettings(retention_minutes=0, flush_seconds=3600))
    memories, vectors = distractor_vectors
    for memory, vector in zip(memories[:3000], vectors[:3000]):
        store.add([Memory(text=memory.text, role="user", session_id="s", seq=memory.seq)], vector[None, :])
    store.close()
    stats = store.table.stats()
    data_files = list((db / "memories.lance" / "data").glob("*.lance"))
    disk = sum(p.stat().st_size for p in (db / "memories.lance").rglob("*") if p.is_file())
    assert stats["num_rows"] == 3000
    assert stats["fragment_stats"]["num_fragments"] <= 16      # what a query has to open
    assert len(data_files) <= 20, len(data_files)              # on disk, after cleanup
    assert disk < 25e6, disk
    assert len(store.table.list_versions()) <= 20            # pruned at every compaction
    hits = service(MemoryStore(db, runtime.embedder.dim), runtime.embedder).search("Who adopted a cat?", 3)
    assert hits and "adopted a cat" in hits[0].memory.text


def test_ann_index_is_built_past_the_threshold_and_checked_against_exact(runtime, tmp_path):
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, runtime.embedder.dim))
    vectors = centres[rng.integers(0, 40, 4000)] + rng.normal(scale=0.3, size=(4000, runtime.embedder.dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    store = MemoryStore(tmp_path / "db", runtime.embedder.dim,
                        settings=StoreSettings(background=False, ann_min_rows=3000, flush_rows=5000))
    store.add_now([Memory(text=f"row {i}", role="user", session_id="s", seq=i) for i in range(4000)], vectors)
    ann = json.loads((tmp_path / "db" / "memories.ann.json").read_text())
    assert ann["recall_at_10"] >= 0.95 and ann["rows"] == 4000
    assert any(i.index_type.startswith("Ivf") for i in store.table.list_indices())
    top = store.dense(vectors[7], 1)[0][0]
    assert top["text"] == "row 7"


def test_lancedb_caches_stay_small_however_many_versions_are_written(tmp_path, monkeypatch):
    """Every write is a table version. LanceDB's default caches (1 GB metadata, 6 GB index)
    kept each version's metadata and each superseded full-text index: the daemon's RSS grew
    ~50 KB a write without end. The store's caches are bounded, and each compaction swaps in
    a new connection whose caches hold only the live version (memory.caches)."""
    import memory.caches
    sessions = []
    real = memory.caches.session
    monkeypatch.setattr(memory.caches, "session", lambda *a: sessions.append(real(*a)) or sessions[-1])
    rng = np.random.default_rng(0)
    store = MemoryStore(tmp_path / "db", 384, settings=StoreSettings(background=False, flush_rows=1))
    for i in range(400):
        v = rng.normal(size=(1, 384)).astype(np.float32)
        store.add([Memory(text=f"turn {i} about apples and the number {i}", role="user", session_id="s", seq=i)], v)
        store.dense(v[0], 5)
        store.fulltext(f"apples number {i}", 5)
    assert len(sessions) > 5                              # a fresh connection after compactions
    assert sessions[-1].size_bytes < 4 << 20, sessions[-1].size_bytes
    assert store.fulltext("apples number 399", 1)[0][0]["text"].startswith("turn 399")


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from memory.embeddings import Embedder
    from memory.store import Memory, MemoryStore, StoreSettings, describe
    from tests.distractors import distractors
    from benchmarks.memory_locomo import packaged_model_dir
    embedder = Embedder(packaged_model_dir())
    store = MemoryStore(Path({db!r}), embedder.dim, settings=StoreSettings(flush_rows=2, compact_fragments=4))
    print("ready", flush=True)
    for i, text in enumerate(distractors({n})):
        m = Memory(text=text, role="user", session_id="daemon", seq=i)
        store.add([m], embedder.embed([describe(m)]))
        time.sleep(0.05)     # a daemon's pace: the reader must see several states, not just the last
    store.close()
    print("done", flush=True)
""")


def test_a_reader_in_another_process_works_while_the_daemon_writes(tmp_path):
    home = tmp_path / "home"
    db = home / "data" / "memory.lancedb"
    run_cli("memory", "add", "my locker code is 4711", home=home)
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=str(REPO), db=str(db), n=300)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert writer.stdout.readline().strip() == "ready"
    counts = []
    try:
        while writer.poll() is None:
            listed = run_cli("--json", "memory", "list", "-n", "100000", home=home)
            assert listed.returncode == 0, listed.stderr
            counts.append(len(json.loads(listed.stdout)))
            found = run_cli("--json", "memory", "search", "what is my locker code", "-k", "1", home=home)
            assert found.returncode == 0, found.stderr
            assert "4711" in json.loads(found.stdout)[0]["text"]
    finally:
        out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0 and "done" in out, err
    assert len(counts) >= 2 and counts == sorted(counts)             # it saw the writes land
    final = json.loads(run_cli("--json", "memory", "list", "-n", "100000", home=home).stdout)
    assert len(final) == 301


def test_profiles_are_isolated(runtime, tmp_path):
    db = tmp_path / "db"
    alice = service(MemoryStore(db, runtime.embedder.dim, profile="alice", settings=StoreSettings(background=False)),
                    runtime.embedder, min_relevance=-10)
    bob = service(MemoryStore(db, runtime.embedder.dim, profile="bob", settings=StoreSettings(background=False)),
                  runtime.embedder, min_relevance=-10)
    secret, _ = alice.add_fact("my bank PIN is 9921")
    bob.add_fact("my bank PIN is 1234")                  # same subject: must not supersede alice's
    assert [h.memory.text for h in bob.search("what is my bank PIN")] == ["my bank PIN is 1234"]
    assert alice.store.get([secret.id])[0].superseded_by == ""
    assert bob.store.get([secret.id]) == [] and bob.store.find_prefix(secret.id[:8]) == []
    assert bob.store.delete([secret.id]) == 0
    assert bob.store.delete_all() == 1
    assert [h.memory.id for h in alice.search("what is my bank PIN")] == [secret.id]


def _corrupt_home(tmp_path: Path):
    home = tmp_path / "home"
    assert run_cli("memory", "add", "my locker code is 4711", home=home).returncode == 0
    db = home / "data" / "memory.lancedb"
    from memory.store import open_db
    from skills.index import SkillIndex

    class Fake:      # the skill index only needs dim and embed for its schema; nothing is embedded here
        dim = 384
    SkillIndex(open_db(db), Fake(), [])      # another table beside memories, to check it survives
    return home, db


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["garbage_manifest", "missing_data", "missing_versions"])
def test_a_corrupt_or_missing_database_is_a_clear_error_and_nothing_else_is_lost(tmp_path, damage):
    home, db = _corrupt_home(tmp_path)
    table = db / "memories.lance"
    if damage == "garbage_manifest":
        for manifest in (table / "_versions").glob("*.manifest"):
            manifest.write_bytes(b"\x00not a manifest" * 10)
    elif damage == "missing_data":
        for f in (table / "data").glob("*"):
            f.unlink()
    else:
        for f in (table / "_versions").glob("*"):
            f.unlink()
    before = _snapshot(db)
    (home / "notes.txt").write_text("mine")
    for args in (["memory", "list"], ["memory", "search", "locker"], ["memory", "add", "my car is blue"]):
        result = run_cli(*args, home=home)
        assert result.returncode == 5, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: memory database") and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr and "move it away" in result.stderr
    assert _snapshot(db) == before                     # nothing rewritten, nothing removed
    assert (home / "notes.txt").read_text() == "mine"
    assert (db / "skill_docs.lance").is_dir()


def test_a_missing_database_directory_starts_empty_without_error(tmp_path):
    home = tmp_path / "home"
    listed = run_cli("--json", "memory", "list", home=home)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_retrieval_dedups_adds_context_ranks_facts_and_leaves_out_the_irrelevant(runtime, tmp_path):
    store = MemoryStore(tmp_path / "db", runtime.embedder.dim, settings=StoreSettings(background=False))
    svc = service(store, runtime.embedder, k=4)            # the default min_relevance
    turns = [("assistant", "What's your favourite food?"), ("user", "Sushi, definitely."),
             ("user", "I keep my passport in the blue drawer."), ("user", "I keep my passport in the blue drawer."),
             ("user", "I keep my passport in the blue drawer!"), ("user", "The weather was nice today.")]
    for seq, (role, text) in enumerate(turns):
        svc.store_memory(svc.new_memory(role, text, "s1", seq=seq))
    fact, _ = svc.add_fact("my passport is in the blue drawer")
    store.flush()
    doc = store.table.search().where(f"id = '{fact.id}'").select(["doc"]).to_list()[0]["doc"]
    assert doc.startswith("(") and "User: my passport" in doc          # self-describing: date, speaker
    hits = svc.search("Where is my passport?")
    assert hits[0].memory.id == fact.id                               # the fact above the chatter
    assert sum("passport" in h.memory.text for h in hits) == 1        # one fact, three copies: shown once
    food = svc.search("What do I like to eat?")
    shown = [h.memory.text for h in food] + [c.text for h in food for c in h.context]
    assert "Sushi, definitely." in shown and "What's your favourite food?" in shown   # answer with its question
    short = svc.search("Is sushi my favourite?")
    sushi = next(h for h in short if h.memory.text == "Sushi, definitely.")
    assert [c.text for c in sushi.context] == ["What's your favourite food?"] or \
        any(h.memory.text == "What's your favourite food?" for h in short)
    assert svc.search("What is the capital of France?") == []         # nothing forced into the prompt


CRASHER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from memory.embeddings import Embedder
    from memory.store import Memory, MemoryStore, StoreSettings, describe
    from benchmarks.memory_locomo import packaged_model_dir
    embedder = Embedder(packaged_model_dir())
    store = MemoryStore(Path({db!r}), embedder.dim, settings=StoreSettings(flush_rows=100, flush_seconds=3600))
    kept = Memory(text="My spare key is under the blue flowerpot.", role="user", session_id="s", seq=0)
    gone = Memory(text="My old PIN was 0000.", role="user", session_id="s", seq=1)
    for m in (kept, gone):
        store.add([m], embedder.embed([describe(m)]))
    store.delete([gone.id])                    # forgotten before it was ever written
    print(kept.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)       # no flush, no atexit
""")


def test_turns_not_yet_written_survive_a_crash(runtime, tmp_path):
    db = tmp_path / "db"
    crashed = subprocess.run([sys.executable, "-c", CRASHER.format(repo=str(REPO), db=str(db))],
                             capture_output=True, text=True, cwd=REPO)
    assert crashed.returncode == -9, crashed.stderr
    kept = crashed.stdout.strip()
    assert list(db.glob("pending-*.jsonl"))                      # the journal is all there is
    store = MemoryStore(db, runtime.embedder.dim, settings=StoreSettings(background=False))
    assert [m.text for m in store.recent(10)] == ["My spare key is under the blue flowerpot."]
    assert store.get([kept])[0].id == kept and not list(db.glob("pending-*.jsonl"))
    hits = service(store, runtime.embedder).search("where is the spare key?")
    assert hits and hits[0].memory.id == kept
