"""Configuration: the commented defaults in ``config.toml``, overlaid by the user's file.

Each file is validated on its own, so an error names the file it came from, with the
line of the offending key. Unknown keys and wrong types are errors, never silently
ignored: a typo in a config file should not quietly change nothing.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audio.settings import SttConfig, TtsConfig, VadConfig
from skills.settings import SkillsConfig

from .errors import ConfigError
from .paths import DEFAULT_CONFIG_FILE


class Section(BaseModel):
    """A config.toml section: unknown keys are errors (a typo must not quietly change
    nothing), types are exact, and a live edit is validated as it is made. The [vad],
    [stt], [tts] and [skills] sections live in the layers that read them (audio.settings,
    skills.settings) and are composed here."""
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


class AudioConfig(Section):
    input_device: str = ""              # sounddevice name or index; "" = system default
    output_device: str = ""
    # How the assistant avoids hearing itself: "gate" drops the mic while it speaks (safe
    # with any speakers, no barge-in); "aec" uses PulseAudio/PipeWire's webrtc echo canceller
    # and allows barge-in; "none" is for headsets, where the mic cannot hear the speaker.
    echo_handling: Literal["gate", "aec", "none"] = "gate"
    barge_in_min_speech_ms: int = Field(240, ge=60, le=3000)
    # "wake": only speech that says the assistant's name (llm.assistant_name) is answered,
    # plus follow-ups for follow_up_s after a reply; "conversation": every utterance;
    # "push_to_talk": only after `assistant listen` (or the control socket's `listen`).
    listen_mode: Literal["wake", "conversation", "push_to_talk"] = "wake"
    follow_up_s: float = Field(8.0, ge=0.0, le=600.0)
    gap_between_replies_ms: int = Field(300, ge=0, le=5000)


class LlmConfig(Section):
    model: str = ""                     # a bundled LLM's name, or a GGUF file; "" = Qwen2.5-Coder-1.5B
    context_tokens: int = Field(4096, ge=512, le=131072)
    max_reply_tokens: int = Field(200, ge=8, le=4096)
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    threads: int = Field(2, ge=1, le=64)
    history_turns: int = Field(6, ge=0, le=100)
    notes_tokens: int = Field(120, ge=0, le=4000)   # memory notes in a prompt at most (≈ 4 chars a token)
    assistant_name: str = "Juniper"
    # "openai": stream replies from an OpenAI-compatible server (llama_cpp.server, vLLM,
    # Ollama, llama-server) at base_url; the local model still fills skill arguments and
    # answers whenever the server is away, errs or is slower than first_token_timeout_s.
    backend: Literal["local", "openai"] = "local"
    base_url: str = Field("http://127.0.0.1:8000/v1", pattern=r"^https?://")
    remote_model: str = Field("", max_length=200)   # the server's model name; "" = its first model
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # the key's variable
    first_token_timeout_s: float = Field(4.0, gt=0.0, le=120.0)
    remote_retry_s: float = Field(30.0, ge=0.0, le=3600.0)     # after a failure, local only this long
    user_name: str = Field("", max_length=40)   # what to call the user ("call me Sam"); "" = unknown
    system_prompt: str = (
        "You are {name}, a voice assistant running privately on the user's computer. Your "
        'replies are spoken aloud: answer in one to three short, plain sentences, with no '
        'lists, markdown or emoji. Talk to the user as "you": what they told you about '
        'themselves is theirs ("your cat", "you are allergic"), never "my" or "I". Do not '
        "repeat the user's words back, and do not apologise. When the user just tells you "
        'something, reply briefly and naturally. Today is {date}. Notes from earlier '
        'conversations and descriptions of your skills are background for you, not text to '
        'read out. Use a note when it answers the question. If neither the notes nor general '
        "knowledge give the answer, say that you don't know; never make up a fact about the "
        'user or their family.'
    )


class MemoryConfig(Section):
    embedding_model: str = ""           # sentence-transformers directory; "" = bundled MiniLM
    embedding_backend: Literal["auto", "onnx", "numpy", "sentence-transformers"] = "auto"
    embedding_threads: int = Field(1, ge=1, le=64)
    profile: str = Field("default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    user_name: str = Field("User", min_length=1, max_length=64)
    top_k: int = Field(4, ge=0, le=50)
    min_relevance: float = Field(0.3, ge=-1.0, le=3.0)
    candidates: int = Field(30, ge=1, le=1000)
    dense_weight: float = Field(0.7, ge=0.0, le=1.0)
    neighbour_weight: float = Field(0.5, ge=0.0, le=2.0)
    keyed_neighbour_weight: float = Field(1.0, ge=0.0, le=2.0)   # instead, once most turns are read for fact keys
    neighbour_context: bool = True
    fact_boost: float = Field(0.1, ge=0.0, le=1.0)
    recency_weight: float = Field(0.05, ge=0.0, le=1.0)
    recency_half_life_days: float = Field(30.0, gt=0.0)
    dedup_similarity: float = Field(0.95, ge=0.0, le=1.0)
    time_weight: float = Field(0.2, ge=0.0, le=1.0)
    when_weight: float = Field(0.0, ge=0.0, le=1.0)
    speaker_weight: float = Field(0.3, ge=0.0, le=1.0)
    session_weight: float = Field(0.2, ge=0.0, le=1.0)
    second_hop: int = Field(0, ge=0, le=10)
    second_hop_weight: float = Field(0.5, ge=0.0, le=1.0)
    date_keys: bool = True
    fact_keys: bool = True
    fact_keys_after_s: float = Field(30.0, ge=0.0, le=86400.0)
    flush_rows: int = Field(16, ge=1, le=100000)
    flush_seconds: float = Field(5.0, ge=0.0, le=3600.0)
    compact_fragments: int = Field(16, ge=2, le=10000)
    retention_minutes: float = Field(10.0, ge=0.0)
    ann_min_rows: int = Field(10000, ge=1000)
    ann_target_recall: float = Field(0.95, gt=0.0, le=1.0)
    # Where memory lives: "" = memory.lancedb in the data directory; "s3://bucket/prefix" =
    # an object store shared by several devices (docs/household.md). Credentials come from
    # the AWS environment variables or ~/.aws/credentials, never from this file.
    uri: str = Field("", max_length=1000)
    refresh_seconds: float = Field(5.0, ge=0.0, le=3600.0)   # remote: others' writes seen within this
    storage_options: dict[str, str | bool | int] = {}

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError(f"unsupported memory store {value!r}; use \"\" (local), a directory, "
                             "or s3://bucket/prefix")
        if value.startswith("s3://") and not value[5:].split("/", 1)[0]:
            raise ValueError(f"memory store {value!r} names no bucket; use s3://bucket/prefix")
        return value

    @field_validator("storage_options")
    @classmethod
    def _no_credentials(cls, value: dict) -> dict:
        from memory.location import check_options
        problem = check_options(value)
        if problem:
            raise ValueError(problem)
        return value


class WyomingConfig(Section):
    # Serve the assistant over the Wyoming protocol (Home Assistant) from the daemon:
    # "" = off; "tcp://127.0.0.1:10700" = this machine only; "tcp://0.0.0.0:10700" = the
    # network (no authentication: anyone who can reach the port can use it).
    uri: str = Field("", max_length=300)
    services: list[Literal["asr", "tts", "handle"]] = ["asr", "tts", "handle"]
    zeroconf: bool = True               # announce _wyoming._tcp.local. for discovery
    zeroconf_name: str = Field("", max_length=63)   # "" = assistant-<hostname>
    max_clients: int = Field(64, ge=1, le=1024)
    max_audio_s: float = Field(30.0, gt=0.0, le=600.0)
    # Satellites (wyoming-satellite) whose mic and speaker the daemon uses, one session each.
    satellites: list[str] = []

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if value and not re.match(r"^(tcp://[^/:]+:\d+|unix:///?.+)$", value):
            raise ValueError(f"{value!r} is not tcp://HOST:PORT or unix:///path")
        return value

    @field_validator("satellites")
    @classmethod
    def _satellites(cls, value: list[str]) -> list[str]:
        for uri in value:
            if not re.match(r"^tcp://[^/:]+:\d+$", uri):
                raise ValueError(f"satellite {uri!r} is not tcp://HOST:PORT")
        return value
class KnowledgeConfig(Section):
    folders: list[str] = []             # folders (or files) of notes and documents to search; ~ allowed
    max_file_mb: float = Field(20.0, gt=0.0, le=10000.0)   # larger files are skipped, named in the report
    chunk_words: int = Field(120, ge=20, le=400)     # a passage packs paragraphs up to this many words
    max_chunk_words: int = Field(180, ge=20, le=600)  # a longer paragraph is cut between sentences
    overlap_words: int = Field(30, ge=0, le=200)     # consecutive passages share a sentence this short
    top_k: int = Field(2, ge=0, le=20)               # passages put into a turn's prompt at most
    notes_tokens: int = Field(200, ge=0, le=4000)    # ... within this many tokens (≈ 4 chars a token)
    min_relevance: float = Field(0.55, ge=-1.0, le=2.0)  # fused score under which a passage is left out
    candidates: int = Field(30, ge=1, le=1000)
    dense_weight: float = Field(0.6, ge=0.0, le=1.0)
    watch: bool = True                  # the daemon re-indexes files as they change
    sync_interval_s: float = Field(600.0, ge=0.0)    # and re-syncs everything this often (0 = never)
    ann_min_rows: int = Field(10000, ge=1000)

    def chunk_settings(self):
        from memory.knowledge.chunker import ChunkSettings
        return ChunkSettings(self.chunk_words, max(self.max_chunk_words, self.chunk_words), self.overlap_words)

    def search_settings(self, **over):
        from memory.knowledge.search import KnowledgeSettings
        values = dict(k=self.top_k, min_relevance=self.min_relevance, candidates=self.candidates,
                      dense_weight=self.dense_weight)
        return KnowledgeSettings(**{**values, **over})

    def paths(self) -> list[Path]:
        return [Path(f).expanduser().resolve() for f in self.folders]


class Config(Section):
    audio: AudioConfig = AudioConfig()
    vad: VadConfig = VadConfig()
    stt: SttConfig = SttConfig()
    llm: LlmConfig = LlmConfig()
    tts: TtsConfig = TtsConfig()
    memory: MemoryConfig = MemoryConfig()
    skills: SkillsConfig = SkillsConfig()
    wyoming: WyomingConfig = WyomingConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()


# Keys whose value, when set, must be an existing path.
MODEL_PATH_KEYS = {
    ("stt", "model"): "a CTranslate2 Whisper model directory",
    ("llm", "model"): "a GGUF model file",
    ("tts", "voice"): "a piper .onnx voice file",
    ("memory", "embedding_model"): "a sentence-transformers model directory",
    ("skills", "user_dir"): "a folder of skill docs",
}


def key_line(text: str, dotted: str) -> int | None:
    """Best-effort line number (1-based) of ``section.key`` (or a bare ``section``) in TOML text."""
    *sections, key = dotted.split(".")
    section = ".".join(sections) or None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    assign = re.compile(rf"^\s*{re.escape(key)}\s*=")
    current: str | None = None
    section_line = None
    for number, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if section is None and current == key:
                return number           # an unknown [table]
            if current == section and section_line is None:
                section_line = number
        elif current == section and assign.match(line):
            return number
    return section_line


def read_text(path: Path) -> str:
    """A config file's text; a missing, unreadable or non-UTF-8 file is a ``ConfigError``
    naming the line of the first bad byte."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found; check the path given to --config", file=str(path))
    except IsADirectoryError:
        raise ConfigError("is a directory; give the path of a config.toml file", file=str(path))
    except OSError as e:
        raise ConfigError(f"cannot read ({e.strerror or e.__class__.__name__}); make it a readable file",
                          file=str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"byte 0x{raw[e.start]:02x} is not UTF-8 text; save the file as UTF-8 "
                          "(or remove that character)", file=str(path), line=line)


