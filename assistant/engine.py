"""One conversational turn, independent of audio: embed, act or converse, remember.

``Engine.respond`` yields small typed events (Wyoming-style) so the voice loop, the text
REPL and the tests all drive the very same path: ``Retrieved`` once, then ``Sentence``
events as the reply streams, then ``ReplyDone``. Both sides of the turn are stored in
memory with their embeddings.

The stages of a turn::

    embed ─▶ skill router ──(a request)──▶ arguments → handler → Acted + Sentences
                  └──────(conversation)──▶ memory + doc retrieval → LLM stream → Sentences
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Generator, Iterator, Union

from memory import fact_keys
from memory.retrieval import RetrievalSettings
from memory.service import MemoryService
from memory.store import Hit, Memory, MemoryStore, describe
from skills.index import DocHit, SkillIndex

from . import intents
from .config import Config
from .errors import InputError
from .limits import PROMPT_MARGIN_TOKENS, check_request, fit_messages
from .llm import ChatModel
from .metrics import TurnTimings
from .non_answers import is_evidence
from .prompt import HistoryTurn, build_messages, chosen_notes, history_window, prefix_messages, trim_history
from .sentences import SentenceSplitter, split_all
from .speculation import Speculation

if TYPE_CHECKING:
    from memory.embeddings import Embedder
    from memory.knowledge.service import KnowledgeBase
    from skills.dispatch import Action, SkillDispatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    memories: list[Hit]
    docs: list[DocHit]
    knowledge: list = field(default_factory=list)   # memory.knowledge.search.KnowledgeHit: the user's files


@dataclass(frozen=True)
class Sentence:
    text: str
    index: int


@dataclass(frozen=True)
class ReplySlot:
    """The place of a reply stored later (the voice loop stores what was really played):
    its ``seq`` and ``ts`` are taken when the reply is written, so it sorts right after
    its question, before the next turn's, however late it is stored."""
    seq: int
    ts: float


@dataclass(frozen=True)
class ReplyDone:
    text: str
    cancelled: bool
    slot: ReplySlot | None = None      # with store_reply=False: where to store the reply


@dataclass(frozen=True)
class Acted:
    """A skill ran (or apologised) instead of the LLM."""
    action: Action


TurnEvent = Union[Retrieved, Acted, Sentence, ReplyDone]

# The user's own statements are the ground truth; the assistant's replies only echo them
# (and may be wrong), so they rank a little lower. A user's question states nothing.
ASSISTANT_REPLY_PENALTY = 0.1
# The first clause of a reply goes to the voice alone once it has this many words ("On
# the whole,"), so speech starts before the whole first sentence is written.
FIRST_CLAUSE_WORDS = 3


def _reply_splitter() -> SentenceSplitter:
    """The same split for a reply written ahead and the turn that adopts it, so their
    first sentences match (and its early audio is used)."""
    return SentenceSplitter(first_clause_words=FIRST_CLAUSE_WORDS)


def _held(pieces: Generator[str, None, None], hold: Callable[[], object] | None) -> Iterator[str]:
    """``pieces``, calling ``hold()`` before each is written (a generator computes a
    token only when pulled, so the LLM is idle while ``hold`` waits)."""
    if hold is None:
        yield from pieces
        return
    try:
        while True:
            hold()
            piece = next(pieces, None)
            if piece is None:
                return
            yield piece
    finally:
        pieces.close()            # a reply cut short frees the LLM at once


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?")


def _asks_the_assistant(text: str) -> bool:
    """A question about the assistant itself: it says "you"."""
    return _is_question(text) and re.search(r"\byou(?:r|rs|rself)?\b", text, re.IGNORECASE) is not None


def _is_note(hit: Hit) -> bool:
    """A user's question states nothing; a reply that admits not knowing, or only echoes
    the question before it, is no evidence either (it stays in the history)."""
    m = hit.memory
    if m.role == "user":
        return not _is_question(m.text)
    if m.role == "assistant":
        asked = " ".join(c.text for c in hit.context if c.role == "user")
        return is_evidence(m.text, asked)
    return True


