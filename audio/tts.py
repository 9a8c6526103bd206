"""Text to speech with piper: one sentence in, int16 samples out."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .settings import TtsConfig
from assistant.errors import ModelError


def speakable(text: str) -> str:
    """Strip what a voice should not read aloud: markdown marks, emoji, URLs' noise."""
    text = re.sub(r"[*_`#>|~]+", " ", text)
    text = re.sub(r"[\U0001F000-\U0001FAFF\u2600-\u27BF]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _quiet_session(voice_path: Path):
    """An ONNX Runtime session whose threads sleep, rather than spin, when a sentence is done.

    ONNX Runtime's workers spin for a while after each run by default. On two cores that
    steals the CPU from the LLM writing the next sentence: measured here, 27 instead of
    22 ms a token right after a synthesis, with the synthesis itself no faster.

    Nor does it keep a memory pattern per input shape: every sentence has its own
    length, so each new length planned and kept one more (300 varied sentences: +138 MiB
    and still rising by default, +77 MiB and flat without; synthesis time unchanged,
    ratio 0.997 measured interleaved).
    """
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(voice_path), sess_options=options, providers=["CPUExecutionProvider"])


class Synthesizer:
    def __init__(self, cfg: TtsConfig, voice_path: Path) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig
        config_path = Path(str(voice_path) + ".json")
        if not config_path.exists():
            raise ModelError(f"piper voice config {config_path} is missing; put the voice's "
                             f".onnx.json beside {voice_path.name}")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except Exception as e:
            raise ModelError(f"piper voice config {config_path} is unreadable ({str(e).splitlines()[0][:120]}); "
                             f"put the voice's own .onnx.json beside {voice_path.name}")
        try:
            self.voice = PiperVoice(config=config, session=_quiet_session(voice_path))
        except Exception as e:
            raise ModelError(f"cannot load piper voice {voice_path} ({str(e).splitlines()[0][:120]}); "
                             "set tts.voice to a piper .onnx file or \"\" for the default")
        self.cfg = cfg
        self.sample_rate: int = self.voice.config.sample_rate
        self._ready: tuple[str, np.ndarray] | None = None

    def _syn_config(self):
        from piper import SynthesisConfig
        speaker = self.cfg.speaker_id if self.voice.config.num_speakers > 1 else None
        return SynthesisConfig(speaker_id=speaker, length_scale=1.0 / self.cfg.speed,
                               volume=self.cfg.volume)

    def warm(self) -> None:
        self.synthesize("Ready.")

    def prepare(self, text: str) -> None:
        """Synthesise ``text`` ahead (a reply's first sentence, written during a pause);
        the next ``synthesize`` of the same text returns it at once."""
        self._ready = (text, self.synthesize(text))

    def synthesize(self, text: str) -> np.ndarray:
        ready, self._ready = self._ready, None
        if ready is not None and ready[0] == text:
            return ready[1]
        text = speakable(text)
        if not text:
            return np.zeros(0, dtype=np.int16)
        chunks = [c.audio_int16_array for c in self.voice.synthesize(text, syn_config=self._syn_config())]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
