"""Generated bad input for every CLI command and control-socket command (Hypothesis).

Whatever a user or a client sends — empty, huge, binary or non-UTF-8 text, odd paths
(a file as home, /proc, a directory as a file), bad numbers — nothing prints a
traceback, every failure is one line with a non-zero exit (or one error reply on the
socket, the daemon still answering), and a refused command leaves memory, the config
file and the reminders as they were.

Runtime is kept bounded: few examples per command, derandomized (the same cases every
run), and only inputs that fail before a model is asked for a reply; the daemon is
started once for the module.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from benchmarks.soak import raw_exchange
from tests.conftest import REPO

# No shrinking: a failing case is reported as generated (each case runs real processes).
CASES = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))

# -- inputs ---------------------------------------------------------------------------
EMPTY = st.sampled_from(["", " ", "\n\t  "])
HUGE = st.integers(4001, 60000).map(lambda n: ("what is the weather on the moon? " * (n // 33 + 1))[:n])
NOT_UTF8 = st.binary(max_size=40).map(lambda b: b + b"\xff\xfe")       # never valid UTF-8
ANY_BYTES = st.binary(min_size=1, max_size=60).filter(lambda b: b"\x00" not in b)
BAD_TEXT = st.one_of(EMPTY, HUGE, NOT_UTF8)                             # refused before any model
BAD_NUMBER = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "", "½", "--", "3.5.1", "-0"]),
                       st.integers(-10**15, 10**15).map(str), st.floats(allow_nan=True).map(repr))
WORDS = st.one_of(st.text(max_size=30).filter(lambda s: "\x00" not in s), NOT_UTF8, EMPTY)


def odd_paths(base: Path) -> st.SearchStrategy:
    a_file = base / "a-file"
    a_file.write_bytes(b"\x00\xffnot audio, not toml, not jsonl\n" * 8)
    a_dir = base / "a-dir"
    a_dir.mkdir(exist_ok=True)
    return st.sampled_from([str(a_file), str(a_dir), "/proc/x", "/proc/self/status", "/dev/null",
                            str(base / "missing" / "deeper" / "x.wav"), "", str(base / "a-file" / "under")])


def _arg(value) -> bytes | str:
    return value if isinstance(value, bytes) else str(value)


def run(home: Path, *args) -> subprocess.CompletedProcess:
    """The real CLI; arguments may be bytes (non-UTF-8, as a shell can pass them)."""
    cmd = [sys.executable.encode(), b"-m", b"assistant", b"--home", os.fsencode(home), b"-q",
           *(os.fsencode(a) if isinstance(a, str) else a for a in map(_arg, args))]
    return subprocess.run(cmd, capture_output=True, timeout=300, cwd=REPO)


def assert_kept_promise(result: subprocess.CompletedProcess, json_mode: bool = False) -> None:
    out = result.stdout.decode("utf-8", "replace")
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in out + err, err
    if result.returncode == 0:
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(("error: ", "config error: ")), lines[0]
    assert result.returncode != 70, lines[0]              # 70: a bug the guard caught
    if json_mode:
        assert "error" in json.loads(out.splitlines()[-1]), out


def snapshot(home: Path) -> tuple:
    """Memory, config and reminders: a refused command changes none of them."""
    listed = run(home, "--json", "memory", "list", "-n", "1000")
    assert listed.returncode == 0, listed.stderr
    rows = sorted((m["id"], m["text"], m["superseded_by"]) for m in json.loads(listed.stdout))
    files = tuple((home / p).read_bytes() if (home / p).exists() else None
                  for p in ("config.toml", "data/reminders.json"))
    return rows, files


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    for fact in ("my sister's name is Anna", "the car is parked on level 3"):
        assert run(home, "memory", "add", fact).returncode == 0
    assert run(home, "config", "set", "tts.speed", "1.1").returncode == 0
    return home


# -- the command line ---------------------------------------------------------------------

def test_cli_commands_refuse_bad_text_in_one_line(home):
    before = snapshot(home)

    @CASES
    @given(command=st.sampled_from([("ask",), ("say",), ("memory", "add"), ("--json", "ask")]), text=BAD_TEXT)
    def check(command, text):
        result = run(home, *command, text)
        assert result.returncode != 0
        assert_kept_promise(result, json_mode="--json" in command)
    check()
    assert snapshot(home) == before


def test_cli_commands_survive_bad_numbers_words_and_ids(home):
    before = snapshot(home)

    @CASES
    @given(number=BAD_NUMBER, words=WORDS, ids=st.lists(st.one_of(WORDS, ANY_BYTES), min_size=1, max_size=3))
    def check(number, words, ids):
        assert_kept_promise(run(home, "memory", "list", "-n", number))
        assert_kept_promise(run(home, "memory", "forget", *ids))
        assert_kept_promise(run(home, "memory", "forget", "--dry-run", "--query", words or "x"))
        assert_kept_promise(run(home, "reminders", "cancel", words))
        assert_kept_promise(run(home, "config", "get", words))
    check()
    assert snapshot(home) == before


def test_config_set_refuses_bad_keys_and_values_without_writing(home):
    @CASES
    @given(key=st.one_of(st.sampled_from(["tts.speed", "audio.listen_mode", "llm.context_tokens",
                                          "stt.hotwords", "memory.profile", "tts"]), WORDS),
           value=st.one_of(BAD_NUMBER, WORDS, HUGE))
    def check(key, value):
        before = snapshot(home)[1]
        result = run(home, "config", "set", key, value)
        assert_kept_promise(result)
        if result.returncode != 0:
            assert snapshot(home)[1] == before
        else:
            assert run(home, "config", "unset", key).returncode == 0   # back for the next case
    check()


def test_odd_paths_are_one_line_each(home, tmp_path):
    paths = odd_paths(tmp_path)
    before = snapshot(home)

    @CASES
    @given(path=paths, other=paths)
    def check(path, other):
        for result in (run(path or "/proc/x", "memory", "list"),
                       run(home, "--config", path, "config", "show"),
                       run(home, "--config", path, "--json", "config", "get", "tts.speed"),
                       run(home, "transcribe", path),
                       run(home, "run", "--input", path, "--output", other or str(tmp_path / "o.wav")),
                       run(home, "memory", "import", path)):
            assert_kept_promise(result)
    check()
    assert snapshot(home) == before


# -- the control socket -------------------------------------------------------------------

SAFE_COMMANDS = ["ping", "status", "say", "listen", "mute", "unmute", "stop", "mode",
                 "memory.search", "nonsense", "", "subscribe\x00", "shutdown "]
JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                          max_leaves=6)


def _refused_text_args():
    """``args`` for ask/say that must be refused before any reply is written."""
    text = st.one_of(EMPTY, HUGE, st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))
    return st.fixed_dictionaries({"text": text}, optional={"speak": JSON_VALUE, "output": JSON_VALUE})


LINES = st.one_of(
    ANY_BYTES.map(lambda b: b.replace(b"\n", b" ") + b"\n"),
    st.builds(lambda cmd, args, v: json.dumps({"v": v, "cmd": cmd, "args": args}).encode() + b"\n",
              st.sampled_from(SAFE_COMMANDS), st.one_of(JSON_VALUE, st.dictionaries(st.text(max_size=6), JSON_VALUE)),
              st.one_of(st.just(1), JSON_VALUE)),
    st.builds(lambda cmd, args: json.dumps({"v": 1, "cmd": cmd, "args": args}).encode() + b"\n",
              st.sampled_from(["ask", "say"]), _refused_text_args()),
    st.builds(lambda k: json.dumps({"v": 1, "cmd": "memory.search", "args": {"query": "anna", "k": k}}).encode()
              + b"\n", JSON_VALUE),
    st.integers(65 * 1024, 200 * 1024).map(lambda n: b"x" * n + b"\n"),
)


@pytest.fixture(scope="module")
def quiet_daemon(tmp_path_factory):
    """A daemon on devices that do not exist: no microphone, no speaker."""
    from tests.test_daemon import DaemonProcess
    home = tmp_path_factory.mktemp("hostile-daemon") / "home"
    assert run(home, "memory", "add", "my sister's name is Anna").returncode == 0
    assert run(home, "config", "set", "audio.output_device", "no-such-speaker").returncode == 0
    assert run(home, "config", "set", "audio.input_device", "no-such-mic").returncode == 0
    d = DaemonProcess(home).wait_ready()
    yield d
    d.stop()


def test_control_socket_answers_every_bad_message_in_one_line(quiet_daemon):
    d = quiet_daemon
    before = sorted(h["id"] for h in d.call("memory.search", query="sister", k=100))

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))
    @given(line=LINES)
    def check(line):
        replies = raw_exchange(d.socket, line)
        assert len(replies) == (0 if not line.strip() else 1), replies
        reply = replies[0]
        if not reply["ok"]:
            assert isinstance(reply["error"], str) and "\n" not in reply["error"] and reply["error"]
            assert "Traceback" not in reply["error"]
        assert d.call("ping") == "pong"
    check()
    assert d.proc.poll() is None
    assert sorted(h["id"] for h in d.call("memory.search", query="sister", k=100)) == before
    assert "Traceback" not in d.err.read_text()
