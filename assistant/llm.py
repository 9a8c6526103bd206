"""The local language model (llama.cpp through llama-cpp-python), streamed token by token."""
from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Generator, Protocol

import numpy as np

from .config import LlmConfig
from .errors import ModelError

# Tokens read per step of a between-turns prefill: small enough that a turn arriving
# waits at most ~0.1 s for the step in progress, big enough to batch well.
PREFILL_CHUNK = 24
PROMPT_CHUNK = 64
PREFIX_STATES_KEPT = 8   # skill prompts whose model state is kept (~10 MB each with the 1.5B)


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints load chatter on fd 2 even with verbose=False; hide it."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
        os.close(devnull)


class ChatModel(Protocol):
    """What the engine asks of a language model. ``LocalLLM`` and the remote server with
    the local model behind it (``llm_remote.FallbackLLM``) both give all of it, so the
    engine never asks which one it has."""

    cfg: LlmConfig
    last_prompt: tuple[int, int]    # (tokens, of which cached) of the last streamed prompt

    def warm(self) -> None: ...

    def stream(self, messages: list[dict], *, max_tokens: int | None = None,
               temperature: float | None = None,
               cancel: threading.Event | None = None) -> Generator[str, None, None]: ...

    def prompt_reuse(self, messages: list[dict]) -> tuple[int, int]: ...

    def prefill(self, messages: list[dict], should_stop: Callable[[], bool] = ...) -> int: ...

    def prefill_prompt(self, messages: list[dict], should_stop: Callable[[], bool] = ...) -> int: ...

    def complete_aside(self, messages: list[dict], max_tokens: int, should_stop: Callable[[], bool] = ...,
                       prefix_key: str | None = None) -> str | None: ...

    def constrained(self, messages: list[dict], grammar: str, max_tokens: int = 64,
                    prefix_key: str | None = None) -> str: ...


