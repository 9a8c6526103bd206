"""The live path: real sounddevice streams on PulseAudio's virtual mic and speaker.

A real recording is played into the virtual microphone with paplay; the assistant's
speaker is recorded from its monitor with parec and transcribed back.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from audio.wavio import read_audio
from tests.conftest import REPO, TEST_DATA


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_spoken_reply_comes_out_of_the_speaker(pulse, runtime, tmp_path):
    env = {**os.environ, "PULSE_SOURCE": "vmic", "PULSE_SINK": "spk"}
    out_log, err_log = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
    heard = tmp_path / "speaker.wav"
    with open(out_log, "w") as out, open(err_log, "w") as err:
        daemon = subprocess.Popen([sys.executable, "-m", "assistant", "--home", str(tmp_path / "home"),
                                   "--json", "run", "--listen-mode", "conversation"], stdout=out, stderr=err, cwd=REPO, env=env)
    recorder = subprocess.Popen(["parec", "-d", "spk.monitor", "--rate=16000", "--channels=1",
                                 "--format=s16le", "--file-format=wav", str(heard)], env=env)
    try:
        wait_for(lambda: "listening" in err_log.read_text() or daemon.poll() is not None, 180, "the mic to open")
        assert daemon.poll() is None, err_log.read_text()
        time.sleep(0.5)
        subprocess.run(["paplay", "--device=mic", str(TEST_DATA / "speech" / "lhotse_ami_ES2011a_40-46s.wav")],
                       check=True, env=env, timeout=60)
        wait_for(lambda: out_log.read_text().strip() != "", 120, "a turn")
        time.sleep(2.0)                     # the speaker's buffer drains into the monitor
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        finally:
            recorder.terminate()
            recorder.wait(timeout=10)
    assert daemon.returncode == 0, err_log.read_text()
    [turn] = [json.loads(line) for line in out_log.read_text().splitlines()]
    assert "abigail" in turn["transcript"].lower()
    assert turn["reply"]
    said = runtime.stt.transcribe(read_audio(heard)).text
    reply_words = {w.strip(".,!?'").lower() for w in turn["reply"].split()}
    said_words = {w.strip(".,!?'").lower() for w in said.split()}
    assert len([w for w in said_words if w.isalpha()]) >= 2, (turn["reply"], said)
    assert reply_words & said_words, (turn["reply"], said)
