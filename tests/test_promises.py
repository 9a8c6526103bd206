"""The repros of issue 19, as a new user meets them: each now keeps the README's promise."""
from __future__ import annotations

import json

from tests.conftest import run_cli


def one_line(result, *needles: str, code: int | None = None) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: config error" not in lines[0] and "config error: config error" not in lines[0]
    if code is not None:
        assert result.returncode == code, lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def memories(cli) -> list[dict]:
    listed = cli("--json", "memory", "list", "-n", "1000")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


# -- 1: long input ------------------------------------------------------------------------

def test_a_huge_question_is_refused_in_one_line_and_not_stored(cli):
    cli("memory", "add", "my sister's name is Anna")
    before = memories(cli)
    huge = "what is the weather on the moon? " * 1600
    one_line(cli("ask", huge), "52,799 characters", "4,000", "shorten it", code=6)
    one_line(cli("ask", ""), "empty", code=6)
    one_line(cli("memory", "add", huge), "shorten it")
    as_json = cli("--json", "ask", "  ")
    one_line(as_json, "empty")
    assert json.loads(as_json.stdout) == {"error": json.loads(as_json.stdout)["error"], "kind": "input",
                                          "exit_code": 6}
    chat = cli("chat", stdin="x" * 20000 + "\n" + "\n")
    assert chat.returncode == 0 and "shorten it" in chat.stderr and "Traceback" not in chat.stderr
    assert memories(cli) == before


def test_the_longest_transcript_fits_the_prompt_with_a_full_history(runtime):
    """A 30 s utterance is at most 448 Whisper tokens (~1,800 characters); with a history
    of such turns the prompt is fitted (oldest history dropped), never overflowing."""
    from assistant.limits import MAX_INPUT_CHARS, fit_transcript
    engine = runtime.engine
    long_turn = ("and then we walked along the river to the old mill where my grandfather worked " * 24)[:1800]
    saved = list(engine.history)
    try:
        for _ in range(runtime.cfg.llm.history_turns):
            engine.remember("user", long_turn)
            engine.remember("assistant", long_turn)
        reply, _ = engine.ask(fit_transcript(long_turn + " so what do you think of that?"))
        assert reply
        assert len(fit_transcript("word " * 5000)) <= MAX_INPUT_CHARS
    finally:
        engine.history = saved


# -- 3: unexpected errors ----------------------------------------------------------------

def test_bad_bytes_in_the_config_and_odd_homes_are_one_line(cli, tmp_path):
    home = cli.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_bytes(b"[tts]\nspeed = 1.2\n# caf\xe9\n")
    for args in (("config", "set", "tts.speed", "1.1"), ("config", "show"), ("config", "unset", "tts.speed"),
                 ("config", "validate")):
        one_line(cli(*args), "config.toml:3", "not UTF-8", code=2)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_line(run_cli("ask", "hi", home=a_file), "is a file, not a directory")
    one_line(run_cli("memory", "list", home="/proc/x"), "/proc/x")


# -- 5: forgetting a newer fact ----------------------------------------------------------

def test_forgetting_a_newer_fact_brings_the_older_one_back(cli):
    cli("memory", "add", "my favourite colour is green")
    added = json.loads(cli("--json", "memory", "add", "my favourite colour is blue").stdout)
    green_id = added["superseded"][0]
    forgot = cli("memory", "forget", added["added"]["id"][:8])
    assert forgot.returncode == 0 and "current again: my favourite colour is green" in forgot.stdout
    [green] = [m for m in memories(cli) if m["id"] == green_id]
    assert green["superseded_by"] == ""
    found = json.loads(cli("--json", "memory", "search", "favourite colour").stdout)
    assert any(r["id"] == green_id for r in found)


# -- 7: config messages -----------------------------------------------------------------

def test_config_messages(cli, tmp_path):
    line = one_line(cli("config", "set", "audio.listen_mode", "shout"), "audio.listen_mode", "nothing was written")
    assert line.startswith("config error: ") and ".toml:" not in line          # the value is not in any file
    one_line(cli("config", "set", "tts.sped", "1.1"), "did you mean tts.speed?")
    bad = tmp_path / "bad.toml"
    bad.write_text("[tts]\nsped = 1.2\nspeed = 9\n[audio]\nlisten_mode = \"x\"\n")
    result = cli("--config", str(bad), "config", "validate")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 3, result.stderr
    assert all(f"{bad}:{n}" in ln for n, ln in zip((2, 3, 5), lines)), lines
    missing = tmp_path / "missing.toml"
    for args in (("config", "show"), ("ask", "hi"), ("config", "get", "tts.speed")):
        one_line(cli("--config", str(missing), *args), "file not found", code=2)


# -- 8: smaller -------------------------------------------------------------------------

def test_smaller_promises(cli, tmp_path):
    cli("memory", "add", "the car is parked on level 3")
    dry = cli("memory", "forget", "--dry-run", "--query", "car")
    assert dry.returncode == 0 and "would forget 1 memory" in dry.stdout
    nothing = cli("reminders", "cancel", "all")
    assert nothing.returncode == 0 and "nothing to cancel" in nothing.stdout
    stats = cli("memory", "stats")
    assert stats.returncode == 0 and "None" not in stats.stdout and "[" not in stats.stdout
    silence = tmp_path / "silence.wav"
    import numpy as np

    from audio.wavio import write_wav
    write_wav(silence, np.zeros(16000 * 2, np.float32), 16000)
    out = tmp_path / "out.wav"
    ran = cli("run", "--input", str(silence), "--output", str(out))
    assert ran.returncode == 0 and not out.exists() and "was not written" in ran.stdout
    helped = cli("memory", "forget", "--help")
    assert "Delete memories" in helped.stdout and "ids or unique id prefixes" in helped.stdout
    assert "the question or request" in cli("ask", "--help").stdout
    usage = cli("memory", "list", "-n", "many")
    one_line(usage, "invalid int value", "--help", code=2)


def test_a_skill_turn_is_stored_once_in_order(runtime):
    """The engine stores a skill's question once, with the seq it was given."""
    engine = runtime.engine
    first = engine._seq
    for text in ("what is seven times six", "what is twelve plus thirty"):
        engine.ask(text)
    rows = sorted((m for m in runtime.store.recent(1000)
                   if m.session_id == engine.session_id and m.seq >= first), key=lambda m: m.seq)
    assert [m.role for m in rows] == ["user", "assistant", "user", "assistant"], [(m.seq, m.text) for m in rows]
    assert [m.seq for m in rows] == list(range(first, first + 4))
