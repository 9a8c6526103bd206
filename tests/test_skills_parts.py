"""The parts skills are built from, each on its own: no models, real files."""
from __future__ import annotations

import time

import pytest

from assistant import config_edit
from assistant.errors import ConfigError
from skills.arithmetic import ArithmeticError_, evaluate
from skills.context import Services, SkillContext
from skills.grammar import GrammarUnsupported, schema_to_gbnf
from skills.reminders import Announcer, ReminderBook
from skills.runner import run_with_timeout
from skills.spec import SkillDocError, read_doc
from skills.spoken import digits, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("in ten minutes", 600), ("for an hour and a half", 5400), ("half an hour", 1800),
    ("two hours and fifteen minutes", 8100), ("90 secs", 90), ("a quarter of an hour", 900),
    ("twenty five seconds", 25), ("five and a half minutes", 330), ("1.5 hours", 5400), ("no time here", None)])
def test_spoken_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_numbers_in_words_become_digits():
    assert digits("three hundred and twelve minus forty") == "312 minus 40"
    assert digits("add three hundred and fifty and one hundred and twenty five") == "add 350 and 125"
    assert digits("a hundred") == "100"


def test_arithmetic_is_evaluated_without_eval():
    assert evaluate("5 + 3 * 2") == 11
    assert evaluate("2 ^ 10") == 1024
    assert evaluate("sqrt(144) / (1 + 2)") == 4
    for hostile in ("__import__('os').system('echo hi')", "open('x')", "1 + x", "9 ^ 9 ^ 9", "()"):
        with pytest.raises(ArithmeticError_):
            evaluate(hostile)
    with pytest.raises(ZeroDivisionError):
        evaluate("1 / 0")


def test_argument_grammar_is_small_and_compiles():
    from llama_cpp import LlamaGrammar
    schema = {"type": "object", "required": ["kind"], "properties": {
        "kind": {"enum": ["timer", "reminder"]}, "seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
        "message": {"type": "string", "maxLength": 40}, "expression": {"type": "string", "pattern": "^[0-9+ ]{1,9}$"}}}
    gbnf = schema_to_gbnf(schema)
    assert gbnf.startswith('root ::= "{" "\\"kind\\": " ("\\"timer\\"" | "\\"reminder\\"")')
    assert "[0-9]{1,5}" in gbnf and "{0,40}" in gbnf and "[0-9+ ]{1,9}" in gbnf
    LlamaGrammar.from_string(gbnf, verbose=False)
    with pytest.raises(GrammarUnsupported):
        schema_to_gbnf({"type": "object", "properties": {"x": {"type": "array"}}})


def test_config_edit_keeps_comments_and_refuses_invalid_values(tmp_path):
    user = tmp_path / "config.toml"
    user.write_text("# mine\n[tts]\nspeed = 1.0   # how fast\n")
    cfg = config_edit.edit(user, "tts.speed", 0.85)
    assert cfg.tts.speed == 0.85
    assert user.read_text() == "# mine\n[tts]\nspeed = 0.85   # how fast\n"
    config_edit.edit(user, "llm.user_name", "Sam")
    assert 'user_name = "Sam"' in user.read_text() and "# how fast" in user.read_text()
    before = user.read_text()
    with pytest.raises(ConfigError, match="tts.speed"):
        config_edit.edit(user, "tts.speed", 99.0)
    with pytest.raises(ConfigError, match="unknown key"):
        config_edit.edit(user, "tts.pitch", 1)
    assert user.read_text() == before                          # nothing written
    config_edit.edit(user, "llm.user_name", config_edit.UNSET)
    assert "user_name" not in user.read_text() and "[llm]" not in user.read_text()
    assert config_edit.coerce("0.8") == 0.8 and config_edit.coerce("true") is True
    assert config_edit.coerce("Europe/Paris") == "Europe/Paris"


def test_config_edit_applies_to_the_live_config(tmp_path):
    from assistant.config import Config
    live = Config()
    changed = config_edit.apply(live, config_edit.edit(tmp_path / "c.toml", "tts.volume", 1.25))
    assert changed == ["tts.volume"] and live.tts.volume == 1.25
    assert (tmp_path / "c.toml").read_text().startswith("# Your settings")


def test_reminders_persist_and_are_announced_once(tmp_path):
    book = ReminderBook(tmp_path / "reminders.json")
    now = time.time()
    book.add("reminder", "check the oven", now - 1)
    book.add("timer", "", now + 3600, seconds=3600)
    other = ReminderBook(tmp_path / "reminders.json")      # another process, the same file
    said = Announcer(other, None).due(now)
    assert said == ["Here is your reminder: check the oven."]
    assert Announcer(book, None).due(now) == []              # announced exactly once
    late = Announcer(book, None).due(now + 3600 + 600)
    assert late[0].startswith("While I was away") and "1 hour timer is done" in late[0]


def test_cancel_reminders_by_words_or_all(tmp_path):
    book = ReminderBook(tmp_path / "r.json")
    book.add("reminder", "check the oven", time.time() + 60)
    book.add("reminder", "call the bank", time.time() + 60)
    assert [r.message for r in book.cancel("oven")] == ["check the oven"]
    assert book.cancel("dentist") == []
    assert [r.message for r in book.cancel("all")] == ["call the bank"]
    assert book.pending() == []


def test_a_malformed_doc_is_one_clear_error(tmp_path):
    doc = tmp_path / "bad.md"
    doc.write_text("---\nname: bad\nparameters:\n  type: object\n  properties: {x: {type: nonsense}}\n---\n# Bad\n")
    with pytest.raises(SkillDocError, match="not a valid JSON schema") as e:
        read_doc(doc)
    assert "\n" not in str(e.value) and str(doc) in str(e.value)
    doc.write_text("---\nname: bad\nneeds: [shell]\n---\n")
    with pytest.raises(SkillDocError, match="needs 'shell' is not an API"):
        read_doc(doc)


def test_handlers_reach_only_the_apis_they_declare():
    services = Services(clock="CLOCK", reminders="REMINDERS", memory="MEMORY", settings="SETTINGS", skills="SKILLS")
    ctx = SkillContext("calculator", services, ("clock",))
    assert ctx.clock == "CLOCK"
    with pytest.raises(PermissionError, match="needs: \\[memory\\]"):
        ctx.memory


def test_runner_turns_raise_and_hang_into_results():
    def boom(args, ctx):
        raise RuntimeError("kaput")

    def hang(args, ctx):
        time.sleep(5)

    assert run_with_timeout("x", lambda a, c: "fine", {}, None, 1).status == "ok"
    assert run_with_timeout("x", boom, {}, None, 1).status == "error"
    started = time.monotonic()
    assert run_with_timeout("x", hang, {}, None, 0.3).status == "timeout"
    assert time.monotonic() - started < 1.0
    assert run_with_timeout("x", lambda a, c: None, {}, None, 1).status == "error"   # no sentence to say


def test_no_skill_code_can_run_text_as_code_or_shell():
    """Model output is data: nothing on the skill path evaluates or executes text."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("skills/**/*.py"), root / "assistant" / "engine.py", root / "assistant" / "config_edit.py"]
    forbidden = re.compile(r"(?<![.\w])(eval|exec|compile)\(|\bsubprocess\b|os\.system|os\.popen|shell=True|pickle\.loads")
    found = [f"{p.relative_to(root)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
             if forbidden.search(line) and not line.lstrip().startswith("#")]
    assert found == []
