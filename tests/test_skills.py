"""Skills end to end: the real CLI in real processes, real models, real files on disk.

Every built-in skill through ``assistant ask``; a reminder that fires after a restart;
a skill dropped into the user folder while ``assistant chat`` runs; handlers that raise,
hang or do not import get a spoken apology and the next turn still works.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from audio.wavio import read_audio, write_wav
from tests.conftest import REPO


def ask(cli, text: str, *extra: str) -> dict:
    result = cli("--json", "ask", text, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def chat(cli, *lines: str) -> list[dict]:
    result = cli("--json", "chat", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def skill(reply: dict) -> str | None:
    return reply["skill"]["skill"] if reply.get("skill") else None


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


# -- routing, on the real embedding model -----------------------------------------------

def test_every_doc_example_routes_to_its_skill_and_no_counter_example_does(runtime):
    """The docs are the router's evidence: each example must reach its own skill with the
    arguments the doc gives, and each listed near miss must reach none."""
    from skills.router import Router
    registry = runtime.skill_registry
    registry.refresh()
    router = Router(registry, runtime.cfg.skills.route_min_relevance, runtime.cfg.skills.route_margin)
    wrong = []
    for doc in registry.docs.values():
        given = {e.text: e.args for e in doc.arg_examples}
        for text in doc.examples:
            route = router.route(runtime.embedder.embed_one(text), text)
            want = doc.name if doc.handler else None
            if (route.doc.name if route.doc else None) != want or (text in given and route.parsed != given[text]):
                wrong.append(f"{text!r} → {route.doc.name if route.doc else None} {route.parsed}, want {want}")
        for text in doc.counter_examples:
            route = router.route(runtime.embedder.embed_one(text), text)
            if route.doc is not None:
                wrong.append(f"counter-example {text!r} → {route.doc.name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("text, want", [
    ("forget it", None), ("remember me?", None), ("remember when we met", None), ("call me a taxi", None),
    ("call me when you're ready", None), ("what's the battery life of an iPhone", None),
    ("how much memory does a goldfish have", None), ("set a timer for 5", None), ("my timer went off", None),
    ("hey Juniper, what time is it", "time_date"), ("ping me in 5 mins about the laundry", "set_reminder"),
    ("call me Dr Who", "configure"), ("note to self buy milk", "remember")])
def test_colloquial_phrases_found_by_a_stress_probe(runtime, text, want):
    from skills.router import Router
    runtime.skill_registry.refresh()
    route = Router(runtime.skill_registry, 0.72, 0.04).route(runtime.embedder.embed_one(text), text)
    assert (route.doc.name if route.doc else None) == want, route.as_dict()


def test_the_llm_fills_arguments_under_the_grammar_when_there_is_no_parser(runtime, tmp_path):
    from skills.arguments import fill, problems
    from skills.spec import read_doc
    doc_path = tmp_path / "dice.md"
    doc_path.write_text(DICE_DOC)
    doc = read_doc(doc_path)
    for text, sides in (("roll a twenty sided die", 20), ("throw a six-sided dice for me", 6)):
        filled = fill(doc, text, None, runtime.llm)
        assert filled.source == "llm" and filled.args == {"sides": sides}, filled
        assert problems(doc.parameters, filled.args) == []
    [state] = [s for key, s in runtime.llm._prefix_states.items() if key.startswith("dice:")]  # kept
    # ... small: the model's KV cells and one logits row, not llama-cpp-python's logits
    # table (180 MB a skill, which grew the daemon skill by skill)
    assert state.scores.nbytes + state.llama_state_size < 40e6, (state.scores.shape, state.llama_state_size)


# -- each built-in skill through `assistant ask` ----------------------------------------

def test_time_and_date_in_the_configured_time_zone(cli):
    zone = "Pacific/Kiritimati"                      # UTC+14: unlike this machine's zone
    write_config(cli.home, f'[skills]\ntimezone = "{zone}"\n')
    before = dt.datetime.now(ZoneInfo(zone))
    reply = ask(cli, "What time is it?")
    after = dt.datetime.now(ZoneInfo(zone))
    assert skill(reply) == "time_date" and reply["skill"]["status"] == "ok"
    said = {t.strftime("%I:%M %p").lstrip("0") for t in (before, after)}
    assert any(s in reply["reply"] for s in said), (reply["reply"], said)
    reply = ask(cli, "what's the date today")
    assert after.strftime("%A") in reply["reply"] and str(after.day) in reply["reply"]


def test_timers_and_reminders_are_set_listed_and_cancelled(cli):
    reply = ask(cli, "remind me in ten minutes to check the oven")
    assert reply["skill"]["args"] == {"kind": "reminder", "seconds": 600, "message": "check the oven"}
    assert "10 minutes" in reply["reply"]
    assert ask(cli, "set a timer for five minutes")["skill"]["args"] == {"kind": "timer", "seconds": 300}
    listed = ask(cli, "what reminders do I have")
    assert skill(listed) == "list_reminders"
    assert "check the oven" in listed["reply"] and "5 minute timer" in listed["reply"]
    pending = json.loads(cli("--json", "reminders").stdout)
    assert sorted(r["kind"] for r in pending) == ["reminder", "timer"]
    cancelled = ask(cli, "cancel the oven reminder")
    assert skill(cancelled) == "cancel_reminder" and "check the oven" in cancelled["reply"]
    assert [r["kind"] for r in json.loads(cli("--json", "reminders", "list").stdout)] == ["timer"]
    assert cli("reminders", "cancel", "all").returncode == 0
    assert json.loads(cli("--json", "reminders").stdout) == []


def test_remember_and_forget_go_through_memory(cli):
    # "remember that …" / "forget …" are memory commands (assistant/intents.py), handled
    # before the skill router; the remember/forget skills catch the other phrasings.
    reply = ask(cli, "remember that my locker code is 4512")
    assert "4512" in reply["reply"] and "remember" in reply["reply"].lower()
    facts = [m for m in json.loads(cli("--json", "memory", "list").stdout) if m["kind"] == "fact"]
    assert [f["text"] for f in facts] == ["my locker code is 4512"]
    recalled = ask(cli, "What is my locker code?")           # conversation: the fact is in its prompt
    assert skill(recalled) is None
    assert recalled["memories"][0]["kind"] == "fact" and "4512" in recalled["memories"][0]["text"]
    forgot = ask(cli, "forget what I told you about my locker code")
    assert "locker code" in forgot["reply"] and "don't have" not in forgot["reply"]
    left = json.loads(cli("--json", "memory", "list", "-n", "100").stdout)
    assert not any("4512" in m["text"] for m in left), left


def test_forgetting_everything_waits_for_a_spoken_yes(cli):
    replies = chat(cli, "remember that my cat is called Miso", "forget everything", "no",
                   "forget everything", "yes")
    assert "Miso" in replies[0]["reply"]          # a memory command (assistant/intents.py)
    assert [skill(r) for r in replies[1:]] == ["forget_everything"] * 4
    assert [r["skill"]["status"] for r in replies[1:]] == ["confirm", "declined", "confirm", "ok"]
    assert "are you sure" in replies[1]["reply"].lower() and replies[2]["reply"] == "Okay, I won't."
    left = json.loads(cli("--json", "memory", "list", "-n", "100").stdout)
    assert not any("Miso" in m["text"] for m in left), left


def test_calculator(cli):
    reply = ask(cli, "what is twelve times seven")
    assert skill(reply) == "calculator" and reply["reply"] == "12 times 7 is 84."
    assert "divide by zero" in ask(cli, "what's five divided by zero")["reply"]


def test_what_can_you_do_comes_from_the_skill_docs(cli):
    reply = ask(cli, "What can you do?")
    assert skill(reply) == "capabilities"
    for summary in ("the time and the date", "timers and reminders", "do arithmetic", "change how I speak"):
        assert summary in reply["reply"], reply["reply"]


def test_configuration_by_voice_edits_the_config_file(cli):
    config = write_config(cli.home, "# my own settings\n[tts]\nvolume = 1.0   # as loud as the default\n")
    reply = ask(cli, "speak slower")
    assert skill(reply) == "configure" and reply["reply"] == "Okay, I'll speak slower now."
    assert ask(cli, "please speak a bit louder")["skill"]["args"] == {"setting": "volume", "change": "up"}
    assert ask(cli, "call me Sam")["reply"] == "Okay, I'll call you Sam."
    text = config.read_text()
    assert "# my own settings" in text and "volume = 1.25   # as loud as the default" in text
    assert "speed = 0.85" in text and 'user_name = "Sam"' in text
    from assistant.config import load_config
    cfg = load_config(config)                                  # what the next start reads
    assert (cfg.tts.speed, cfg.tts.volume, cfg.llm.user_name) == (0.85, 1.25, "Sam")
    from assistant.prompt import system_message
    assert "The user's name is Sam." in system_message(cfg.llm)["content"]   # what the LLM is told


def test_system_status(cli):
    reply = ask(cli, "how is the computer doing")
    assert skill(reply) == "system_status" and reply["skill"]["args"] == {"part": "all"}
    assert "processor" in reply["reply"] and "percent" in reply["reply"] and "battery" in reply["reply"]


# -- reminders are announced by voice -----------------------------------------------------

def test_a_reminder_fires_after_a_restart(cli, runtime, tmp_path):
    set_it = ask(cli, "remind me in two seconds to check the oven")
    assert set_it["skill"]["args"]["seconds"] == 2
    time.sleep(2.5)                                   # it falls due while nothing runs
    silence = tmp_path / "silence.wav"
    write_wav(silence, np.zeros(16000, np.float32), 16000)
    out = tmp_path / "out.wav"
    result = cli("--json", "run", "--input", str(silence), "--output", str(out))
    assert result.returncode == 0, result.stderr
    said = [json.loads(line)["announcement"] for line in result.stdout.splitlines() if '"announcement"' in line]
    assert said == ["Here is your reminder: check the oven."]
    assert "oven" in runtime.stt.transcribe(read_audio(out)).text.lower()
    [done] = json.loads(cli("--json", "reminders", "list", "--all").stdout)
    assert done["status"] == "done"
    again = cli("--json", "run", "--input", str(silence), "--output", str(out))
    assert '"announcement"' not in again.stdout                 # announced once, not at every start


def test_a_reminder_due_while_listening_is_spoken(own_runtime, tmp_path):
    from audio.capture import FileSource
    from audio.playback import WavSink
    from assistant.voice_loop import VoiceLoop
    silence = tmp_path / "silence.wav"
    write_wav(silence, np.zeros(16000 * 4, np.float32), 16000)
    own_runtime.reminders.add("timer", "", time.time() + 1.5, seconds=90)
    out = tmp_path / "out.wav"
    heard: list[str] = []
    own_runtime.load(stt=True, tts=True, engine=True)     # as `assistant run` does before its loop
    loop = VoiceLoop(own_runtime, FileSource(silence, realtime=True), WavSink(str(out), own_runtime.tts.sample_rate),
                     on_announcement=heard.append)
    loop.run()
    assert heard == ["Your 1 minute and 30 second timer is done."]
    assert "timer" in own_runtime.stt.transcribe(read_audio(out)).text.lower()


# -- the user's skill folder --------------------------------------------------------------

COIN_DOC = """---
name: coin
description: Flip a coin.
summary: flip a coin
examples:
  - flip a coin for me
  - toss a coin
