"""Natural conversation: endpointing, wake phrase, noise, barge-in and self-hearing."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.client import Client
from audio.vad import Endpointer, Pause, Utterance, frames_of
from audio.wavio import SAMPLE_RATE, read_audio, resample, to_int16, write_wav
from tests.conftest import SHARED_SPEECH, TEST_DATA, read_manifest
from tests.test_daemon import DaemonProcess, wait_for
from tests.textnorm import word_errors


def synth(runtime, text: str) -> np.ndarray:
    tts = runtime.tts
    return resample(tts.synthesize(text).astype(np.float32) / 32768, tts.sample_rate)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


# -- endpointing ------------------------------------------------------------------------

def test_pause_then_early_end_when_nobody_spoke_since(runtime):
    audio = to_int16(np.concatenate([silence(0.5), read_audio(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav"),
                                     silence(1.0)]))
    ep = Endpointer(runtime.cfg.vad, speculative_ms=runtime.cfg.vad.speculative_ms)
    events = []
    for frame in frames_of(audio, ep.frame_samples):
        event = ep.feed(frame)
        if isinstance(event, Pause):
            ep.end_now(event.utterance_id, event.voiced_ms)   # as the STT worker does
        if event is not None:
            events.append((event, ep._pos_s))
    # A pause inside the clip may come first: speech resumed, so its end request was void.
    (utt, t_end) = events[-1]
    pause, t_pause = next((e, t) for e, t in reversed(events) if isinstance(e, Pause))
    assert sum(isinstance(e, Utterance) for e, _ in events) == 1
    assert isinstance(pause, Pause) and isinstance(utt, Utterance) and utt.id == pause.utterance_id
    assert utt.voiced_ms == pause.voiced_ms
    waited = t_end - t_pause + runtime.cfg.vad.speculative_ms / 1000      # silence before the end
    assert runtime.cfg.vad.early_end_ms / 1000 <= waited + 0.03           # not before early_end_ms,
    assert waited < runtime.cfg.vad.trailing_silence_ms / 1000 - 0.1      # nor the full trailing silence
    assert runtime.stt.transcribe(pause.audio).text.lower().startswith("has never been surpassed")


def test_end_now_is_ignored_when_speech_resumes(runtime):
    clip = read_audio(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav")
    # The clip ends in ~0.2 s of its own silence: with 0.1 s more the pause is ~0.3 s.
    audio = to_int16(np.concatenate([silence(0.5), clip, silence(0.1), clip, silence(1.0)]))
    ep = Endpointer(runtime.cfg.vad, speculative_ms=210)
    pauses, utterances = [], []
    for frame in frames_of(audio, ep.frame_samples):
        event = ep.feed(frame)
        if isinstance(event, Pause):
            pauses.append(event)
            if len(pauses) == 1:
                ep.end_now(event.utterance_id, event.voiced_ms)
        elif event is not None:
            utterances.append(event)
    # The ~0.3 s pause is shorter than early_end_ms: speech resumed, so the request was void.
    assert len(pauses) >= 2 and len(utterances) == 1
    assert utterances[0].duration_s > 2 * len(clip) / SAMPLE_RATE * 0.9


def test_checkpoints_report_the_words_so_far_while_speech_goes_on(runtime):
    """Every checkpoint_ms of speech a Pause marked checkpoint carries the audio so far
    (transcribed and read into the LLM before the user stops); the utterance is unchanged."""
    clip = read_audio(TEST_DATA / "speech" / "coqui_lj_LJ001-0008.wav")
    audio = to_int16(np.concatenate([silence(0.5), clip, silence(1.0)]))
    plain, checked = Endpointer(runtime.cfg.vad), Endpointer(runtime.cfg.vad, checkpoint_ms=300)
    ends, checkpoints = [], []
    for frame in frames_of(audio, plain.frame_samples):
        for ep, events in ((plain, ends), (checked, checkpoints)):
            event = ep.feed(frame)
            if event is not None:
                events.append(event)
    marks = [e for e in checkpoints if isinstance(e, Pause)]
    assert marks and all(m.checkpoint for m in marks)
    assert [m.voiced_ms for m in marks] == sorted({m.voiced_ms for m in marks})   # growing, one per step
    assert len(marks) >= 2 and all(b.voiced_ms - a.voiced_ms >= 300 for a, b in zip(marks, marks[1:]))
    assert len(marks[-1].audio) > len(marks[0].audio)
    utterance = next(e for e in checkpoints if isinstance(e, Utterance))
    assert np.array_equal(utterance.audio, next(e for e in ends if isinstance(e, Utterance)).audio)
    words = runtime.stt.transcribe(marks[-1].audio).text.lower()
    assert words.startswith("has never been")                  # the words so far, recognisable


def _segment(runtime, audio: np.ndarray) -> list[str]:
    ep = Endpointer(runtime.cfg.vad)
    texts = []
    chunks = list(frames_of(to_int16(np.concatenate([audio, silence(1.0)])), ep.frame_samples))
    for frame in chunks:
        utt = ep.feed(frame)
        if isinstance(utt, Utterance):
            t = runtime.stt.transcribe(utt.audio)
            if t.accepted:
                texts.append(t.text)
    return texts


def _long_recordings(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The shared clean/bike-noise pair, or the same kind of pair built from tests/data."""
    long_dir = SHARED_SPEECH / "long"
    if (long_dir / "dev_concat_bike_snr10.wav").exists():
        import csv
        with open(long_dir / "dev_concat_segments.tsv") as f:
            refs = [row["transcript"] for row in csv.DictReader(f, delimiter="\t")]
        return read_audio(long_dir / "dev_concat_clean.wav"), read_audio(long_dir / "dev_concat_bike_snr10.wav"), refs
    clips = read_manifest(TEST_DATA / "manifest.tsv")
    parts = []
    for c in clips:
        parts += [silence(1.5), read_audio(c.path)]
    clean = np.concatenate(parts + [silence(1.0)])
    noise = read_audio(TEST_DATA / "noise" / "pra_sc_exercise_bike_20s.wav")
    noise = np.tile(noise, int(np.ceil(len(clean) / len(noise))))[:len(clean)]
    gain = np.sqrt(np.mean(clean[clean != 0] ** 2) / np.mean(noise ** 2) / 10 ** (10 / 10))
    return clean, clean + gain * noise, [c.transcript for c in clips]


