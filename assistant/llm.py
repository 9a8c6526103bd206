"""The local language model (llama.cpp through llama-cpp-python), streamed token by token."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from .config import LlmConfig
from .errors import ModelError


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


class LocalLLM:
    def __init__(self, cfg: LlmConfig, model_path: Path) -> None:
        from llama_cpp import Llama
        self.cfg, self.path = cfg, model_path
        self._lock = threading.Lock()   # one generation at a time: llama.cpp state is shared
        self._grammars: dict = {}
        self._prefix_states: dict = {}  # prefix_key → llama state after that prompt (see constrained)
        try:
            with _quiet_stderr():
                self.llm = Llama(model_path=str(model_path), n_ctx=cfg.context_tokens,
                                 n_threads=cfg.threads, n_threads_batch=cfg.threads,
                                 n_batch=512, verbose=False)
        except Exception as e:
            raise ModelError(f"cannot load LLM from {model_path} ({str(e).splitlines()[0][:120]}); "
                             "set llm.model to a GGUF file or \"\" for the default")

    def warm(self) -> None:
        for _ in self.stream([{"role": "user", "content": "Hi"}], max_tokens=1):
            pass

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
            if prefix_key in self._prefix_states:
                self.llm.load_state(self._prefix_states[prefix_key])
            out = self.llm.create_chat_completion(messages=messages, grammar=compiled, max_tokens=max_tokens,
                                                  temperature=0.0)
            if prefix_key is not None and prefix_key not in self._prefix_states:
                self._prefix_states[prefix_key] = self.llm.save_state()
        return out["choices"][0]["message"]["content"] or ""

    def stream(self, messages: list[dict], *, max_tokens: int | None = None,
               temperature: float | None = None, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces of the reply; stops early when ``cancel`` is set."""
        with self._lock:
            chunks = self.llm.create_chat_completion(
                messages=messages, stream=True,
                max_tokens=max_tokens or self.cfg.max_reply_tokens,
                temperature=self.cfg.temperature if temperature is None else temperature,
                top_p=self.cfg.top_p)
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    break
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
