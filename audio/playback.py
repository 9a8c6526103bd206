"""Audio sinks: the speaker (sounddevice) or a WAV file collecting everything said."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import AudioInputError

from .wavio import write_wav


class AudioSink(Protocol):
    def write(self, samples: np.ndarray) -> int:
        """Play samples; return how many were played before an interrupt."""

    def gap(self, seconds: float) -> None: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class WavSink:
    """Collects int16 audio and writes one WAV at close; nothing is lost on interrupt."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path, self.sample_rate = Path(path), sample_rate
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, samples: np.ndarray) -> int:
        with self._lock:
            self._chunks.append(samples.astype(np.int16, copy=False))
        return len(samples)

    def gap(self, seconds: float) -> None:
        if self._chunks:
            self.write(np.zeros(int(seconds * self.sample_rate), dtype=np.int16))

    def interrupt(self) -> None:
        pass

    @property
    def written(self) -> bool:
        """Whether ``close`` wrote the file: nothing said, no empty 44-byte WAV."""
        return bool(self._chunks)

    def close(self) -> None:
        with self._lock:
            if not self._chunks:
                return
            audio = np.concatenate(self._chunks)
        write_wav(self.path, audio, self.sample_rate)


class SpeakerSink:
    """Blocking playback in 50 ms blocks, so an interrupt takes effect quickly."""

    BLOCK_S = 0.05

    def __init__(self, sample_rate: int, device: str = "") -> None:
        import sounddevice as sd
        self.sample_rate = sample_rate
        self._interrupted = threading.Event()
        dev = None if device == "" else (int(device) if device.isdigit() else device)
        try:
            self._stream = sd.OutputStream(samplerate=sample_rate, channels=1, dtype="int16", device=dev,
                                           latency="low")
            self._stream.start()
        except Exception as e:
            raise AudioInputError(f"cannot open speaker {device or '(default)'} ({e}); "
                                  "check audio.output_device in config.toml, or use --output FILE.wav")

    def write(self, samples: np.ndarray) -> int:
        self._interrupted.clear()
        block = int(self.BLOCK_S * self.sample_rate)
        for start in range(0, len(samples), block):
            if self._interrupted.is_set():
                self._stream.abort()          # drop what is buffered: silence now, not later
                self._stream.start()
                return start
            self._stream.write(np.ascontiguousarray(samples[start:start + block]).reshape(-1, 1))
        return len(samples)

    def gap(self, seconds: float) -> None:
        self.write(np.zeros(int(seconds * self.sample_rate), dtype=np.int16))

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        try:
            self._stream.stop()   # plays out what is buffered
            self._stream.close()
        except Exception:
            pass
