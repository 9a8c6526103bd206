"""Read any common WAV as 16 kHz mono float32; write int16 WAVs.

Resampling and downmixing happen here, once, so every later stage can assume the
16 kHz mono signal that webrtcvad and Whisper want.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from assistant.errors import AudioInputError

SAMPLE_RATE = 16000


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, rate, target).astype(np.float32, copy=False)


def read_audio(path: str | Path, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 in [-1, 1] at ``target_rate``; one-line errors for unusable files."""
    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"{path}: no such file; give the path of a WAV recording")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a directory; give the path of a WAV recording")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        reason = str(e).split(":")[-1].strip() or "unreadable"
        raise AudioInputError(f"{path}: not a readable audio file ({reason}); "
                              "convert it to WAV, e.g. with 'sox in.xxx out.wav'")
    if audio.shape[0] == 0:
        raise AudioInputError(f"{path}: the recording is empty (0 samples); record some audio first")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    return resample(mono, rate, target_rate)


def to_int16(audio: np.ndarray) -> np.ndarray:
    if audio.dtype == np.int16:
        return audio
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), to_int16(audio), rate, subtype="PCM_16")