def rank_memories(hits: list[Hit], k: int) -> list[Hit]:
    useful = [h for h in hits if _is_note(h)]
    score = lambda h: h.relevance - (ASSISTANT_REPLY_PENALTY if h.memory.role == "assistant" else 0.0)  # noqa: E731
    return sorted(useful, key=score, reverse=True)[:k]


def retrieval_settings(cfg: Config) -> RetrievalSettings:
    return RetrievalSettings.from_config(cfg.memory)


def memory_service(cfg: Config, store: MemoryStore, embedder: Embedder) -> MemoryService:
    """The memory API as config.toml sets it: [memory]'s ranking, and the names that
    "I" and "you" stand for in what is stored."""
    return MemoryService(store, embedder, retrieval_settings(cfg), cfg.memory.user_name, cfg.llm.assistant_name)


class Engine:
    def __init__(self, cfg: Config, llm: ChatModel, embedder: Embedder, store: MemoryStore,
                 skills: SkillIndex | None, session_id: str | None = None,
                 actions: SkillDispatcher | None = None, knowledge: KnowledgeBase | None = None,
                 memory: MemoryService | None = None) -> None:
        """``memory``: the runtime's, shared with the skills (built here when not given)."""
        self.cfg, self.llm, self.embedder, self.store, self.skills = cfg, llm, embedder, store, skills
        self.knowledge = knowledge      # None: no files
        self.memory = memory or memory_service(cfg, store, embedder)
        self.actions = actions          # None: conversation only
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.history: list[HistoryTurn] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._waiting = 0               # turns waiting for the lock
        self._speculation: Speculation | None = None   # a turn begun during a pause: see prepare()
        self._waiting_lock = threading.Lock()
        self.last_turn_at = time.monotonic()     # a turn began or was stored: background work waits for quiet

    def reconfigure(self, cfg: Config, *, llm: ChatModel, memory: MemoryService,
                    knowledge: KnowledgeBase | None) -> None:
        """Answer from the next turn with a new config.toml; the runtime has rebuilt the
        parts whose settings changed (a model, the memory API, the notes' index)."""
        self.cfg, self.llm, self.knowledge = cfg, llm, knowledge
        self.memory, self.store = memory, memory.store

    def retrieve(self, text: str, vector=None):
        if vector is None:
            vector = self.embedder.embed_one(text)
        in_prompt = {t.memory_id for t in history_window(self.history, self.cfg.llm.history_turns)}
        memories = rank_memories(
            self.memory.search(text, self.cfg.memory.top_k * 2, exclude_ids=in_prompt, vector=vector),
            self.cfg.memory.top_k)
        # Skill docs answer questions about the assistant ("do you keep my data private?").
        # Anything else never needs one, and given one the model acted it out: "I planted
        # tomatoes" brought the reminder doc (0.50) and "I'll set a reminder for 6 pm";
        # "What's my gym locker number?" brought the forget doc (0.61) and was answered
        # with its example. Relevance alone cannot tell these apart (privacy doc for
        # "Where do you keep my memories?": 0.60), being asked about oneself can.
        docs = self.skills.search(vector, self.cfg.skills.top_k, self.cfg.skills.min_relevance) \
            if self.skills and _asks_the_assistant(text) else []
        return vector, memories, docs

    def from_files(self, text: str, vector) -> list:
        """Passages of the user's files for this turn: over the relevance floor, or none."""
        if self.knowledge is None or not self.cfg.knowledge.folders or self.cfg.knowledge.top_k <= 0:
            return []
        try:
            return self.knowledge.search(text, vector, k=self.cfg.knowledge.top_k,
                                         min_relevance=self.cfg.knowledge.min_relevance)
        except Exception:           # an unreadable index must not cost the turn its reply
            log.exception("knowledge search failed")
            return []

    def busy(self) -> bool:
        """A turn is running or waiting: background work (indexing) should hold off."""
        return self._waiting > 0 or self._lock.locked()

    def _messages(self, user_text: str, memories, docs, read_first, knowledge) -> list[dict]:
        return build_messages(self.cfg.llm, user_text, self.history, memories, docs, read_first,
                              knowledge, self.cfg.knowledge.notes_tokens)

    def prefill(self, should_stop=lambda: False) -> int:
        """Between turns: read the next prompt's known start into the LLM's cache.

        Yields (between small chunks) as soon as ``should_stop()`` or a turn is waiting.
        """
        if not self._lock.acquire(blocking=False):
            return 0                     # a turn is running
        try:
            started = time.perf_counter()
            read = self.llm.prefill(prefix_messages(self.cfg.llm, self.history),
                                    lambda: self._waiting > 0 or should_stop())
            if read:
                log.debug("prefilled %d prompt tokens in %.0f ms", read, (time.perf_counter() - started) * 1000)
            return read
        finally:
            self._lock.release()

    def read_fact_keys(self, should_stop=lambda: False) -> int:
        """Between turns: have the LLM read one stored turn's fact keys (memory.fact_keys).

        Like ``prefill``, it yields as soon as ``should_stop()`` or a turn is waiting, and
        leaves the conversation's cached prompt as it found it; returns the turns keyed
        (0: none left, or stopped)."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            stop = lambda: self._waiting > 0 or should_stop()       # noqa: E731
            started = time.perf_counter()
            done = self.memory.read_fact_keys(
                lambda messages: self.llm.complete_aside(messages, fact_keys.MAX_TOKENS, stop, prefix_key="fact_keys"),
                stop)
            if done:
                log.info("fact keys read for %d turn%s in %.1f s", done, "" if done == 1 else "s",
                         time.perf_counter() - started)
            return done
        finally:
            self._lock.release()

    def _prepare_key(self, user_text: str) -> tuple:
        return user_text, len(self.history), self.history[-1].memory_id if self.history else None

    def _notes_read(self, spec: Speculation | None, user_text: str) -> tuple[str, ...]:
        """The notes a speculation on earlier words of this utterance read into llama.cpp:
        written first again, so their tokens stay in its cache (see ``chosen_notes``)."""
        if spec is None or spec.key[1:] != self._prepare_key(user_text)[1:]:
            return ()
        return spec.note_ids

    def prepare(self, user_text: str, should_stop=lambda: False, write_while=lambda: True) -> str | None:
        """Start the turn on ``user_text`` speculatively, while the user pauses.

        Retrieves its notes, reads its whole prompt into llama.cpp and writes the reply's
        first sentence, stopping early when ``should_stop()`` (the utterance ended) or a
        turn is waiting; the reply is written only while ``write_while()`` (no speech
        since). ``respond`` on the same text, with nothing said in between, adopts all of
        it (see ``assistant.speculation``). Commands and skills are left alone. Returns
        the first sentence, if written, so it can be synthesised ahead too.
        """
        if intents.parse(user_text) or not self._lock.acquire(blocking=False):
            return None
        try:
            key = self._prepare_key(user_text)
            if self._speculation is not None and self._speculation.key == key:
                return self._speculation.first_sentence
            read_first = self._notes_read(self._speculation, user_text)
            self.discard_speculation()
            stop = lambda: self._waiting > 0 or should_stop()  # noqa: E731
            # The text the turn will store is embedded now too: one call, off the turn's path.
            stored = describe(self.memory.new_memory("user", user_text, self.session_id, seq=self._seq))
            vector, stored_vector = self.embedder.embed([user_text, stored])
            if self.actions and self.actions.would_act(user_text, vector):
                return None
            _, memories, docs = self.retrieve(user_text, vector)
            knowledge = self.from_files(user_text, vector)
            try:
                messages = self.fit(self._messages(user_text, memories, docs, read_first, knowledge))
            except InputError:
                return None              # the turn itself refuses it
            note_ids = tuple(h.memory.id for h, _ in chosen_notes(memories, self.cfg.llm.notes_tokens, read_first))
            spec = self._speculation = Speculation(key, vector, memories, docs, stored=(stored, stored_vector),
                                                   prompt=self.llm.prompt_reuse(messages), note_ids=note_ids,
                                                   knowledge=knowledge)
            self.llm.prefill_prompt(messages, stop)
            stop_writing = lambda: stop() or not write_while()  # noqa: E731
            if stop_writing():
                return None              # the turn reads the rest of the prompt itself
            return spec.write_ahead(self.llm.stream(messages), _reply_splitter(), stop_writing)
        finally:
            self._lock.release()

    def discard_speculation(self) -> None:
        """The user went on, or the utterance was not a turn: drop the reply started early."""
        spec, self._speculation = self._speculation, None
        if spec is not None:
            spec.close()

    def _turn(self, role: str, text: str) -> Memory:
        memory = self.memory.new_memory(role, text, self.session_id, seq=self._seq)
        self._seq += 1
        return memory

    def reserve(self) -> ReplySlot:
        """A place for a reply that will be stored later (see ``ReplySlot``)."""
        slot = ReplySlot(self._seq, time.time())
        self._seq += 1
        return slot

    def remember(self, role: str, text: str, vector=None, slot: ReplySlot | None = None) -> Memory:
        """Store one side of the turn; ``vector`` is the embedding of its stored text;
        ``slot``: the place reserved for it when the reply was written."""
        if slot is None:
            memory = self._turn(role, text)
        else:
            memory = self.memory.new_memory(role, text, self.session_id, seq=slot.seq)
            memory.ts = slot.ts
        self.memory.store_memory(memory, vector)
        self._add_to_history(role, text, memory.id, memory.seq)
        self.last_turn_at = time.monotonic()
        return memory

    def _add_to_history(self, role: str, text: str, memory_id: str, seq: int = -1) -> None:
        turns = [*self.history, HistoryTurn(role, text, memory_id, seq)]
        turns.sort(key=lambda t: t.seq)      # a reply stored late goes back after its question
        self.history = trim_history(turns, self.cfg.llm.history_turns)

    def _count_tokens(self, messages: list[dict]) -> int:
        """The prompt's tokens by the LLM's own template, or an estimate without one."""
        counted = self.llm.prompt_reuse(messages)[0] if hasattr(self.llm, "prompt_reuse") else 0
        return counted or sum(len(m["content"]) for m in messages) // 2 + 8 * len(messages)

    def fit(self, messages: list[dict]) -> list[dict]:
        """The prompt within the context, oldest history dropped first; or ``InputError``."""
        budget = self.cfg.llm.context_tokens - self.cfg.llm.max_reply_tokens - PROMPT_MARGIN_TOKENS
        return fit_messages(messages, self._count_tokens, budget)

    def _command(self, intent, user_text: str, timings: TurnTimings) -> Iterator[TurnEvent]:
        """A memory command: done here, confirmed aloud, never shown to the LLM."""
        if isinstance(intent, intents.Remember):
            memory, replaced = self.memory.add_fact(intent.fact, self.session_id)
            reply = intents.remembered_reply(memory.text, len(replaced))
        else:
            gone = self.memory.about(intent.topic)
            count = self.memory.forget([m.id for m in gone])
            ids = {m.id for m in gone}
            self.history = [t for t in self.history if t.memory_id not in ids]
            reply = intents.forgot_reply(intent.topic, count)
        log.info("memory command %s: %s", type(intent).__name__, reply)
        timings.mark("retrieval_ready")
        yield Retrieved([], [])
        for stamp in ("first_token", "first_sentence", "reply_done"):
            timings.mark(stamp)
        yield Sentence(reply, 0)
        yield ReplyDone(reply, False)

    def respond(self, user_text: str, timings: TurnTimings | None = None,
                cancel: threading.Event | None = None, store_reply: bool = True,
                hold: Callable[[], object] | None = None) -> Iterator[TurnEvent]:
        """One turn. ``store_reply=False`` leaves storing the reply to the caller, which
        knows what was really spoken (the voice loop, after a barge-in). ``hold()`` is
        called before each token is written: the voice loop waits there while a sentence
        is synthesised, since the LLM and the voice sharing two cores slow each other."""
        timings = timings or TurnTimings()
        user_text = check_request(user_text)     # refused before anything is stored
        with self._waiting_lock:
            self._waiting += 1           # a prefill in progress yields to this turn
        with self._lock:
            with self._waiting_lock:
                self._waiting -= 1
            self.last_turn_at = time.monotonic()
            intent = intents.parse(user_text)
            if intent:
                yield from self._command(intent, user_text, timings)
                return
            user = self._turn("user", user_text)
            spec, self._speculation = self._speculation, None
            read_first = self._notes_read(spec, user_text)
            if spec is not None and spec.key != self._prepare_key(user_text):
                spec.close()
                spec = None
            if spec is not None:
                vector, memories, docs = spec.vector, spec.memories, spec.docs   # as the prompt read early
                knowledge = spec.knowledge
                stored_text = describe(user)
                doc_vector = spec.stored[1] if spec.stored[0] == stored_text else self.embedder.embed_one(stored_text)
            else:
                # One embedding call for the query and the turn's stored text.
                vector, doc_vector = self.embedder.embed([user_text, describe(user)])
            if spec is not None and self.actions and self.actions.would_act(user_text, vector):
                spec.close()             # a skill may need the LLM, which the suspended reply holds
                spec = None
            action = self.actions.act(user_text, vector) if self.actions else None
            if action is not None:
                yield from self._acted(user, doc_vector, action, timings, store_reply)
                return
            if spec is None:
                vector, memories, docs = self.retrieve(user_text, vector)
                knowledge = self.from_files(user_text, vector)
            else:
                log.debug("adopting the reply begun during the pause (%d pieces)", len(spec.pieces))
            messages = self.fit(self._messages(user_text, memories, docs, read_first, knowledge))
            timings.mark("retrieval_ready")
            yield Retrieved(memories, docs, knowledge)
            self.memory.store_memory(user, doc_vector)     # queued before generation: searchable now
            self._add_to_history("user", user_text, user.id, user.seq)
            splitter, parts, index = _reply_splitter(), [], 0
            if spec is not None and spec.started:
                pieces, prompt = spec.continued(cancel), spec.prompt
            else:
                pieces, prompt = self.llm.stream(messages, cancel=cancel), None
            for piece in _held(pieces, hold):
                if timings.first_token is None:
                    timings.prompt_tokens, timings.prompt_cached = prompt or self.llm.last_prompt
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
            yield ReplyDone(reply, cancelled, None if store_reply else self.reserve())

    def _acted(self, user: Memory, doc_vector, action, timings: TurnTimings,
               store_reply: bool = True) -> Iterator[TurnEvent]:
        """A skill's reply, spoken sentence by sentence like a streamed one. The question
        is stored once, with the seq it was given; the reply as ``respond`` says."""
        timings.mark("retrieval_ready")
        yield Retrieved([], [])
        yield Acted(action)
        timings.mark("first_token")
        self.memory.store_memory(user, doc_vector)
        self._add_to_history("user", user.text, user.id, user.seq)
        for index, sentence in enumerate(split_all(action.reply)):
            timings.mark("first_sentence")
            yield Sentence(sentence, index)
        timings.mark("reply_done")
        if store_reply:
            self.remember("assistant", action.reply)
        yield ReplyDone(action.reply, False, None if store_reply else self.reserve())

    def ask(self, user_text: str) -> tuple[str, Retrieved]:
        """One whole turn as text: what ``assistant ask`` and tests use."""
        retrieved, reply = Retrieved([], []), ""
        for event in self.respond(user_text):
            if isinstance(event, Retrieved):
                retrieved = event
            elif isinstance(event, ReplyDone):
                reply = event.text
        return reply, retrieved
