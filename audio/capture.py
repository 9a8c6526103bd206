"""Audio sources: the microphone (sounddevice) or a WAV file standing in for it.

Both yield int16 frames of one VAD frame length at 16 kHz until the input ends (file)
or ``stop()`` is called (microphone).
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from assistant.errors import AudioInputError

from .vad import frames_of
from .wavio import SAMPLE_RATE, read_audio, to_int16


class AudioSource(Protocol):
    live: bool

    def frames(self) -> Iterator[np.ndarray]: ...

    def stop(self) -> None: ...


class FileSource:
    """A recording played as if it were a microphone; ``realtime`` paces it at 1x speed."""

    live = False

    def __init__(self, path: str | Path, frame_ms: int = 30, realtime: bool = False,
                 lead_silence_s: float = 0.0, tail_silence_s: float = 1.0) -> None:
        audio = to_int16(read_audio(path))
        pad = lambda s: np.zeros(int(s * SAMPLE_RATE), dtype=np.int16)  # noqa: E731
        # Trailing silence lets the endpointer close the last utterance as it would live.
        self.audio = np.concatenate([pad(lead_silence_s), audio, pad(tail_silence_s)])
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self.realtime = realtime
        self._stop = threading.Event()

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def frames(self) -> Iterator[np.ndarray]:
        period = self.frame_samples / SAMPLE_RATE
        start = time.perf_counter()
        for i, frame in enumerate(frames_of(self.audio, self.frame_samples)):
            if self._stop.is_set():
                return
            if self.realtime:
                delay = start + (i + 1) * period - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def stop(self) -> None:
        self._stop.set()


def _device(value: str) -> int | str | None:
    if value == "":
        return None
    return int(value) if value.isdigit() else value


class MicSource:
    """The real microphone through sounddevice (PortAudio), 16 kHz mono int16."""

    live = True

    def __init__(self, device: str = "", frame_ms: int = 30) -> None:
        import sounddevice as sd
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=500)
        self._overflows = 0
        try:
            self._stream = sd.RawInputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=self.frame_samples,
                device=_device(device), callback=self._callback)
            self.device_name = sd.query_devices(self._stream.device)["name"]
        except Exception as e:  # PortAudioError, ValueError for unknown device names
            raise AudioInputError(f"cannot open microphone {device or '(default)'} ({e}); "
                                  "check audio.input_device in config.toml, or use --input FILE.wav")

    def _callback(self, data, frames, _time, status) -> None:  # PortAudio thread
        if status:
            self._overflows += 1
        try:
            self._queue.put_nowait(np.frombuffer(bytes(data), dtype=np.int16).copy())
        except queue.Full:
            self._overflows += 1

    def frames(self) -> Iterator[np.ndarray]:
        self._stream.start()
        try:
            while True:
                frame = self._queue.get()
                if frame is None:
                    return
                if len(frame) == self.frame_samples:
                    yield frame
        finally:
            self._stream.stop()
            self._stream.close()

    def stop(self) -> None:
        self._queue.put(None)


def has_input_device(device: str = "") -> bool:
    try:
        import sounddevice as sd
        sd.check_input_settings(device=_device(device), samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        return True
    except Exception:
        return False
