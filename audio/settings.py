"""The ``[vad]``, ``[stt]`` and ``[tts]`` sections of config.toml.

The audio layer owns the settings it reads, so it never imports the application;
assistant.config composes them into the whole file's schema.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    # As every section of config.toml (assistant.config.Section; tests/test_config.py checks):
    # unknown keys are errors, types are exact, a live edit is validated as it is made.
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


class VadConfig(_Section):
    aggressiveness: int = Field(2, ge=0, le=3)
    frame_ms: Literal[10, 20, 30] = 30
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    start_window_ms: int = Field(300, ge=30, le=2000)
    start_ratio: float = Field(0.6, gt=0.0, le=1.0)
    min_speech_ms: int = Field(250, ge=0, le=10000)
    trailing_silence_ms: int = Field(700, ge=90, le=5000)
    energy_margin_db: float = Field(6.0, ge=0.0, le=40.0)
    speculative_ms: int = Field(90, ge=0, le=5000)
    checkpoint_ms: int = Field(1500, ge=0, le=30000)    # transcribe and read notes every this much speech; 0 = off
    adaptive_endpoint: bool = True
    early_end_ms: int = Field(560, ge=0, le=5000)   # an adaptive end waits at least this much silence
    max_utterance_s: float = Field(30.0, gt=0.0, le=300.0)


class SttConfig(_Section):
    model: str = ""                     # CTranslate2 Whisper directory; "" = bundled tiny.en
    language: str = "en"
    beam_size: int = Field(1, ge=1, le=10)
    compute_type: str = "int8"
    threads: int = Field(2, ge=1, le=64)
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    no_speech_logprob: float = Field(-1.0, le=0.0)     # ...and decoded less surely than this
    min_avg_logprob: float = Field(-1.2, le=0.0)
    max_compression_ratio: float = Field(2.4, gt=0.0)
    window_s: float = Field(5.0, ge=5.0, le=30.0)    # speech encoded at least; the rest is cached padding
    hotwords: str = Field("{name}", max_length=200)  # words to expect (names), given to Whisper as context


class TtsConfig(_Section):
    voice: str = ""                     # piper .onnx (with .onnx.json beside it); "" = bundled joe
    speed: float = Field(1.0, ge=0.25, le=4.0)
    volume: float = Field(1.0, ge=0.0, le=2.0)
    speaker_id: int = Field(0, ge=0)