def test_long_noisy_recording_is_cut_into_the_right_turns(runtime, tmp_path):
    clean, noisy, refs = _long_recordings(tmp_path)
    wers = {}
    for name, audio in (("clean", clean), ("noisy", noisy)):
        texts = _segment(runtime, audio)
        assert abs(len(texts) - len(refs)) <= 1, (name, texts)
        errors, words = word_errors(" ".join(refs), " ".join(texts))
        wers[name] = errors / words
    print(f"WER clean {wers['clean']:.3f}, bike noise 10 dB {wers['noisy']:.3f}")
    assert wers["noisy"] <= wers["clean"] + 0.10, wers   # tiny.en itself: 18% on oracle cuts


def test_every_noise_file_yields_zero_turns(cli, noise_files, tmp_path):
    for path in noise_files:
        metrics = tmp_path / f"{path.stem}.jsonl"
        result = cli("run", "--input", str(path), "--output", str(tmp_path / "o.wav"), "--metrics", str(metrics))
        assert result.returncode == 0, result.stderr
        assert metrics.read_text() == "", path.name


# -- listening modes --------------------------------------------------------------------

def test_wake_mode_ignores_speech_without_the_name_and_answers_with_it(cli, runtime, tmp_path):
    stranger = read_audio(TEST_DATA / "speech" / "lhotse_ami_ES2011a_40-46s.wav")     # no wake phrase
    addressed = synth(runtime, "Juniper, what is the capital of France?")
    wav, metrics = tmp_path / "wake.wav", tmp_path / "turns.jsonl"
    write_wav(wav, np.concatenate([silence(0.5), stranger, silence(2.0), addressed, silence(1.0)]), SAMPLE_RATE)
    result = cli("run", "--input", str(wav), "--output", str(tmp_path / "o.wav"), "--metrics", str(metrics),
                 "--listen-mode", "wake")
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert len(turns) == 1, turns
    assert "france" in turns[0]["transcript"].lower() and "juniper" not in turns[0]["transcript"].lower()
    assert "paris" in turns[0]["reply"].lower()


