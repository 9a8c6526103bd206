"""Per-turn latency: when each stage finished, relative to the end of the user's speech."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

STAGES = ("transcript_ready", "retrieval_ready", "first_token", "first_sentence",
          "first_sentence_synth", "first_audio", "reply_done")


@dataclass
class TurnTimings:
    """perf_counter() stamps; ``speech_end`` is the last voiced frame (or when text arrived)."""

    speech_end: float = field(default_factory=time.perf_counter)
    transcript_ready: float | None = None
    retrieval_ready: float | None = None
    first_token: float | None = None
    first_sentence: float | None = None
    first_sentence_synth: float | None = None
    first_audio: float | None = None
    reply_done: float | None = None
    prompt_tokens: int = 0            # LLM prompt length, and how much of it the KV cache held
    prompt_cached: int = 0

    def mark(self, stage: str, at: float | None = None) -> None:
        if getattr(self, stage) is None:
            setattr(self, stage, time.perf_counter() if at is None else at)

    def relative_ms(self) -> dict[str, float | None]:
        return {s: (None if getattr(self, s) is None else round((getattr(self, s) - self.speech_end) * 1000, 1))
                for s in STAGES}

    def summary(self) -> str:
        labels = {"transcript_ready": "stt", "retrieval_ready": "retrieval", "first_token": "first token",
                  "first_sentence": "first sentence", "first_sentence_synth": "tts",
                  "first_audio": "first audio", "reply_done": "done"}
        parts = [f"{labels[k]} {v:.0f}ms" for k, v in self.relative_ms().items() if v is not None]
        prompt = (f" (prompt {self.prompt_tokens} tokens, {self.prompt_tokens - self.prompt_cached} read)"
                  if self.prompt_tokens else "")
        return "latency from speech end: " + " | ".join(parts) + prompt


@dataclass
class TurnRecord:
    """One turn as written to ``--metrics FILE.jsonl`` and shown with ``--json``."""

    turn: int
    transcript: str
    reply: str
    memories: list[dict]
    skill_docs: list[dict]
    latency_ms: dict[str, float | None]
    input_position_s: float | None = None
    interrupted: bool = False
    skill: dict | None = None           # the skill that acted instead of the LLM, if any
    prompt_tokens: int = 0              # LLM prompt length, and how many of its tokens were read this turn
    prompt_read: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class MetricsWriter:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def write(self, record: TurnRecord) -> None:
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(record.to_json() + "\n")