---
# Coin
"""
COIN_PY = 'def run(args, ctx):\n    return "The coin says heads."\n'
DICE_DOC = """---
name: dice
description: Roll a die with a given number of sides.
parameters:
  type: object
  properties:
    sides: {type: integer, minimum: 2, maximum: 100, description: how many sides the die has}
  required: [sides]
  additionalProperties: false
examples:
  - text: roll a die
    args: {sides: 6}
  - text: roll a ten sided die
    args: {sides: 10}
  - text: throw a four-sided dice
    args: {sides: 4}
---
# Dice
"""


def test_a_skill_dropped_into_the_user_folder_works_without_a_restart(cli, tmp_path):
    folder = tmp_path / "my-skills"
    folder.mkdir()
    write_config(cli.home, f'[skills]\nuser_dir = "{folder}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "--home", str(cli.home), "-q", "--json", "chat"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=os.environ.copy())
    try:
        def say(text: str) -> dict:
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        assert skill(say("flip a coin for me")) is None          # not installed yet: conversation
        (folder / "coin.md").write_text(COIN_DOC)
        (folder / "coin.py").write_text(COIN_PY)
        after = say("flip a coin for me")
        assert skill(after) == "coin" and after["reply"] == "The coin says heads."
        assert "flip a coin" in say("what can you do")["reply"]   # and it is listed
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


FAULTY = {
    "crash": ("crash the widget", 'def run(args, ctx):\n    raise RuntimeError("widget exploded")\n'),
    "hang": ("hang the widget", "import time\n\ndef run(args, ctx):\n    time.sleep(30)\n    return 'late'\n"),
    "broken": ("break the widget", "def run(args, ctx)\n    return 'missing colon'\n"),
    "slowparse": ("count the sheep", "import time\n\ndef parse(text):\n    time.sleep(30)\n\n"
                                     "def run(args, ctx):\n    return 'never'\n"),
}


def _faulty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "faulty"
    folder.mkdir()
    for name, (example, code) in FAULTY.items():
        (folder / f"{name}.md").write_text(f"---\nname: {name}\ndescription: {example}\nexamples:\n  - {example}\n---\n")
        (folder / f"{name}.py").write_text(code)
    return folder


def test_a_handler_that_raises_gets_a_spoken_apology(cli, runtime, tmp_path):
    write_config(cli.home, f'[skills]\nuser_dir = "{_faulty_folder(tmp_path)}"\n')
    wav = tmp_path / "reply.wav"
    reply = ask(cli, "crash the widget", "--output", str(wav))
    assert reply["skill"]["status"] == "error" and reply["reply"].startswith("Sorry")
    assert "sorry" in runtime.stt.transcribe(read_audio(wav)).text.lower()       # really spoken
    log = (cli.home / "logs" / "assistant.log").read_text()
    assert "skill crash: handler raised RuntimeError: widget exploded" in log


def test_a_hanging_or_unimportable_handler_gets_an_apology_and_the_next_turn_works(cli, tmp_path):
    write_config(cli.home, f'[skills]\nuser_dir = "{_faulty_folder(tmp_path)}"\nhandler_timeout_s = 1.0\n')
    started = time.monotonic()
    hang, broken, after = chat(cli, "hang the widget", "break the widget", "what is two plus two")
    assert time.monotonic() - started < 60
    assert hang["skill"]["status"] == "timeout" and hang["reply"].startswith("Sorry")
    assert hang["skill"]["ms"]["run"] < 3000
    assert broken["skill"]["status"] == "unknown" and broken["reply"].startswith("Sorry")
    assert after["reply"] == "2 plus 2 is 4."
    log = (cli.home / "logs" / "assistant.log").read_text()
    assert "skill hang: handler still running after 1.0 s" in log
    assert re.search(r"skill broken: cannot import .*broken\.py \(SyntaxError", log)
    assert "skill slowparse: parse() took over 1 s; switched off until slowparse.py changes" in log
