"""``llm.backend = "openai"``: a real ``python -m llama_cpp.server`` started here, on
127.0.0.1, serving the bundled GGUF; killed mid-test to show the local model takes over."""
from __future__ import annotations

import importlib.util

import pytest

from tests.servers import LlamaServer

pytestmark = pytest.mark.slow

if not all(importlib.util.find_spec(m) for m in ("llama_cpp", "openai", "fastapi", "uvicorn", "sse_starlette",
                                                  "pydantic_settings", "starlette_context")):
    pytest.skip("needs llama-cpp-python, openai and llama_cpp.server's deps (pip install -e .[test])",
                allow_module_level=True)


SMALL = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


@pytest.fixture(scope="module")
def gguf():
    """The small bundled model when it is in the cache (both ends run on this machine),
    else the default one."""
    import os
    from pathlib import Path

    from assistant.config import load_config
    from models.resolve import model_path
    cache = Path(os.environ["ASSISTANT_MODEL_CACHE"])
    return cache / SMALL if (cache / SMALL).exists() else model_path(load_config(None), "llm", cache, quiet=True)


@pytest.fixture
def server(gguf):
    srv = LlamaServer(gguf, threads=1).start()
    yield srv
    srv.stop()


def remote_runtime(tmp_path, base_url: str, gguf, **llm):
    from assistant.config import Config
    from assistant.paths import resolve_paths
    from assistant.runtime import Runtime
    cfg = Config.model_validate({"llm": {"backend": "openai", "base_url": base_url, "first_token_timeout_s": 60.0,
                                         "max_reply_tokens": 24, "model": str(gguf), **llm},
                                 "memory": {"flush_seconds": 0.0}})
    return Runtime(cfg, resolve_paths(tmp_path / "home"), quiet=True)


def turn(rt, text: str) -> str:
    from assistant.engine import ReplyDone
    from assistant.metrics import TurnTimings
    return next(e.text for e in rt.engine.respond(text, TurnTimings()) if isinstance(e, ReplyDone))


def test_an_openai_backend_turn_answers_and_the_local_model_takes_over_when_the_server_dies(tmp_path, server):
    rt = remote_runtime(tmp_path, server.base_url, server.model)
    rt.load(engine=True)
    assert rt.llm.status()["remote_ok"] is True
    first = turn(rt, "Say hello in one short sentence.")
    assert first.strip()
    assert rt.llm.status()["last_answered_by"] == "openai"
    server.stop()                                           # the GPU machine goes away
    second = turn(rt, "Say goodbye in one short sentence.")
    assert second.strip()
    status = rt.llm.status()
    assert status["last_answered_by"] == "local" and status["remote_ok"] is False
    assert status["fallbacks"] == 1 and "failed" in status["last_error"]
    # the next turn does not wait for the dead server: it is left alone for remote_retry_s
    assert status["retry_in_s"] > 0
    assert turn(rt, "Name a colour.").strip() and rt.llm.status()["fallbacks"] == 1


def test_a_server_slower_than_the_first_token_deadline_is_passed_over(tmp_path, server):
    rt = remote_runtime(tmp_path, server.base_url, server.model, first_token_timeout_s=0.001)
    rt.load(engine=True)
    assert turn(rt, "Say hello in one short sentence.").strip()
    status = rt.llm.status()
    assert status["last_answered_by"] == "local" and "no first token" in status["last_error"]


def test_skill_arguments_stay_grammar_constrained_on_the_local_model(tmp_path, gguf):
    rt = remote_runtime(tmp_path, "http://127.0.0.1:9/v1", gguf)
    out = rt.llm.constrained([{"role": "user", "content": "Pick a number from one to nine."}],
                             'root ::= [1-9]', max_tokens=2)
    assert out in list("123456789")


def test_an_unreachable_server_at_start_is_reported_and_the_local_model_answers(tmp_path, gguf):
    from tests.servers import free_port
    rt = remote_runtime(tmp_path, f"http://127.0.0.1:{free_port()}/v1", gguf)
    rt.load(engine=True)
    assert rt.llm.status()["remote_ok"] is False and "unreachable at start" in rt.llm.status()["last_error"]
    assert turn(rt, "Say hello in one short sentence.").strip()
    assert rt.llm.status()["last_answered_by"] == "local"
