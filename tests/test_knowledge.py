"""The user's notes and documents: indexing, search, answers naming the source, staying current.

Real parts throughout: the bundled MiniLM, LanceDB on disk, the CLI in its own process,
watchdog watching a real folder, the real daemon, and the LLM for answers. The files are
made here: Markdown, text, HTML and a PDF with a text layer, among 300 unrelated notes.
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.knowledge_files import write_pdf

BOILER = """# Boiler

Installed in 2019 by Hearth & Co. The boiler is in the kitchen cupboard.

## Pressure

The boiler engineer said the pressure gauge should read 1.5 bar when the heating is cold.
If it drops below 1 bar, top it up with the filling loop under the boiler.

## Service

The annual service is due every March.
"""
BREAD = """Sourdough bread

Mix 500 g of strong flour with 350 g of water and 100 g of starter.

Leave it to rise overnight, then bake at 230 degrees for 40 minutes.
"""
ROUTER = """<html><head><title>Home network</title><style>p {color: red}</style>
<script>var secret = "not text";</script></head>
<body><h1>Home network</h1><h2>Wifi</h2>
<p>The wifi network is called Larkspur and the wifi password is tangerine-42.</p>
<p>The router is behind the television.</p></body></html>
"""
DISHWASHER = ["Dishwasher manual", "To reset the dishwasher, hold the Start button for three seconds.",
              "Clean the dishwasher filter once a month."]
TOPICS = ["gardening", "football", "taxes", "birdwatching", "knitting", "chess", "astronomy", "pottery",
          "cycling", "jazz", "sailing", "photography", "beekeeping", "origami", "fishing"]
WORDS = ("meeting agenda summary draft idea list plan project review budget travel weekend library museum "
         "concert lecture paint canvas pattern schedule practice lesson tournament harbour telescope").split()


def make_folder(root: Path) -> Path:
    folder = root / "Notes"
    (folder / "misc").mkdir(parents=True)
    (folder / "boiler.md").write_text(BOILER)
    (folder / "bread.txt").write_text(BREAD)
    (folder / "router.html").write_text(ROUTER)
    write_pdf(folder / "dishwasher.pdf", DISHWASHER)
    rng = random.Random(7)
    for i in range(300):                     # unrelated notes, all indexed too
        topic = rng.choice(TOPICS)
        words = " ".join(rng.choice(WORDS) for _ in range(30))
        (folder / "misc" / f"note-{i:03d}.md").write_text(f"# {topic.title()} note {i}\n\nAbout {topic}: {words}.\n")
    return folder


def add_bad_files(folder: Path) -> dict[str, Path]:
    bad = {"corrupt": folder / "broken.pdf", "binary": folder / "photo.md", "huge": folder / "huge.txt",
           "unreadable": folder / "locked.md"}
    bad["corrupt"].write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ntrailer garbage")
    bad["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with open(bad["huge"], "wb") as f:           # 200 MB, sparse: no disk used
        f.truncate(200 * 1024 * 1024)
    if os.geteuid() == 0:
        # root reads any file whatever its mode: a link to nothing is the unreadable file here
        bad["unreadable"].symlink_to(folder / "no-such-target.md")
    else:
        bad["unreadable"].write_text("secret")
        bad["unreadable"].chmod(0)
    return bad


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A home whose folder was added with `assistant knowledge add` (one index for the module)."""
    root = tmp_path_factory.mktemp("knowledge")
    home = root / "home"
    folder = make_folder(root)
    bad = add_bad_files(folder)
    result = run_cli("knowledge", "add", str(folder), home=home, timeout=600)
    return home, folder, bad, result