def known_keys() -> list[str]:
    """Every ``section.key`` of the config."""
    return [f"{name}.{key}" for name, field in Config.model_fields.items()
            for key in field.annotation.model_fields]


def did_you_mean(dotted: str) -> str:
    """"; did you mean tts.speed?" for a misspelt key, else ""."""
    keys = known_keys()
    candidates = keys + list(Config.model_fields)
    close = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
    if not close and "." in dotted:          # the key alone, in any section: "speed" → tts.speed
        key = dotted.rsplit(".", 1)[1]
        close = [k for k in keys if k.endswith("." + key)][:1] or \
            difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close and close[0] != dotted else ""


def _parse(path: Path) -> tuple[dict[str, Any], str]:
    text = read_text(path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ConfigError(f"invalid TOML: {msg}; fix the syntax", file=str(path),
                          line=int(m.group(1)) if m else None)


def _describe(err: dict[str, Any]) -> tuple[str, str]:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        hint = did_you_mean(loc)
        return loc, ("unknown key" + hint + " (remove it or fix its spelling)" if hint else
                     "unknown key; remove it or check its spelling against the default config.toml")
    if kind == "model_type":
        return loc, "must be a table like [section]"
    expected = err.get("msg", "invalid value")
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a table"
    return loc, f"{expected[0].lower() + expected[1:]} (got {shown})"


def problems(data: dict[str, Any], *, file: str, text: str = "") -> list[ConfigError]:
    """Every error in one file's data, each naming the file, the line and the key."""
    found = []
    try:
        Config.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc, reason = _describe(err)
            found.append(ConfigError(reason, file=file, line=key_line(text, loc) if text else None, key=loc))
    from models.registry import LLMS
    for (section, key), what in MODEL_PATH_KEYS.items():
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if (section, key) == ("llm", "model") and value in LLMS:
            continue                    # a bundled model by name
        if value and isinstance(value, str) and not Path(value).expanduser().exists():
            dotted = f"{section}.{key}"
            named = f", one of {', '.join(LLMS)}," if (section, key) == ("llm", "model") else ""
            found.append(ConfigError(f"no such path {value!r}; point it at {what}{named} or set it to \"\" "
                                     "for the bundled default", file=file,
                                     line=key_line(text, dotted) if text else None, key=dotted))
    return found


def validate_data(data: dict[str, Any], *, file: str, text: str = "") -> Config:
    """Validate one file's data; the first error names the file, the line and the key
    (``problems`` lists them all)."""
    found = problems(data, file=file, text=text)
    if found:
        first = found[0]
        if len(found) > 1:
            more = len(found) - 1
            raise ConfigError(f"{first.reason} (and {more} more problem{'s' if more > 1 else ''}: "
                              "see assistant config validate)", file=first.file, line=first.line, key=first.key)
        raise first
    return Config.model_validate(data)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_problems(user_file: Path | None, *, required: bool = False,
                    default_file: Path = DEFAULT_CONFIG_FILE) -> list[ConfigError]:
    """Every problem in the default and the user's config files (``config validate``)."""
    found: list[ConfigError] = []
    for path, must in ((default_file, False), (user_file, required)):
        if path is None or not (must or path.exists()):
            continue
        try:
            data, text = _parse(path)
        except ConfigError as e:
            found.append(e)
            continue
        found += sorted(problems(data, file=str(path), text=text), key=lambda e: e.line or 0)
    return found


def load_config(user_file: Path | None, *, required: bool = False,
                default_file: Path = DEFAULT_CONFIG_FILE) -> Config:
    """Defaults, overlaid by ``user_file`` when it exists (or must exist: ``required``)."""
    data: dict[str, Any] = {}
    if default_file.exists():
        data, text = _parse(default_file)
        validate_data(data, file=str(default_file), text=text)
    if user_file is not None and (required or user_file.exists()):
        user, text = _parse(user_file)
        validate_data(user, file=str(user_file), text=text)
        data = _deep_merge(data, user)
    return Config.model_validate(data)
