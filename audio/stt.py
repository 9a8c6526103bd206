"""Speech to text with faster-whisper, filtering what Whisper invents from noise.

Whisper, given noise or silence, often "hears" stock phrases from its training data
("Thank you for watching.") or loops on one phrase. Segments with a high no-speech
probability, a low log-probability or a high compression ratio (repetition) are dropped,
and so are transcripts that are only a known phantom. The thresholds were set from the
shared recordings: real speech there stays below no-speech 0.47, above log-prob -0.91
and below compression 1.5.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .settings import SttConfig
from assistant.errors import ModelError

from .wavio import SAMPLE_RATE

# What Whisper writes for noise, learnt from subtitled videos: never a real request.
PHANTOMS = {
    "thanks for watching", "thank you for watching", "thank you so much for watching",
    "please subscribe", "subscribe to my channel", "like and subscribe", "the end", "music",
    "applause", "silence", "subtitles by the amara org community", "see you next time",
}
# Fillers people do say, but Whisper also invents from noise: kept only when it is sure.
FILLERS = {"you", "so", "okay", "oh", "uh", "um", "hmm", "huh", "ah", "bye", "bye bye",
           "thank you", "thanks", "thank you very much", "i'm sorry", "yeah", "well"}
# Whisper given hotwords (its "previous text") may write them back for noise: "Juniper" at
# no_speech 0.95, logprob -0.98 from dishes clattering, where the name said alone scores
# no_speech 0.07-0.2, logprob -0.02 to -0.04 (Piper at 0.8-1.3x speed, clean and 5-10 dB
# SNR). Such an echo is dropped only when Whisper also doubts it was speech.
ECHO_MAX_LOGPROB = -0.5


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float
    avg_logprob: float
    dropped: str = ""          # why the text was discarded, if it was

    @property
    def accepted(self) -> bool:
        return bool(self.text) and not self.dropped


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


FRAMES_PER_S = 100            # Whisper's log-mel frames
FULL_WINDOW = 3000            # Whisper's 30 s encoder window, in frames
WINDOW_MARGIN = 100           # frames of padding kept after the speech
WINDOW_STEP = 500             # windows come in a few sizes, so CTranslate2 reuses its buffers


def encoder_frames(audio_samples: int, window_s: float) -> int:
    """Frames to encode for this much audio: at least ``window_s``, rounded up, at most 30 s."""
    needed = audio_samples // (SAMPLE_RATE // FRAMES_PER_S) + WINDOW_MARGIN
    frames = max(int(window_s * FRAMES_PER_S), -(-needed // WINDOW_STEP) * WINDOW_STEP)
    return min(FULL_WINDOW, frames)


def _short_window_model():
    """faster-whisper's model, encoding only the part of the 30 s window that holds speech.

    Whisper pads every input to 30 s and encodes all of it: on a short request the
    encoder, quadratic in its input, is most of the recognition time. CTranslate2
    accepts a shorter input (as whisper.cpp's ``audio_ctx`` does), but the decoder was
    trained to attend over a whole 30 s window and, given only the speech, drops words
    (the opening name above all). So only the first ``frames`` are encoded, and the
    rest of the window is filled with the encoding of padding alone, computed once:
    faster-whisper pads with zeros in the feature domain, so that part of the window is
    the same for every input. A full encode would let it attend to the speech too; the
    decoder barely needs that (on the shared recordings, benchmarks/stt_accuracy.py: WER
    5.02 against 4.57 %, 3 words in 657, and the name heard in 19 of 20 wake renderings
    against 20). It sees the 30 s window it expects at a fraction of the cost.
    """
    import ctranslate2
    from faster_whisper import WhisperModel

    class ShortWindowWhisper(WhisperModel):
        frames = FULL_WINDOW
        _padding: np.ndarray | None = None    # encoder output of a window of padding alone

        def encode(self, features):
            if features.shape[-1] <= self.frames:
                return super().encode(features)
            speech = np.asarray(super().encode(features[..., :self.frames]))
            padding = self.padding_encoding(features.shape[-2])
            rest = padding[:, speech.shape[1]:]
            rest = np.broadcast_to(rest, (speech.shape[0], *rest.shape[1:]))
            return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate([speech, rest], axis=1)))

        def padding_encoding(self, n_mels: int) -> np.ndarray:
            if self._padding is None:
                self._padding = np.asarray(super().encode(np.zeros((n_mels, FULL_WINDOW), np.float32)))
            return self._padding

    return ShortWindowWhisper


class Transcriber:
    def __init__(self, cfg: SttConfig, model_dir: Path, assistant_name: str = "") -> None:
        self.cfg = cfg
        self.assistant_name = assistant_name   # what "{name}" in stt.hotwords stands for
        self._lock = threading.Lock()      # the window is set per call
        try:
            self.model = _short_window_model()(str(model_dir), device="cpu", compute_type=cfg.compute_type,
                                               cpu_threads=cfg.threads, num_workers=1)
        except Exception as e:  # CTranslate2 raises RuntimeError/ValueError with long texts
            raise ModelError(f"cannot load STT model from {model_dir} ({str(e).splitlines()[0][:120]}); "
                             "set stt.model to a CTranslate2 Whisper directory or \"\" for the default")

    def warm(self) -> None:
        self.transcribe(np.zeros(SAMPLE_RATE // 2, dtype=np.float32))

    @property
    def hotwords(self) -> str | None:
        """Words Whisper is told to expect, as if said just before (its "previous text").

        The assistant's name above all, since the wake phrase is matched on the text.
        Passed to faster-whisper as ``hotwords`` (until b104cea it was not passed at all,
        so earlier benchmark rows measured one setting). Re-measured
        (benchmarks/stt_accuracy.py, 5 s window, 2 renderings): "Juniper" is heard 20/20
        with or without it; WER 4.72 → 5.02 %, false wakes 2 → 4 of 58, long clean
        recording 5.6 → 4.8 %. It matters for names Whisper does not know: "Quillon",
        "Saoirse", "Kaelith" are misspelt without it and right with it (tests/test_stt.py)."""
        return self.cfg.hotwords.replace("{name}", self.assistant_name).strip() or None

    def doubt(self, text: str, no_speech: float, logprob: float) -> str:
        """Why Whisper's ``text`` is likely not what someone said ("" when it is kept)."""
        plain = _plain(text)
        if plain in PHANTOMS:
            return f"phantom phrase {text!r}"
        if plain in FILLERS and (no_speech > 0.1 or logprob < -0.4):
            return f"unsure filler {text!r}"
        if self._echoes_hotwords(plain) and no_speech > self.cfg.no_speech_threshold and logprob < ECHO_MAX_LOGPROB:
            return f"hotword echo {text!r}"
        return "" if plain else "no words"

    def _echoes_hotwords(self, plain: str) -> bool:
        """Every word of ``plain`` (``_plain`` text) is a hotword: Whisper may be repeating its prompt."""
        words, hot = plain.split(), _plain(self.hotwords or "").split()
        return bool(words and hot) and set(words) <= set(hot)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """``audio``: float32 or int16 mono at 16 kHz."""
        if audio.dtype == np.int16:
            audio = audio.astype(np.float32) / 32768.0
        with self._lock:
            self.model.frames = encoder_frames(len(audio), self.cfg.window_s)
            segments, _info = self.model.transcribe(
                audio, language=self.cfg.language or None, beam_size=self.cfg.beam_size,
                condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
                temperature=0.0, hotwords=self.hotwords)
            segments = list(segments)       # decoding is lazy: run it under the lock
        kept, dropped, nsp, lp = [], [], [], []
        for seg in segments:
            nsp.append(seg.no_speech_prob)
            lp.append(seg.avg_logprob)
            # Whisper's own rule: "no speech" only when the words are unsure too. The short
            # window raises no_speech_prob on short speech (0.06 -> 0.39 on a spoken "nine"),
            # so the probability alone dropped a clear "six" (no_speech 0.70, logprob -0.29).
            silent = (seg.no_speech_prob > self.cfg.no_speech_threshold
                      and seg.avg_logprob < self.cfg.no_speech_logprob)
            unsure = seg.avg_logprob < self.cfg.min_avg_logprob
            looping = seg.compression_ratio > self.cfg.max_compression_ratio   # "the bottom of the bottom of…"
            (dropped if silent or unsure or looping else kept).append(seg.text.strip())
        text = " ".join(t for t in kept if t).strip()
        no_speech = max(nsp) if nsp else 1.0
        logprob = float(np.mean(lp)) if lp else -10.0
        if not text:
            reason = "no speech" if dropped or not nsp else "empty"
        else:
            reason = self.doubt(text, no_speech, logprob)
        return Transcript(text="" if reason else text, no_speech_prob=no_speech,
                          avg_logprob=logprob, dropped=reason)
