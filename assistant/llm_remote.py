"""Replies from an OpenAI-compatible server, with the local model standing by.

A household may run a bigger model on its one GPU machine (``python -m llama_cpp.server``,
vLLM, Ollama and llama-server speak the same chat-completions API). ``RemoteLLM`` streams
from it with the ``openai`` client under the same generator contract as
``LocalLLM.stream``. ``FallbackLLM`` is what the engine holds: it tries the server, and
when the server is unreachable, returns an error or sends no first token within
``llm.first_token_timeout_s``, the same turn is answered by the local model, the log says
so once, and ``status()`` (shown by ``assistant status``) says which backend answered
last and why. After a failure the server is left alone for ``llm.remote_retry_s``, so
later turns do not each wait out the deadline.

Grammar-constrained skill arguments (``constrained``), prompt prefill and token counts
stay with the local model: the server's JSON-schema modes differ between servers, and
arguments are short.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Generator

from .config import LlmConfig
from .errors import ModelError

log = logging.getLogger(__name__)

# After the first token, a gap this long between pieces ends the reply where it is: the
# words already spoken cannot be taken back, and starting over locally would repeat them.
STALL_SECONDS = 30.0


class RemoteLLM:
    """Chat completions streamed from ``cfg.base_url``; the API key from ``cfg.api_key_env``."""

    def __init__(self, cfg: LlmConfig) -> None:
        from openai import OpenAI, Timeout
        self.cfg = cfg
        key = os.environ.get(cfg.api_key_env) or "not-needed"   # local servers take any key
        timeout = Timeout(connect=2.0, read=STALL_SECONDS, write=10.0, pool=2.0)
        self.client = OpenAI(base_url=cfg.base_url, api_key=key, timeout=timeout, max_retries=0)
        self._model = cfg.remote_model

    def model(self) -> str:
        """The configured model name, else the first one the server lists."""
        if not self._model:
            models = self.client.models.list()
            if not models.data:
                raise ModelError(f"the LLM server at {self.cfg.base_url} lists no models; set llm.remote_model")
            self._model = models.data[0].id
        return self._model

    def stream(self, messages: list[dict], *, max_tokens: int | None = None,
               temperature: float | None = None,
               cancel: threading.Event | None = None) -> Generator[str, None, None]:
        response = self.client.chat.completions.create(
            model=self.model(), messages=messages, stream=True,
            max_tokens=max_tokens or self.cfg.max_reply_tokens,
            temperature=self.cfg.temperature if temperature is None else temperature, top_p=self.cfg.top_p)
        try:
            for chunk in response:
                if cancel is not None and cancel.is_set():
                    break
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    yield piece
        finally:
            response.close()


@dataclass
class BackendStatus:
    backend: str                    # configured: "openai"
    base_url: str
    last_answered_by: str = ""      # "openai" | "local" | "" (no turn yet)
    remote_ok: bool | None = None   # None: not tried yet
    last_error: str = ""
    fallbacks: int = 0
    retry_at: float = 0.0           # monotonic time before which the server is not tried


class FallbackLLM:
    """The remote model first, the local one when it fails; otherwise the local's interface."""

    def __init__(self, remote: RemoteLLM, local, cfg: LlmConfig) -> None:
        self.remote, self.local, self._cfg = remote, local, cfg
        self.state = BackendStatus(cfg.backend, cfg.base_url)
        self.last_prompt = (0, 0)

    @property
    def cfg(self) -> LlmConfig:
        return self._cfg

    @cfg.setter
    def cfg(self, value: LlmConfig) -> None:    # a live config edit reaches both models
        self._cfg = self.remote.cfg = self.local.cfg = value

    @property
    def path(self):
        """The local model's file (the remote one has none here)."""
        return self.local.path

    @property
    def llm(self):
        """The local llama.cpp model, for tools that drive it directly (benchmarks)."""
        return self.local.llm

    # -- what the engine and status read ------------------------------------------------
    def status(self) -> dict:
        s = asdict(self.state)
        s["retry_in_s"] = round(max(0.0, s.pop("retry_at") - time.monotonic()), 1)
        return s

    def remote_available(self) -> bool:
        return time.monotonic() >= self.state.retry_at

    def _failed(self, why: str) -> None:
        self.state.fallbacks += 1
        self.state.last_error = why
        self.state.retry_at = time.monotonic() + self.cfg.remote_retry_s
        if self.state.remote_ok is not False:
            log.warning("LLM server %s %s; answering with the local model (retrying in %.0f s)",
                        self.cfg.base_url, why, self.cfg.remote_retry_s)
        self.state.remote_ok = False

    # -- generation ---------------------------------------------------------------------
    def warm(self) -> None:
        self.local.warm()
        try:
            self.remote.model()
            self.state.remote_ok = True
        except Exception as e:
            self._failed(f"is unreachable at start ({_first_line(e)})")

    def stream(self, messages: list[dict], *, max_tokens: int | None = None,
               temperature: float | None = None,
               cancel: threading.Event | None = None) -> Generator[str, None, None]:
        """Yield reply pieces from the server, or, if it fails before its first piece,
        from the local model. Same contract as ``LocalLLM.stream``."""
        kwargs = {"max_tokens": max_tokens, "temperature": temperature, "cancel": cancel}
        if self.remote_available():
            pieces: queue.Queue = queue.Queue()
            stop = threading.Event()
            worker = threading.Thread(target=self._pump, args=(messages, kwargs, pieces, stop),
                                      name="llm-remote", daemon=True)
            worker.start()
            try:
                try:
                    kind, value = pieces.get(timeout=self.cfg.first_token_timeout_s)
                except queue.Empty:
                    kind, value = "error", f"sent no first token in {self.cfg.first_token_timeout_s:g} s"
                if kind != "error":
                    self.state.remote_ok, self.state.last_answered_by = True, "openai"
                    self.last_prompt = (0, 0)
                    while kind == "piece":
                        if cancel is not None and cancel.is_set():
                            return
                        yield value
                        try:
                            kind, value = pieces.get(timeout=STALL_SECONDS)
                        except queue.Empty:
                            kind, value = "error", f"stalled for {STALL_SECONDS:g} s mid-reply"
                    if kind == "error":     # words already said stay said; the reply ends here
                        self._failed(value)
                    return
                self._failed(value)
            finally:
                stop.set()
        self.state.last_answered_by = "local"
        yield from self.local.stream(messages, **kwargs)
        self.last_prompt = getattr(self.local, "last_prompt", (0, 0))

    def complete_aside(self, messages: list[dict], max_tokens: int, should_stop=lambda: False,
                       prefix_key: str | None = None) -> str | None:
        """Background work (memory.fact_keys) on the server while it answers, which spares
        this machine's CPU; else on the local model. Same contract as ``LocalLLM.complete_aside``."""
        if self.remote_available():
            pieces = []
            try:
                for piece in self.remote.stream(messages, max_tokens=max_tokens, temperature=0.0):
                    if should_stop():
                        return None
                    pieces.append(piece)
                return "".join(pieces)
            except Exception as e:
                self._failed(f"failed ({_first_line(e)})")
        return self.local.complete_aside(messages, max_tokens, should_stop, prefix_key)

    def _pump(self, messages, kwargs, pieces: queue.Queue, stop: threading.Event) -> None:
        cancel = kwargs["cancel"]
        try:
            for piece in self.remote.stream(messages, max_tokens=kwargs["max_tokens"],
                                            temperature=kwargs["temperature"], cancel=stop):
                pieces.put(("piece", piece))
                if stop.is_set() or (cancel is not None and cancel.is_set()):
                    break
            pieces.put(("end", None))
        except Exception as e:
            pieces.put(("error", f"failed ({_first_line(e)})"))

    def prompt_reuse(self, messages: list[dict]) -> tuple[int, int]:
        return self.local.prompt_reuse(messages) if not self.remote_available() else (0, 0)

    def prefill(self, messages: list[dict], should_stop=lambda: False) -> int:
        """Only while the server is away: otherwise the local model is not what answers."""
        return 0 if self.remote_available() else self.local.prefill(messages, should_stop)

    def prefill_prompt(self, messages: list[dict], should_stop=lambda: False) -> int:
        return 0 if self.remote_available() else self.local.prefill_prompt(messages, should_stop)

    def constrained(self, *args, **kwargs) -> str:
        return self.local.constrained(*args, **kwargs)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [e.__class__.__name__])[0][:160] or e.__class__.__name__


def build(cfg: LlmConfig, local):
    """What Runtime._build returns for the LLM stage: the local model, or both."""
    if cfg.backend != "openai":
        return local
    return FallbackLLM(RemoteLLM(cfg), local, cfg)
