"""The real wyoming-satellite program (its own venv: it pins wyoming==1.4.1) as a room of the
daemon: a spoken question goes in through its --mic-command, the answer comes out of its
--snd-command; the satellite killed mid-reply, the daemon goes on and reconnects."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio.wavio import read_audio, resample, to_int16, write_wav
from tests.conftest import REPO, run_cli
from tests.test_daemon import DaemonProcess
from tests.wyoming_helpers import wait_for

SATELLITE_PIN = "wyoming-satellite==1.0.0"
SND_RATE = 22050
# Answered in "conversation" mode: in "wake" mode a follow-up keeps the name in the request
# ("Juniper, what is …"), which then misses the calculator skill (a voice-loop matter).
QUESTION = "What is twelve times seven?"


@pytest.fixture(scope="session")
def satellite_python() -> Path:
    """WYOMING_SATELLITE_PYTHON, else a venv made once under ~/.cache (about 10 s from the index)."""
    given = os.environ.get("WYOMING_SATELLITE_PYTHON")
    if given:
        return Path(given)
    venv = Path.home() / ".cache" / "assistant-test" / "wyoming-satellite-1.0.0"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "-q", SATELLITE_PIN],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"cannot install {SATELLITE_PIN} into {venv}: {result.stderr[-300:]}")
        (venv / ".complete").touch()
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Satellite:
    def __init__(self, python: Path, port: int, question: Path, out: Path) -> None:
        self.out = out
        mic = f"{sys.executable} {REPO / 'tests' / 'satellite_mic.py'} {question} 6"
        snd = f"sh -c 'cat >> {out}'"
        self.heard = out.with_suffix(".transcripts")
        said = f"sh -c 'cat >> {self.heard}; echo >> {self.heard}'"
        self.proc = subprocess.Popen(
            [str(python), "-m", "wyoming_satellite", "--name", "kitchen satellite", "--area", "Kitchen",
             "--uri", f"tcp://127.0.0.1:{port}", "--mic-command", mic, "--snd-command", snd,
             "--transcript-command", said,
             "--snd-command-rate", str(SND_RATE), "--no-zeroconf"],
            stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "w"), start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)      # the satellite and its mic and snd commands
        self.proc.wait(10)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _answer(out: Path, timeout: float = 240) -> np.ndarray:
    """The first reply heard: audio that then stays quiet for 2.5 s."""
    wait_for(lambda: _size(out) > SND_RATE, timeout, "the satellite to play an answer")
    last, still = _size(out), time.monotonic()
    while time.monotonic() - still < 2.5:
        time.sleep(0.2)
        if _size(out) != last:
            last, still = _size(out), time.monotonic()
    return np.frombuffer(out.read_bytes()[: last // 2 * 2], dtype="<i2")


def _heard(tmp: Path, audio: np.ndarray, home: Path) -> str:
    wav = tmp / "heard.wav"
    write_wav(wav, audio, SND_RATE)
    result = run_cli("transcribe", str(wav), home=home, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def room(tmp_path_factory, satellite_python):
    tmp = tmp_path_factory.mktemp("satellite")
    question = tmp / "question.raw"
    made = run_cli("say", QUESTION, "--output", str(tmp / "question.wav"), home=tmp / "voice", timeout=120)
    assert made.returncode == 0, made.stderr
    question.write_bytes(to_int16(read_audio(tmp / "question.wav")).astype("<i2").tobytes())   # 16 kHz
    port = free_port()
    home = tmp / "home"
    home.mkdir()
    serve, dead = free_port(), free_port()            # dead: nothing ever listens there
    blackhole = socket.socket()                        # accepts connections (backlog), never answers
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(8)
    hole = blackhole.getsockname()[1]
    (home / "config.toml").write_text(f'[wyoming]\nsatellites = ["tcp://127.0.0.1:{port}", '
                                      f'"tcp://127.0.0.1:{dead}", "tcp://127.0.0.1:{hole}"]\n'
                                      f'uri = "tcp://127.0.0.1:{serve}"\nzeroconf = false\n'
                                      '[audio]\nlisten_mode = "conversation"\n')
    daemon = DaemonProcess(home).wait_ready()
    daemon.wyoming_port = serve
    yield tmp, port, question, daemon, satellite_python
    daemon.stop()
    blackhole.close()


def test_the_daemon_serves_home_assistant_and_remembers_what_it_was_told(room):
    from wyoming.asr import Transcript
    from wyoming.client import AsyncTcpClient

    from tests.wyoming_helpers import read_until, run
    daemon = room[3]

    async def tell():
        async with AsyncTcpClient("127.0.0.1", daemon.wyoming_port) as c:
            await c.write_event(Transcript(text="Remember that the spare key is under the blue flowerpot.",
                                           context={"conversation_id": "ha-1"}).event())
            return (await read_until(c, {"handled", "not-handled"}, timeout=180))[-1]
    assert run(tell()).type == "handled"
    status = daemon.call("status")
    assert status["wyoming"]["uri"] == f"tcp://127.0.0.1:{daemon.wyoming_port}"
    reply = daemon.call("ask", text="Where is the spare key?")["reply"]      # the desktop's own session
    assert "flowerpot" in reply.lower() or "flower pot" in reply.lower(), reply


def test_a_question_through_the_satellite_is_answered_aloud_on_it(room):
    tmp, port, question, daemon, python = room
    out = tmp / "answer1.raw"
    satellite = Satellite(python, port, question, out)
    try:
        heard = _heard(tmp, _answer(out), daemon.home)
        assert "84" in heard or "eighty-four" in heard.lower() or "eighty four" in heard.lower(), heard
        wait_for(satellite.heard.exists, 30, "the satellite to be told the transcript")
        assert "twelve times seven" in satellite.heard.read_text().lower() or "12" in satellite.heard.read_text()
        kitchen, dead, hole = daemon.call("status")["satellites"]
        assert kitchen["connected"] and kitchen["room"] == "Kitchen" and kitchen["turns"] >= 1
        # the other two never stalled it: one refuses connections, one never answers
        assert not dead["connected"] and "Connect" in dead["last_error"] and dead["turns"] == 0
        assert hole["turns"] == 0
    finally:
        satellite.kill()


def test_a_satellite_killed_mid_reply_comes_back_and_is_answered_again(room):
    tmp, port, question, daemon, python = room
    out = tmp / "answer2.raw"
    satellite = Satellite(python, port, question, out)
    wait_for(lambda: _size(out) > 0, 240, "the reply to start")
    satellite.kill()                                  # mid-reply: the sink stops where it went away
    assert _size(out) < 3 * SND_RATE * 2              # less than the whole answer reached it
    wait_for(lambda: not daemon.call("status")["satellites"][0]["connected"], 15, "the link to drop")
    assert daemon.call("ping") == "pong"              # the daemon goes on
    connects = daemon.call("status")["satellites"][0]["connects"]
    out3 = tmp / "answer3.raw"
    satellite = Satellite(python, port, question, out3)
    try:
        wait_for(lambda: daemon.call("status")["satellites"][0]["connects"] > connects, 30, "a reconnection")
        heard = _heard(tmp, _answer(out3), daemon.home)
        if "84" not in heard and "eighty" not in heard.lower():
            # The mic command loops the recording from when the satellite starts, so after a
            # reconnection the first request heard can be cut ("...times seven?") and answered
            # with a question back; the next loop asks it whole.
            first = _size(out3)
            wait_for(lambda: _size(out3) > first + SND_RATE, 240, "the next answer")
            heard = _heard(tmp, _answer(out3), daemon.home)
        assert "84" in heard or "eighty" in heard.lower(), heard
    finally:
        satellite.kill()
