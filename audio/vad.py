"""Endpointing with webrtcvad: frames in, whole utterances out.

A speech start needs ``start_ratio`` of the last ``start_window_ms`` voiced (so a click
does not open a turn); ``pre_roll_ms`` of audio before it is kept so the first syllable
is not clipped; the utterance ends after ``trailing_silence_ms`` without voice. The time
of the last voiced frame is recorded: that is "speech end" for latency figures.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from assistant.config import VadConfig

from .wavio import SAMPLE_RATE


@dataclass
class Utterance:
    audio: np.ndarray            # int16, 16 kHz mono
    speech_end: float            # wall-clock (perf_counter) time of the last voiced frame
    endpoint: float              # when the trailing silence ran out
    voiced_ms: int
    stream_end_s: float = 0.0    # position of the last voiced frame in the input stream

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Endpointer:
    cfg: VadConfig
    _vad: webrtcvad.Vad = field(init=False)
    _ring: collections.deque = field(init=False)
    _window: collections.deque = field(init=False)
    _frames: list = field(init=False, default_factory=list)
    _in_speech: bool = field(init=False, default=False)
    _silence_ms: int = field(init=False, default=0)
    _voiced_ms: int = field(init=False, default=0)
    _last_voiced: float = field(init=False, default=0.0)
    _last_voiced_pos: float = field(init=False, default=0.0)
    _pos_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.cfg.aggressiveness)
        self.frame_samples = SAMPLE_RATE * self.cfg.frame_ms // 1000
        self._ring = collections.deque(maxlen=max(1, self.cfg.pre_roll_ms // self.cfg.frame_ms))
        self._window = collections.deque(maxlen=max(1, self.cfg.start_window_ms // self.cfg.frame_ms))

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def reset(self) -> None:
        self._ring.clear()
        self._window.clear()
        self._frames = []
        self._in_speech = False
        self._silence_ms = self._voiced_ms = 0

    def feed(self, frame: np.ndarray, now: float | None = None) -> Utterance | None:
        """Feed one int16 frame of ``frame_ms``; return an utterance when one ends."""
        now = time.perf_counter() if now is None else now
        ms = self.cfg.frame_ms
        self._pos_s += ms / 1000
        voiced = self._vad.is_speech(frame.tobytes(), SAMPLE_RATE)
        if not self._in_speech:
            self._ring.append(frame)
            self._window.append(voiced)
            if voiced and sum(self._window) >= self.cfg.start_ratio * self._window.maxlen:
                self._in_speech = True
                self._frames = list(self._ring)
                self._voiced_ms = sum(self._window) * ms
                self._silence_ms = 0
                self._last_voiced, self._last_voiced_pos = now, self._pos_s
                self._ring.clear()
                self._window.clear()
            return None
        self._frames.append(frame)
        if voiced:
            self._voiced_ms += ms
            self._silence_ms = 0
            self._last_voiced, self._last_voiced_pos = now, self._pos_s
        else:
            self._silence_ms += ms
        too_long = len(self._frames) * ms >= self.cfg.max_utterance_s * 1000
        if self._silence_ms >= self.cfg.trailing_silence_ms or too_long:
            return self._finish(now)
        return None

    def flush(self, now: float | None = None) -> Utterance | None:
        """End of input: close an utterance still open."""
        if not self._in_speech:
            return None
        return self._finish(time.perf_counter() if now is None else now)

    def _finish(self, now: float) -> Utterance | None:
        frames, voiced_ms, silence_ms = self._frames, self._voiced_ms, self._silence_ms
        last, pos = self._last_voiced, self._last_voiced_pos
        self.reset()
        if voiced_ms < self.cfg.min_speech_ms:
            return None
        # Keep ~200 ms of the trailing silence as natural decay; Whisper needs no more.
        drop = max(0, silence_ms - 200) // self.cfg.frame_ms
        audio = np.concatenate(frames[:len(frames) - drop] if drop < len(frames) else frames)
        return Utterance(audio=audio, speech_end=last, endpoint=now, voiced_ms=voiced_ms,
                         stream_end_s=pos)


def frames_of(audio_int16: np.ndarray, frame_samples: int):
    """Split a signal into whole frames (the last partial one zero-padded)."""
    n = len(audio_int16)
    for start in range(0, n, frame_samples):
        frame = audio_int16[start:start + frame_samples]
        if len(frame) < frame_samples:
            frame = np.pad(frame, (0, frame_samples - len(frame)))
        yield frame
