"""No speaker, no microphone: every voice path runs, reports what it could not play, and
never crashes the voice thread; a reminder is done only once it was delivered.

The daemon is a real process pointed at devices that do not exist, so it falls back to
its silent source and sink exactly as on a headless machine.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from assistant.client import Client
from audio.wavio import write_wav
from skills.reminders import ReminderBook
from tests.conftest import TEST_DATA, run_cli
from tests.test_daemon import DaemonProcess, wait_for

SPEECH = TEST_DATA / "speech" / "coqui_lj_LJ001-0002.wav"


@pytest.fixture(scope="module")
def deaf_daemon(tmp_path_factory):
    home = tmp_path_factory.mktemp("no-audio") / "home"
    for key, value in (("audio.output_device", "no-such-speaker"), ("audio.input_device", "no-such-mic"),
                       ("audio.listen_mode", "conversation")):
        assert run_cli("config", "set", key, value, home=home).returncode == 0
    d = DaemonProcess(home).wait_ready()
    yield d
    d.stop()


def _one_line_error(result, *needles: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _events(d, into: list, stop: threading.Event) -> threading.Thread:
    def watch():
        with Client(d.socket, timeout=60) as c:
            try:
                for event in c.events():
                    into.append(event)
                    if stop.is_set():
                        return
            except Exception:
                return
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    time.sleep(0.3)
    return t


def test_say_and_ask_with_speak_report_what_could_not_be_played(deaf_daemon):
    d = deaf_daemon
    status = d.call("status")
    assert status["speaker"] is False and status["input"] == "(no microphone)"
    _one_line_error(run_cli("say", "hello", home=d.home), "nothing was played", "audio.output_device")
    asked = run_cli("ask", "--speak", "what is two plus two", home=d.home)
    _one_line_error(asked, "nothing was played")
    assert asked.stdout.strip()                       # the reply itself is still given
    assert d.proc.poll() is None and d.call("ping") == "pong"


def test_a_reminder_with_no_speaker_is_delivered_another_way_then_done(deaf_daemon):
    d = deaf_daemon
    events: list = []
    stop = threading.Event()
    _events(d, events, stop)
    book = ReminderBook(d.home / "data" / "reminders.json")
    reminder = book.add("reminder", "stretch", time.time() + 1.0)
    wait_for(lambda: any(e.get("event") == "announcement" for e in events), 30, "the announcement event")
    stop.set()
    said = next(e["data"] for e in events if e.get("event") == "announcement")
    assert said == {"text": "Here is your reminder: stretch.", "heard": False}
    [done] = [r for r in book.all() if r.id == reminder.id]
    assert done.status == "done" and done.announced
    assert "reminder not heard (no speaker)" in (d.home / "logs" / "assistant.log").read_text()


def test_voice_turns_and_a_barge_in_without_devices(deaf_daemon):
    """A recording heard through the silent microphone: a whole voice turn, its reply
    reported unplayed; `stop` (the barge-in of the socket) cuts nothing it cannot."""
    d = deaf_daemon
    events: list = []
    stop = threading.Event()
    _events(d, events, stop)
    before = d.call("status")["voice_turns"]
    d.call("hear", wav=str(SPEECH))
    assert d.call("stop") == {"stopped": True}
    wait_for(lambda: d.call("status")["voice_turns"] > before, 120, "the voice turn")
    # heard again the moment that turn ends: with no speaker there is no echo to gate,
    # so nothing of it is dropped (it once was, while the unplayed reply "rang" on)
    d.call("hear", wav=str(SPEECH))
    wait_for(lambda: d.call("status")["voice_turns"] > before + 1, 120, "the second voice turn")
    stop.set()
    assert any(e.get("event") == "turn" for e in events)
    log = (d.home / "logs" / "assistant.log").read_text()
    assert "Traceback" not in log and "speech failed" not in log and "voice loop failed" not in log
    assert d.proc.poll() is None and d.call("status")["state"] in ("idle", "thinking", "listening", "speaking")


def test_a_reminder_cut_short_stays_due(runtime, tmp_path):
    """A barge-in over a reminder: not heard in full, so it is not done. The sink cutting
    playback stands for the user talking over it (a fault made here on purpose)."""
    from audio.capture import FileSource
    from audio.playback import WavSink
    from assistant.voice_loop import VoiceLoop

    class CutSink(WavSink):
        def write(self, samples):
            super().write(samples[: len(samples) // 3])
            return len(samples) // 3

    silence = tmp_path / "silence.wav"
    write_wav(silence, np.zeros(16000 * 3, np.float32), 16000)
    r = runtime.reminders.add("reminder", "call the bank", time.time() - 1)
    heard: list[str] = []
    loop = VoiceLoop(runtime, FileSource(silence), CutSink(tmp_path / "out.wav", runtime.tts.sample_rate),
                     on_announcement=heard.append)
    loop.run()
    [kept] = [x for x in runtime.reminders.all() if x.id == r.id]
    assert heard == [] and kept.status == "pending" and kept.held_until > time.time()
    runtime.reminders.cancel(r.id)


def test_replies_of_a_voice_turn_are_stored_once_and_in_order(own_runtime, tmp_path):
    """Two turns from a recording, a skill's reply among them: memory holds the
    conversation exactly once, in order (seq and time), however late a reply is stored."""
    from audio.capture import FileSource
    from audio.playback import WavSink
    from assistant.voice_loop import VoiceLoop
    from tests.test_stt import _steady_voice
    gap = np.zeros(16000 * 2, np.float32)
    audio = np.concatenate([_steady_voice(own_runtime, "What is seven times six?", 1.0), gap,
                            _steady_voice(own_runtime, "Tell me a short fact about the moon.", 1.0), gap])
    wav = tmp_path / "two.wav"
    write_wav(wav, audio, 16000)
    engine = own_runtime.engine
    session, first = engine.session_id, engine._seq
    loop = VoiceLoop(own_runtime, FileSource(wav), WavSink(tmp_path / "o.wav", own_runtime.tts.sample_rate))
    loop.listen_mode = "conversation"
    assert loop.run() == 2
    rows = sorted((m for m in own_runtime.store.recent(1000) if m.session_id == session and m.seq >= first),
                  key=lambda m: m.seq)
    shown = [(m.seq, m.role, m.text) for m in rows]
    assert [m.role for m in rows] == ["user", "assistant", "user", "assistant"], shown
    assert [m.seq for m in rows] == list(range(first, first + 4)), shown
    assert [m.ts for m in rows] == sorted(m.ts for m in rows), shown
    assert "times" in rows[0].text.lower() and "moon" in rows[2].text.lower(), shown
