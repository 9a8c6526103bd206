"""One conversational turn, independent of audio: retrieve, prompt, stream, remember.

``Engine.respond`` yields small typed events (Wyoming-style) so the voice loop, the text
REPL and the tests all drive the very same path: ``Retrieved`` once, then ``Sentence``
events as the reply streams, then ``ReplyDone``. Both sides of the turn are stored in
memory with their embeddings.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator, Union

from memory.store import Hit, Memory, MemoryStore
from skills.index import DocHit, SkillIndex

from .config import Config
from .llm import LocalLLM
from .metrics import TurnTimings
from .prompt import HistoryTurn, build_messages, history_window
from .sentences import SentenceSplitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    memories: list[Hit]
    docs: list[DocHit]


@dataclass(frozen=True)
class Sentence:
    text: str
    index: int


@dataclass(frozen=True)
class ReplyDone:
    text: str
    cancelled: bool


TurnEvent = Union[Retrieved, Sentence, ReplyDone]

# The user's own statements are the ground truth; the assistant's replies only echo them
# (and may be wrong), so they rank a little lower. A user's question states nothing.
ASSISTANT_REPLY_PENALTY = 0.1
# The first clause of a reply goes to the voice alone once it has this many words, so
# speech starts before the whole first sentence is written.
FIRST_CLAUSE_WORDS = 4


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?")


def rank_memories(hits: list[Hit], k: int) -> list[Hit]:
    useful = [h for h in hits if not (h.memory.role == "user" and _is_question(h.memory.text))]
    score = lambda h: h.relevance - (ASSISTANT_REPLY_PENALTY if h.memory.role == "assistant" else 0.0)  # noqa: E731
    return sorted(useful, key=score, reverse=True)[:k]


class Engine:
    def __init__(self, cfg: Config, llm: LocalLLM, embedder, store: MemoryStore,
                 skills: SkillIndex | None, session_id: str | None = None) -> None:
        self.cfg, self.llm, self.embedder, self.store, self.skills = cfg, llm, embedder, store, skills
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.history: list[HistoryTurn] = []
        self._lock = threading.Lock()

    def retrieve(self, text: str):
        vector = self.embedder.embed_one(text)
        in_prompt = {t.memory_id for t in history_window(self.history, self.cfg.llm.history_turns)}
        memories = rank_memories(
            self.store.search(vector, self.cfg.memory.top_k * 4, exclude_ids=in_prompt,
                              min_relevance=self.cfg.memory.min_relevance),
            self.cfg.memory.top_k)
        docs = self.skills.search(vector, self.cfg.skills.top_k, self.cfg.skills.min_relevance) \
            if self.skills else []
        return vector, memories, docs

    def remember(self, role: str, text: str, vector=None) -> Memory:
        memory = Memory(text=text, role=role, session_id=self.session_id, profile=self.store.profile)
        if vector is None:
            vector = self.embedder.embed_one(text)
        self.store.add([memory], vector[None, :])
        self.history.append(HistoryTurn(role, text, memory.id))
        return memory

    def respond(self, user_text: str, timings: TurnTimings | None = None,
                cancel: threading.Event | None = None, store_reply: bool = True) -> Iterator[TurnEvent]:
        """One turn. ``store_reply=False`` leaves storing the reply to the caller, which
        knows what was really spoken (the voice loop, after a barge-in)."""
        timings = timings or TurnTimings()
        with self._lock:
            vector, memories, docs = self.retrieve(user_text)
            timings.mark("retrieval_ready")
            yield Retrieved(memories, docs)
            messages = build_messages(self.cfg.llm, user_text, self.history, memories, docs)
            self.remember("user", user_text, vector)   # stored before generation: never lost
            splitter, parts, index = SentenceSplitter(first_clause_words=FIRST_CLAUSE_WORDS), [], 0
            for piece in self.llm.stream(messages, cancel=cancel):
                timings.mark("first_token")
                parts.append(piece)
                for sentence in splitter.feed(piece):
                    timings.mark("first_sentence")
                    yield Sentence(sentence, index)
                    index += 1
            for sentence in splitter.flush():
                timings.mark("first_sentence")
                yield Sentence(sentence, index)
                index += 1
            reply = "".join(parts).strip()
            cancelled = bool(cancel and cancel.is_set())
            timings.mark("reply_done")
            if reply and store_reply:
                started = time.perf_counter()
                self.remember("assistant", reply + (" [interrupted]" if cancelled else ""))
                log.debug("stored reply in %.0f ms", (time.perf_counter() - started) * 1000)
            yield ReplyDone(reply, cancelled)

    def ask(self, user_text: str) -> tuple[str, Retrieved]:
        """One whole turn as text: what ``assistant ask`` and tests use."""
        retrieved, reply = Retrieved([], []), ""
        for event in self.respond(user_text):
            if isinstance(event, Retrieved):
                retrieved = event
            elif isinstance(event, ReplyDone):
                reply = event.text
        return reply, retrieved