class LocalLLM:
    def __init__(self, cfg: LlmConfig, model_path: Path) -> None:
        from .doctor import check_llama_build
        problem = check_llama_build()      # refuse in one line rather than die by SIGILL
        if problem:
            raise ModelError(problem)
        from llama_cpp import Llama
        self.cfg, self.path = cfg, model_path
        self._lock = threading.Lock()   # one generation at a time: llama.cpp state is shared
        self._grammars: dict = {}
        self._prefix_states: OrderedDict = OrderedDict()  # prefix_key → state after that prompt (see constrained)
        self._formatter: Callable | None = None   # the GGUF's chat template, for prefill
        self.last_prompt = (0, 0)       # (tokens, cached) of the last streamed prompt
        try:
            with _quiet_stderr():
                self.llm = Llama(model_path=str(model_path), n_ctx=cfg.context_tokens,
                                 n_threads=cfg.threads, n_threads_batch=cfg.threads,
                                 n_batch=512, flash_attn=True, verbose=False)
        except Exception as e:
            raise ModelError(f"cannot load LLM from {model_path} ({str(e).splitlines()[0][:120]}); "
                             "set llm.model to a GGUF file or \"\" for the default")
        from .memtrim import drop_mapped_pages
        drop_mapped_pages(str(Path(model_path).resolve()))   # weights copied at load: ~0.7 GB of RSS

    def warm(self) -> None:
        for _ in self.stream([{"role": "user", "content": "Hi"}], max_tokens=1):
            pass

    def _prompt_tokens(self, messages: list[dict]) -> list[int] | None:
        """``messages`` as create_chat_completion would tokenize them (its GGUF chat template)."""
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            text = lambda t: self.llm._model.token_get_text(t) if t != -1 else ""  # noqa: E731
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=text(self.llm.token_eos()),
                                                  bos_token=text(self.llm.token_bos()))
        result = self._formatter(messages=messages)
        return self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def prompt_reuse(self, messages: list[dict]) -> tuple[int, int]:
        """(prompt tokens, of which already in the KV cache): what a turn's first token waits on."""
        tokens = self._prompt_tokens(messages) or []
        return len(tokens), self._prompt_reuse_tokens(tokens)

    def _prompt_reuse_tokens(self, tokens: list[int]) -> int:
        cached = 0
        for a, b in zip(self.llm._input_ids, tokens):
            if a != b:
                break
            cached += 1
        return cached

    def prefill(self, messages: list[dict], should_stop=lambda: False) -> int:
        """Read ``messages``, and the start of a next user message, into the KV cache now.

        Between turns the prompt of the next one is known up to the user's words: the
        system prompt and the recent history. Reading it while the user thinks or speaks
        means the turn itself reads only the retrieved notes and the question.
        llama-cpp-python reuses the longest cached prefix of the next prompt, so this is
        only ever an advance on work it would do anyway. Runs in small chunks and stops
        as soon as ``should_stop()`` (a turn is waiting); returns the tokens read.
        """
        marker = "\u0001"
        tokens = self._prompt_tokens([*messages, {"role": "user", "content": marker}])
        cut = self.llm.tokenize(marker.encode("utf-8"), add_bos=False, special=True)
        if tokens is None or not cut:
            return 0
        at = next((i for i in range(len(tokens) - len(cut), -1, -1) if tokens[i:i + len(cut)] == cut), None)
        return 0 if at is None else self._read(tokens[:at], should_stop)

    def prefill_prompt(self, messages: list[dict], should_stop=lambda: False) -> int:
        """Read a whole prompt now (a speculative turn): streaming it later starts at once.

        In bigger chunks than ``prefill``: a turn that arrives meanwhile mostly reads the
        same prompt, and llama.cpp reads 64 tokens ~15 % faster than 24 (4.4 vs 5.2 ms each)."""
        tokens = self._prompt_tokens(messages)
        return 0 if tokens is None else self._read(tokens, should_stop, chunk=PROMPT_CHUNK)

    def _read(self, wanted: list[int], should_stop, chunk: int = PREFILL_CHUNK) -> int:
        if len(wanted) > self.cfg.context_tokens - self.cfg.max_reply_tokens - 64:
            return 0                    # no room for the turn: let the turn itself decide
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            return self._read_locked(wanted, should_stop, chunk)
        finally:
            self._lock.release()

    def _read_locked(self, wanted: list[int], should_stop, chunk: int) -> int:
        done = 0
        same = self._prompt_reuse_tokens(wanted)
        if same < len(wanted):          # else all cached (maybe more: keep it)
            self.llm.n_tokens = same
        while self.llm.n_tokens < len(wanted) and not should_stop():
            piece = wanted[self.llm.n_tokens:self.llm.n_tokens + chunk]
            self.llm.eval(piece)
            done += len(piece)
        return done

    def complete_aside(self, messages: list[dict], max_tokens: int, should_stop=lambda: False,
                       prefix_key: str | None = None) -> str | None:
        """A greedy reply to ``messages`` written between turns, or None if ``should_stop()``
        came first (then nothing of it is kept).

        Background work (memory.fact_keys) must neither delay a turn nor cost it the
        conversation's cached prompt: the prompt is read in ``PREFILL_CHUNK`` steps and the
        reply token by token, both checking ``should_stop``, and the model state from
        before (the conversation read by ``prefill``) is put back afterwards, which costs
        a copy of its KV cache (~28 KB a token with the 1.5B) instead of reading it again
        at ~20 tokens/s. ``prefix_key`` keeps this prompt's own unchanging start as in
        ``constrained``. Returns None at once while a turn holds the model."""
        tokens = self._prompt_tokens(messages)
        if tokens is None or len(tokens) + max_tokens > self.cfg.context_tokens:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            before = self._save_state() if self.llm.n_tokens else None
            try:
                self._restore_prefix(prefix_key)
                self._read_locked(tokens, should_stop, PREFILL_CHUNK)
                if should_stop():
                    return None
                pieces = []
                chunks = self.llm.create_chat_completion(messages=messages, stream=True, max_tokens=max_tokens,
                                                         temperature=0.0)
                try:
                    for chunk in chunks:
                        if should_stop():
                            return None
                        pieces.append(chunk["choices"][0]["delta"].get("content") or "")
                finally:
                    getattr(chunks, "close", lambda: None)()
                    self._free_sampler()
                self._keep_prefix(prefix_key)
                return "".join(pieces)
            finally:
                if before is not None:
                    self.llm.load_state(before)
                else:
                    self.llm.n_tokens = 0
        finally:
            self._lock.release()

    def constrained(self, messages: list[dict], grammar: str, max_tokens: int = 64,
                    prefix_key: str | None = None) -> str:
        """The whole reply, greedy, restricted to the GBNF ``grammar`` (tool arguments).

        Keep grammars small: the sampler checks the grammar against the candidate tokens
        at every step, which over Qwen's 151k-token vocabulary is what costs time.
        ``prefix_key`` names a prompt whose start never changes (a skill's description and
        examples): the model state after the first such call is kept, and later calls
        restore it, so llama.cpp reads only the new tail (the user's words) instead of
        the whole prompt, even when conversation turns came in between.
        """
        from llama_cpp import LlamaGrammar
        compiled = self._grammars.get(grammar)
        if compiled is None:
            with _quiet_stderr():
                compiled = self._grammars[grammar] = LlamaGrammar.from_string(grammar, verbose=False)
        with self._lock:
            self._restore_prefix(prefix_key)
            try:
                out = self.llm.create_chat_completion(messages=messages, grammar=compiled, max_tokens=max_tokens,
                                                      temperature=0.0)
            finally:
                self._free_sampler()
            self._keep_prefix(prefix_key)
        return out["choices"][0]["message"]["content"] or ""

    def _restore_prefix(self, prefix_key: str | None) -> None:
        """Load the state kept after ``prefix_key``'s prompt, if any (see ``constrained``)."""
        if prefix_key in self._prefix_states:
            self._prefix_states.move_to_end(prefix_key)
            self.llm.load_state(self._prefix_states[prefix_key])

    def _keep_prefix(self, prefix_key: str | None) -> None:
        """Keep the state after ``prefix_key``'s first prompt; the least recently used goes."""
        if prefix_key is not None and prefix_key not in self._prefix_states:
            self._prefix_states[prefix_key] = self._save_state()
            while len(self._prefix_states) > PREFIX_STATES_KEPT:
                self._prefix_states.popitem(last=False)

    def _save_state(self):
        """The model state without llama-cpp-python's copy of its logits table.

        ``Llama.save_state`` copies ``scores`` (one row of vocabulary-sized float32 per
        prompt token, up to n_batch rows): 180 MB for a 300-token skill prompt with Qwen's
        151,936-token vocabulary, of which nothing is read back, since logits are only
        kept with ``logits_all``: each skill whose arguments the LLM fills grew the daemon
        by that much. One row is kept: ``load_state`` broadcasts it into the table."""
        state = self.llm.save_state()
        state.scores = np.zeros((1, state.scores.shape[1]), np.single)
        return state

    def stream(self, messages: list[dict], *, max_tokens: int | None = None,
               temperature: float | None = None,
               cancel: threading.Event | None = None) -> Generator[str, None, None]:
        """Yield text pieces of the reply; stops early when ``cancel`` is set."""
        with self._lock:
            self.last_prompt = self.prompt_reuse(messages)
            chunks = self.llm.create_chat_completion(
                messages=messages, stream=True,
                max_tokens=max_tokens or self.cfg.max_reply_tokens,
                temperature=self.cfg.temperature if temperature is None else temperature,
                top_p=self.cfg.top_p)
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            finally:
                getattr(chunks, "close", lambda: None)()     # generate() is done with the sampler
                self._free_sampler()

    def _free_sampler(self) -> None:
        """Free the reply's sampler chain now, not at Python's next full collection.

        llama-cpp-python keeps each generation's sampler on the ``Llama`` and frees it
        through a closure that refers back to it, a cycle only the cyclic GC breaks. The
        sampler outlives its generation long enough to reach the oldest GC generation,
        so each reply's chain (with its vocabulary-sized candidate buffer, ~1.8 MB for
        Qwen) waited for a full collection: a heap sawtooth of ~20 MB that left holes
        the allocator could not return (heaptrack on the soak's daemon)."""
        sampler = getattr(self.llm, "_sampler", None)
        if sampler is not None:
            sampler.close()
            self.llm._sampler = None
