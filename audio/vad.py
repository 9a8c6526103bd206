"""Endpointing with webrtcvad: frames in, whole utterances out.

A speech start needs ``start_ratio`` of the last ``start_window_ms`` voiced (so a click
does not open a turn); ``pre_roll_ms`` of audio before it is kept so the first syllable
is not clipped; the utterance ends after ``trailing_silence_ms`` without voice. The time
of the last voiced frame is recorded: that is "speech end" for latency figures.

webrtcvad alone calls much steady noise (a bike, a fan) speech, which would glue
utterances together across the pauses between them. So a frame also has to stand
``energy_margin_db`` above the noise floor, tracked as a low percentile of recent frame
energies: steady noise sets the floor, speech rises above it.

To hide recognition time inside that wait, the endpointer also reports a ``Pause`` once
the silence reaches ``speculative_ms``: the audio so far, which can be transcribed while
the rest of the trailing silence runs. If speech resumes, the pause is void; if the
transcript already reads as a complete sentence, ``end_now`` closes the utterance early,
after ``early_end_ms`` of silence rather than ``trailing_silence_ms``. (Not sooner:
people pause ~300-500 ms between the clauses of one sentence, and Whisper puts a full
stop at any pause, so a shorter wait cuts a sentence in two.)

While someone speaks, the CPU is idle. With ``checkpoint_ms`` the endpointer also reports
a ``Pause`` marked ``checkpoint`` every time that much more speech has been heard: the
words so far can be transcribed and the turn's notes read into the LLM before the user
stops, so the real pause only reads what changed (with the 1.5B model, reading the
notes is most of a turn's wait: ~3x the 0.5B's cost a token).
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from .settings import VadConfig

from .wavio import SAMPLE_RATE

_ids = itertools.count(1)


@dataclass
class Utterance:
    audio: np.ndarray            # int16, 16 kHz mono
    speech_end: float            # wall-clock (perf_counter) time of the last voiced frame
    endpoint: float              # when the utterance was closed
    voiced_ms: int
    stream_end_s: float = 0.0    # position of the last voiced frame in the input stream
    id: int = 0                  # shared with the Pauses reported while it was open
    addressed: bool = False      # taken after a push-to-talk `listen`: no wake phrase needed

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Pause:
    """The speaker paused: the utterance so far, for speculative transcription."""

    utterance_id: int
    audio: np.ndarray
    voiced_ms: int
    speech_end: float
    checkpoint: bool = False     # reported while speech goes on, not in a silence


@dataclass
class Endpointer:
    cfg: VadConfig
    speculative_ms: int = 0        # 0: no Pause events
    checkpoint_ms: int = 0         # 0: no checkpoints during speech
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
    _id: int = field(init=False, default=0)
    _paused: bool = field(init=False, default=False)
    _checkpoint_at: int = field(init=False, default=0)
    _end_request: tuple[int, int] | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _energies: collections.deque = field(init=False)

    FLOOR_WINDOW_S = 6.0
    FLOOR_PERCENTILE = 10
    SILENCE_DB = -70.0

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.cfg.aggressiveness)
        self._energies = collections.deque(maxlen=int(self.FLOOR_WINDOW_S * 1000 / self.cfg.frame_ms))
        self.frame_samples = SAMPLE_RATE * self.cfg.frame_ms // 1000
        self._ring = collections.deque(maxlen=max(1, self.cfg.pre_roll_ms // self.cfg.frame_ms))
        self._window = collections.deque(maxlen=max(1, self.cfg.start_window_ms // self.cfg.frame_ms))

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def voiced_ms(self) -> int:
        """Speech so far in the open utterance (0 when none is open)."""
        return self._voiced_ms if self._in_speech else 0

    def reset(self) -> None:
        self._ring.clear()
        self._window.clear()
        self._frames = []
        self._in_speech = False
        self._silence_ms = self._voiced_ms = 0
        self._paused = False
        self._checkpoint_at = 0

    def end_now(self, utterance_id: int, voiced_ms: int) -> None:
        """Close utterance ``utterance_id`` early: at the next frame once the silence has
        lasted ``early_end_ms``, unless someone spoke since the pause that had ``voiced_ms``
        of speech. Safe to call from another thread."""
        with self._lock:
            self._end_request = (utterance_id, voiced_ms)

    def feed(self, frame: np.ndarray, now: float | None = None) -> Utterance | Pause | None:
        """Feed one int16 frame of ``frame_ms``; return an utterance when one ends."""
        now = time.perf_counter() if now is None else now
        ms = self.cfg.frame_ms
        self._pos_s += ms / 1000
        voiced = self._vad.is_speech(frame.tobytes(), SAMPLE_RATE) and self._above_floor(frame)
        if not self._in_speech:
            self._ring.append(frame)
            self._window.append(voiced)
            if voiced and sum(self._window) >= self.cfg.start_ratio * self._window.maxlen:
                self._in_speech = True
                self._id = next(_ids)
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
            self._paused = False
            self._last_voiced, self._last_voiced_pos = now, self._pos_s
            if self.checkpoint_ms and self._voiced_ms >= self._checkpoint_at + self.checkpoint_ms:
                self._checkpoint_at = self._voiced_ms
                return Pause(self._id, np.concatenate(self._frames), self._voiced_ms, now, checkpoint=True)
        else:
            self._silence_ms += ms
        with self._lock:
            request = self._end_request
            if request is not None and (voiced or request != (self._id, self._voiced_ms)):
                request = self._end_request = None          # they spoke again: void
        if request is not None and self._silence_ms >= self.cfg.early_end_ms:
            self._end_request = None
            return self._finish(now)
        too_long = len(self._frames) * ms >= self.cfg.max_utterance_s * 1000
        if self._silence_ms >= self.cfg.trailing_silence_ms or too_long:
            return self._finish(now)
        if (self.speculative_ms and not self._paused and self._silence_ms >= self.speculative_ms
                and self._voiced_ms >= self.cfg.min_speech_ms):
            self._paused = True
            return Pause(self._id, np.concatenate(self._trimmed(self._frames, self._silence_ms)),
                         self._voiced_ms, self._last_voiced)
        return None

    def _above_floor(self, frame: np.ndarray) -> bool:
        level = frame.astype(np.float32) / 32768.0
        db = 10 * np.log10(float(np.mean(level * level)) + 1e-10)
        self._energies.append(db)
        if self.cfg.energy_margin_db <= 0 or len(self._energies) < 10:
            return True
        floor = max(float(np.percentile(self._energies, self.FLOOR_PERCENTILE)), self.SILENCE_DB)
        return db >= floor + self.cfg.energy_margin_db

    def flush(self, now: float | None = None) -> Utterance | None:
        """End of input: close an utterance still open."""
        if not self._in_speech:
            return None
        return self._finish(time.perf_counter() if now is None else now)

    def _trimmed(self, frames: list, silence_ms: int) -> list:
        # Keep ~200 ms of the trailing silence as natural decay; Whisper needs no more.
        drop = max(0, silence_ms - 200) // self.cfg.frame_ms
        return frames[:len(frames) - drop] if drop < len(frames) else frames

    def _finish(self, now: float) -> Utterance | None:
        frames, voiced_ms, silence_ms = self._frames, self._voiced_ms, self._silence_ms
        last, pos, uid = self._last_voiced, self._last_voiced_pos, self._id
        self.reset()
        if voiced_ms < self.cfg.min_speech_ms:
            return None
        return Utterance(audio=np.concatenate(self._trimmed(frames, silence_ms)), speech_end=last,
                         endpoint=now, voiced_ms=voiced_ms, stream_end_s=pos, id=uid)


def frames_of(audio_int16: np.ndarray, frame_samples: int):
    """Split a signal into whole frames (the last partial one zero-padded)."""
    n = len(audio_int16)
    for start in range(0, n, frame_samples):
        frame = audio_int16[start:start + frame_samples]
        if len(frame) < frame_samples:
            frame = np.pad(frame, (0, frame_samples - len(frame)))
        yield frame