def cli_json(*args, home: Path, **kw):
    result = run_cli("--json", *args, home=home, **kw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def search(home: Path, query: str, k: int = 3) -> list[dict]:
    return cli_json("knowledge", "search", query, "--k", str(k), home=home)


def test_add_indexes_every_format_and_names_each_skipped_file_once(indexed):
    home, folder, bad, result = indexed
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 4, result.stderr
    for kind, path in bad.items():
        assert sum(str(path) in line for line in skipped) == 1, (kind, result.stderr)
    assert "not a readable PDF" in next(line for line in skipped if "broken.pdf" in line)
    assert "binary" in next(line for line in skipped if "photo.md" in line)
    assert "too large" in next(line for line in skipped if "huge.txt" in line)
    assert "unreadable" in next(line for line in skipped if "locked.md" in line)
    assert "304 added" in result.stdout, result.stdout     # 4 documents + 300 notes; the bad 4 skipped
    listed = cli_json("knowledge", "list", home=home)
    assert listed["folders"][0]["folder"] == str(folder.resolve()) and listed["folders"][0]["files"] == 304


@pytest.mark.parametrize("query, file, words", [
    ("What did the boiler engineer say about the pressure?", "boiler.md", "1.5 bar"),
    ("how long do I bake the sourdough", "bread.txt", "40 minutes"),
    ("what's the wifi password", "router.html", "tangerine-42"),
    ("how do I reset the dishwasher", "dishwasher.pdf", "three seconds"),
])
def test_search_finds_the_right_file_with_heading_and_matching_lines(indexed, query, file, words):
    home = indexed[0]
    hits = search(home, query)
    assert hits and Path(hits[0]["path"]).name == file, [h["path"] for h in hits]
    assert any(words in line for line in hits[0]["lines"]), hits[0]
    if file == "boiler.md":
        assert hits[0]["heading"] == "Boiler › Pressure"
        human = run_cli("knowledge", "search", query, home=home).stdout
        assert "boiler.md  › Boiler › Pressure" in human and "1.5 bar" in human
    if file == "router.html":
        assert "secret" not in hits[0]["text"] and "color" not in hits[0]["text"]   # script and style left out


def test_a_question_no_note_answers_brings_no_notes(indexed, runtime):
    """The relevance floor, on the product's own settings (what a turn uses)."""
    from memory.knowledge.service import KnowledgeBase
    home = indexed[0]
    cfg = runtime.cfg.knowledge
    kb = KnowledgeBase(home / "data" / "memory.lancedb", runtime.embedder, "default", cfg.search_settings())
    assert [h.chunk.path for h in kb.search("What did the boiler engineer say about the pressure?")][0].endswith(
        "boiler.md")
    for question in ("What is the capital of France?", "Who won the world cup in 1998?",
                     "What's my sister's phone number?"):
        assert kb.search(question) == [], question


@pytest.mark.slow
def test_ask_answers_from_the_right_file_and_names_it(indexed):
    home = indexed[0]
    out = cli_json("ask", "What did the boiler engineer say about the pressure?", home=home)
    assert Path(out["knowledge"][0]["path"]).name == "boiler.md"
    reply = out["reply"].lower()
    assert "1.5" in reply, reply
    assert "boiler" in reply and "notes" in reply, reply       # "your boiler notes say…"
    out = cli_json("ask", "How do I reset the dishwasher?", home=home)
    assert Path(out["knowledge"][0]["path"]).name == "dishwasher.pdf"
    assert "three seconds" in out["reply"].lower() or "3 seconds" in out["reply"].lower(), out["reply"]
    out = cli_json("ask", "What is the capital of France?", home=home)
    assert out["knowledge"] == []


def test_sync_follows_edits_renames_and_deletions(tmp_path):
    home = tmp_path / "home"
    folder = tmp_path / "Notes"
    folder.mkdir()
    (folder / "boiler.md").write_text(BOILER)
    (folder / "bread.txt").write_text(BREAD)
    (folder / "router.html").write_text(ROUTER)
    first = cli_json("knowledge", "add", str(folder), home=home)
    assert first["added"] == 3 and first["chunks_embedded"] > 0
    assert cli_json("knowledge", "sync", home=home)["unchanged"] == 3          # nothing to do

    (folder / "boiler.md").write_text(BOILER.replace("1.5 bar", "1.8 bar"))
    report = cli_json("knowledge", "sync", home=home)
    assert report["updated"] == 1 and report["unchanged"] == 2
    text = " ".join(h["text"] for h in search(home, "boiler pressure engineer"))
    assert "1.8 bar" in text and "1.5 bar" not in text

    (folder / "bread.txt").rename(folder / "loaf.txt")
    report = cli_json("knowledge", "sync", home=home)
    assert report["renamed"] == 1 and report["removed"] == 0
    assert report["chunks_embedded"] == 0 and report["chunks_reused"] > 0      # not embedded again
    hits = search(home, "how long do I bake the sourdough")
    assert Path(hits[0]["path"]).name == "loaf.txt" and hits[0]["source"] == "loaf notes"

    (folder / "router.html").unlink()
    report = cli_json("knowledge", "sync", home=home)
    assert report["removed"] == 1
    assert all(Path(h["path"]).name != "router.html" for h in search(home, "wifi password", k=10))

    removed = cli_json("knowledge", "remove", str(folder), home=home)
    assert removed["removed"] == 2
    assert search(home, "boiler pressure") == []


def test_profiles_keep_knowledge_apart(tmp_path):
    home = tmp_path / "home"
    folder = tmp_path / "Notes"
    folder.mkdir()
    (folder / "boiler.md").write_text(BOILER)
    cli_json("knowledge", "add", str(folder), home=home)
    work = tmp_path / "work.toml"
    work.write_text('[memory]\nprofile = "work"\n')
    assert search(home, "boiler pressure") and Path(search(home, "boiler pressure")[0]["path"]).name == "boiler.md"
    assert cli_json("--config", str(work), "knowledge", "search", "boiler pressure", home=home) == []
    listed = cli_json("--config", str(work), "knowledge", "list", home=home)
    assert listed["profile"] == "work" and listed["folders"] == []


def test_bad_arguments_get_one_line_errors(tmp_path):
    home = tmp_path / "home"
    for args, words in ((("knowledge", "add", str(tmp_path / "nowhere")), "no such folder"),
                        (("knowledge", "remove", str(tmp_path)), "not one of the knowledge folders")):
        result = run_cli(*args, home=home)
        assert result.returncode != 0 and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def runtime_with_notes(tmp_path: Path, knowledge_toml: str = ""):
    """An in-process runtime whose [knowledge] folder is tmp_path/Notes, holding boiler.md."""
    from assistant.config import load_config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    folder = tmp_path / "Notes"
    folder.mkdir()
    (folder / "boiler.md").write_text(BOILER)
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(f'[knowledge]\nfolders = ["{folder}"]\n{knowledge_toml}')
    return Runtime(load_config(cfg_file, required=True), resolve_paths(str(tmp_path / "home")), quiet=True), folder


def test_the_watcher_reindexes_what_changes(tmp_path):
    """The daemon's watcher (watchdog + periodic sync) on a real folder, in-process."""
    rt, folder = runtime_with_notes(tmp_path)
    watcher = rt.watch_knowledge()
    try:
        def texts(query):
            return " ".join(h.chunk.text for h in rt.knowledge.search(query, min_relevance=-10.0, k=3))

        def wait(predicate, what):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if predicate():
                    return
                time.sleep(0.2)
            raise AssertionError(f"the watcher did not index {what}")
        wait(lambda: "1.5 bar" in texts("boiler pressure"), "the folder at start")
        (folder / "boiler.md").write_text(BOILER.replace("1.5 bar", "1.8 bar"))
        wait(lambda: "1.8 bar" in texts("boiler pressure") and "1.5 bar" not in texts("boiler pressure"), "an edit")
        (folder / "bread.txt").write_text(BREAD)
        wait(lambda: "40 minutes" in texts("bake sourdough"), "a new file")
        (folder / "bread.txt").unlink()
        wait(lambda: "40 minutes" not in texts("bake sourdough"), "a deletion")
    finally:
        watcher.stop()


# -- the parts, without models ---------------------------------------------------------

def test_chunks_follow_headings_carry_their_source_and_overlap(tmp_path):
    from memory.knowledge.chunker import ChunkSettings, chunk, source_name
    from memory.knowledge.parsers import parse
    long_para = " ".join(f"Sentence number {i} says something about pumps." for i in range(60))
    path = tmp_path / "heating-manual.md"
    path.write_text(f"# Heating\n\n## Pumps\n\n{long_para}\n\n## Valves\n\nTurn the valve clockwise.\n")
    chunks = chunk(parse(path, 10**7), ChunkSettings(target_words=100, max_words=150, overlap_words=30))
    assert [c.heading for c in chunks][-1] == "Heating › Valves"
    pumps = [c for c in chunks if c.heading == "Heating › Pumps"]
    assert len(pumps) >= 3 and all(len(c.text.split()) <= 150 for c in pumps)
    for a, b in zip(pumps, pumps[1:]):          # consecutive passages share a sentence
        last = a.text.rsplit(". ", 1)[-1]
        assert b.text.startswith(last.rstrip(".")), (a.text[-80:], b.text[:80])
    assert chunks[-1].doc == "heating manual › Valves: Turn the valve clockwise." or \
        chunks[-1].doc.startswith("heating manual ›")
    assert source_name("boiler.md") == "boiler notes" and source_name("oven_manual.pdf") == "oven manual"


def test_prompt_names_the_file_and_keeps_to_the_token_budget():
    from assistant.config import LlmConfig
    from assistant.prompt import approx_tokens, build_messages, knowledge_lines
    from memory.knowledge.chunker import Chunk
    from memory.knowledge.search import KnowledgeHit
    long_text = "Filler words about nothing in particular. " * 40 + "The pressure should read 1.5 bar."
    hits = [KnowledgeHit(Chunk("/n/boiler.md", "Boiler", "boiler notes", ("Boiler", "Pressure"), 1, 0, 9,
                               "The engineer said 1.5 bar."), 0.8, 0.7, 5.0),
            KnowledgeHit(Chunk("/n/long.md", "Long", "long notes", (), 0, 0, 9, long_text), 0.6, 0.5, 3.0)]
    lines = knowledge_lines(hits, 60, "what pressure")
    assert lines[0] == "- Your boiler notes (Pressure) say: The engineer said 1.5 bar."
    assert sum(approx_tokens(line) for line in lines) <= 60
    assert len(lines) == 2 and "1.5 bar" in lines[1] and "Filler" not in lines[1]    # cut to the matching sentence
    content = build_messages(LlmConfig(), "What pressure?", [], [], [], knowledge=hits)[-1]["content"]
    assert 'begin the answer with "Your boiler notes say"' in content and content.endswith("[User]\nWhat pressure?")
    assert build_messages(LlmConfig(), "Hi", [], [], [])[-1]["content"] == "Hi"


@pytest.mark.slow
def test_the_daemon_watches_the_folders(pulse, tmp_path):
    """The real daemon, on the virtual audio devices as in tests/test_daemon.py: it indexes its folders at
    start and re-indexes an edit and a deletion."""
    from tests.test_daemon import DaemonProcess, wait_for
    home = tmp_path / "home"
    home.mkdir()
    folder = tmp_path / "Notes"
    folder.mkdir()
    (folder / "boiler.md").write_text(BOILER)
    (folder / "bread.txt").write_text(BREAD)
    (home / "config.toml").write_text(f'[knowledge]\nfolders = ["{folder}"]\n')
    daemon = DaemonProcess(home).wait_ready()
    try:
        def text(query):
            return " ".join(h["text"] for h in search(home, query, k=3))
        wait_for(lambda: "1.5 bar" in text("boiler pressure engineer"), 120, "the folder indexed at start")
        (folder / "boiler.md").write_text(BOILER.replace("1.5 bar", "1.8 bar"))
        wait_for(lambda: "1.8 bar" in text("boiler pressure engineer"), 60, "the edit re-indexed")
        assert "1.5 bar" not in text("boiler pressure engineer")
        answer = daemon.call("ask", text="What did the boiler engineer say about the pressure?")
        assert Path(answer["knowledge"][0]["path"]).name == "boiler.md" and "1.8" in answer["reply"], answer
        (folder / "bread.txt").unlink()
        wait_for(lambda: "40 minutes" not in text("bake the sourdough"), 60, "the deletion")
    finally:
        assert daemon.stop() == 0, daemon.err.read_text()[-2000:]