# -- live audio: barge-in and self-hearing --------------------------------------------

def _speaker_energy(path: Path, frame_s: float = 0.05) -> np.ndarray:
    audio = read_audio(path)
    n = int(frame_s * SAMPLE_RATE)
    frames = audio[:len(audio) // n * n].reshape(-1, n)
    return np.sqrt((frames ** 2).mean(axis=1))


def test_barge_in_stops_playback_and_memory_keeps_the_cut_reply(pulse, runtime, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[audio]\necho_handling = "none"\nlisten_mode = "conversation"\n'
                                      '[llm]\nmax_reply_tokens = 400\n')
    question = tmp_path / "q.wav"
    write_wav(question, np.concatenate([synth(runtime, "Tell me a long story about a dragon who lived "
                                                      "in a lighthouse by the sea."), silence(0.2)]), SAMPLE_RATE)
    interruption = TEST_DATA / "speech" / "coqui_lj_LJ001-0004.wav"
    heard = tmp_path / "speaker.wav"
    daemon = DaemonProcess(home).wait_ready()
    states: list[tuple[float, str]] = []

    def watch():
        try:
            with Client(daemon.socket, timeout=300) as c:
                for event in c.events():
                    if event.get("event") == "state":
                        states.append((time.monotonic(), event["data"]["state"]))
        except Exception:  # noqa: BLE001 - the daemon stops at the end of the test
            pass
    threading.Thread(target=watch, daemon=True).start()
    recorder = subprocess.Popen(["parec", "-d", "spk.monitor", "--rate=16000", "--channels=1",
                                 "--format=s16le", "--file-format=wav", "--latency-msec=20", str(heard)])
    try:
        subprocess.run(["paplay", "--device=mic", str(question)], check=True, timeout=60)
        wait_for(lambda: any(s == "speaking" for _, s in states), 120, "the reply to start")
        time.sleep(1.5)
        barge_started = time.monotonic()
        subprocess.run(["paplay", "--device=mic", str(interruption)], check=True, timeout=60)
        status = wait_for(lambda: (s := daemon.call("status"))["barge_ins"] >= 1 and s, 30, "a barge-in")
        time.sleep(2.0)
    finally:
        recorder.terminate()
        recorder.wait(10)
        found = daemon.call("memory.search", query="dragon lighthouse story", k=10)
        daemon.stop()
    # Playback stopped while the interruption was still being spoken (its clip is 5 s):
    # the "speaking" state ended well before the clip did.
    stop_times = [t for t, s in states if t > barge_started and s != "speaking"]
    assert stop_times and stop_times[0] - barge_started < 3.0, states   # clip onset + 240 ms of speech, loaded CPU
    assert status["barge_in_stop_ms"] is not None and status["barge_in_stop_ms"] <= 250, status
    replies = [m for m in found if m["role"] == "assistant"]
    assert any(m["text"].endswith("[interrupted]") for m in replies), found
    energy = _speaker_energy(heard)
    assert energy.max() > 0.01                              # the reply was really heard


def test_own_voice_looped_into_the_mic_never_starts_a_turn(pulse, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[audio]\nlisten_mode = "conversation"\n')   # echo_handling: gate
    module = subprocess.run(["pactl", "load-module", "module-loopback", "source=spk.monitor", "sink=mic",
                             "latency_msec=30"], capture_output=True, text=True, check=True).stdout.strip()
    daemon = DaemonProcess(home).wait_ready()
    try:
        daemon.call("say", text="I am talking to myself now. Nobody should answer this sentence. "
                                "What is the capital of Spain? Tell me about the moon.")
        wait_for(lambda: daemon.call("status")["state"] == "speaking", 60, "speech")
        wait_for(lambda: daemon.call("status")["state"] == "idle", 120, "the end of speech")
        time.sleep(2.0)
        status = daemon.call("status")
        assert status["turns"] == 0 and status["state"] == "idle", status
    finally:
        daemon.stop()
        subprocess.run(["pactl", "unload-module", module], check=False)
